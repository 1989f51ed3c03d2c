"""Family sharing, the forgotten password and the e-voucher in a real browser at phone width
(390 px), each walked end to end as the people themselves. With ``YIBAO_SCREENSHOTS`` set the
steps are saved as images for the docs (portal-family-*, portal-forgot-*, portal-evoucher-phone).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from api_support import NEW_PASSWORD, START, RecordingSender, add_insured, add_resident, security
from browser_support import DESKTOP, PHONE, browser, screenshot, serve
from test_browser_portal import check_page_quality, nav, sign_in
from yibao.clock import FixedClock
from yibao.domain.person import mask_name
from yibao.domain.resident_id import ResidentId
from yibao.security.sms import mask_phone
from yibao.store.db import make_engine
from yibao.store.migrate import upgrade

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('browser') / 'family.sqlite3'}")
    upgrade(engine)
    people = {"holder": add_insured(engine, 1), "forgetful": add_insured(engine, 2), "child": add_resident(engine, 3)}
    sender = RecordingSender()
    with serve(engine, security(FixedClock(START), sender)) as base, browser() as chromium:
        yield base, chromium, people, sender, engine
    engine.dispose()


def phone_page(chromium):
    context = chromium.new_context(viewport=PHONE, locale="zh-CN")
    return context, context.new_page()


def test_holder_binds_relative_consents_holder_pays_both_see_it_then_end(site):
    base, chromium, people, _, _ = site
    holder, child = people["holder"], people["child"]
    holder_context, page = phone_page(chromium)
    sign_in(page, base, holder)
    nav(page, "家庭共济").click()
    expect(page.get_by_role("heading", name="家庭共济", level=1)).to_be_visible()
    page.get_by_label("亲属的身份证号码").fill(child.id_number)
    page.get_by_label("亲属是您的").select_option(label="子女")
    screenshot(page, "portal-family-bind-phone")
    page.get_by_role("button", name="发送绑定请求").click()
    expect(page.get_by_role("status")).to_contain_text("已向亲属发送绑定请求")
    expect(page.get_by_text("已向对方发送请求，对方同意后生效")).to_be_visible()
    check_page_quality(page, "phone")

    child_context, child_page = phone_page(chromium)
    sign_in(child_page, base, child)
    nav(child_page, "家庭共济").click()
    pending = child_page.locator(".family-pending")
    expect(pending).to_contain_text(f"您的父母{mask_name(holder.name)}")
    screenshot(child_page, "portal-family-consent-phone")
    check_page_quality(child_page, "phone")
    pending.get_by_role("button", name="同意绑定").click()
    expect(child_page.get_by_role("status")).to_contain_text("绑定已生效")

    page.reload()
    expect(page.locator(".tag-active")).to_have_text("已生效")
    expect(page.get_by_text("已同意与您家庭共济")).to_be_visible()  # the holder's message
    page.get_by_label("代缴城乡居民医保费的年度").select_option(str(START.year))
    page.get_by_role("button", name="为对方代缴居民医保费").click()
    expect(page.get_by_role("status")).to_contain_text("代缴成功")
    paid_row = page.get_by_test_id("family-payment")
    expect(paid_row).to_contain_text(f"为亲属{mask_name(child.name)}（子女）代缴{START.year}年度城乡居民医保费")
    expect(paid_row).to_contain_text("400.00元")
    screenshot(page, "portal-family-holder-phone")
    check_page_quality(page, "phone")

    child_page.reload()
    expect(child_page.get_by_test_id("family-payment")).to_contain_text(f"由亲属{mask_name(holder.name)}（父母）的个人账户代缴")
    expect(child_page.locator(".family-messages")).to_contain_text("您本人账户未扣款")
    screenshot(child_page, "portal-family-member-phone")

    page.get_by_role("button", name="解除绑定").click()
    expect(page.get_by_role("status")).to_contain_text("已解除绑定")
    expect(page.locator(".tag-ended")).to_have_text("已解除")
    child_page.reload()
    expect(child_page.locator(".tag-ended")).to_have_text("已解除")
    holder_context.close()
    child_context.close()


def test_forgotten_password_ends_old_sessions_and_the_new_one_signs_in(site):
    base, chromium, people, sender, _ = site
    person = people["forgetful"]
    old_context, old_page = phone_page(chromium)
    sign_in(old_page, base, person)
    expect(old_page.get_by_test_id("balance")).to_be_visible()

    context, page = phone_page(chromium)
    page.goto(f"{base}/portal/login")
    page.get_by_role("link", name="忘记密码？").click()
    page.get_by_label("身份证号码").fill(person.id_number)
    page.get_by_label("姓名").fill(person.name)
    screenshot(page, "portal-forgot-start-phone")
    page.get_by_role("button", name="获取验证码").click()
    expect(page.get_by_role("status")).to_contain_text(f"验证码已发送至手机{mask_phone(person.phone)}")
    assert person.phone not in page.content()
    page.get_by_label("短信验证码").fill(sender.last_code())
    page.get_by_label(re.compile("^新密码")).fill(NEW_PASSWORD)
    page.get_by_label("再次输入新密码").fill(NEW_PASSWORD)
    screenshot(page, "portal-forgot-code-phone")
    check_page_quality(page, "phone")
    page.get_by_role("button", name="重置密码").click()
    expect(page.get_by_role("status")).to_contain_text("密码已重置")
    screenshot(page, "portal-forgot-done-phone")

    old_page.reload()  # the session from before the reset has ended
    expect(old_page).to_have_url(re.compile(r"/portal/login\?next=.*notice=expired"))
    expect(old_page.get_by_role("status")).to_contain_text("登录已过期，请重新登录")

    sign_in(page, base, person, NEW_PASSWORD)
    expect(page.get_by_test_id("balance")).to_be_visible()
    old_context.close()
    context.close()


def test_the_evoucher_shows_whose_it_is(site):
    base, chromium, people, _, _ = site
    holder = people["holder"]
    context, page = phone_page(chromium)
    sign_in(page, base, holder)
    nav(page, "电子凭证").click()
    page.get_by_role("button", name="生成二维码").click()
    who = page.get_by_test_id("evoucher-holder")
    expect(who).to_contain_text(mask_name(holder.name))
    expect(who).to_contain_text(ResidentId(holder.id_number).masked)
    assert holder.id_number not in page.content() and holder.name not in who.inner_text()
    expect(page.get_by_test_id("evoucher-qr").locator("svg")).to_be_visible()
    expect(page.get_by_text("到期前将自动刷新")).to_be_visible()
    screenshot(page, "portal-evoucher-phone")
    check_page_quality(page, "phone")
    context.close()


def test_the_evoucher_refreshes_itself_before_it_expires(site):
    """A short-lived code (8 s) so that the page asks for the next one soon; the button stays."""
    _, chromium, people, _, engine = site
    with serve(engine, security(FixedClock(START), evoucher_ttl_seconds=8)) as base:
        context, page = phone_page(chromium)
        sign_in(page, base, people["holder"])
        page.goto(f"{base}/portal/evoucher")
        page.get_by_role("button", name="生成二维码").click()
        first = page.get_by_test_id("evoucher-qr").inner_html()
        expect(page.locator("[data-auto-count='0']")).to_have_count(1)
        # The page posts the form by itself: the next page counts one automatic refresh.
        expect(page.locator("[data-auto-count='1']")).to_have_count(1, timeout=20_000)
        assert page.get_by_test_id("evoucher-qr").inner_html() != first
        expect(page.get_by_role("button", name="重新生成")).to_be_visible()
        context.close()


def test_the_family_page_on_a_desktop(site):
    base, chromium, people, _, _ = site
    context = chromium.new_context(viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()
    sign_in(page, base, people["holder"])
    nav(page, "家庭共济").click()
    expect(page.get_by_role("heading", name="绑定近亲属")).to_be_visible()
    check_page_quality(page, "desktop")
    screenshot(page, "portal-family-desktop")
    context.close()
