"""`/api/v1/policy/...`: the CLI's JSON over HTTP, and 422 with a machine code per field."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from yibao.store.db import make_engine
from yibao.web.app import create_app


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('api') / 'policy.sqlite3'}")
    with TestClient(create_app(engine)) as client:
        yield client
    engine.dispose()


def test_credit_answers_with_sources_and_the_disclaimer(client):
    response = client.get("/api/v1/policy/credit", params={
        "region": "京", "birth": "1955-06-01", "on": "2025-06-01", "insurance": "employee", "status": "retired"})
    assert response.status_code == 200
    data = response.json()
    assert data["region"] == {"code": "110000", "name": "北京市"}
    assert data["amount_fen"] == 11_000 and data["period"] == "month" and data["confidence"] == "stated"
    assert data["sources"] and data["disclaimer"] == "本数据仅供参考，具体以当地有关法规为准"


def test_every_question_is_served(client):
    assert client.get("/api/v1/policy/lifetime", params={
        "region": "深圳", "sex": "F", "cumulative_years": "20", "actual_years": "12", "retire_on": "2022-12-31"}).json()["eligible"] is True
    assert client.get("/api/v1/policy/withdraw", params={"region": "沪", "reason": "emigration"}).json()["confidence"] == "conflicting"
    assert client.get("/api/v1/policy/continuity", params={
        "region": "京", "paid": "2025-01,2025-02", "on": "2025-06-01"}).json()["state"] == "suspended"
    assert client.get("/api/v1/policy/channels", params={"region": "厦门"}).json()["channels"][0]["key"] == "wechat"


def test_bad_fields_answer_422_with_a_code_per_field(client):
    response = client.get("/api/v1/policy/credit", params={
        "region": "火星", "birth": "1950-01-01", "on": "2025-02-30", "insurance": "employee", "status": "retired"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("unknown_region", "region")
    assert {(e["field"], e["code"]) for e in error["errors"]} == {("region", "unknown_region"), ("on", "invalid_date")}


def test_one_bad_field_and_a_missing_field(client):
    response = client.get("/api/v1/policy/lifetime", params={
        "region": "京", "sex": "M", "cumulative_years": "10", "actual_years": "12", "retire_on": "2030-01-01"})
    assert response.status_code == 422
    assert response.json()["error"] | {"message": None} == {"code": "actual_exceeds_cumulative", "field": "actual_years", "message": None}
    missing = client.get("/api/v1/policy/withdraw", params={"region": "沪"})
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "reason"
