"""The service endpoints every deployment relies on: liveness, readiness, the landing page."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from yibao.store.db import make_engine
from yibao.web.app import create_app


@pytest.fixture
def client(engine):
    with TestClient(create_app(engine)) as client:
        yield client


def test_health_answers_without_the_database(client):
    assert client.get("/health").json() == {"status": "ok"}


def test_ready_when_database_reachable_and_schema_current(client):
    response = client.get("/ready")
    assert response.status_code == 200 and response.json()["status"] == "ready"


def test_not_ready_when_migrations_are_pending(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    with TestClient(create_app(engine)) as client:
        response = client.get("/ready")
    assert response.status_code == 503 and response.json()["database"] == "migrations_pending"


def test_not_ready_when_database_unreachable():
    engine = make_engine("postgresql://nobody@127.0.0.1:1/none", pool_pre_ping=False)
    with TestClient(create_app(engine)) as client:
        response = client.get("/ready")
    assert response.status_code == 503 and response.json()["database"] == "unreachable"


def test_landing_page_is_chinese_and_counts_the_population(client):
    page = client.get("/")
    assert page.status_code == 200
    assert "医保个人账户" in page.text and "仅供参考" in page.text and "0.00元" in page.text


def test_openapi_document_is_served(client):
    assert client.get("/openapi.json").json()["info"]["title"].startswith("yibao")


def test_the_objects_loaded_at_start_are_frozen_out_of_the_collectors_view(engine):
    import gc

    with TestClient(create_app(engine)) as client:  # the lifespan runs
        assert client.get("/health").status_code == 200
        assert gc.get_freeze_count() > 0
