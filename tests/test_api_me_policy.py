"""Policy answers from the person's own record equal the public policy answers for the same facts."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from api_support import START, add_insured, bearer, client_for, login, security
from yibao.clock import FixedClock
from yibao.store.models import persons

COMPARED = ("region", "confidence", "rule", "rule_ids", "sources", "disclaimer")


@pytest.fixture
def setup(engine):
    alice = add_insured(engine, 1)
    with client_for(engine, security(FixedClock(START))) as client:
        yield client, alice, bearer(login(client, alice).json()["access_token"])


def same_answer(mine: dict, public: dict, *fields: str) -> None:
    for field in (*COMPARED, *fields):
        assert mine[field] == public[field], field


def test_credit_uses_my_region_age_and_status_and_shows_what_was_credited(setup):
    client, alice, auth = setup
    mine = client.get("/api/v1/me/policy/credit", headers=auth, params={"month": "2025-05-20"})
    assert mine.status_code == 200, mine.text
    body = mine.json()
    public = client.get("/api/v1/policy/credit", params={
        "region": "110000", "birth": "1951-03-01", "on": "2025-05-01", "insurance": "employee", "status": "retired",
    }).json()
    same_answer(body, public, "amount_fen", "period", "monthly_equivalent_fen")
    assert body["amount_fen"] == 11_000  # Beijing, 70 and over: 110 yuan a month
    assert body["month"] == "2025-05" and body["credited_fen"] == 123_456 + 1000
    assert client.get("/api/v1/me/policy/credit", headers=auth).json()["credited_fen"] == 0  # June: nothing yet


def test_a_retiree_is_answered_by_the_retirement_itself(setup):
    client, _, auth = setup
    body = client.get("/api/v1/me/policy/lifetime", headers=auth).json()
    assert body["retired"] is True and body["summary"] == "已办理退休，享受退休人员医保待遇，无需继续缴费"
    assert body["options"] == [] and body["missing_cumulative_years"] is None and body["facts"]["retired"] is True


def test_lifetime_counts_my_paid_months_and_needs_a_retirement_date(setup, engine):
    client, alice, auth = setup
    with engine.begin() as conn:
        conn.execute(update(persons).where(persons.c.id == alice.person_id).values(employment="in_service"))
    missing = client.get("/api/v1/me/policy/lifetime", headers=auth)
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "retire_on"
    body = client.get("/api/v1/me/policy/lifetime", headers=auth, params={"retire_on": "2030-06-30"}).json()
    assert body["facts"]["paid_months"] == 3 and body["facts"]["actual_years"] == "0.25"
    public = client.get("/api/v1/policy/lifetime", params={
        "region": "110000", "sex": "M", "cumulative_years": "0.25", "actual_years": "0.25", "retire_on": "2030-06-30",
        "enrolled_on": "1995-01-01", "insurance": "employee", "on": "2025-06-15",
    }).json()
    same_answer(body, public, "eligible", "missing_cumulative_years", "missing_actual_years")
    assert body["eligible"] is False


def test_withdrawal_and_continuity_answer_for_my_region(setup):
    client, _, auth = setup
    withdraw = client.get("/api/v1/me/policy/withdraw", headers=auth, params={"reason": "death"}).json()
    public = client.get("/api/v1/policy/withdraw", params={"region": "110000", "reason": "death", "on": "2025-06-15"}).json()
    same_answer(withdraw, public, "allowed", "documents")
    bad = client.get("/api/v1/me/policy/withdraw", headers=auth, params={"reason": "lottery"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "reason"
    continuity = client.get("/api/v1/me/policy/continuity", headers=auth).json()
    public = client.get("/api/v1/policy/continuity", params={
        "region": "110000", "paid": "2025-01,2025-02,2025-04", "on": "2025-06-15", "status": "retired",
    }).json()
    same_answer(continuity, public)
    assert continuity["facts"]["months_paid"] == 3


def test_someone_else_cannot_ask_with_my_record(setup):
    client, _, _ = setup
    assert client.get("/api/v1/me/policy/credit").status_code == 401
