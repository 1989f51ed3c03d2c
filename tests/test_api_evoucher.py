"""E-voucher: 60 seconds, single use, bound to the person; institutions see the minimum."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from api_support import START, add_designated_pharmacy, add_insured, add_pharmacy, bearer, client_for, later, login, security
from yibao.clock import FixedClock
from yibao.store.models import audit_log


@pytest.fixture
def setup(engine):
    clock = FixedClock(START)
    alice, bob = add_insured(engine, 1), add_insured(engine, 2)
    key = add_designated_pharmacy(engine)
    with client_for(engine, security(clock)) as client:
        yield client, clock, alice, bob, {"X-Api-Key": key}


def voucher(client, person) -> str:
    answer = client.post("/api/v1/me/evoucher", headers=bearer(login(client, person).json()["access_token"]))
    assert answer.status_code == 200 and answer.json()["expires_in"] == 60
    return answer.json()["payload"]


def test_a_pharmacy_scans_once_and_sees_only_what_it_needs(setup, engine):
    client, _, alice, _, pharmacy = setup
    payload = voucher(client, alice)
    # version . random nonce . expiry . signature: no field names the person
    fields = payload.split(".")
    assert len(fields) == 4 and alice.id_number not in payload and str(alice.person_id) not in fields
    answer = client.post("/api/v1/institution/balance-check", headers=pharmacy, json={"payload": payload})
    assert answer.status_code == 200
    assert answer.json() == {
        "name_masked": alice.name[0] + "*", "id_number_masked": alice.id_number[:6] + "********" + alice.id_number[-4:],
        "account_status": "active", "balance_fen": 123_456, "balance": "1,234.56元",
    }
    again = client.post("/api/v1/institution/balance-check", headers=pharmacy, json={"payload": payload})
    assert again.status_code == 422 and again.json()["error"]["code"] == "evoucher_invalid"
    with engine.connect() as conn:
        entry = conn.execute(select(audit_log).where(audit_log.c.action == "institution.balance_check")).mappings().one()
    assert entry["actor_kind"] == "institution" and entry["actor_id"] == "P001" and entry["subject_person_id"] == alice.person_id


def test_a_voucher_expires_after_sixty_seconds(setup):
    client, clock, alice, _, pharmacy = setup
    payload = voucher(client, alice)
    later(clock, seconds=61)
    assert client.post("/api/v1/institution/balance-check", headers=pharmacy, json={"payload": payload}).status_code == 422


def test_a_voucher_cannot_be_altered_or_moved_to_someone_else(setup):
    client, _, alice, bob, pharmacy = setup
    mine, theirs = voucher(client, alice).split("."), voucher(client, bob).split(".")
    swapped = ".".join([mine[0], theirs[1], mine[2], mine[3]])  # Bob's nonce with Alice's signature
    longer = ".".join([mine[0], mine[1], str(int(mine[2]) + 600), mine[3]])
    for forged in (swapped, longer, "YBEV1.x.1.y", "not a voucher", ""):
        answer = client.post("/api/v1/institution/balance-check", headers=pharmacy, json={"payload": forged})
        assert answer.status_code == 422 and answer.json()["error"]["field"] == "payload", forged
    # Bob's own voucher still works: the forgery did not spend it.
    assert client.post("/api/v1/institution/balance-check", headers=pharmacy, json={"payload": ".".join(theirs)}).status_code == 200


def test_only_institutions_with_a_valid_key_may_check(setup):
    client, _, alice, _, _ = setup
    payload = voucher(client, alice)
    person = bearer(login(client, alice).json()["access_token"])
    for headers in ({}, {"X-Api-Key": "ybk_wrong"}, person):
        assert client.post("/api/v1/institution/balance-check", headers=headers, json={"payload": payload}).status_code == 401


def test_only_designated_institutions_may_check_a_balance(setup, engine):
    client, _, alice, _, designated = setup
    other = {"X-Api-Key": add_pharmacy(engine, "P002")}  # registered, not designated (定点)
    payload = voucher(client, alice)
    refused = client.post("/api/v1/institution/balance-check", headers=other, json={"payload": payload})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_designated"
    assert "定点" in refused.json()["error"]["message"] and "1,234.56" not in refused.text
    with engine.connect() as conn:
        entry = conn.execute(select(audit_log).where(audit_log.c.action == "institution.balance_check_refused")).mappings().one()
    assert entry["actor_id"] == "P002" and entry["subject_person_id"] is None and entry["detail"] == {"code": "not_designated"}
    # The voucher was not spent by the refusal: a designated pharmacy can still use it.
    assert client.post("/api/v1/institution/balance-check", headers=designated, json={"payload": payload}).status_code == 200
