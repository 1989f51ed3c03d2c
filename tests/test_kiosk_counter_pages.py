"""The self-service kiosk (/kiosk) and the agency counter (/counter), through their pages."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import insert, select

from api_support import (
    START,
    STAFF_PASSWORD,
    add_insured,
    add_staff_user,
    bearer,
    client_for,
    later,
    login,
    kiosk_sign_in,
    security,
    token_in,
)
from yibao.clock import FixedClock
from yibao.domain.resident_id import ResidentId
from yibao.ledger.accounts import system_account
from yibao.ledger.kinds import AccountKind, TxKind
from yibao.ledger.ledger import Ledger
from yibao.security.passwords import hash_secret
from yibao.security.staff import StaffRole
from yibao.store.models import audit_log, auth_sessions, credentials

PIN = "246810"


def add_pin(engine, person_id: int, pin: str = PIN) -> None:
    with engine.begin() as conn:
        conn.execute(insert(credentials).values(person_id=person_id, kind="phone_pin", secret_hash=hash_secret(pin)))


def audit_rows(engine, action: str | None = None) -> list:
    query = select(audit_log).order_by(audit_log.c.id)
    if action:
        query = query.where(audit_log.c.action == action)
    with engine.connect() as conn:
        return conn.execute(query).mappings().all()


@pytest.fixture
def clock():
    return FixedClock(START)


@pytest.fixture
def world(engine, clock):
    alice = add_insured(engine, 1)
    add_pin(engine, alice.person_id)
    bob = add_insured(engine, 2)
    add_pin(engine, bob.person_id, "135790")
    add_staff_user(engine, "agent1", StaffRole.AGENT)
    add_staff_user(engine, "agent_sh", StaffRole.AGENT, region_code="310000")
    add_staff_user(engine, "auditor1", StaffRole.AUDITOR)
    sec = security(clock, kiosk_demo_cards=True)
    with client_for(engine, sec) as client:
        yield client, alice, bob


# ---------------------------------------------------------------------------- kiosk


def kiosk_csrf(client) -> str:
    return token_in(client.get("/kiosk/home").text, "csrf")


def test_card_and_pin_open_the_balance_and_the_sign_in_is_audited(engine, world):
    client, alice, _ = world
    start = client.get("/kiosk")
    assert "请插入社保卡" in start.text and start.headers["cache-control"].startswith("no-store")
    signed = kiosk_sign_in(client, alice.card_number, PIN)
    assert signed.status_code == 303 and signed.headers["location"] == "/kiosk/home"
    home = client.get("/kiosk/home")
    assert home.status_code == 200 and "1,234.56元" in home.text
    assert alice.name not in home.text and alice.card_number not in home.text  # masked on a public screen
    assert "no-store" in home.headers["cache-control"]
    logins = audit_rows(engine, "auth.login.kiosk_pin")
    assert [row["subject_person_id"] for row in logins] == [alice.person_id]
    api_balance = client.get("/api/v1/me/accounts", headers=bearer(login(client, alice).json()["access_token"]))
    assert api_balance.json()["total_balance_fen"] == 123_456


def test_demo_cards_are_listed_only_when_the_setting_is_on(engine, clock, world):
    client, alice, bob = world
    assert alice.card_number in client.get("/kiosk").text and bob.card_number in client.get("/kiosk").text
    with client_for(engine, security(clock)) as plain:
        page = plain.get("/kiosk").text
    assert alice.card_number not in page and "演示社保卡" not in page


def test_a_wrong_pin_is_refused_and_five_lock_the_card_for_fifteen_minutes(engine, clock, world):
    client, alice, _ = world
    for attempt in range(4):
        wrong = kiosk_sign_in(client, alice.card_number, "999999")
        assert wrong.status_code == 401 and "卡号或密码不正确" in wrong.text, attempt
    locked = kiosk_sign_in(client, alice.card_number, "999999")
    assert locked.status_code == 423 and "锁定" in locked.text
    assert kiosk_sign_in(client, alice.card_number, PIN).status_code == 423  # even the right PIN, while locked
    later(clock, minutes=15, seconds=1)
    assert kiosk_sign_in(client, alice.card_number, PIN).status_code == 303
    assert audit_rows(engine, "auth.login.kiosk_pin")[-1]["subject_person_id"] == alice.person_id


def test_an_unknown_card_and_a_malformed_pin_get_the_same_answer_as_a_wrong_pin_or_a_field_error(world):
    client, _, _ = world
    assert kiosk_sign_in(client, "Z99999999", PIN).status_code == 401
    short = kiosk_sign_in(client, "Z99999999", "12")
    assert short.status_code == 422 and "6位数字密码" in short.text
    bad_card = kiosk_sign_in(client, "12", PIN)
    assert bad_card.status_code == 422 and "社会保障卡卡号" in bad_card.text


def test_the_server_ends_a_kiosk_session_after_sixty_seconds_without_a_request(engine, clock, world):
    client, alice, _ = world
    kiosk_sign_in(client, alice.card_number, PIN)
    for _ in range(3):  # each request is a touch: three minutes of use in steps under a minute
        later(clock, seconds=59)
        assert client.get("/kiosk/home", follow_redirects=False).status_code == 200
    later(clock, seconds=60)
    ended = client.get("/kiosk/home", follow_redirects=False)
    assert ended.status_code == 303 and ended.headers["location"] == "/kiosk?notice=idle"
    with engine.connect() as conn:
        assert conn.execute(select(auth_sessions.c.revoked_at).where(auth_sessions.c.method == "kiosk_pin")).scalar() is not None
    assert "长时间未操作" in client.get(ended.headers["location"]).text


def test_a_touch_without_leaving_the_page_keeps_the_session(world, clock):
    client, alice, _ = world
    kiosk_sign_in(client, alice.card_number, PIN)
    csrf = kiosk_csrf(client)
    later(clock, seconds=50)
    assert client.post("/kiosk/touch", data={"csrf": csrf}).status_code == 204
    later(clock, seconds=50)
    assert client.get("/kiosk/home", follow_redirects=False).status_code == 200
    later(clock, seconds=61)
    assert client.post("/kiosk/touch", data={"csrf": csrf}).status_code == 401


def test_taking_the_card_back_revokes_the_session_and_forgets_the_cookie(engine, world):
    client, alice, _ = world
    kiosk_sign_in(client, alice.card_number, PIN)
    token = client.cookies.get("yb_kiosk")
    out = client.post("/kiosk/exit", data={"csrf": kiosk_csrf(client)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/kiosk?notice=card"
    assert "yb_kiosk" not in client.cookies
    client.cookies.set("yb_kiosk", token)  # the old card session, replayed
    again = client.get("/kiosk/home", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/kiosk")
    with engine.connect() as conn:
        assert conn.execute(select(auth_sessions.c.revoked_at).where(auth_sessions.c.method == "kiosk_pin")).scalar() is not None


def test_kiosk_posts_without_the_right_token_are_refused(world):
    client, alice, _ = world
    client.get("/kiosk")
    no_token = client.post("/kiosk/signin", data={"card_number": alice.card_number, "pin": PIN}, follow_redirects=False)
    assert no_token.status_code == 403 and "yb_kiosk" not in client.cookies
    kiosk_sign_in(client, alice.card_number, PIN)
    assert client.post("/kiosk/exit", data={"csrf": "forged"}, follow_redirects=False).status_code == 403
    assert client.post("/kiosk/touch", data={"csrf": "forged"}).status_code == 403
    assert client.get("/kiosk/home").status_code == 200  # the refused exit changed nothing


def test_kiosk_details_show_twenty_at_a_time_and_contributions_show_the_gap(engine, world):
    client, alice, _ = world
    with engine.begin() as conn:
        pool = system_account(conn, AccountKind.POOL, "110000", opened_on=date(2020, 1, 1))
    ledger = Ledger(engine)
    for day in range(1, 23):
        ledger.transfer(kind=TxKind.MONTHLY_CREDIT, from_account=pool, to_account=alice.account_id, amount_fen=100,
                        idempotency_key=f"k-{day}", business_date=date(2025, 4, day), memo="测试划入")
    kiosk_sign_in(client, alice.card_number, PIN)
    first = client.get("/kiosk/details").text
    assert first.count("<tr>") == 21 and "第 1 / 2 页" in first  # a header row and 20 details
    second = client.get("/kiosk/details", params={"page": 2}).text
    assert second.count("<tr>") == 5  # 24 in all
    contributions = client.get("/kiosk/contributions").text
    assert "中断月份：2025年3月" in contributions and "本平台记录缴费 <strong>3</strong> 个月" in contributions


def test_kiosk_pages_need_a_card(world):
    client, _, _ = world
    for path in ("/kiosk/home", "/kiosk/details", "/kiosk/contributions", "/kiosk/statement.pdf"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/kiosk", path


def test_the_kiosk_prints_the_last_twelve_months_as_pdf(world):
    client, alice, _ = world
    kiosk_sign_in(client, alice.card_number, PIN)
    pdf = client.get("/kiosk/statement.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and "no-store" in pdf.headers["cache-control"]
    assert "20240701-20250615" in pdf.headers["content-disposition"]  # the last 12 months


# ---------------------------------------------------------------------------- counter


def counter_sign_in(client, username: str = "agent1"):
    page = client.get("/counter")
    assert "经办人员登录" in page.text
    return client.post(
        "/counter/login", data={"username": username, "password": STAFF_PASSWORD, "form_token": token_in(page.text, "form_token")},
        follow_redirects=False,
    )


def counter_search(client, *, key: str, kind: str = "id_number", reason: str = "", other: str = ""):
    csrf = token_in(client.get("/counter").text, "csrf")
    return client.post(
        "/counter/search", data={"csrf": csrf, "key_kind": kind, "key": key, "reason_choice": reason, "reason_other": other},
        follow_redirects=False,
    )


def test_a_lookup_without_a_reason_is_refused_and_looks_nothing_up(engine, world):
    client, alice, _ = world
    assert counter_sign_in(client).status_code == 303
    refused = counter_search(client, key=alice.id_number)
    assert refused.status_code == 422 and "查询事由" in refused.text
    assert audit_rows(engine, "staff.person.search") == []
    assert counter_search(client, key=alice.id_number, reason="其他").status_code == 422  # "other" needs the text


def test_a_lookup_with_a_reason_is_audited_and_opens_the_person(engine, world):
    client, alice, _ = world
    counter_sign_in(client)
    found = counter_search(client, key=alice.card_number, kind="card_number", reason="打印个人账户对账单")
    assert found.status_code == 303 and found.headers["location"] == f"/counter/persons/{alice.person_id}"
    person = client.get(found.headers["location"])
    assert person.status_code == 200 and alice.id_number in person.text and "1,234.56元" in person.text
    assert "no-store" in person.headers["cache-control"]
    assert "reason=" not in person.text  # no link carries the reason: it stays in the signed case cookie
    rows = audit_rows(engine)
    search = [row for row in rows if row["action"] == "staff.person.search"]
    assert search[0]["reason"] == "打印个人账户对账单" and search[0]["subject_person_id"] == alice.person_id
    assert search[0]["detail"] == {"by": "card_number", "found": True, "channel": "counter"}
    views = {row["action"]: row["reason"] for row in rows if row["subject_person_id"] == alice.person_id}
    assert views["staff.person.profile"] == views["staff.person.accounts"] == "打印个人账户对账单"
    typed = counter_search(client, key=alice.id_number, reason="其他", other="参保人电话咨询后到柜台核对")
    assert typed.status_code == 303 and audit_rows(engine, "staff.person.search")[-1]["reason"] == "参保人电话咨询后到柜台核对"


def test_the_id_number_is_masked_until_a_reason_is_given_for_that_person(engine, world):
    client, alice, bob = world
    counter_sign_in(client)
    counter_search(client, key=alice.id_number, reason="核对缴费记录")
    before = client.get(f"/counter/persons/{bob.person_id}")  # another person: the reason was given for Alice
    assert ResidentId(bob.id_number).masked in before.text and bob.id_number not in before.text
    assert "请填写查询事由" in before.text
    assert audit_rows(engine, "staff.person.masked")[-1]["reason"] is None
    assert client.get(f"/counter/persons/{bob.person_id}/details", follow_redirects=False).status_code == 303
    csrf = token_in(before.text, "csrf")
    empty = client.post(f"/counter/persons/{bob.person_id}/reason", data={"csrf": csrf, "reason_choice": ""})
    assert empty.status_code == 422 and bob.id_number not in empty.text
    given = client.post(f"/counter/persons/{bob.person_id}/reason", data={"csrf": csrf, "reason_choice": "核对缴费记录"})
    assert given.status_code == 200 and bob.id_number in given.text
    assert audit_rows(engine, "staff.person.profile")[-1]["subject_person_id"] == bob.person_id


def test_every_counter_view_is_audited_with_the_reason(engine, world):
    client, alice, _ = world
    counter_sign_in(client)
    counter_search(client, key=alice.id_number, reason="个人账户余额异议处理")
    base = f"/counter/persons/{alice.person_id}"
    details = client.get(f"{base}/details")
    assert details.status_code == 200 and "药店购药" in details.text
    contributions = client.get(f"{base}/contributions")
    assert "中断月份（1个）：2025年3月" in contributions.text
    policy = client.get(f"{base}/policy")
    assert policy.status_code == 200 and "每月110.00元" in policy.text  # Beijing, 70 and over: 110 yuan a month
    assert "本月实际已划入" in policy.text and "参保人死亡：可以申请提取" in policy.text
    # A retiree: retirement is the answer; nobody asks for a retirement date or offers to pay years.
    lifetime = policy.text[policy.text.index('id="lifetime"'):]
    lifetime = lifetime[:lifetime.index("</section>")]
    assert "结论：已办理退休，享受退休人员医保待遇，无需继续缴费" in lifetime and "请填写预计退休日期" not in lifetime
    assert "实际缴费0.25年（本平台缴费记录3个月）" in lifetime and "补缴" not in lifetime
    actions = {row["action"]: row["reason"] for row in audit_rows(engine) if row["subject_person_id"] == alice.person_id}
    for action in ("staff.person.details", "staff.person.contributions", "staff.person.policy"):
        assert actions[action] == "个人账户余额异议处理", action


def test_region_scoped_agents_see_only_their_region(engine, world):
    client, alice, _ = world
    counter_sign_in(client, "agent_sh")
    missing = counter_search(client, key=alice.id_number, reason="核对缴费记录")
    assert missing.status_code == 404 and "未找到该参保人" in missing.text
    assert audit_rows(engine, "staff.person.search")[-1]["detail"]["found"] is False
    assert client.get(f"/counter/persons/{alice.person_id}").status_code == 404
    assert audit_rows(engine, "staff.person.masked") == []


def test_the_counter_prints_a_statement_and_audits_it(engine, world):
    client, alice, _ = world
    counter_sign_in(client)
    counter_search(client, key=alice.id_number, reason="打印个人账户对账单")
    pdf = client.get(f"/counter/persons/{alice.person_id}/statement.pdf", params={"date_from": "2025-01-01", "date_to": "2025-06-15"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    row = audit_rows(engine, "staff.person.statement")[-1]
    assert row["reason"] == "打印个人账户对账单" and row["detail"]["date_from"] == "2025-01-01"
    backwards = client.get(f"/counter/persons/{alice.person_id}/statement.pdf", params={"date_from": "2025-06-01", "date_to": "2025-01-01"})
    assert backwards.status_code == 422 and "结束日期不能早于开始日期" in backwards.text


def test_counter_posts_need_the_token_and_auditors_cannot_use_the_counter(engine, world):
    client, alice, _ = world
    page = client.get("/counter")
    assert client.post("/counter/login", data={"username": "agent1", "password": STAFF_PASSWORD}).status_code == 403
    counter_sign_in(client)
    forged = client.post("/counter/search", data={"csrf": "x", "key": alice.id_number, "reason_choice": "核对缴费记录"})
    assert forged.status_code == 403 and audit_rows(engine, "staff.person.search") == []
    assert page.status_code == 200
    with client_for(engine, client.app.state.security) as other:
        assert counter_sign_in(other, "auditor1").status_code == 303  # the workbench, without the person pages
        csrf = token_in(other.get("/counter").text, "csrf")
        refused = other.post("/counter/search", data={"csrf": csrf, "key": alice.id_number, "reason_choice": "核对缴费记录"})
        assert refused.status_code == 403 and "查询参保人信息" in refused.text
        assert audit_rows(engine, "staff.person.search") == []


def test_a_counter_session_ends_after_fifteen_idle_minutes_and_lives_while_used(world, clock):
    client, alice, _ = world
    counter_sign_in(client)
    for _ in range(4):  # an hour of work, a request every ten minutes
        later(clock, seconds=10 * 60)
        assert client.get("/counter", follow_redirects=False).status_code == 200
    later(clock, seconds=15 * 60 + 1)
    assert client.get(f"/counter/persons/{alice.person_id}", follow_redirects=False).headers["location"] == "/counter?notice=expired"


def test_signing_out_ends_the_counter_session(engine, world):
    client, alice, _ = world
    counter_sign_in(client)
    counter_search(client, key=alice.id_number, reason="核对缴费记录")
    csrf = token_in(client.get("/counter").text, "csrf")
    out = client.post("/counter/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303 and "yb_counter" not in client.cookies
    assert client.get(f"/counter/persons/{alice.person_id}", follow_redirects=False).status_code == 303
    assert "您已安全退出" in client.get("/counter?notice=signed_out").text


def test_counter_sessions_expire_like_staff_api_sessions(world, clock):
    client, alice, _ = world
    counter_sign_in(client)
    later(clock, seconds=client.app.state.security.settings.session_ttl_seconds + 1)
    expired = client.get(f"/counter/persons/{alice.person_id}", follow_redirects=False)
    assert expired.status_code == 303 and expired.headers["location"] == "/counter?notice=expired"


def test_the_pages_stay_out_of_the_api_document(world):
    client, _, _ = world
    paths = client.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith(("/kiosk", "/counter"))]
