"""The self-service kiosk and the agency counter in a real browser (Chromium via Playwright).

SQLite file databases served by uvicorn; each test opens a fresh browser context. With
``YIBAO_SCREENSHOTS=docs/screenshots`` the main screens are saved as images for the docs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect
from sqlalchemy import insert, select

from api_support import START, STAFF_PASSWORD, add_insured, add_staff_user, security
from browser_support import DESKTOP, browser, kiosk_insert_card, screenshot, serve
from yibao.clock import FixedClock
from yibao.domain.money import Money
from yibao.domain.resident_id import ResidentId
from yibao.security.passwords import hash_secret
from yibao.security.staff import StaffRole
from yibao.store.db import make_engine
from yibao.store.migrate import upgrade
from yibao.store.models import audit_log, auth_sessions, credentials

pytestmark = pytest.mark.browser

PORTRAIT = {"width": 1080, "height": 1920}
LANDSCAPE = {"width": 1920, "height": 1080}
PIN = "246810"
IDLE_SECONDS = 3

# Every visible text's colour against the background it sits on, as WCAG computes contrast.
LOW_CONTRAST = """() => {
  const rgb = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => { const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
                               return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const background = (el) => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
                                 if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3); } return [255, 255, 255]; };
  const failures = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length || getComputedStyle(el).visibility === "hidden") continue;
    const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) failures.push(`${el.tagName} "${el.textContent.trim().slice(0, 20)}" ${ratio.toFixed(2)}`);
  }
  return failures;
}"""
UNLABELLED = """() => [...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
  .filter((el) => el.labels.length === 0 && !el.getAttribute("aria-label")).map((el) => el.name)"""
SMALL_TARGETS = """() => [...document.querySelectorAll("button, a.k-button, .k-key")]
  .filter((el) => el.getClientRects().length)
  .filter((el) => { const box = el.getBoundingClientRect(); return box.height < 64 || box.width < 64; })
  .map((el) => el.textContent.trim())"""


def _database(folder: Path):
    engine = make_engine(f"sqlite:///{folder / 'kiosk.sqlite3'}")
    upgrade(engine)
    people = {"alice": add_insured(engine, 1), "bob": add_insured(engine, 2)}
    with engine.begin() as conn:
        for person in people.values():
            conn.execute(insert(credentials).values(person_id=person.person_id, kind="phone_pin", secret_hash=hash_secret(PIN)))
    add_staff_user(engine, "agent1", StaffRole.AGENT)
    return engine, people


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    engine, people = _database(tmp_path_factory.mktemp("kiosk"))
    with serve(engine, security(FixedClock(START), kiosk_demo_cards=True)) as base, browser() as chromium:
        yield base, chromium, people, engine
    engine.dispose()


@pytest.fixture
def page(site):
    _, chromium, _, _ = site
    context = chromium.new_context(viewport=PORTRAIT, locale="zh-CN", accept_downloads=True)
    yield context.new_page()
    context.close()


def _insert_card(page, base: str, person) -> None:
    kiosk_insert_card(page, base, person.card_number, PIN)


def _api_balance(base: str, person) -> str:
    login = requests.post(f"{base}/api/v1/auth/login", json={
        "id_number": person.id_number, "card_number": person.card_number, "password": person.password,
    }, timeout=10)
    accounts = requests.get(f"{base}/api/v1/me/accounts", headers={"Authorization": f"Bearer {login.json()['access_token']}"}, timeout=10)
    return Money(accounts.json()["total_balance_fen"]).format()


# ---------------------------------------------------------------------------- kiosk


def test_kiosk_card_pin_balance_details_print_and_take_the_card_back(site, page):
    base, _, people, _ = site
    alice = people["alice"]
    page.goto(f"{base}/kiosk")
    expect(page.get_by_role("heading", name="请插入社保卡")).to_be_visible()
    assert page.evaluate(LOW_CONTRAST) == [] and page.evaluate(UNLABELLED) == []
    screenshot(page, "kiosk-start")

    page.get_by_role("button", name=alice.card_number).click()
    expect(page.get_by_role("heading", name="请输入服务密码")).to_be_visible()
    for digit in "2468":
        page.locator(f".k-key[data-key='{digit}']").click()
    assert page.locator("#pin").input_value() == "2468"
    assert page.evaluate(SMALL_TARGETS) == [] and page.evaluate(LOW_CONTRAST) == []
    screenshot(page, "kiosk-pin")
    page.locator(".k-key[data-key='back']").click()
    for digit in "810":
        page.locator(f".k-key[data-key='{digit}']").click()
    page.get_by_role("button", name="确认").click()
    page.wait_for_url(f"{base}/kiosk/home")

    assert page.locator("#balance").inner_text() == _api_balance(base, alice)
    assert page.evaluate(SMALL_TARGETS) == [] and page.evaluate(LOW_CONTRAST) == []
    screenshot(page, "kiosk-balance")

    page.get_by_role("link", name="收支明细").first.click()
    expect(page.locator("#details").get_by_text("药店购药")).to_be_visible()
    page.get_by_role("link", name="缴费记录").first.click()
    assert "2025年3月" in page.locator("#gaps").inner_text()

    with page.expect_download() as download:
        page.get_by_role("link", name="打印对账单").click()
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF")
    expect(page.locator("#print-note")).to_be_visible()

    page.get_by_role("button", name="退卡").click()
    page.wait_for_url(f"{base}/kiosk?notice=card")
    expect(page.get_by_role("heading", name="请插入社保卡")).to_be_visible()
    page.go_back()  # the previous screen must not come back from the history
    page.wait_for_load_state()
    expect(page.get_by_role("heading", name="请插入社保卡")).to_be_visible()
    assert "1,234.56" not in page.content() and "药店购药" not in page.content()


def test_a_wrong_pin_keeps_the_card_and_says_so(site, page):
    base, _, people, _ = site
    page.goto(f"{base}/kiosk")
    page.get_by_role("button", name=people["bob"].card_number).click()
    for digit in "111111":
        page.locator(f".k-key[data-key='{digit}']").click()
    page.get_by_role("button", name="确认").click()
    assert page.get_by_role("alert").inner_text().startswith("卡号或密码不正确")
    expect(page.get_by_role("heading", name="请输入服务密码")).to_be_visible()
    assert people["bob"].card_number not in page.locator("#card-shown").inner_text()  # shown masked


def test_the_kiosk_returns_to_the_start_screen_after_the_idle_timeout(site, tmp_path):
    _, chromium, _, _ = site  # one Playwright per process: a second server, the same browser
    engine, people = _database(tmp_path)
    sec = security(FixedClock(START), kiosk_demo_cards=True, kiosk_idle_seconds=IDLE_SECONDS)
    with serve(engine, sec) as base:
        context = chromium.new_context(viewport=LANDSCAPE, locale="zh-CN")
        page = context.new_page()
        _insert_card(page, base, people["alice"])
        page.locator("#idle-warning").wait_for(state="visible", timeout=IDLE_SECONDS * 1000)
        assert "秒后将自动退卡" in page.locator("#idle-warning").inner_text()
        screenshot(page, "kiosk-idle-warning")
        page.wait_for_url(f"{base}/kiosk?notice=idle", timeout=(IDLE_SECONDS + 5) * 1000)
        expect(page.get_by_text("长时间未操作，已自动退卡。")).to_be_visible()
        assert "1,234.56" not in page.content()
        context.close()
    with engine.connect() as conn:
        assert conn.execute(select(auth_sessions.c.revoked_at).where(auth_sessions.c.method == "kiosk_pin")).scalar() is not None
    engine.dispose()


# ---------------------------------------------------------------------------- counter


def test_counter_sign_in_lookup_with_a_reason_masked_id_and_statement(site):
    base, chromium, people, engine = site
    alice, bob = people["alice"], people["bob"]
    context = chromium.new_context(viewport=DESKTOP, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    page.goto(f"{base}/counter")
    expect(page.get_by_label("用户名")).to_be_focused()  # the keyboard alone signs in
    page.keyboard.type("agent1")
    page.keyboard.press("Tab")
    page.keyboard.type(STAFF_PASSWORD)
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="查找参保人").wait_for()
    assert page.evaluate(LOW_CONTRAST) == [] and page.evaluate(UNLABELLED) == []

    page.get_by_label("常用事由").select_option("核对缴费记录")
    page.get_by_label("号码", exact=True).fill(alice.id_number)
    screenshot(page, "counter-search")
    page.get_by_role("button", name="查找").click()
    page.wait_for_url(f"{base}/counter/persons/{alice.person_id}")
    assert page.locator("#id-full").inner_text() == alice.id_number
    assert page.locator("#balance").inner_text() == _api_balance(base, alice)
    assert page.evaluate(LOW_CONTRAST) == []
    screenshot(page, "counter-person")
    with engine.connect() as conn:
        search = conn.execute(
            select(audit_log).where(audit_log.c.action == "staff.person.search").order_by(audit_log.c.id.desc())
        ).mappings().first()
    assert search["reason"] == "核对缴费记录" and search["subject_person_id"] == alice.person_id

    page.goto(f"{base}/counter/persons/{bob.person_id}")  # no reason given for Bob yet
    assert page.locator("#id-masked").inner_text() == ResidentId(bob.id_number).masked
    assert bob.id_number not in page.content()
    page.get_by_label("或填写事由").fill("参保人申请补打对账单")
    page.get_by_role("button", name="确定并查看").click()
    assert page.locator("#id-full").inner_text() == bob.id_number

    with page.expect_download() as download:
        page.get_by_role("button", name="打印对账单（PDF）").click()
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF")
    with engine.connect() as conn:
        printed = conn.execute(
            select(audit_log).where(audit_log.c.action == "staff.person.statement").order_by(audit_log.c.id.desc())
        ).mappings().first()
    assert printed["reason"] == "参保人申请补打对账单" and printed["subject_person_id"] == bob.person_id

    page.get_by_role("button", name="退出登录").click()
    expect(page.get_by_text("您已安全退出。")).to_be_visible()
    page.go_back()
    page.wait_for_load_state()
    assert bob.id_number not in page.content()
    context.close()


def test_the_statement_period_of_the_counter_defaults_to_twelve_months(site):
    """The PDF itself, fetched with the page's cookies: a real PDF for the default period."""
    base, chromium, people, _ = site
    context = chromium.new_context(viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{base}/counter")
    page.get_by_label("用户名").fill("agent1")
    page.get_by_label("密码").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.get_by_label("常用事由").select_option("打印个人账户对账单")
    page.get_by_label("社会保障卡卡号").check()
    page.get_by_label("号码", exact=True).fill(people["alice"].card_number)
    page.get_by_role("button", name="查找").click()
    answer = context.request.get(f"{base}/counter/persons/{people['alice'].person_id}/statement.pdf")
    assert answer.status == 200 and answer.body().startswith(b"%PDF")
    assert "20240701-20250615" in answer.headers["content-disposition"]
    context.close()
