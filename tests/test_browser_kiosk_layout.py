"""The kiosk's long pages at 1080×1920: scrolling the list keeps 退卡, the function buttons and
the page buttons on screen (Chromium via Playwright)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import insert

from api_support import START, add_insured, security
from browser_support import browser, kiosk_insert_card, serve
from yibao.clock import FixedClock
from yibao.ledger.accounts import system_account
from yibao.ledger.kinds import AccountKind, TxKind
from yibao.ledger.ledger import Ledger
from yibao.security.passwords import hash_secret
from yibao.store.db import make_engine
from yibao.store.migrate import upgrade
from yibao.store.models import credentials

pytestmark = pytest.mark.browser

PORTRAIT = {"width": 1080, "height": 1920}
PIN = "246810"
# A pharmacy's memo as long as real ones get: each row of the list wraps over several lines.
LONG_MEMO = "定点零售药店刷卡购药（含处方药品、非处方药品、医用耗材及家庭常备医疗器械）"
IN_VIEW = """(selector) => [...document.querySelectorAll(selector)].every((el) => {
  const box = el.getBoundingClientRect();
  return box.height > 0 && box.top >= 0 && box.bottom <= window.innerHeight;
})"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('kiosk-layout') / 'kiosk.sqlite3'}")
    upgrade(engine)
    alice = add_insured(engine, 1, balance_fen=500_000)
    with engine.begin() as conn:
        conn.execute(insert(credentials).values(person_id=alice.person_id, kind="phone_pin", secret_hash=hash_secret(PIN)))
        pharmacy = system_account(conn, AccountKind.INSTITUTION, "110000", suffix="P001", opened_on=date(2020, 1, 1))
    ledger = Ledger(engine)
    for day in range(1, 31):
        ledger.transfer(kind=TxKind.SPENDING, from_account=alice.account_id, to_account=pharmacy, amount_fen=1_234,
                        idempotency_key=f"layout-{day}", business_date=date(2025, 6, min(day, 14)), memo=LONG_MEMO)
    with serve(engine, security(FixedClock(START), kiosk_demo_cards=True)) as base, browser() as chromium:
        yield base, chromium, alice
    engine.dispose()


def test_a_long_list_keeps_the_card_button_and_the_page_buttons_on_screen(site):
    base, chromium, alice = site
    context = chromium.new_context(viewport=PORTRAIT, locale="zh-CN")
    page = context.new_page()
    kiosk_insert_card(page, base, alice.card_number, PIN)
    page.goto(f"{base}/kiosk/details")
    content = page.locator(".k-main")
    overflow = content.evaluate("(main) => main.scrollHeight - main.clientHeight")
    assert overflow > 200, "the list must be longer than the screen for this test to mean anything"
    for position in ("top", "middle", "bottom"):
        content.evaluate("(main, where) => { main.scrollTop = where === 'top' ? 0 : where === 'middle' ? "
                         "main.scrollHeight / 2 : main.scrollHeight; }", position)
        page.mouse.wheel(0, 300)  # and a finger's scroll on top of it
        assert page.evaluate(IN_VIEW, ".k-exit"), position
        assert page.evaluate(IN_VIEW, ".k-nav .k-button"), position
        assert page.evaluate(IN_VIEW, ".k-paging .k-button"), position
        assert page.evaluate(IN_VIEW, ".k-top"), position
    assert page.evaluate("() => document.scrollingElement.scrollHeight <= window.innerHeight")  # only the list scrolls
    page.get_by_role("link", name="下一页").click()
    page.wait_for_url(f"{base}/kiosk/details?page=2")
    assert page.evaluate(IN_VIEW, ".k-exit") and page.evaluate(IN_VIEW, ".k-paging .k-button")
    page.get_by_role("button", name="退卡").click()
    page.wait_for_url(f"{base}/kiosk?notice=*")
    context.close()
