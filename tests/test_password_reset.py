"""Forgotten password (忘记密码) on the portal and through the API, on SQLite and PostgreSQL:
ID number + name + an SMS code to the registered phone, then a new password; the same answer
whether or not the details match; lockout after wrong codes; every session ended; audited."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from api_support import (
    NEW_PASSWORD,
    START,
    TODAY,
    RecordingSender,
    add_insured,
    bearer,
    client_for,
    login,
    portal_form,
    portal_sign_in,
    security,
    token_in,
)
from yibao.clock import FixedClock
from yibao.domain.resident_id import ResidentId
from yibao.security.sms import mask_phone
from yibao.store.models import audit_log, auth_sessions

CODE_URL, RESET_URL = "/api/v1/auth/password/reset-code", "/api/v1/auth/password/reset"


@pytest.fixture
def world(engine):
    sender = RecordingSender()
    alice, bob = add_insured(engine, 1), add_insured(engine, 2)
    with client_for(engine, security(FixedClock(START), sender)) as client:
        yield client, alice, bob, sender


def audited(engine, action: str) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(audit_log.c.id).where(audit_log.c.action == action)).all())


def live_sessions(engine, person_id: int) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(auth_sessions.c.id).where(
            auth_sessions.c.subject_id == person_id, auth_sessions.c.revoked_at.is_(None))).all())


def reset_body(person, code: str, password: str = NEW_PASSWORD) -> dict:
    return {"id_number": person.id_number, "name": person.name, "code": code, "new_password": password}


# ---------------------------------------------------------------------------- the API


def test_api_reset_ends_every_session_and_the_new_password_signs_in(world, engine):
    client, alice, _, sender = world
    token = login(client, alice).json()["access_token"]
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    sent = client.post(CODE_URL, json={"id_number": alice.id_number, "name": alice.name})
    assert sent.status_code == 202 and sent.json()["masked_phone"] == mask_phone(alice.phone)
    assert alice.phone not in sent.text and sender.sent[-1][0] == alice.phone and "重置登录密码" in sender.sent[-1][1]
    done = client.post(RESET_URL, json=reset_body(alice, sender.last_code()))
    assert done.status_code == 204, done.text
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401  # the old session is gone
    assert live_sessions(engine, alice.person_id) == 0
    assert login(client, alice).status_code == 401
    assert login(client, alice, NEW_PASSWORD).status_code == 200
    assert audited(engine, "auth.password_reset") == 1 and audited(engine, "auth.password_reset_code") == 1
    # The code was used once.
    assert client.post(RESET_URL, json=reset_body(alice, sender.last_code(), "Another2025pw")).status_code == 401


def test_a_wrong_name_or_unknown_id_gets_the_same_answer_and_no_sms(world, engine):
    client, alice, _, sender = world
    wrong_name = client.post(CODE_URL, json={"id_number": alice.id_number, "name": "某某某"})
    again = client.post(CODE_URL, json={"id_number": alice.id_number, "name": "某某某"})
    unknown_id = ResidentId.build("110105", date(1980, 1, 1), 99, today=TODAY).full
    unknown = client.post(CODE_URL, json={"id_number": unknown_id, "name": alice.name})
    assert wrong_name.status_code == again.status_code == unknown.status_code == 202
    assert wrong_name.json().keys() == unknown.json().keys()
    assert wrong_name.json()["masked_phone"] == again.json()["masked_phone"]  # asking twice tells nothing
    for answer in (wrong_name, unknown):
        masked = answer.json()["masked_phone"]
        assert len(masked) == 11 and masked[3:7] == "****" and masked != mask_phone(alice.phone)
    assert sender.sent == [] and audited(engine, "auth.password_reset_code") == 0


def test_wrong_codes_lock_the_reset_and_change_nothing(world, engine):
    client, alice, _, sender = world
    client.post(CODE_URL, json={"id_number": alice.id_number, "name": alice.name})
    for _ in range(4):
        wrong = client.post(RESET_URL, json=reset_body(alice, "000000"))
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "bad_reset_code"
    locked = client.post(RESET_URL, json=reset_body(alice, "000000"))
    assert locked.status_code == 423
    assert client.post(RESET_URL, json=reset_body(alice, sender.last_code())).status_code == 423  # even the right code waits
    assert login(client, alice).status_code == 200 and audited(engine, "auth.password_reset") == 0


def test_the_right_code_with_a_wrong_name_is_refused(world):
    client, alice, _, sender = world
    client.post(CODE_URL, json={"id_number": alice.id_number, "name": alice.name})
    refused = client.post(RESET_URL, json=reset_body(alice, sender.last_code()) | {"name": "某某某"})
    assert refused.status_code == 401
    assert client.post(RESET_URL, json=reset_body(alice, sender.last_code())).status_code == 204  # the code was not spent


def test_password_rules_apply_and_a_refused_password_keeps_the_code(world):
    client, alice, _, sender = world
    client.post(CODE_URL, json={"id_number": alice.id_number, "name": alice.name})
    weak = client.post(RESET_URL, json=reset_body(alice, sender.last_code(), "123456"))
    assert weak.status_code == 422 and weak.json()["error"]["code"] == "password_weak"
    with_phone = client.post(RESET_URL, json=reset_body(alice, sender.last_code(), "ab" + alice.phone[-8:]))
    assert with_phone.status_code == 422 and with_phone.json()["error"]["code"] == "password_personal"
    assert client.post(RESET_URL, json=reset_body(alice, sender.last_code())).status_code == 204


def test_strict_input(world):
    client, alice, _, _ = world
    for body in ({"id_number": alice.id_number}, {"id_number": alice.id_number, "name": ""},
                 {"id_number": alice.id_number, "name": 123}):
        answer = client.post(CODE_URL, json=body)
        assert answer.status_code == 422 and answer.json()["error"]["field"] == "name", body
    bad_code = client.post(RESET_URL, json=reset_body(alice, "12ab56"))
    assert bad_code.status_code == 422 and bad_code.json()["error"]["field"] == "code"


# ---------------------------------------------------------------------------- the portal


def test_portal_forgot_password_flow(world, engine):
    client, alice, _, sender = world
    assert 'href="/portal/forgot"' in client.get("/portal/login").text
    assert portal_sign_in(client, alice).status_code == 303
    assert client.get("/portal").status_code == 200
    old_cookie = client.cookies.get("yb_portal")
    fields = portal_form(client, "/portal/forgot", id_number=alice.id_number, name=alice.name)
    sent = client.post("/portal/forgot/code", data=fields)
    assert sent.status_code == 200 and mask_phone(alice.phone) in sent.text and alice.phone not in sent.text
    token = token_in(sent.text, "form_token")
    mismatch = client.post("/portal/forgot", data={**fields, "form_token": token, "code": sender.last_code(),
                                                   "new_password": NEW_PASSWORD, "confirm_password": "Other2025pw"})
    assert mismatch.status_code == 422 and 'id="confirm_password-error"' in mismatch.text
    done = client.post("/portal/forgot", follow_redirects=False, data={
        **fields, "form_token": token, "code": sender.last_code(), "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD})
    assert done.status_code == 303 and done.headers["location"] == "/portal/login?notice=password_reset"
    assert "密码已重置" in client.get(done.headers["location"]).text
    assert live_sessions(engine, alice.person_id) == 0
    client.cookies.set("yb_portal", old_cookie)
    expired = client.get("/portal", follow_redirects=False)  # the old session goes back to sign-in
    assert expired.status_code == 303 and "/portal/login" in expired.headers["location"]
    assert portal_sign_in(client, alice, NEW_PASSWORD).status_code == 303


def test_portal_answers_alike_for_a_wrong_name_and_needs_the_form_token(world):
    client, alice, _, sender = world
    fields = portal_form(client, "/portal/forgot", id_number=alice.id_number, name="某某某")
    sent = client.post("/portal/forgot/code", data=fields)
    assert sent.status_code == 200 and "验证码已发送至手机" in sent.text and sender.sent == []
    forged = client.post("/portal/forgot/code", data={"id_number": alice.id_number, "name": alice.name, "form_token": "x"})
    assert forged.status_code == 403 and sender.sent == []
    bad = client.post("/portal/forgot/code", data=portal_form(client, "/portal/forgot", id_number="123", name=""))
    assert bad.status_code == 422 and 'id="id_number-error"' in bad.text
