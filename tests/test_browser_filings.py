"""Out-of-area care filing in a real browser (Chromium via Playwright): at phone width a person
files a long-term filing, changes its place, and after a clerk confirms it at the workbench sees
it in force and cancels it. With ``YIBAO_SCREENSHOTS=docs/screenshots`` the pages are saved."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from playwright.sync_api import expect

from api_support import RecordingSender, add_insured, add_staff_user, security
from browser_support import PHONE, WORKBENCH, browser, screenshot, serve
from test_browser_cases import check_phone_page, open_service, sign_in
from workbench_support import browser_sign_in
from yibao.clock import FixedClock
from yibao.security.staff import StaffRole
from yibao.store.db import make_engine
from yibao.store.migrate import upgrade

pytestmark = pytest.mark.browser

MONDAY = datetime(2025, 6, 16, 2, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('filings') / 'filings.sqlite3'}")
    upgrade(engine)
    alice = add_insured(engine, 1)
    add_staff_user(engine, "clerk_bj", StaffRole.AGENT, region_code="110000")
    with serve(engine, security(FixedClock(MONDAY), RecordingSender())) as base, browser() as chromium:
        yield base, chromium, alice
    engine.dispose()


def card(page, text: str):
    return page.locator("section.filing").filter(has_text=text)


def test_file_change_confirm_and_cancel(site):
    base, chromium, alice = site
    phone = chromium.new_context(viewport=PHONE, locale="zh-CN").new_page()
    sign_in(phone, base, alice)
    open_service(phone, "异地就医备案")
    expect(phone.get_by_role("heading", name="异地就医备案", level=1)).to_be_visible()
    phone.get_by_label("异地长期居住", exact=True).check()
    phone.get_by_label("备案地（就医地）").select_option("110000")
    phone.get_by_label("开始日期").fill("2025-06-20")
    phone.get_by_role("button", name="提交备案").click()
    expect(phone.locator("#place-error")).to_contain_text("备案地是您参保的统筹区")  # refused, said at the field
    phone.get_by_label("备案地（就医地）").select_option("440300")
    phone.get_by_role("button", name="提交备案").click()
    expect(phone.get_by_role("status")).to_have_text("备案已提交。")
    expect(card(phone, "深圳市").get_by_test_id("filing-status")).to_have_text("待确认")
    check_phone_page(phone)
    screenshot(phone, "portal-filings-phone")

    card(phone, "深圳市").get_by_role("link", name="变更").click()
    expect(phone.get_by_role("heading", name="变更备案")).to_be_visible()
    phone.get_by_label("备案地（就医地）").select_option("330100")
    phone.get_by_role("button", name="提交变更").click()
    expect(phone.get_by_role("status")).to_contain_text("备案已变更")
    expect(card(phone, "深圳市").get_by_test_id("filing-status")).to_have_text("已变更")
    expect(card(phone, "杭州市").get_by_test_id("filing-status")).to_have_text("待确认")
    check_phone_page(phone)
    screenshot(phone, "portal-filings-changed-phone")

    office = chromium.new_context(viewport=WORKBENCH, locale="zh-CN").new_page()
    browser_sign_in(office, base, "clerk_bj")
    office.get_by_role("link", name="异地就医备案").first.click()
    expect(office.locator("#filing-queue")).to_contain_text("杭州市")
    office.locator("#filing-queue").get_by_role("link").first.click()
    office.get_by_label("确认生效").check()
    office.get_by_label(re.compile("^经办意见")).fill("材料齐全，予以确认")
    office.get_by_role("button", name="提交确认结果").click()
    expect(office.locator("#notice")).to_contain_text("备案已确认生效")
    expect(office.locator("#filing-status")).to_have_text("已生效")
    screenshot(office, "workbench-filing-confirmed")

    phone.reload()
    hangzhou = card(phone, "杭州市")
    expect(hangzhou.get_by_test_id("filing-status")).to_have_text("已生效")
    expect(hangzhou.get_by_test_id("filing-validity")).to_have_text("有效期：2025-06-20 起，长期有效（至取消）")
    hangzhou.get_by_role("button", name="取消备案").click()
    expect(phone.get_by_role("status")).to_have_text("备案已取消。")
    expect(card(phone, "杭州市").get_by_test_id("filing-status")).to_have_text("已取消")
    check_phone_page(phone)
    screenshot(phone, "portal-filings-cancelled-phone")
