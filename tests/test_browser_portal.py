"""The web portal in a real browser (Chromium via Playwright), at phone and desktop widths.

One served SQLite file database for the module; each test opens a fresh browser context.
With ``YIBAO_SCREENSHOTS=docs/screenshots`` the main pages are saved as images for the docs.
"""

from __future__ import annotations

import io
import re
from datetime import date

import requests
import pytest
from playwright.sync_api import expect
from pypdf import PdfReader
from sqlalchemy import insert, select, update

from api_support import NEW_PASSWORD, START, RecordingSender, add_app, add_insured, bearer, security
from browser_support import DESKTOP, PHONE, browser, screenshot, serve
from yibao.clock import FixedClock
from yibao.domain.money import Money
from yibao.ledger.accounts import system_account
from yibao.ledger.kinds import AccountKind, TxKind
from yibao.ledger.ledger import Ledger
from yibao.policy.loading import load_book
from yibao.policy.service import ask
from yibao.store.db import make_engine
from yibao.store.migrate import upgrade
from yibao.store.models import contributions, oauth_clients, oauth_grants, persons

pytestmark = pytest.mark.browser

SIZES = {"phone": PHONE, "desktop": DESKTOP}

# Every visible text's colour against the background it sits on, as WCAG computes contrast.
CONTRAST_FAILURES = """() => {
  const rgb = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => { const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
                               return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const background = (el) => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
                                 if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3); } return [255, 255, 255]; };
  const failures = [];
  for (const el of document.querySelectorAll("body *:not(svg):not(svg *)")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.offsetParent || getComputedStyle(el).visibility === "hidden") continue;
    const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) failures.push(`${el.tagName} "${el.textContent.trim().slice(0, 20)}" ${ratio.toFixed(2)}`);
  }
  return failures;
}"""
UNLABELLED = """() => [...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
  .filter((el) => el.labels.length === 0 && !el.getAttribute("aria-label")).map((el) => el.name)"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('browser') / 'portal.sqlite3'}")
    upgrade(engine)
    people = {"alice": add_insured(engine, 1), "bob": add_insured(engine, 2),
              "carol": add_insured(engine, 3, password="123456", must_change=True), "dave": add_insured(engine, 4)}
    _add_history(engine, people["alice"])
    _add_grant(engine, people["alice"].person_id)
    with serve(engine, security(FixedClock(START), RecordingSender())) as base, browser() as chromium:
        yield base, chromium, people
    engine.dispose()


def _add_history(engine, person) -> None:
    """A year of credits, spending and contributions, so that the charts and tables have something to show."""
    with engine.begin() as conn:
        conn.execute(update(persons).where(persons.c.id == person.person_id).values(retired_on=date(2025, 3, 1), deemed_months=240))
        pool = system_account(conn, AccountKind.POOL, "110000", opened_on=date(2020, 1, 1))
        pharmacy = system_account(conn, AccountKind.INSTITUTION, "110000", suffix="P001", opened_on=date(2020, 1, 1))
        for month in range(7, 13):
            conn.execute(insert(contributions).values(
                person_id=person.person_id, month=date(2024, month, 1), insurance_type="employee", base_fen=800_000,
                employer_rate_bp=800, individual_rate_bp=200, employer_fen=64_000, individual_fen=16_000,
                account_fen=16_000, employer_name="某某公司", paid_on=date(2024, month, 15), is_makeup=month == 10,
            ))
    ledger = Ledger(engine)
    for year, month in [(2024, m) for m in range(7, 13)] + [(2025, m) for m in range(1, 5)]:
        ledger.transfer(kind=TxKind.MONTHLY_CREDIT, from_account=pool, to_account=person.account_id, amount_fen=11_000,
                        idempotency_key=f"b-credit-{year}-{month}", business_date=date(year, month, 5), memo=f"{month}月划入")
        ledger.transfer(kind=TxKind.SPENDING, from_account=person.account_id, to_account=pharmacy, amount_fen=2_350 + month * 100,
                        idempotency_key=f"b-spend-{year}-{month}", business_date=date(year, month, 18), memo="药店购药")


def _add_grant(engine, person_id: int) -> None:
    add_app(engine, "health-mini", ["balance:read", "details:read"])
    with engine.begin() as conn:
        client_pk = conn.execute(select(oauth_clients.c.id).where(oauth_clients.c.client_id == "health-mini")).scalar_one()
        conn.execute(insert(oauth_grants).values(person_id=person_id, client_id=client_pk, scope="balance:read details:read",
                                                 granted_at=START))


def open_page(site, size: str = "desktop"):
    _, chromium, _ = site
    context = chromium.new_context(viewport=SIZES[size], locale="zh-CN", accept_downloads=True)
    return context, context.new_page()


def sign_in(page, base: str, person, password: str | None = None) -> None:
    page.goto(f"{base}/portal/login")
    page.get_by_label("身份证号码").fill(person.id_number)
    page.get_by_label("社会保障卡卡号").fill(person.card_number)
    page.get_by_label(re.compile("^密码")).fill(password or person.password)
    page.get_by_role("button", name="登录").click()


def nav(page, name: str):
    return page.get_by_role("navigation", name="主导航").get_by_role("link", name=name, exact=True)


def check_page_quality(page, size: str) -> None:
    """Labels on every input, readable contrast, nothing wider than the screen."""
    assert page.evaluate(UNLABELLED) == []
    assert page.evaluate(CONTRAST_FAILURES) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size]["width"]
    assert page.evaluate("document.documentElement.lang") == "zh-CN"


def api_token(base: str, person) -> str:
    answer = requests.post(f"{base}/api/v1/auth/login", json={
        "id_number": person.id_number, "card_number": person.card_number, "password": person.password})
    return answer.json()["access_token"]


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_sign_in_and_the_home_page_shows_what_the_api_says(site, size):
    base, _, people = site
    alice = people["alice"]
    context, page = open_page(site, size)
    page.goto(f"{base}/portal")
    assert page.url.startswith(f"{base}/portal/login?next=")
    check_page_quality(page, size)
    screenshot(page, f"portal-login-{size}")
    sign_in(page, base, alice)
    page.wait_for_url(f"{base}/portal")
    token = api_token(base, alice)
    accounts = requests.get(f"{base}/api/v1/me/accounts", headers=bearer(token)).json()
    credit = requests.get(f"{base}/api/v1/me/policy/credit", headers=bearer(token)).json()
    assert page.get_by_test_id("balance").inner_text() == Money(accounts["total_balance_fen"]).format()
    assert Money(credit["amount_fen"]).format() in page.get_by_test_id("credit-amount").inner_text()
    assert page.get_by_test_id("credited").inner_text() == Money(credit["credited_fen"]).format()
    assert page.locator("svg.chart").count() == 2
    assert page.get_by_test_id("years-paid").inner_text() == "累计缴费 20.75 年"  # 9 months paid + 240 deemed
    # Retired on 2025-03-01: retirement is the answer, no years required or missing.
    assert page.get_by_test_id("lifetime").inner_text() == "已办理退休，享受退休人员医保待遇，无需继续缴费"
    check_page_quality(page, size)
    screenshot(page, f"portal-home-{size}")
    nav(page, "缴费记录").click()
    page.wait_for_url(f"{base}/portal/contributions")
    assert page.locator("tr.row-gap").count() >= 1
    page.get_by_role("link", name="2024").click()
    assert page.locator("tr.row-makeup").count() == 1
    check_page_quality(page, size)
    screenshot(page, f"portal-contributions-{size}")
    context.close()


def test_the_initial_password_must_be_changed_first(site):
    base, _, people = site
    context, page = open_page(site, "phone")
    sign_in(page, base, people["carol"], "123456")
    page.wait_for_url(f"{base}/portal/password")
    page.goto(f"{base}/portal/details")
    assert page.url == f"{base}/portal/password"  # nothing else opens before the change
    check_page_quality(page, "phone")
    screenshot(page, "portal-password-phone")
    page.get_by_label("原密码").fill("123456")
    page.get_by_label(re.compile("^新密码")).fill("12345678")
    page.get_by_label("再次输入新密码").fill("12345678")
    page.get_by_role("button", name="确认修改").click()
    assert "新密码过于简单" in page.locator("#new_password-error").inner_text()
    page.get_by_label("原密码").fill("123456")
    page.get_by_label(re.compile("^新密码")).fill(NEW_PASSWORD)
    page.get_by_label("再次输入新密码").fill(NEW_PASSWORD)
    page.get_by_role("button", name="确认修改").click()
    page.wait_for_url(re.compile(r".*/portal\?notice=password_changed$"))
    assert page.get_by_role("status").first.inner_text() == "密码已修改，请牢记新密码。"
    context.close()


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_details_filter_by_date_and_kind_and_export(site, size):
    base, _, people = site
    context, page = open_page(site, size)
    sign_in(page, base, people["alice"])
    nav(page, "明细").click()
    total = int(re.search(r"共 (\d+) 条", page.inner_text("#result-heading")).group(1))
    assert total == 22  # 2 from the builder, 10 credits and 10 spendings
    page.get_by_label("开始日期").fill("2025-01-01")
    page.get_by_label("结束日期").fill("2025-03-31")
    page.get_by_label("交易类型").select_option("spending")
    page.get_by_role("button", name="查询").click()
    assert page.inner_text("#result-heading") == "共 3 条"
    rows = page.get_by_test_id("details").locator("tbody tr")
    assert rows.count() == 3 and all("消费支出" in rows.nth(i).inner_text() for i in range(3))
    check_page_quality(page, size)
    screenshot(page, f"portal-details-{size}")
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("导出 CSV")).click()
    content = open(download.value.path(), "rb").read()
    assert content.startswith("\ufeff日期".encode())
    assert content.decode("utf-8-sig").count("消费支出") == 3
    context.close()


def test_statement_download_is_a_pdf_with_the_right_totals(site):
    base, _, people = site
    context, page = open_page(site)
    sign_in(page, base, people["dave"])
    nav(page, "设置").click()
    page.get_by_label("开始日期").fill("2025-05-01")
    page.get_by_label("结束日期").fill("2025-05-31")
    with page.expect_download() as download:
        page.get_by_role("button", name="下载对账单").click()
    assert download.value.suggested_filename == "yibao-statement-20250501-20250531.pdf"
    text = "".join(each.extract_text() for each in PdfReader(io.BytesIO(open(download.value.path(), "rb").read())).pages)
    for amount in ("1,244.56元", "10.00元", "1,234.56元"):  # money in, money out, closing balance
        assert amount in text
    context.close()


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_calculators_give_the_policy_engines_answers(site, size):
    base, _, _ = site
    context, page = open_page(site, size)
    page.goto(f"{base}/")
    page.get_by_role("link", name="政策计算器").click()
    page.get_by_role("link", name="每月划入计算").click()
    page.get_by_label("参保地").select_option(label="北京市")
    page.get_by_label("出生日期").fill("1951-03-01")
    page.get_by_label("划入日期").fill("2025-06-01")
    page.get_by_label("人员状态").select_option("retired")
    page.get_by_role("button", name="计算").click()
    expected = ask(load_book(), "credit", {"region": "110000", "birth": "1951-03-01", "on": "2025-06-01",
                                           "insurance": "employee", "status": "retired"}, date(2025, 6, 15))
    assert Money(expected["amount_fen"]).format() in page.get_by_test_id("answer-amount").inner_text()
    answer = page.get_by_test_id("answer").inner_text()
    assert expected["rule"] in answer and expected["confidence_label"] in answer
    check_page_quality(page, size)
    screenshot(page, f"portal-calc-{size}")
    page.get_by_role("link", name="余额提取查询").click()
    page.get_by_label("参保地").select_option("110000")
    page.get_by_label("提取原因").select_option("emigration")
    page.get_by_role("button", name="计算").click()
    withdraw = ask(load_book(), "withdraw", {"region": "110000", "reason": "emigration"}, date(2025, 6, 15))
    assert withdraw["rule"] in page.get_by_test_id("answer").inner_text()
    context.close()


def test_the_evoucher_shows_a_qr_code_counting_down(site):
    base, _, people = site
    context, page = open_page(site, "phone")
    sign_in(page, base, people["alice"])
    nav(page, "电子凭证").click()
    page.get_by_role("button", name="生成二维码").click()
    qr = page.get_by_role("img", name="医保电子凭证二维码")
    expect(qr).to_be_visible()  # waits for the page the form submits to
    box = qr.bounding_box()
    assert box["width"] >= 200 and box["width"] <= PHONE["width"]
    expect(page.locator("[data-countdown-text]")).to_have_text("二维码 58 秒内有效", timeout=5000)  # counting down
    check_page_quality(page, "phone")
    screenshot(page, "portal-evoucher-phone")
    context.close()


def test_settings_list_the_app_and_revoke_it(site):
    base, _, people = site
    for size in ("phone", "desktop"):
        context, page = open_page(site, size)
        sign_in(page, base, people["alice"])
        nav(page, "设置").click()
        check_page_quality(page, size)
        screenshot(page, f"portal-settings-{size}")
        app = page.get_by_test_id("app-health-mini")
        assert "最近使用：从未使用" in app.inner_text()
        if size == "desktop":
            app.get_by_role("button", name=re.compile("撤销")).click()
            assert "已撤销授权" in page.get_by_role("status").first.inner_text()
            assert page.get_by_test_id("app-health-mini").count() == 0
        context.close()


def test_keyboard_only_sign_in(site):
    base, _, people = site
    alice = people["alice"]
    context, page = open_page(site)
    page.goto(f"{base}/portal/login")
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "id_number":
            break
    else:
        pytest.fail("the ID number field cannot be reached by Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # the focus is visible
    page.keyboard.type(alice.id_number)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "card_number"
    page.keyboard.type(alice.card_number)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type(alice.password)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/portal")
    expect(page.get_by_test_id("balance")).to_be_visible()
    context.close()
