"""PUT /api/v1/me/phone-pin: a person sets their own phone password, which the phone line then accepts."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from api_support import START, add_insured, bearer, client_for, login, security
from ivr_support import IVR_SECRET, Phone, keyed
from yibao.clock import FixedClock
from yibao.ivr import speech
from yibao.security.phone_pin import weak_pin_reason
from yibao.store.models import audit_log, credentials

NEW_PIN = "730592"


@pytest.fixture
def setup(engine, tmp_path):
    alice = add_insured(engine, 1)
    sec = security(FixedClock(START), ivr_secret=IVR_SECRET, data_dir=tmp_path)
    with client_for(engine, sec) as client:
        yield client, alice, bearer(login(client, alice).json()["access_token"])


def put(client, auth, **body):
    return client.put("/api/v1/me/phone-pin", headers=auth, json=body)


def test_a_first_phone_password_is_set_hashed_audited_and_works_on_the_phone(engine, setup):
    client, alice, auth = setup
    answer = put(client, auth, new_pin=NEW_PIN)
    assert answer.status_code == 200, answer.text
    assert "电话查询密码已设置" in answer.json()["message"]
    with engine.connect() as conn:
        stored = conn.execute(select(credentials.c.secret_hash).where(
            credentials.c.person_id == alice.person_id, credentials.c.kind == "phone_pin")).scalar_one()
        entry = conn.execute(select(audit_log).where(audit_log.c.action == "auth.phone_pin_set")).mappings().one()
    assert stored.startswith("$argon2id$") and NEW_PIN not in stored
    assert entry["subject_person_id"] == alice.person_id and entry["actor_kind"] == "person"
    call = Phone(client).call("call-after-pin")
    call.press(keyed(alice.id_number))
    assert speech.VERIFIED in call.press(NEW_PIN)


WEAK_OR_MALFORMED = {
    "123456": "pin_weak", "111111": "pin_weak", "654321": "pin_weak", "888888": "pin_weak",
    "510301": "pin_weak",  # birth date 1951-03-01 as YYMMDD
    "010351": "pin_weak",  # …as DDMMYY
    "12345": "pin_format", "1234567": "pin_format", "12345a": "pin_format", "１２３４５６": "pin_format",
}


def test_weak_or_malformed_passwords_are_refused(setup):
    client, _, auth = setup
    for pin, code in WEAK_OR_MALFORMED.items():
        answer = put(client, auth, new_pin=pin)
        assert answer.status_code == 422, pin
        assert answer.json()["error"]["code"] == code and answer.json()["error"]["field"] == "new_pin", pin


def test_the_last_six_of_the_id_number_and_of_the_phone_are_refused(setup):
    client, alice, auth = setup
    for pin in (alice.id_number[-6:], alice.phone[-6:]):
        if pin.isdigit():
            assert put(client, auth, new_pin=pin).json()["error"]["code"] == "pin_weak"


def test_changing_needs_the_old_password_and_wrong_ones_lock(setup):
    client, _, auth = setup
    assert put(client, auth, new_pin=NEW_PIN).status_code == 200
    missing = put(client, auth, new_pin="481736")
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "old_pin_required"
    same = put(client, auth, old_pin=NEW_PIN, new_pin=NEW_PIN)
    assert same.status_code == 422 and same.json()["error"]["code"] == "pin_unchanged"
    changed = put(client, auth, old_pin=NEW_PIN, new_pin="481736")
    assert changed.status_code == 200 and changed.json()["message"] == "电话查询密码已修改"
    codes = [put(client, auth, old_pin="999990", new_pin="592047").status_code for _ in range(5)]
    assert codes == [422, 422, 422, 422, 423]
    assert put(client, auth, old_pin="481736", new_pin="592047").status_code == 423  # locked, even when right


def test_only_the_persons_full_session_may_set_it(engine, setup):
    client, _, _ = setup
    assert put(client, {}, new_pin=NEW_PIN).status_code == 401
    limited = add_insured(engine, 3, password="123456", must_change=True)
    token = login(client, limited).json()["access_token"]
    assert put(client, bearer(token), new_pin=NEW_PIN).status_code == 403


def test_weak_pin_rule():
    birth = date(1990, 7, 14)
    assert weak_pin_reason("900714", id_number="11010519900714123X", birth_date=birth, phone=None)
    assert weak_pin_reason("199007", id_number="11010519900714123X", birth_date=birth, phone=None)
    assert weak_pin_reason("141234", id_number="110105199007141234", birth_date=birth, phone=None)
    assert weak_pin_reason("619483", id_number="110105199007141234", birth_date=birth, phone="13972619483")
    assert weak_pin_reason("472913", id_number="110105199007141234", birth_date=birth, phone="13972619483") is None
