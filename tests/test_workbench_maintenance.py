"""The 账户维护 tab at the workbench and the same actions in the staff API: the identity tick and
a reason are required, each action is audited with the channel and tells the person, staff see
only their regions, auditors and administrators are refused, forms need the session's CSRF
token, and bad input changes nothing."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select, update

from api_support import (
    START,
    RecordingSender,
    add_insured,
    add_resident,
    add_staff_user,
    client_for,
    portal_sign_in,
    security,
    set_card_pin,
    staff_headers,
)
from workbench_support import audit_of, ledger_clean, post_form, workbench_sign_in
from yibao.clock import FixedClock
from yibao.ledger.kinds import AccountStatus
from yibao.security.passwords import verify_secret
from yibao.security.signin import WEB_LOCKOUT, request_sms_code
from yibao.security.staff import StaffRole
from yibao.store.models import accounts, auth_sessions, credentials, guardianships, notifications, persons, staff_users
from yibao.counter_service.password import one_time_password

REASON = "参保人本人到柜台查询"
TICK = {"identity_checked": "yes"}


@pytest.fixture
def sender():
    return RecordingSender()


@pytest.fixture
def world(engine, sender):
    people = {"alice": add_insured(engine, 1), "bob": add_insured(engine, 2)}
    for username, role, region in (("agent1", StaffRole.AGENT, None), ("agent_sh", StaffRole.AGENT, "310000"),
                                   ("auditor1", StaffRole.AUDITOR, None), ("admin1", StaffRole.ADMIN, None)):
        add_staff_user(engine, username, role, region_code=region)
    with client_for(engine, security(FixedClock(START), sender)) as client:
        yield client, people


def open_person(client, person, username: str = "agent1") -> str:
    """Sign in as ``username`` (unless signed in), find ``person`` with a reason; the person's maintenance URL."""
    if "经办人员登录" in client.get("/counter").text:
        assert workbench_sign_in(client, username).status_code == 303
    found = post_form(client, "/counter/search", {"key_kind": "id_number", "key": person.id_number, "reason_choice": REASON})
    assert found.status_code == 303, found.text
    return f"/counter/persons/{person.person_id}/maintenance"


def password_hash(engine, person_id: int, kind: str = "password"):
    with engine.connect() as conn:
        return conn.execute(select(credentials.c.secret_hash, credentials.c.must_change).where(
            credentials.c.person_id == person_id, credentials.c.kind == kind)).first()


def notices_of(engine, person_id: int) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(notifications.c.kind).where(notifications.c.person_id == person_id)).scalars())


def test_the_tab_needs_a_reason_and_is_audited(engine, world):
    client, people = world
    alice = people["alice"]
    workbench_sign_in(client, "agent1")
    before = client.get(f"/counter/persons/{alice.person_id}/maintenance", follow_redirects=False)
    assert before.status_code == 303 and before.headers["location"] == f"/counter/persons/{alice.person_id}"
    url = open_person(client, alice)
    page = client.get(url)
    assert page.status_code == 200
    for words in ("账户维护", "重置登录密码", "重置服务密码", "变更手机号码", "冻结与解冻个人账户", "已核验本人身份证件原件"):
        assert words in page.text
    assert "None" not in page.text and "监护人（未成年人）" not in page.text  # Alice is an adult
    row = audit_of(engine, "staff.person.maintenance", alice.person_id)[-1]
    assert row["reason"] == REASON and row["detail"]["channel"] == "counter"


def test_a_password_reset_gives_a_one_time_password_that_must_be_changed(engine, world, sender):
    client, people = world
    alice = people["alice"]
    signed = portal_sign_in(client, alice)  # a session that must end
    assert signed.status_code == 303
    url = open_person(client, alice)
    done = post_form(client, f"{url}/password-reset", {**TICK, "reason": "参保人忘记密码"})
    assert done.status_code == 200 and done.headers["cache-control"] == "no-store"
    assert "临时登录密码" in done.text and "打印凭条" in done.text
    password = done.text.split('aria-label="临时密码 ')[1].split('"')[0]
    assert len(password) == 10 and not set(password) & set("0O1lIo")
    stored = password_hash(engine, alice.person_id)
    assert stored.must_change and verify_secret(stored.secret_hash, password)
    with engine.connect() as conn:
        open_sessions = conn.execute(select(auth_sessions.c.id).where(
            auth_sessions.c.subject_kind == "person", auth_sessions.c.subject_id == alice.person_id,
            auth_sessions.c.revoked_at.is_(None))).all()
    assert open_sessions == []
    row = audit_of(engine, "staff.person.password_reset", alice.person_id)[-1]
    assert row["reason"] == "参保人忘记密码" and row["detail"]["channel"] == "counter" and password not in str(row)
    assert "counter.password_reset" in notices_of(engine, alice.person_id)
    assert any(phone == alice.phone and "重置" in text for phone, text in sender.sent)
    # The next sign-in may only change the password.
    client.cookies.clear()
    forced = portal_sign_in(client, alice, password=password)
    assert forced.status_code == 303 and forced.headers["location"] == "/portal/password"
    assert portal_sign_in(client, alice).status_code != 303  # the old password no longer works


def test_a_password_reset_clears_the_sign_in_lockout(engine, world):
    client, people = world
    alice = people["alice"]
    sec = client.app.state.security
    lockout = sec.lockout(WEB_LOCKOUT)
    for _ in range(5):
        try:
            lockout.verify([lockout.identity(alice.id_number)], lambda: False)
        except Exception:
            pass
    assert lockout.store.locked_for([f"lockout:{WEB_LOCKOUT}:{lockout.identity(alice.id_number)}"], 5)
    url = open_person(client, alice)
    done = post_form(client, f"{url}/password-reset", {**TICK, "reason": "账户被锁定，本人办理"})
    password = done.text.split('aria-label="临时密码 ')[1].split('"')[0]
    client.cookies.clear()
    assert portal_sign_in(client, alice, password=password).headers["location"] == "/portal/password"


@pytest.mark.parametrize("fields, message", [
    ({"reason": "参保人忘记密码"}, "已核验本人身份证件原件"),
    ({**TICK, "reason": "x"}, "办理事由"),
    ({**TICK, "reason": ""}, "办理事由"),
])
def test_a_password_reset_without_the_tick_or_a_reason_changes_nothing(engine, world, fields, message):
    client, people = world
    alice = people["alice"]
    url = open_person(client, alice)
    before = password_hash(engine, alice.person_id)
    refused = post_form(client, f"{url}/password-reset", fields)
    assert refused.status_code == 422 and message in refused.text and "临时登录密码" not in refused.text
    assert password_hash(engine, alice.person_id) == before
    assert audit_of(engine, "staff.person.password_reset") == []
    assert notices_of(engine, alice.person_id) == []


def test_the_one_time_password_meets_the_rules_and_leaves_out_the_persons_numbers():
    from yibao.security.passwords import carries_personal_numbers, is_weak_password

    for _ in range(200):
        password = one_time_password(id_number="110105195103010011", birth_date=date(1951, 3, 1), phone="13800000001")
        assert not is_weak_password(password)
        assert not carries_personal_numbers(password, id_number="110105195103010011", birth_date=date(1951, 3, 1),
                                            phone="13800000001")
        assert set(password) <= set("abcdefghijkmnpqrstuvwxyz23456789")


def test_a_pin_reset_clears_the_pin_and_its_lockout(engine, world):
    client, people = world
    alice = people["alice"]
    set_card_pin(engine, alice.person_id)
    from yibao.security.phone_pin import holder_subject, service_pin_lockout

    lockout = service_pin_lockout(client.app.state.security)
    subject = holder_subject(lockout, alice.person_id, "")
    for _ in range(5):
        try:
            lockout.verify([subject], lambda: False)
        except Exception:
            pass
    assert lockout.store.locked_for(lockout._keys([subject]), 5)
    url = open_person(client, alice)
    assert "已设置" in client.get(url).text
    refused = post_form(client, f"{url}/pin-reset", {"reason": "忘记服务密码"})
    assert refused.status_code == 422 and password_hash(engine, alice.person_id, "phone_pin") is not None
    done = post_form(client, f"{url}/pin-reset", {**TICK, "reason": "忘记服务密码"})
    assert done.status_code == 303 and done.headers["location"] == f"{url}?notice=pin_reset"
    assert password_hash(engine, alice.person_id, "phone_pin") is None
    assert not lockout.store.locked_for(lockout._keys([subject]), 5)
    page = client.get(done.headers["location"]).text
    assert "服务密码已清除" in page and "未设置" in page
    row = audit_of(engine, "staff.person.pin_reset", alice.person_id)[-1]
    assert row["detail"] == {"had_pin": True, "channel": "counter"} and row["reason"] == "忘记服务密码"
    assert "counter.pin_reset" in notices_of(engine, alice.person_id)


@pytest.mark.parametrize("phone, message", [
    ("1380000", "11位手机号码"), ("23800000000", "11位手机号码"), ("12800000000", "11位手机号码"),
    ("13800000002", "已登记在其他参保人名下"), ("13800000001", "相同"),
])
def test_a_bad_or_taken_phone_number_is_refused_and_nothing_changes(engine, world, phone, message):
    client, people = world
    alice = people["alice"]
    url = open_person(client, alice)
    refused = post_form(client, f"{url}/phone", {**TICK, "reason": "更换手机号码", "new_phone": phone})
    assert refused.status_code == 422 and message in refused.text
    assert f'value="{phone}"' in refused.text and 'aria-invalid="true"' in refused.text
    assert people["bob"].name not in refused.text  # whose number it is stays unsaid
    with engine.connect() as conn:
        assert conn.execute(select(persons.c.phone).where(persons.c.id == alice.person_id)).scalar() == alice.phone
    assert audit_of(engine, "staff.person.phone_changed") == []


def test_a_phone_change_moves_the_sms_sign_in_to_the_new_number(engine, world, sender):
    client, people = world
    alice = people["alice"]
    url = open_person(client, alice)
    done = post_form(client, f"{url}/phone", {**TICK, "reason": "更换手机号码", "new_phone": "139 1234 5678"})
    assert done.status_code == 303
    assert "139****5678" in client.get(done.headers["location"]).text
    row = audit_of(engine, "staff.person.phone_changed", alice.person_id)[-1]
    assert row["detail"] == {"old": "138****0001", "new": "139****5678", "channel": "counter"}
    assert alice.phone in {phone for phone, _ in sender.sent}  # the old number is told
    sec = client.app.state.security
    assert request_sms_code(engine, sec, id_number=alice.id_number, client="1.2.3.4") == "139****5678"
    assert sender.sent[-1][0] == "13912345678"


def test_freeze_then_unfreeze_at_the_counter(engine, world):
    client, people = world
    alice = people["alice"]
    url = open_person(client, alice)
    refused = post_form(client, f"{url}/freeze", {"reason": "社保卡遗失", "action": "freeze"})
    assert refused.status_code == 422
    done = post_form(client, f"{url}/freeze", {**TICK, "reason": "社保卡遗失", "action": "freeze"})
    assert done.status_code == 303
    with engine.connect() as conn:
        assert conn.execute(select(accounts.c.status).where(accounts.c.id == alice.account_id)).scalar() == "frozen"
    overview = client.get(f"/counter/persons/{alice.person_id}").text
    assert "在柜台冻结" in overview and "社保卡遗失" in overview and "2025-06-15" in overview
    again = post_form(client, f"{url}/freeze", {**TICK, "reason": "再次冻结", "action": "freeze"})
    assert again.status_code == 409 or "解除冻结" in client.get(url).text
    lifted = post_form(client, f"{url}/freeze", {**TICK, "reason": "已找回社保卡", "action": "unfreeze"})
    assert lifted.status_code == 303
    page = client.get(lifted.headers["location"]).text
    assert "已解除冻结" in page and "已找回社保卡" in page
    with engine.connect() as conn:
        assert conn.execute(select(accounts.c.status).where(accounts.c.id == alice.account_id)).scalar() == "active"
    frozen, unfrozen = audit_of(engine, "staff.account.frozen")[-1], audit_of(engine, "staff.account.unfrozen")[-1]
    assert frozen["reason"] == "社保卡遗失" and unfrozen["reason"] == "已找回社保卡"
    assert frozen["detail"]["channel"] == unfrozen["detail"]["channel"] == "counter"
    ledger_clean(engine)


def test_an_unfreeze_never_lifts_a_freeze_the_counter_did_not_make(engine, world):
    client, people = world
    alice = people["alice"]
    with engine.begin() as conn:  # as a recorded death freezes it
        conn.execute(update(accounts).where(accounts.c.id == alice.account_id).values(status=AccountStatus.FROZEN.value))
    url = open_person(client, alice)
    assert "不能在柜台解冻" in client.get(url).text
    refused = post_form(client, f"{url}/freeze", {**TICK, "reason": "申请解冻", "action": "unfreeze"})
    assert refused.status_code == 409 and "不是在柜台办理的" in refused.text
    with engine.connect() as conn:
        assert conn.execute(select(accounts.c.status).where(accounts.c.id == alice.account_id)).scalar() == "frozen"
    assert audit_of(engine, "staff.account.unfrozen") == []


def test_a_death_recorded_after_a_counter_freeze_keeps_the_account_frozen(engine, world):
    from api_support import SAMPLE_PDF, TODAY
    from yibao.policy.loading import load_book
    from yibao.security.permissions import StaffScope
    from yibao.withdrawals import inheritance
    from yibao.withdrawals.cases import Actor

    client, people = world
    alice = people["alice"]
    url = open_person(client, alice)
    assert post_form(client, f"{url}/freeze", {**TICK, "reason": "社保卡遗失", "action": "freeze"}).status_code == 303
    with engine.begin() as conn:
        clerk_id = conn.execute(select(staff_users.c.id).where(staff_users.c.username == "agent_sh")).scalar_one()
        inheritance.record_death(conn, load_book(), person_id=alice.person_id, died_on=TODAY, certificate_number="D1",
                                 file_name="d.pdf", content=SAMPLE_PDF, staff=Actor("staff", clerk_id, StaffScope(None), "agent"),
                                 today=TODAY, now=START)
    refused = post_form(client, f"{url}/freeze", {**TICK, "reason": "申请解冻", "action": "unfreeze"})
    assert refused.status_code == 409 and "死亡" in refused.text
    with engine.connect() as conn:
        assert conn.execute(select(accounts.c.status).where(accounts.c.id == alice.account_id)).scalar() == "frozen"
    ledger_clean(engine)


def test_a_guardian_is_confirmed_and_ended_for_a_minor(engine, world):
    client, people = world
    minor = add_resident(engine, 7, birth=date(2015, 5, 1))
    parent = people["bob"]
    url = open_person(client, minor)
    page = client.get(url).text
    assert "监护人（未成年人）" in page and "尚未确认监护人" in page
    form = {**TICK, "reason": "确认监护关系", "guardian_id_number": parent.id_number, "relation": "parent",
            "evidence_kind": "出生医学证明", "evidence_text": "O110000001"}
    refused = post_form(client, f"{url}/guardians", {**form, "relation": "uncle"})
    assert refused.status_code == 422 and "请选择监护人与未成年人的关系" in refused.text
    unknown = post_form(client, f"{url}/guardians", {**form, "guardian_id_number": "110105199001011237"})
    assert unknown.status_code == 422
    with engine.connect() as conn:
        assert conn.execute(select(guardianships.c.id)).all() == []
    done = post_form(client, f"{url}/guardians", form)
    assert done.status_code == 303
    listed = client.get(done.headers["location"]).text
    assert "监护关系已确认" in listed and "出生医学证明（O110000001）" in listed and "当前有效" in listed
    assert parent.name not in listed  # masked
    rows = audit_of(engine, "staff.guardianship.confirmed")
    assert {row["subject_person_id"] for row in rows} == {minor.person_id, parent.person_id}
    assert all(row["reason"] == "确认监护关系" and row["detail"]["channel"] == "counter" for row in rows)
    assert "counter.guardian_confirmed" in notices_of(engine, parent.person_id)
    twice = post_form(client, f"{url}/guardians", form)
    assert twice.status_code == 409 and "无需重复确认" in twice.text
    with engine.connect() as conn:
        guardianship_id = conn.execute(select(guardianships.c.id)).scalar_one()
    ended = post_form(client, f"{url}/guardians/end", {**TICK, "reason": "监护人变更", "guardianship_id": str(guardianship_id)})
    assert ended.status_code == 303 and "终止" in client.get(ended.headers["location"]).text
    assert len(audit_of(engine, "staff.guardianship.ended")) == 2


def test_an_adult_gets_no_guardian(engine, world):
    client, people = world
    url = open_person(client, people["alice"])
    refused = post_form(client, f"{url}/guardians", {**TICK, "reason": "确认监护关系", "relation": "parent",
                                                      "guardian_id_number": people["bob"].id_number, "evidence_kind": "户口簿"})
    assert refused.status_code == 422 and "已成年" in refused.text


ACTIONS = ["password-reset", "pin-reset", "phone", "freeze", "guardians", "guardians/end"]


@pytest.mark.parametrize("username", ["auditor1", "admin1"])
def test_auditors_and_administrators_are_refused(engine, world, username):
    client, people = world
    alice = people["alice"]
    assert workbench_sign_in(client, username).status_code == 303
    base = f"/counter/persons/{alice.person_id}/maintenance"
    assert client.get(base).status_code == 403
    for action in ACTIONS:
        refused = post_form(client, f"{base}/{action}", {**TICK, "reason": "越权尝试", "new_phone": "13912345678"})
        assert refused.status_code == 403 and "系统管理员" in refused.text, action
    assert audit_of(engine, person_id=alice.person_id) == []


def test_staff_of_another_region_find_nobody(engine, world):
    client, people = world
    alice = people["alice"]
    workbench_sign_in(client, "agent_sh")
    base = f"/counter/persons/{alice.person_id}/maintenance"
    for action in ACTIONS:
        answer = post_form(client, f"{base}/{action}", {**TICK, "reason": "跨地区尝试"})
        assert answer.status_code == 404 and "未找到" in answer.text, action
    headers = staff_headers(client, "agent_sh")
    for action in ("password-reset", "pin-reset", "freeze", "unfreeze"):
        answer = client.post(f"/api/v1/staff/persons/{alice.person_id}/{action}", json={"identity_checked": True, "reason": "跨地区尝试"},
                             headers=headers)
        assert answer.status_code == 404, action
    assert password_hash(engine, alice.person_id).must_change is False


def test_a_form_without_the_session_token_is_refused(engine, world):
    client, people = world
    alice = people["alice"]
    url = open_person(client, alice)
    before = password_hash(engine, alice.person_id)
    for action in ACTIONS:
        refused = client.post(f"{url}/{action}", data={**TICK, "reason": "没有令牌", "csrf": "forged"}, follow_redirects=False)
        assert refused.status_code == 403 and "页面已过期" in refused.text, action
    assert password_hash(engine, alice.person_id) == before
    assert audit_of(engine, "staff.person.password_reset") == [] and audit_of(engine, "staff.account.frozen") == []


def test_the_staff_api_does_the_same(engine, world, sender):
    client, people = world
    alice = people["alice"]
    headers = staff_headers(client, "agent1")
    base = f"/api/v1/staff/persons/{alice.person_id}"
    unticked = client.post(f"{base}/password-reset", json={"identity_checked": False, "reason": "忘记密码"}, headers=headers)
    assert unticked.status_code == 422 and unticked.json()["error"]["field"] == "identity_checked"
    reset = client.post(f"{base}/password-reset", json={"identity_checked": True, "reason": "忘记密码"}, headers=headers)
    assert reset.status_code == 200 and reset.json()["must_change"] is True
    assert verify_secret(password_hash(engine, alice.person_id).secret_hash, reset.json()["one_time_password"])
    assert client.post(f"{base}/pin-reset", json={"identity_checked": True, "reason": "忘记服务密码"}, headers=headers).json() == {
        "person_id": alice.person_id, "had_pin": False}
    phone = client.post(f"{base}/phone", json={"identity_checked": True, "reason": "换号", "phone": "13712345678"}, headers=headers)
    assert phone.status_code == 200 and phone.json()["phone_masked"] == "137****5678"
    assert client.post(f"{base}/unfreeze", json={"identity_checked": True, "reason": "解冻"}, headers=headers).status_code == 409
    assert client.post(f"{base}/freeze", json={"identity_checked": True, "reason": "冻结"}, headers=headers).json()["frozen"] is True
    assert client.post(f"{base}/unfreeze", json={"identity_checked": True, "reason": "解冻"}, headers=headers).json()["frozen"] is False
    actions = [row["action"] for row in audit_of(engine, person_id=alice.person_id) if row["actor_kind"] == "staff"]
    assert actions == ["staff.person.password_reset", "staff.person.pin_reset", "staff.person.phone_changed",
                       "staff.account.frozen", "staff.account.unfrozen"]
    assert all("channel" not in (row["detail"] or {}) for row in audit_of(engine, person_id=alice.person_id)
               if row["actor_kind"] == "staff")
    ledger_clean(engine)
