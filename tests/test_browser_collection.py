"""Paying online in a real browser at phone width (390 px), with the gateway simulator sending
its signed notices over HTTP from its own thread, as a gateway does:

- a resident pays the 2026 premium for themselves (cashier, notice, receipt PDF), the gateway
  repeats its notice (nothing changes), then asks for a refund before coverage starts;
- a guardian pays for a minor; a flexible employee lets an order expire, then pays two months.

``yibao db check`` is clean after each. The kill -9 between notice and posting is walked in
``test_collection_crash.py`` against a real ``yibao serve``. With ``YIBAO_SCREENSHOTS`` set the
steps are saved for the docs (portal-pay-*).
"""

from __future__ import annotations

import io
import time
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader
from sqlalchemy import func, select

from api_support import add_insured, add_resident, security
from browser_support import PHONE, browser, screenshot, serve
from collection_support import IN_WINDOW, add_minor, demo_book, make_flexible
from ledger_support import ledger_clean
from test_browser_portal import check_page_quality, nav, sign_in
from yibao.clock import FixedClock
from yibao.store.db import make_engine
from yibao.store.migrate import upgrade
from yibao.store.models import gateway_notices, ledger_transactions

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pay")
    engine = make_engine(f"sqlite:///{folder / 'pay.sqlite3'}")
    upgrade(engine)
    guardian = add_insured(engine, 1)
    people = {"resident": add_resident(engine, 2), "guardian": guardian, "minor": add_minor(engine, 3, guardian),
              "flexible": add_insured(engine, 4)}
    make_flexible(engine, people["flexible"])
    clock = FixedClock(IN_WINDOW)
    sec = security(clock, env="development", data_dir=folder, contribution_order_minutes=10)
    with serve(engine, sec, demo_book()) as base, browser() as chromium:
        yield base, chromium, people, engine, clock
    engine.dispose()


def phone_page(chromium):
    context = chromium.new_context(viewport=PHONE, locale="zh-CN", accept_downloads=True)
    return context, context.new_page()


def wait_for_status(page, text: str, seconds: float = 20) -> None:
    """Reload the order page until the gateway's notice has been taken (it comes asynchronously)."""
    deadline = time.monotonic() + seconds
    while text not in page.get_by_test_id("order-status").inner_text():
        assert time.monotonic() < deadline, page.get_by_test_id("order").inner_text()
        time.sleep(0.3)
        page.reload()


def pay_at_cashier(page) -> None:
    page.get_by_test_id("go-pay").click()
    expect(page.get_by_role("heading", name="模拟支付收银台")).to_be_visible()
    screenshot(page, "portal-pay-cashier")
    page.get_by_role("button", name="确认支付").click()
    expect(page.get_by_role("heading", name="缴费订单")).to_be_visible()


def count(engine, table, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def test_a_resident_pays_gets_the_receipt_and_asks_for_a_refund(site):
    base, chromium, people, engine, _ = site
    context, page = phone_page(chromium)
    sign_in(page, base, people["resident"])
    nav(page, "缴费").click()
    year = page.get_by_test_id("premium-2026")
    expect(year).to_contain_text("410.00元")
    expect(page.get_by_test_id("benefit-2026")).to_contain_text("2026年1月1日起享受待遇")
    check_page_quality(page, "phone")
    screenshot(page, "portal-pay-resident")
    year.get_by_role("button", name="缴纳2026年度医保费 410.00元").click()
    expect(page.get_by_test_id("order-status")).to_have_text("待支付")
    check_page_quality(page, "phone")
    screenshot(page, "portal-pay-order")
    pay_at_cashier(page)
    wait_for_status(page, "缴费成功")
    expect(page.get_by_test_id("benefit")).to_contain_text("2026年1月1日")
    screenshot(page, "portal-pay-paid")
    order_url = page.url

    # The gateway sends its notice again: acknowledged, nothing posted twice.
    page.goto(base + "/gateway-sim/pay/" + order_url.rsplit("/", 1)[1])
    page.get_by_role("button", name="重发支付通知（模拟支付渠道重复通知）").click()
    assert count(engine, gateway_notices) == 1 and count(engine, ledger_transactions, ledger_transactions.c.kind == "resident_premium") == 1
    page.goto(order_url)

    with page.expect_download() as download:
        page.get_by_test_id("receipt").click()
    text = "".join(each.extract_text() for each in PdfReader(io.BytesIO(download.value.path().read_bytes())).pages)
    assert "城乡居民基本医疗保险个人缴费凭证" in text and "410.00元" in text and "2026年1月1日" in text

    page.get_by_text("申请退费", exact=True).click()
    page.get_by_label("退费原因").fill("已在工作单位参加职工医保")
    page.get_by_role("button", name="确认退费").click()
    expect(page.get_by_test_id("order-status")).to_have_text("已退款")
    screenshot(page, "portal-pay-refunded")
    ledger_clean(engine)
    context.close()


def test_a_guardian_pays_for_a_minor(site):
    base, chromium, people, engine, _ = site
    context, page = phone_page(chromium)
    sign_in(page, base, people["guardian"])
    nav(page, "缴费").click()
    expect(page.get_by_text("您参加的是职工医保")).to_be_visible()
    page.get_by_role("link", name="被监护人").click()
    screenshot(page, "portal-pay-guardian")
    page.get_by_test_id("premium-2026").get_by_role("button").click()
    expect(page.get_by_text("监护人代缴")).to_be_visible()
    pay_at_cashier(page)
    wait_for_status(page, "缴费成功")
    ledger_clean(engine)
    context.close()


def test_a_flexible_employee_lets_an_order_expire_then_pays_two_months(site):
    base, chromium, people, engine, clock = site
    context, page = phone_page(chromium)
    sign_in(page, base, people["flexible"])
    nav(page, "缴费").click()
    expect(page.get_by_text("补缴后多久恢复待遇")).to_be_visible()
    page.get_by_label("100%档", exact=False).check()
    page.get_by_label("2025年11月").check()
    check_page_quality(page, "phone")
    screenshot(page, "portal-pay-flexible")
    page.get_by_role("button", name="生成缴费订单").click()
    expect(page.get_by_test_id("order-status")).to_have_text("待支付")
    clock.at += timedelta(minutes=11)
    page.reload()
    expect(page.get_by_test_id("order-status")).to_have_text("已过期（未支付）")
    clock.at -= timedelta(minutes=11)

    page.get_by_role("link", name="重新下单").click()
    page.get_by_label("2025年10月（补缴）").check()
    page.get_by_role("button", name="生成缴费订单").click()
    expect(page.get_by_test_id("order")).to_contain_text("2025年10月—2025年11月（2个月）")
    pay_at_cashier(page)
    wait_for_status(page, "缴费成功")
    nav(page, "缴费记录").click()
    expect(page.get_by_text("补缴").first).to_be_visible()
    expect(page.get_by_test_id("resumption")).to_contain_text("补缴后多久恢复待遇")
    screenshot(page, "portal-pay-contributions")
    ledger_clean(engine)
    context.close()
