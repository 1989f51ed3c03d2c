"""The person's cases in a real browser (Chromium via Playwright) at phone width: a transfer
followed step by step until the balance is in the new account, a withdrawal with a PDF and a
JPEG uploaded and its decision, and emergency refunds (one applied for on the phone, one
entered at the counter). Clerks' steps go through the service functions. With
``YIBAO_SCREENSHOTS=docs/screenshots`` the pages are saved as images for the docs.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from api_support import SAMPLE_PDF, RecordingSender, add_insured, security
from browser_support import DESKTOP, PHONE, browser, screenshot, serve
from portal_case_support import SAMPLE_JPEG, staff_actor
from test_browser_portal import CONTRAST_FAILURES, UNLABELLED
from yibao.clock import FixedClock
from yibao.policy.loading import load_book
from yibao.security.staff import StaffRole
from yibao.store.db import make_engine
from yibao.store.migrate import upgrade
from yibao.store.models import region_transfers, withdrawal_cases
from yibao.transfers import refunds, transfer
from yibao.transfers.refund_settings import RefundSettings
from yibao.withdrawals import approval

pytestmark = pytest.mark.browser

MONDAY = datetime(2025, 6, 16, 2, 0, tzinfo=timezone.utc)
TODAY = date(2025, 6, 16)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('cases') / 'cases.sqlite3'}")
    upgrade(engine)
    people = {"alice": add_insured(engine, 1), "bob": add_insured(engine, 2), "carol": add_insured(engine, 3)}
    clock = FixedClock(MONDAY)
    staff = {"clerk": staff_actor(engine, "clerk_bj"), "clerk_sh": staff_actor(engine, "clerk_sh", region_code="310000"),
             "supervisor": staff_actor(engine, "super_bj", StaffRole.SUPERVISOR)}
    with serve(engine, security(clock, RecordingSender())) as base, browser() as chromium:
        yield base, chromium, engine, people, staff
    engine.dispose()


@pytest.fixture
def phone(site):
    _, chromium, *_ = site
    context = chromium.new_context(viewport=PHONE, locale="zh-CN")
    yield context.new_page()
    context.close()


def sign_in(page, base: str, person) -> None:
    page.goto(f"{base}/portal/login")
    page.get_by_label("身份证号码").fill(person.id_number)
    page.get_by_label("社会保障卡卡号").fill(person.card_number)
    page.get_by_label(re.compile("^密码")).fill(person.password)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{base}/portal")


def check_phone_page(page) -> None:
    """Labels on every input, readable contrast, nothing wider than the phone."""
    assert page.evaluate(UNLABELLED) == []
    assert page.evaluate(CONTRAST_FAILURES) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def open_service(page, name: str) -> None:
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="办事", exact=True).click()
    page.get_by_role("heading", name=name).get_by_role("link").click()


def test_a_transfer_from_request_to_the_new_account(site, phone):
    base, _, engine, people, staff = site
    page = phone
    sign_in(page, base, people["alice"])
    open_service(page, "医保关系转移接续")
    page.get_by_label("查找城市").fill("深圳")  # the picker narrows to the one match and chooses it
    expect(page.get_by_label("转入地")).to_have_value("440300")
    page.get_by_label("查找城市").fill("上海")
    expect(page.get_by_label("转入地")).to_have_value("310000")
    check_phone_page(page)
    screenshot(page, "portal-transfer-apply")
    page.get_by_role("button", name="提交转移申请").click()

    card = page.get_by_test_id(re.compile("^transfer-"))
    expect(card.get_by_test_id("transfer-status")).to_have_text("待转出地审核")
    expect(card.get_by_test_id("step-review")).to_contain_text("应于 2025-06-30 前办结")
    expect(card.get_by_test_id("balance-place")).to_contain_text("北京市原个人账户：1,234.56元")

    with engine.begin() as conn:
        transfer_id = conn.execute(select(region_transfers.c.id)).scalar_one()
        transfer.review(conn, transfer_id, staff["clerk"], approve=True, note="审核通过", today=TODAY)
        transfer.transfer_out(conn, load_book(), transfer_id, staff["clerk"], today=TODAY)
    page.goto(f"{base}/portal/transfers")
    expect(card.get_by_test_id("balance-place")).to_contain_text("转移途中（清算账户）：1,234.56元")
    expect(card.get_by_test_id("step-transfer_in")).to_contain_text("应于 2025-06-23 前办结")
    check_phone_page(page)
    screenshot(page, "portal-transfer-steps")

    with engine.begin() as conn:
        transfer.transfer_in(conn, load_book(), transfer_id, staff["clerk_sh"], accept_balance=True, today=TODAY, now=MONDAY)
    page.goto(f"{base}/portal/transfers")
    expect(card.get_by_test_id("transfer-status")).to_have_text("已完成")
    expect(card.get_by_test_id("balance-place")).to_contain_text("上海市新个人账户：1,234.56元")
    check_phone_page(page)
    screenshot(page, "portal-transfer-done")
    page.get_by_role("link", name="首页", exact=True).click()
    expect(page.get_by_test_id("balance")).to_have_text("1,234.56元")  # the money arrived

    desktop = page.context.browser.new_context(viewport=DESKTOP, locale="zh-CN")
    wide = desktop.new_page()
    sign_in(wide, base, people["alice"])
    wide.goto(f"{base}/portal/transfers")
    expect(wide.get_by_test_id(re.compile("^transfer-")).get_by_test_id("transfer-status")).to_have_text("已完成")
    assert wide.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
    screenshot(wide, "portal-transfer-desktop")
    desktop.close()


def test_a_withdrawal_with_a_pdf_and_a_photo_and_its_decision(site, phone, tmp_path):
    base, _, engine, people, staff = site
    page = phone
    bob = people["bob"]
    sign_in(page, base, bob)
    open_service(page, "个人账户余额提取")
    expect(page.get_by_test_id("reason-emigration")).to_contain_text("所需材料：出国（境）定居证明、身份证件")
    page.get_by_label("出国（境）定居、退休移民").check()
    page.get_by_label("开户银行").fill("中国工商银行北京分行")
    page.get_by_label("银行账号").fill("6222 0202 0011 2345 678")  # one digit mistyped
    page.get_by_label("开户人姓名").fill(bob.name)
    page.get_by_role("button", name="创建提取申请").click()
    expect(page.locator("#bank_account-error")).to_have_text("银行卡号校验位不正确，请核对后重新输入")
    screenshot(page, "portal-withdraw-bank-error")
    page.get_by_label("银行账号").fill("6222 0202 0011 2345 679")
    page.get_by_role("button", name="创建提取申请").click()
    expect(page.get_by_role("heading", name="提取申请：出国（境）定居、退休移民")).to_be_visible()

    pdf, photo = tmp_path / "定居证明.pdf", tmp_path / "身份证.jpg"
    pdf.write_bytes(SAMPLE_PDF)
    photo.write_bytes(SAMPLE_JPEG)
    assert page.locator("#file").get_attribute("capture") == "environment"
    for doc_type, chosen in (("出国（境）定居证明", pdf), ("身份证件", photo)):
        page.get_by_label("材料类型").select_option(doc_type)
        page.get_by_label("选择文件或拍照").set_input_files(str(chosen))
        page.get_by_role("button", name="上传").click()
        expect(page.get_by_role("status")).to_have_text("材料已上传。")
    expect(page.get_by_text("材料已齐全，可以提交。")).to_be_visible()
    check_phone_page(page)
    screenshot(page, "portal-withdraw-documents")
    page.get_by_role("button", name="提交审核").click()
    expect(page.get_by_test_id("decision")).to_have_text("已提交，等待经办机构审核。")

    with engine.begin() as conn:
        case_id = conn.execute(select(withdrawal_cases.c.id).where(withdrawal_cases.c.person_id == bob.person_id)).scalar_one()
        first = approval.decide(conn, case_id, staff["clerk"], approval.Decision(True, "材料齐全"), threshold_fen=100_000,
                                today=TODAY, now=MONDAY)
    assert first.status.value == "approved_once"  # above the threshold: a supervisor approves again
    page.reload()
    expect(page.get_by_test_id("decision")).to_contain_text("等待复核")
    with engine.begin() as conn:
        approval.decide(conn, case_id, staff["supervisor"], approval.Decision(True, "复核同意"), threshold_fen=100_000,
                        today=TODAY, now=MONDAY)
    page.reload()
    expect(page.get_by_test_id("decision")).to_have_text(
        "审核通过，已支付 1,234.56元（2025-06-16）至 中国工商银行北京分行 6222****5679")
    check_phone_page(page)
    screenshot(page, "portal-withdraw-decision")


def test_refunds_applied_for_on_the_phone_and_entered_at_the_counter(site, phone, tmp_path):
    base, _, engine, people, staff = site
    page = phone
    carol = people["carol"]
    with engine.begin() as conn:  # one refund a clerk entered at the counter, already paid
        entered = refunds.enter(conn, load_book(), RefundSettings(), person_id=carol.person_id, amount_fen=12_800,
                                incurred_on=date(2025, 5, 2), receipt_number="JZ0502", file_name="票据.pdf", content=SAMPLE_PDF,
                                staff=staff["clerk"], today=TODAY, now=MONDAY)
        refunds.decide(conn, entered.id, staff["supervisor"], approve=True, note="票据无误", settings=RefundSettings(),
                       today=TODAY, now=MONDAY)
        refunds.pay(conn, entered.id, staff["clerk"], today=TODAY)
    sign_in(page, base, carol)
    open_service(page, "急诊垫付费用返还")
    receipt = tmp_path / "急诊票据.jpg"
    receipt.write_bytes(SAMPLE_JPEG)
    page.get_by_label("垫付金额（元）").fill("356.80")
    page.get_by_label("费用发生日期").fill("2025-06-10")
    page.get_by_label("急诊收费票据号").fill("JZ0610")
    page.get_by_label(re.compile("^急诊收费票据（")).set_input_files(str(receipt))
    page.get_by_role("button", name="提交返还申请").click()
    expect(page.get_by_test_id("refund-status")).to_contain_text("待审核")
    expect(page.get_by_test_id("decision")).to_have_text("等待经办机构审核。")
    check_phone_page(page)
    screenshot(page, "portal-refund-case")
    page.get_by_role("link", name="急诊费用返还").click()
    expect(page.get_by_test_id(f"refund-{entered.id}")).to_contain_text("已返还")
    expect(page.get_by_test_id(f"refund-{entered.id}")).to_contain_text("窗口登记")
    check_phone_page(page)
    screenshot(page, "portal-refund-list")
