"""Account maintenance at the workbench in Chromium at 1366×768: an agent resets a person's
sign-in password and reads the one-time password off the page, the person signs in on the
portal with it, is made to change it and reaches the portal's home; a freeze (the person's
pharmacy payment is refused) and its lifting, a service PIN cleared, a mobile number changed,
a minor's guardian confirmed. Each walk ends with the ledger clean and the audit rows checked.
With ``YIBAO_SCREENSHOTS=docs/screenshots`` the pages are saved as images for the docs.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from api_support import (
    CARD_PIN,
    START,
    RecordingSender,
    add_designated_pharmacy,
    add_insured,
    add_resident,
    add_staff_user,
    security,
    set_card_pin,
)
from browser_support import WORKBENCH, browser, screenshot, serve
from test_browser_portal import UNLABELLED
from workbench_support import audit_of, browser_sign_in, ledger_clean
from yibao.clock import FixedClock
from yibao.security.staff import StaffRole
from yibao.store.db import make_engine
from yibao.store.migrate import upgrade
from yibao.store.models import accounts, credentials

pytestmark = pytest.mark.browser

REASON = "参保人本人到柜台查询"
# Words of program text that must never reach a clerk.
PROGRAM_TEXT = re.compile(r"\bNone\b|Traceback|\{\"|identity_checked|password_reset|frozen\b|\bactive\b")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('upkeep') / 'upkeep.sqlite3'}")
    upgrade(engine)
    people = {"alice": add_insured(engine, 1), "bob": add_insured(engine, 2), "carol": add_insured(engine, 3),
              "minor": add_resident(engine, 7, birth=date(2015, 5, 1))}
    set_card_pin(engine, people["bob"].person_id)
    pharmacy_key = add_designated_pharmacy(engine)
    add_staff_user(engine, "agent_bj", StaffRole.AGENT)
    with serve(engine, security(FixedClock(START), RecordingSender())) as base, browser() as chromium:
        yield base, chromium, engine, people, pharmacy_key
    engine.dispose()


@pytest.fixture
def clerk(site):
    base, chromium, *_ = site
    context = chromium.new_context(viewport=WORKBENCH, locale="zh-CN")
    page = context.new_page()
    browser_sign_in(page, base, "agent_bj")
    yield page
    context.close()


def open_maintenance(page, base: str, person) -> None:
    """Find the person by ID number with a reason, then the 账户维护 tab."""
    page.goto(f"{base}/counter")
    page.get_by_label("号码", exact=True).fill(person.id_number)
    page.get_by_label("常用事由").select_option(REASON)
    page.get_by_role("button", name="查找").click()
    page.get_by_role("link", name="账户维护").click()
    expect(page.get_by_role("heading", name="重置登录密码")).to_be_visible()


def check_workbench_page(page) -> None:
    """Labels on every input, nothing wider than 1366 px, no program text."""
    assert page.evaluate(UNLABELLED) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= WORKBENCH["width"]
    assert not PROGRAM_TEXT.search(page.locator("body").inner_text())


def act(page, form: str, reason: str) -> None:
    """Tick the identity check of ``form``, give the reason and submit."""
    page.locator(f"#{form}-identity").check()
    page.locator(f"#{form}-reason").fill(reason)
    page.locator(f"#{form}-submit").click()


def test_a_password_reset_then_the_persons_forced_change(site, clerk):
    base, chromium, engine, people, _ = site
    alice = people["alice"]
    open_maintenance(clerk, base, alice)
    check_workbench_page(clerk)
    screenshot(clerk, "workbench-maintenance")
    # Without the identity tick nothing happens: the form says why.
    clerk.locator("#password-reason").fill("参保人忘记登录密码")
    clerk.locator("#password-submit").click()
    expect(clerk.locator("#password-error")).to_contain_text("已核验本人身份证件原件")
    act(clerk, "password", "参保人忘记登录密码")
    expect(clerk.get_by_role("heading", name="医保网上服务临时登录密码")).to_be_visible()
    one_time = clerk.locator("#one-time-password").inner_text().replace(" ", "").replace("\n", "")
    assert len(one_time) == 10
    check_workbench_page(clerk)
    screenshot(clerk, "workbench-password-reset")
    clerk.emulate_media(media="print")
    expect(clerk.locator(".c-top")).to_be_hidden()
    screenshot(clerk, "workbench-password-slip")
    clerk.emulate_media(media="screen")

    person = chromium.new_context(viewport=WORKBENCH, locale="zh-CN")
    portal = person.new_page()

    def portal_sign_in(password: str) -> None:
        portal.goto(f"{base}/portal/login")
        portal.get_by_label("身份证号码").fill(alice.id_number)
        portal.get_by_label("社会保障卡卡号").fill(alice.card_number)
        portal.get_by_label(re.compile("^密码")).fill(password)
        portal.get_by_role("button", name="登录").click()

    portal_sign_in(alice.password)  # the old password no longer works
    expect(portal).to_have_url(re.compile(r"/portal/login"))
    portal_sign_in(one_time)
    expect(portal).to_have_url(f"{base}/portal/password")
    expect(portal.get_by_role("status")).to_contain_text("请先设置新密码")
    portal.locator("[name=old_password]").fill(one_time)
    portal.locator("[name=new_password]").fill("Renewed2025ok")
    portal.locator("[name=confirm_password]").fill("Renewed2025ok")
    screenshot(portal, "portal-forced-change")
    portal.get_by_role("button", name="确认修改").click()
    expect(portal).to_have_url(f"{base}/portal?notice=password_changed")
    expect(portal.get_by_test_id("balance")).to_have_text("1,234.56元")
    person.close()

    with engine.connect() as conn:
        assert conn.execute(select(credentials.c.must_change).where(
            credentials.c.person_id == alice.person_id, credentials.c.kind == "password")).scalar_one() is False
    row = audit_of(engine, "staff.person.password_reset", alice.person_id)[-1]
    assert row["reason"] == "参保人忘记登录密码" and row["detail"]["channel"] == "counter"
    assert [r["action"] for r in audit_of(engine, person_id=alice.person_id) if r["action"].startswith("auth.password")] == [
        "auth.password_changed"]
    ledger_clean(engine)


def test_freeze_unfreeze_pin_and_phone(site, clerk):
    base, _, engine, people, pharmacy_key = site
    bob = people["bob"]

    def pay(receipt: str):
        """The pharmacy's payment call (card + service PIN), as its till sends it."""
        return clerk.context.request.post(f"{base}/api/v1/institution/payments", headers={"X-Api-Key": pharmacy_key}, data={
            "receipt_no": receipt, "amount_fen": 500, "card_number": bob.card_number, "pin": CARD_PIN,
            "idempotency_key": receipt})

    open_maintenance(clerk, base, bob)
    act(clerk, "freeze", "参保人社保卡遗失，申请冻结")
    expect(clerk.locator("#notice")).to_contain_text("个人账户已冻结")
    expect(clerk.locator("#frozen")).to_contain_text("参保人社保卡遗失，申请冻结")
    expect(clerk.locator("#frozen")).to_contain_text("2025-06-15")
    check_workbench_page(clerk)
    screenshot(clerk, "workbench-maintenance-frozen")
    refused = pay("FRZ-1")
    assert refused.status == 409 and "冻结" in refused.text(), refused.text()
    clerk.get_by_role("link", name="概况与余额").click()
    expect(clerk.locator("#frozen")).to_contain_text("在柜台冻结")
    clerk.get_by_role("link", name="账户维护").click()
    act(clerk, "freeze", "已找回社保卡，申请解冻")
    expect(clerk.locator("#notice")).to_contain_text("已解除冻结")
    expect(clerk.locator("#freezes")).to_contain_text("已找回社保卡，申请解冻")
    paid = pay("FRZ-2")
    assert paid.status in (200, 201), paid.text()

    expect(clerk.locator("#pin-state")).to_have_text("已设置")
    act(clerk, "pin", "参保人忘记服务密码")
    expect(clerk.locator("#notice")).to_contain_text("服务密码已清除")
    expect(clerk.locator("#pin-state")).to_have_text("未设置")

    clerk.get_by_label("新手机号码（11位）").fill("13800000001")  # Alice's
    act(clerk, "phone", "参保人更换手机号码")
    expect(clerk.locator("#phone-error")).to_contain_text("已登记在其他参保人名下")
    expect(clerk.get_by_label("新手机号码（11位）")).to_have_value("13800000001")
    check_workbench_page(clerk)
    clerk.get_by_label("新手机号码（11位）").fill("13912345678")
    act(clerk, "phone", "参保人更换手机号码")
    expect(clerk.locator("#notice")).to_contain_text("手机号码已变更")
    expect(clerk.locator("#phone-current")).to_have_text("139****5678")
    screenshot(clerk, "workbench-maintenance-done")

    steps = [(r["action"], r["reason"]) for r in audit_of(engine, person_id=bob.person_id)
             if r["action"].startswith(("staff.account", "staff.person.pin", "staff.person.phone"))]
    assert steps == [("staff.account.frozen", "参保人社保卡遗失，申请冻结"), ("staff.account.unfrozen", "已找回社保卡，申请解冻"),
                     ("staff.person.pin_reset", "参保人忘记服务密码"), ("staff.person.phone_changed", "参保人更换手机号码")]
    assert all(r["detail"]["channel"] == "counter" for r in audit_of(engine, person_id=bob.person_id)
               if r["actor_kind"] == "staff")
    with engine.connect() as conn:
        assert conn.execute(select(accounts.c.status).where(accounts.c.id == bob.account_id)).scalar_one() == "active"
    ledger_clean(engine)


def test_a_guardian_confirmed_for_a_minor(site, clerk):
    base, _, engine, people, _ = site
    minor, parent = people["minor"], people["carol"]
    open_maintenance(clerk, base, minor)
    expect(clerk.locator("#no-guardians")).to_be_visible()
    clerk.get_by_label("监护人身份证号码").fill(parent.id_number)
    clerk.get_by_label("监护人是未成年人的").select_option(label="父母")
    clerk.get_by_label("核验的证明材料").select_option("出生医学证明")
    clerk.get_by_label("材料编号或说明（选填）").fill("O110000001")
    act(clerk, "guardian", "父母为子女办理家庭共济前确认监护关系")
    expect(clerk.locator("#notice")).to_contain_text("监护关系已确认")
    expect(clerk.locator("#guardians")).to_contain_text("出生医学证明（O110000001）")
    expect(clerk.locator("#guardians")).to_contain_text("当前有效")
    check_workbench_page(clerk)
    screenshot(clerk, "workbench-maintenance-guardian")
    rows = audit_of(engine, "staff.guardianship.confirmed")
    assert {r["subject_person_id"] for r in rows} == {minor.person_id, parent.person_id}
    assert all(r["reason"] == "父母为子女办理家庭共济前确认监护关系" and r["detail"]["channel"] == "counter" for r in rows)
    ledger_clean(engine)
