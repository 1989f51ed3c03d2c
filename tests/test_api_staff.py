"""Agency staff: lookup with a stated reason, the person's views, region scope, the audit log."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from api_support import START, add_insured, add_staff_user, bearer, client_for, login, reason_header, security, staff_token
from yibao.clock import FixedClock
from yibao.security.staff import StaffRole
from yibao.store.models import audit_log


@pytest.fixture
def setup(engine):
    alice = add_insured(engine, 1)
    add_staff_user(engine, "counter1", StaffRole.AGENT)
    add_staff_user(engine, "shanghai1", StaffRole.AGENT, region_code="310000")
    add_staff_user(engine, "auditor1", StaffRole.AUDITOR)
    with client_for(engine, security(FixedClock(START))) as client:
        yield client, alice


def test_lookup_needs_a_reason_and_is_audited(setup, engine):
    client, alice = setup
    agent = bearer(staff_token(client, "counter1"))
    no_reason = client.post("/api/v1/staff/persons/search", headers=agent, json={"id_number": alice.id_number})
    assert no_reason.status_code == 422 and no_reason.json()["error"]["field"] == "reason"

    found = client.post(
        "/api/v1/staff/persons/search", headers=agent, json={"card_number": alice.card_number, "reason": "窗口办理余额查询"}
    )
    assert found.status_code == 200
    assert found.json()["id_number"] == alice.id_number  # a reason was given: the full number
    person_id = found.json()["person_id"]
    views = {
        "": "staff.person.profile", "/accounts": "staff.person.accounts",
        "/details": "staff.person.details", "/contributions": "staff.person.contributions",
    }
    for suffix in views:
        assert client.get(f"/api/v1/staff/persons/{person_id}{suffix}", headers=agent).status_code == 422
        assert client.get(f"/api/v1/staff/persons/{person_id}{suffix}", headers=agent | reason_header("打印明细")).status_code == 200
    accounts = client.get(f"/api/v1/staff/persons/{person_id}/accounts", headers=agent | reason_header("打印明细")).json()
    assert accounts["total_balance_fen"] == 123_456

    with engine.connect() as conn:
        entries = conn.execute(select(audit_log).where(audit_log.c.actor_kind == "staff").order_by(audit_log.c.id)).mappings().all()
    actions = [entry["action"] for entry in entries]
    assert actions[1:] == ["staff.person.search", *views.values(), "staff.person.accounts"]
    search = entries[1]
    assert search["subject_person_id"] == person_id and search["reason"] == "窗口办理余额查询"
    assert search["client"] == "testclient" and search["at"] is not None and search["actor_id"].isdigit()
    assert alice.id_number not in str(search["detail"])


def test_staff_outside_the_region_find_nobody(setup):
    client, alice = setup
    shanghai = bearer(staff_token(client, "shanghai1"))
    answer = client.post("/api/v1/staff/persons/search", headers=shanghai, json={"id_number": alice.id_number, "reason": "核对"})
    assert answer.status_code == 404
    assert client.get(f"/api/v1/staff/persons/{alice.person_id}", headers=shanghai | reason_header("核对")).status_code == 404


def test_roles_are_kept_apart(setup):
    client, alice = setup
    agent, auditor = bearer(staff_token(client, "counter1")), bearer(staff_token(client, "auditor1"))
    person = bearer(login(client, alice).json()["access_token"])
    assert client.get("/api/v1/audit", headers=agent).status_code == 403
    assert client.get("/api/v1/audit", headers=person).status_code == 403
    assert client.post("/api/v1/staff/persons/search", headers=auditor, json={"id_number": alice.id_number, "reason": "x1"}).status_code == 403
    assert client.get("/api/v1/me", headers=agent).status_code == 403
    assert client.get(f"/api/v1/staff/persons/{alice.person_id}", headers=person | reason_header("看看")).status_code == 403


def test_auditors_read_the_log_and_their_reading_is_logged(setup):
    client, alice = setup
    agent, auditor = bearer(staff_token(client, "counter1")), bearer(staff_token(client, "auditor1"))
    client.post("/api/v1/staff/persons/search", headers=agent, json={"id_number": alice.id_number, "reason": "窗口查询"})
    page = client.get("/api/v1/audit", headers=auditor, params={"subject_person_id": alice.person_id, "action": "staff.person.search"})
    assert page.status_code == 200
    [entry] = page.json()["items"]
    assert entry["reason"] == "窗口查询" and entry["actor_kind"] == "staff" and entry["client"] == "testclient"
    again = client.get("/api/v1/audit", headers=auditor, params={"action": "audit.read"}).json()
    assert again["total"] == 1
    today = client.get("/api/v1/audit", headers=auditor, params={"date_from": "2025-06-15", "date_to": "2025-06-15"}).json()
    assert today["total"] >= 3
    assert client.get("/api/v1/audit", headers=auditor, params={"date_from": "2025-06-16"}).json()["total"] == 0


def test_the_audit_log_cannot_be_rewritten(setup, engine):
    client, alice = setup
    login(client, alice)
    with pytest.raises(DBAPIError):
        with engine.begin() as conn:
            conn.execute(update(audit_log).values(reason="changed"))


def test_staff_sign_in_locks_after_five_wrong_tries(setup):
    client, _ = setup
    answers = [client.post("/api/v1/staff/login", json={"username": "counter1", "password": "Wrong1234x"}).status_code for _ in range(5)]
    assert answers == [401, 401, 401, 401, 423]


# ---------------------------------------------------------------------------- the reason of a read, in a header


def test_the_reason_of_a_read_travels_in_a_header_and_is_audited_decoded(setup, engine):
    client, alice = setup
    agent = bearer(staff_token(client, "counter1"))
    answer = client.get(f"/api/v1/staff/persons/{alice.person_id}", headers=agent | reason_header("参保人到柜台打印对账单 #2"))
    assert answer.status_code == 200 and answer.json()["id_number"] == alice.id_number
    assert "reason" not in str(answer.request.url)
    with engine.connect() as conn:
        entry = conn.execute(select(audit_log).where(audit_log.c.action == "staff.person.profile")).mappings().one()
    assert entry["reason"] == "参保人到柜台打印对账单 #2"


def test_a_reason_in_the_url_is_refused_so_that_old_clients_learn(setup, engine):
    client, alice = setup
    agent = bearer(staff_token(client, "counter1"))
    url = f"/api/v1/staff/persons/{alice.person_id}"
    for headers in (agent, agent | reason_header("核对身份")):
        answer = client.get(url, params={"reason": "核对身份"}, headers=headers)
        error = answer.json()["error"]
        assert answer.status_code == 422 and (error["code"], error["field"]) == ("reason_in_url", "reason")
        assert "X-Yibao-Reason" in error["message"]
    with engine.connect() as conn:
        assert conn.execute(select(audit_log).where(audit_log.c.action == "staff.person.profile")).first() is None


@pytest.mark.parametrize("value", [
    None,  # missing
    "%E6%89",  # cut inside a UTF-8 character
    "%C0%AF",  # overlong UTF-8
    "%zz%E6%89%93",  # not percent-encoding
    "a",  # too short
    "%E6%89%93" * 201,  # too long: 201 characters
    "%0A%0A%0A",  # control characters (a forged audit line)
    "%20%20%20",  # blank
])
def test_a_missing_or_badly_encoded_reason_is_refused_naming_the_field(setup, engine, value):
    client, alice = setup
    agent = bearer(staff_token(client, "counter1"))
    headers = agent if value is None else agent | {"X-Yibao-Reason": value}
    answer = client.get(f"/api/v1/staff/persons/{alice.person_id}/accounts", headers=headers)
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "reason", answer.text
    assert "X-Yibao-Reason" in answer.json()["error"]["message"] or "事由" in answer.json()["error"]["message"]
    with engine.connect() as conn:
        assert conn.execute(select(audit_log).where(audit_log.c.action == "staff.person.accounts")).first() is None


def test_every_staff_read_documents_the_reason_header_and_no_reason_in_the_query(setup):
    client, _ = setup
    document = client.get("/openapi.json").json()
    reads = [(path, item["get"]) for path, item in document["paths"].items()
             if path.startswith(("/api/v1/staff/", "/api/v1/audit")) and "get" in item]
    assert len(reads) >= 9
    for path, operation in reads:
        parameters = {(p["in"], p["name"]): p for p in operation.get("parameters", [])}
        assert ("query", "reason") not in parameters, path
        if path.startswith(("/api/v1/audit", "/api/v1/staff/imports/")):
            continue  # the auditor's own reads, and an import job's progress (no person looked up), audited without one
        header = parameters[("header", "X-Yibao-Reason")]
        assert header["required"] and "UTF-8" in header["description"], path
