"""Whole calls to the 12333 phone line through its webhook, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update

from api_support import START, add_insured, client_for, later, security
from ivr_support import CALLER, CALLER_MASKED, IVR_SECRET, PIN, Phone, keyed, n_with_x_check_character, phone_person
from yibao.clock import FixedClock
from yibao.domain.resident_id import ResidentId
from yibao.ivr import speech
from yibao.ivr.signature import signed_headers
from yibao.store.models import audit_log, persons

WRONG_PIN = "592730"


@pytest.fixture
def line(engine, tmp_path):
    clock = FixedClock(START)
    sec = security(clock, ivr_secret=IVR_SECRET, data_dir=tmp_path)
    with client_for(engine, sec) as client:
        yield Phone(client), clock


def phone_line(phone: Phone):
    return phone.client.app.state.phone_line


def test_a_caller_hears_the_balance_and_the_read_is_audited_with_the_number_masked(engine, line):
    phone, _ = line
    alice = phone_person(engine, 1, balance_fen=123_456)
    call = phone.call("call-1")
    assert speech.GREETING in call.said and call.gather == {"type": "gather", "max_digits": 18, "timeout_seconds": 10, "finish_on_key": "#"}
    assert speech.ASK_PIN in call.press(keyed(alice.id_number))
    assert speech.VERIFIED in call.press(PIN) and speech.MENU in call.said
    assert call.press("1") == "您的个人账户余额是一千二百三十四元五角六分。" + speech.AFTER_ANSWER  # the balance, nothing else
    assert call.gather["max_digits"] == 1
    assert "一千二百三十四元五角六分" in call.press("9")  # repeat reads it again
    details = call.press("1")  # the details on request: the latest movements, newest first
    assert details.startswith("最近两笔收支：二零二五年五月二十日，") and "支出十元" in details
    assert "收入一千二百四十四元五角六分" in details and speech.AFTER_ANSWER in details
    assert speech.MENU in call.press("*")
    call.hang_up()
    with engine.connect() as conn:
        entries = conn.execute(select(audit_log).where(audit_log.c.actor_kind == "phone").order_by(audit_log.c.id)).mappings().all()
    assert [entry["action"] for entry in entries] == ["ivr.sign_in", "ivr.balance", "ivr.balance", "ivr.balance.details"]
    assert {entry["subject_person_id"] for entry in entries} == {alice.person_id}
    assert {entry["client"] for entry in entries} == {CALLER_MASKED}
    assert {entry["actor_id"] for entry in entries} == {"call:call-1"}
    assert not any(CALLER in json.dumps(dict(entry), default=str) for entry in entries)


def test_the_other_answers_read_months_amounts_and_rules_in_words(engine, line):
    phone, _ = line
    alice = phone_person(engine, 1)
    call = phone.call("call-answers")
    call.sign_in(alice)
    credit = call.press("2")
    assert credit.startswith("您二零二五年六月应划入个人账户一百一十元。还没有划入。")  # Beijing, 70 and over
    assert "依据" not in credit and "仅供参考" in credit  # the rule on request, the caveat always
    assert not any(char.isdigit() for char in credit.removesuffix(speech.AFTER_ANSWER))
    rule = call.press("1")
    assert rule.startswith("依据：北京市") and "七十周岁及以上每月一百一十元" in rule and "资料情况：" in rule
    assert "一二三九三" in rule  # policy questions: the national medical-insurance hotline
    call.press("*")
    contributions = call.press("3")
    assert contributions.startswith(
        "近三个月：二零二五年四月已缴费，划入个人账户一百六十元；二零二五年五月没有缴费记录；二零二五年六月没有缴费记录。"
    )
    assert call.press("1").startswith("二零二五年四月，缴费基数八千元，个人缴纳一百六十元，单位缴纳六百四十元。")
    call.press("*")
    lifetime = call.press("4")  # a retiree: retirement answers it, no years are missing
    assert lifetime.startswith("已办理退休，享受退休人员医保待遇，无需继续缴费。")
    assert "实际缴费年限为零点二五年" in lifetime and "还差" not in lifetime and "补缴" not in lifetime
    assert call.press("1").startswith("依据：")
    with engine.connect() as conn:
        actions = conn.execute(select(audit_log.c.action).where(audit_log.c.actor_kind == "phone").order_by(audit_log.c.id)).scalars().all()
    assert actions == ["ivr.sign_in", "ivr.credit", "ivr.credit.details", "ivr.contributions", "ivr.contributions.details",
                       "ivr.lifetime", "ivr.lifetime.details"]


def test_a_wrong_check_character_is_read_back_and_may_be_corrected(engine, line):
    phone, _ = line
    alice = phone_person(engine, 1)
    wrong = alice.id_number[:-1] + ("1" if alice.id_number[-1] != "1" else "2")
    call = phone.call("call-check")
    said = call.press(keyed(wrong))
    read_back = speech.digits_read_back(keyed(wrong))
    assert f"您输入的是：{read_back}。身份证号码校验位不正确。" in said and speech.ASK_IDENTITY in said
    assert speech.ASK_PIN in call.press(keyed(alice.id_number))
    assert speech.VERIFIED in call.press(PIN)


def test_three_wrong_entries_end_the_call_politely(engine, line):
    phone, _ = line
    call = phone.call("call-tries")
    assert speech.ASK_IDENTITY in call.press("1234")
    assert "您输入了四位" in call.said
    call.press("#")
    assert speech.NOTHING_KEYED in call.said and not call.ended
    call.press("1*2")
    assert speech.TOO_MANY_TRIES in call.said and call.actions[-1] == {"type": "hangup"}


def test_a_wrong_password_then_the_right_one(engine, line):
    phone, _ = line
    alice = phone_person(engine, 1)
    call = phone.call("call-pin")
    call.press(keyed(alice.id_number))
    said = call.press(WRONG_PIN)
    assert speech.WRONG_CREDENTIALS in said and speech.ASK_PIN in said and WRONG_PIN not in said
    assert speech.PIN_SHAPE in call.press("1234")  # the wrong length is said, the digits are not
    assert speech.VERIFIED in call.press(PIN)
    assert "余额是" in call.press("1")


def test_an_unknown_number_is_asked_for_a_password_all_the_same(engine, line):
    phone, _ = line
    phone_person(engine, 1)
    stranger = ResidentId.build("110105", START.date().replace(year=1960), 77, today=START.date()).full
    call = phone.call("call-stranger")
    assert speech.ASK_PIN in call.press(keyed(stranger))
    assert speech.WRONG_CREDENTIALS in call.press(PIN)


def test_a_person_without_a_phone_password_cannot_sign_in(engine, line):
    phone, _ = line
    bob = add_insured(engine, 2)
    call = phone.call("call-nopin")
    call.press(keyed(bob.id_number))
    assert speech.WRONG_CREDENTIALS in call.press(PIN)


def test_five_wrong_passwords_lock_phone_access_for_fifteen_minutes(engine, line):
    phone, clock = line
    alice = phone_person(engine, 1)
    first = phone.call("call-lock-1")
    first.press(keyed(alice.id_number))
    for _ in range(3):
        first.press(WRONG_PIN)
    assert speech.TOO_MANY_TRIES in first.said and first.ended
    second = phone.call("call-lock-2", caller="13700000000")  # another phone: the person is locked
    second.press(keyed(alice.id_number))
    second.press(WRONG_PIN)
    assert second.press(WRONG_PIN) == speech.locked(15 * 60) and second.ended
    third = phone.call("call-lock-3", caller="13600000000")
    assert third.press(keyed(alice.id_number)) == speech.locked(15 * 60)  # not even asked for the password
    by_card = phone.call("call-lock-4", caller="13600000000")
    assert by_card.press(alice.card_number[1:]) == speech.locked(15 * 60)  # the card number is the same person
    later(clock, minutes=15, seconds=1)
    fourth = phone.call("call-lock-5", caller="13600000000")
    fourth.press(keyed(alice.id_number))
    assert speech.VERIFIED in fourth.press(PIN)


def test_silence_repeats_the_prompt_then_ends_the_call_after_three(engine, line):
    phone, _ = line
    alice = phone_person(engine, 1)
    call = phone.call("call-silent")
    assert call.silence() == speech.SILENCE + speech.ASK_IDENTITY and not call.ended
    assert call.silence() == speech.SILENCE + speech.ASK_IDENTITY and not call.ended
    call.press(keyed(alice.id_number))  # a key resets the count
    assert call.silence() == speech.SILENCE + speech.ASK_PIN
    call.silence()
    assert call.silence() == speech.TOO_MANY_SILENCES and call.actions[-1] == {"type": "hangup"}


def test_star_stands_for_x_and_card_numbers_work_without_their_letter(engine, line):
    phone, _ = line
    person = phone_person(engine, n_with_x_check_character(), balance_fen=5)
    assert person.id_number.endswith("X")
    call = phone.call("call-x")
    assert speech.ASK_PIN in call.press(person.id_number[:-1] + "*#")
    call.press(PIN)
    assert "余额是五分" in call.press("1")
    by_card = phone.call("call-card")
    assert speech.ASK_PIN in by_card.press(person.card_number[1:] + "#")
    assert speech.VERIFIED in by_card.press(PIN)


def test_a_zero_balance_is_read_as_zero_yuan(engine, line):
    phone, _ = line
    broke = phone_person(engine, 1, balance_fen=0)
    call = phone.call("call-zero")
    call.sign_in(broke)
    assert "余额是零元。" in call.press("1")


def test_hanging_up_mid_entry_cleans_the_call_up(engine, line):
    phone, _ = line
    alice = phone_person(engine, 1)
    call = phone.call("call-gone")
    call.press(keyed(alice.id_number))
    assert phone_line(phone).store.get("call-gone").stage == "pin"
    call.hang_up()
    assert phone_line(phone).store.get("call-gone") is None
    assert call.press(PIN) == speech.CALL_GONE and call.actions[-1] == {"type": "hangup"}
    call.hang_up()  # a repeated hang-up is harmless


def test_two_calls_at_once_are_kept_apart(engine, line):
    phone, _ = line
    alice, bob = phone_person(engine, 1, balance_fen=123_456), phone_person(engine, 2, balance_fen=987_654)
    one, two = phone.call("call-a"), phone.call("call-b", caller="13700000000")
    one.press(keyed(alice.id_number))
    two.press(keyed(bob.id_number))
    two.press(PIN)
    one.press(PIN)
    assert "九千八百七十六元五角四分" in two.press("1")
    assert "一千二百三十四元五角六分" in one.press("1")
    one.hang_up()
    assert "九千八百七十六元五角四分" in two.press("9")
    with engine.connect() as conn:
        rows = conn.execute(select(audit_log.c.actor_id, audit_log.c.subject_person_id, audit_log.c.client)
                            .where(audit_log.c.action == "ivr.balance")).all()
    assert {tuple(row) for row in rows} == {
        ("call:call-a", alice.person_id, CALLER_MASKED), ("call:call-b", bob.person_id, "137****0000"),
    }


def test_menu_keys_back_wrong_and_transfer(engine, line):
    phone, _ = line
    alice = phone_person(engine, 1)
    call = phone.call("call-menu")
    call.press(keyed(alice.id_number))
    assert speech.ASK_IDENTITY in call.press("*")  # back from the password to the number
    call.sign_in(alice)
    assert call.press("7") == speech.WRONG_KEY + speech.MENU
    assert call.press("9") == speech.MENU
    call.press("0")
    assert call.said == speech.TRANSFER and call.actions[-1] == {"type": "transfer", "queue": "agent", "verified": True}
    with engine.connect() as conn:
        entry = conn.execute(select(audit_log).where(audit_log.c.action == "ivr.transfer")).mappings().one()
    assert entry["subject_person_id"] == alice.person_id and entry["client"] == CALLER_MASKED


def test_the_webhook_refuses_unsigned_wrongly_signed_and_stale_events(engine, line):
    phone, clock = line
    event = {"type": "call.started", "call_id": "call-forged", "caller": CALLER}
    body = json.dumps(event).encode()
    assert phone.post(event, headers={"Content-Type": "application/json"}).status_code == 401
    forged = Phone(phone.client, secret="not-the-platform-secret-000000")
    answer = forged.post(event)
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "invalid_signature"
    stale = signed_headers(IVR_SECRET, body, clock.now())
    later(clock, minutes=6)
    assert phone.post(event, headers=stale).status_code == 401
    tampered = body.replace(CALLER.encode(), b"13900000000")
    signed_for_other_body = signed_headers(IVR_SECRET, body, clock.now())
    assert phone.client.post("/api/v1/ivr/events", content=tampered, headers=signed_for_other_body).status_code == 401
    assert phone.post(event).status_code == 200
    assert phone.post({"type": "digits", "call_id": "bad id with spaces", "digits": "1"}).status_code == 422


def test_without_a_configured_secret_the_webhook_refuses_everything(engine, tmp_path):
    with client_for(engine, security(FixedClock(START), data_dir=tmp_path)) as client:
        answer = Phone(client).post({"type": "call.started", "call_id": "c1", "caller": CALLER})
    assert answer.status_code == 401


def test_an_employee_hears_the_provisional_rule_and_both_sides_of_a_conflict(engine, line):
    phone, _ = line
    worker = phone_person(engine, 1)
    with engine.begin() as conn:
        conn.execute(update(persons).where(persons.c.id == worker.person_id).values(region_code="370000", employment="in_service"))
    call = phone.call("call-worker")
    call.sign_in(worker)
    assert "您二零二五年六月的缴费记录还没有到账，到账后按缴费基数计算应划入金额。" in call.press("2")
    call.press("*")
    lifetime = call.press("4")
    assert lifetime.startswith("您尚未办理退休，以下按现行规定计算")
    assert "资料说法不一：按第一种说法，您还差累计缴费" in lifetime and "按第二种说法" in lifetime
    assert "资料情况：资料说法矛盾" in call.press("1")
