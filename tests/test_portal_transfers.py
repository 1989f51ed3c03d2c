"""转移接续 on the portal, through the test client on both backends: the region picker offers
every pooling region; the person applies, then follows each step (clerks' steps through the
service functions) with due dates in working days, an overdue mark, and where the balance is;
the API answers the same from the same service; other people, bad input and CSRF change nothing."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import func, select

from api_support import PAYEE_CARD, RecordingSender, add_insured, client_for, person_token, portal_sign_in, security
from portal_case_support import csrf_of, staff_actor
from yibao.clock import FixedClock
from yibao.domain.regions import regions
from yibao.policy.loading import load_book
from yibao.store.models import region_transfers
from yibao.transfers import transfer

# The day before the National Day holiday: the deadlines run across it.
SEPT_30 = datetime(2025, 9, 30, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def world(engine):
    clock = FixedClock(SEPT_30)
    alice, bob = add_insured(engine, 1), add_insured(engine, 2)
    with client_for(engine, security(clock, RecordingSender())) as client:
        yield client, clock, alice, bob


def request_move(client, to_region: str = "310000", csrf: str | None = None):
    form = {"csrf": csrf if csrf is not None else csrf_of(client, "/portal/transfers"), "to_region": to_region}
    return client.post("/portal/transfers", data=form, follow_redirects=False)


def card_of(page: str) -> str:
    return re.search(r'<section class="card transfer".*?</section>', page, re.S).group(0)


def test_the_picker_offers_every_pooling_region_grouped_by_province(world):
    client, _, alice, _ = world
    portal_sign_in(client, alice)
    page = client.get("/portal/transfers").text
    offered = re.findall(r'<option value="(\d{6})"', page)
    assert sorted(offered) == sorted(region.code for region in regions().pooling_regions())
    assert '<optgroup label="广东省">' in page and re.search(r'<option value="440300"[^>]*>深圳市</option>', page)
    assert "data-region-picker" in page
    assert "转出地在10个工作日内审核并转出" in page  # Beijing's deadline, from the policy data


def test_apply_and_follow_the_steps_until_the_balance_is_in_the_new_account(world, engine):
    client, clock, alice, _ = world
    portal_sign_in(client, alice)
    answer = request_move(client)
    assert answer.status_code == 303 and answer.headers["location"] == "/portal/transfers?notice=requested"
    card = card_of(client.get("/portal/transfers").text)
    assert "北京市 → 上海市" in card and "待转出地审核" in card
    assert "应于 2025-10-21 前办结" in card  # 10 working days, the National Day week not counted
    assert "北京市原个人账户" in card and "1,234.56元" in card
    with engine.connect() as conn:
        transfer_id = conn.execute(select(region_transfers.c.id)).scalar_one()

    book, clerk_bj, clerk_sh = load_book(), staff_actor(engine, "clerk_bj"), staff_actor(engine, "clerk_sh", region_code="310000")
    with engine.begin() as conn:
        transfer.review(conn, transfer_id, clerk_bj, approve=True, note="审核通过", today=date(2025, 9, 30))
        transfer.transfer_out(conn, book, transfer_id, clerk_bj, today=date(2025, 9, 30))
    card = card_of(client.get("/portal/transfers").text)
    assert "转移途中（清算账户）" in card and "1,234.56元" in card
    assert re.search(r'data-testid="step-transfer_out">.*?已办结 2025-09-30', card, re.S)
    assert "应于 2025-10-14 前办结" in card and "已超期" not in card

    clock.at = datetime(2025, 10, 16, 2, 0, tzinfo=timezone.utc)
    client.cookies.clear()
    portal_sign_in(client, alice)  # the session of two weeks ago has ended
    card = card_of(client.get("/portal/transfers").text)
    assert "已超期2个工作日" in card  # due on the 14th: the 15th and 16th are late

    with engine.begin() as conn:
        transfer.transfer_in(conn, book, transfer_id, clerk_sh, accept_balance=True, today=date(2025, 10, 16), now=clock.at)
    card = card_of(client.get("/portal/transfers").text)
    assert "已完成" in card and "上海市新个人账户" in card and "1,234.56元" in card
    assert "已办结 2025-10-16（超期2个工作日）" in card
    assert "提交转移申请" in client.get("/portal/transfers").text  # a new move may be asked for now

    mine = client.get("/api/v1/me/transfers", headers=person_token(client, alice)).json()["items"][0]
    assert mine["balance_place"] == {"place": "new_account", "label": "上海市新个人账户", "amount_fen": 123_456}
    assert [(step["step"], step["state"], step["overdue"]) for step in mine["steps"]] == [
        ("review", "done", False), ("transfer_out", "done", False), ("transfer_in", "done", True)]


def test_a_refused_request_shows_the_refusal_and_the_money_stays(world, engine):
    client, _, alice, _ = world
    portal_sign_in(client, alice)
    request_move(client, "440300")
    clerk = staff_actor(engine, "clerk_bj")
    with engine.begin() as conn:
        transfer_id = conn.execute(select(region_transfers.c.id)).scalar_one()
        transfer.review(conn, transfer_id, clerk, approve=False, note="尚有未结清的医疗费用", today=date(2025, 9, 30))
    card = card_of(client.get("/portal/transfers").text)
    assert "转出地不予办理" in card and "经办意见：尚有未结清的医疗费用" in card and "北京市原个人账户" in card


@pytest.mark.parametrize(("to_region", "message"), [
    ("", "请选择转入地"),
    ("999999", "未知的行政区划代码"),
    ("110000", "转入地与当前参保地相同"),
    ("440000", "广东省按地市统筹"),
])
def test_a_bad_destination_is_shown_at_its_field_and_nothing_is_stored(world, engine, to_region, message):
    client, _, alice, _ = world
    portal_sign_in(client, alice)
    answer = request_move(client, to_region)
    assert answer.status_code == 422
    assert message in answer.text and 'id="to_region-error"' in answer.text
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(region_transfers)).scalar_one() == 0


def test_no_token_no_transfer_and_nobody_sees_anothers(world, engine):
    client, _, alice, bob = world
    portal_sign_in(client, alice)
    refused = request_move(client, csrf="")
    assert refused.status_code == 403 and "页面已过期" in refused.text
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(region_transfers)).scalar_one() == 0
    assert request_move(client).status_code == 303
    client.cookies.clear()
    portal_sign_in(client, bob)
    page = client.get("/portal/transfers").text
    assert 'class="card transfer"' not in page and "提交转移申请" in page
    assert client.get("/portal/cases").text.count("暂无办理记录") == 4  # transfers, withdrawals, refunds, filings


def test_signed_out_visitors_are_sent_to_sign_in(world):
    client, _, _, _ = world
    for path in ("/portal/cases", "/portal/transfers", "/portal/withdrawals", "/portal/refunds", "/portal/withdrawals/1"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/portal/login?next=")


def test_a_transfer_and_a_withdrawal_wait_for_each_other_with_the_reason_on_the_page(world, engine):
    client, _, alice, _ = world
    portal_sign_in(client, alice)
    assert request_move(client).status_code == 303
    form = {"csrf": csrf_of(client, "/portal/withdrawals"), "reason": "emigration", "bank_name": "中国工商银行",
            "bank_account": PAYEE_CARD, "account_holder": alice.name}
    refused = client.post("/portal/withdrawals", data=form)
    assert refused.status_code == 422
    assert 'id="reason-error">医保关系转移正在办理中，暂不能申请提取' in refused.text
    again = request_move(client, "440300")
    assert again.status_code == 422 and "已有正在办理的转移申请" in again.text
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(region_transfers)).scalar_one() == 1
