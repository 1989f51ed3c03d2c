"""长辈模式 (elder mode) in a real browser at phone width: the switch, its memory across pages
and visits, large text and touch targets of at least 44 px.

With ``YIBAO_SCREENSHOTS=docs/screenshots`` the home page in elder mode is saved for the docs.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from api_support import START, RecordingSender, add_insured, security
from browser_support import PHONE, browser, screenshot, serve
from yibao.clock import FixedClock
from yibao.store.db import make_engine
from yibao.store.migrate import upgrade

pytestmark = pytest.mark.browser

MIN_TARGET_PX = 44
# Every visible link, button and form control shorter than a fingertip (WCAG 2.5.5: 44 px).
SMALL_TARGETS = """(min) => [...document.querySelectorAll(
    "a[href], button, input:not([type=hidden]), select, textarea, summary")]
  .filter((el) => { const box = el.getBoundingClientRect(), style = getComputedStyle(el);
                    return box.width > 0 && box.height > 0 && style.visibility !== "hidden"; })
  .filter((el) => el.getBoundingClientRect().height < min)
  .map((el) => `${el.tagName} "${(el.textContent || el.name || "").trim().slice(0, 12)}" ${el.getBoundingClientRect().height.toFixed(1)}px`)"""
PAGES = ["/portal", "/portal/details", "/portal/contributions", "/portal/evoucher", "/calc/credit"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('elder') / 'portal.sqlite3'}")
    upgrade(engine)
    alice = add_insured(engine, 1)
    with serve(engine, security(FixedClock(START), RecordingSender())) as base, browser() as chromium:
        yield base, chromium, alice
    engine.dispose()


def elder_on(page) -> bool:
    return page.evaluate("() => document.documentElement.classList.contains('elder')")


def test_elder_mode_is_remembered_across_pages_with_large_text_and_large_targets(site):
    base, chromium, alice = site
    context = chromium.new_context(viewport=PHONE, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{base}/portal/login")
    switch = page.get_by_role("button", name="长辈模式")
    expect(switch).to_be_visible()
    assert not elder_on(page)
    switch.click()
    assert elder_on(page)
    expect(page.get_by_role("button", name="标准模式")).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("() => parseFloat(getComputedStyle(document.body).fontSize)") >= 20
    assert page.evaluate(SMALL_TARGETS, MIN_TARGET_PX) == []

    page.get_by_label("身份证号码").fill(alice.id_number)
    page.get_by_label("社会保障卡卡号").fill(alice.card_number)
    page.get_by_label(re.compile("^密码")).fill(alice.password)
    page.get_by_role("button", name="登录", exact=True).click()
    page.wait_for_url(f"{base}/portal")
    for path in PAGES:  # every page after the switch opens in elder mode, from its first paint
        page.goto(base + path)
        assert elder_on(page), path
        assert page.evaluate("() => parseFloat(getComputedStyle(document.body).fontSize)") >= 20, path
        assert page.evaluate(SMALL_TARGETS, MIN_TARGET_PX) == [], path
    # fewer items: the secondary entries leave the menu (still reachable from the pages)
    expect(page.get_by_role("navigation", name="主导航").get_by_role("link", name="设置")).to_be_hidden()
    page.goto(f"{base}/portal")
    screenshot(page, "portal-elder-phone")

    second = context.new_page()  # another visit in the same browser, from the landing page
    second.goto(f"{base}/")
    assert elder_on(second)
    assert second.evaluate(SMALL_TARGETS, MIN_TARGET_PX) == []
    second.get_by_role("link", name="计算器").first.click()
    assert elder_on(second)
    second.get_by_role("button", name="标准模式").click()
    assert not elder_on(second)
    second.reload()
    assert not elder_on(second)
    expect(second.get_by_role("button", name="长辈模式")).to_have_attribute("aria-pressed", "false")
    context.close()


def test_a_browser_that_never_switched_sees_the_standard_pages(site):
    base, chromium, _ = site
    context = chromium.new_context(viewport=PHONE, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{base}/calc")
    assert not elder_on(page)
    assert page.evaluate("() => parseFloat(getComputedStyle(document.body).fontSize)") < 20
    assert not [cookie for cookie in context.cookies() if cookie["name"] == "yb_elder"]
    context.close()
