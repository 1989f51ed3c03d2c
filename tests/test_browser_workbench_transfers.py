"""Transfers between regions and emergency refunds at the workbench in a real browser (Chromium
via Playwright) at 1366x768, each staff member in their own browser context: a Beijing agent
reviews and transfers out, a Shanghai agent transfers in and the balance arrives in the new
account; an agent enters a refund with its receipt, is refused approving it themselves, a
colleague approves, a supervisor approves again above the threshold, and it is paid. Each walk
ends with the ledger clean and the audit log naming every step with its reason and channel.
With ``YIBAO_SCREENSHOTS=docs/screenshots`` the pages are saved as images for the docs.
"""

from __future__ import annotations

import io
import re
from datetime import date, datetime, timezone

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from api_support import STAFF_PASSWORD, add_insured, client_for, person_token, security
from browser_support import WORKBENCH, browser, screenshot, serve
from test_browser_portal import CONTRAST_FAILURES, UNLABELLED
from workbench_support import audit_of, browser_sign_in, ledger_clean
from yibao.clock import FixedClock
from yibao.policy.loading import load_book
from yibao.security.staff import StaffRole, add_staff
from yibao.store.db import make_engine
from yibao.store.migrate import upgrade
from yibao.store.models import accounts, emergency_refunds
from yibao.transfers import transfer

pytestmark = pytest.mark.browser

MONDAY = datetime(2025, 6, 16, 2, 0, tzinfo=timezone.utc)
STAFF = {"agent_bj": ("刘晓红", StaffRole.AGENT, "110000"), "agent_bj2": ("陈建国", StaffRole.AGENT, "110000"),
         "agent_sh": ("周敏", StaffRole.AGENT, "310000"), "super_bj": ("孙立平", StaffRole.SUPERVISOR, "110000")}
# What a clerk must never see on a page: program words, empty values, codes.
PROGRAM_TEXT = re.compile(r"None|null|Traceback|\b(?:approved|rejected|entered|transferred_out|requested|completed|clearing)\b")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('workbench') / 'transfers.sqlite3'}")
    upgrade(engine)
    people = {"alice": add_insured(engine, 1), "bob": add_insured(engine, 2), "carol": add_insured(engine, 3)}
    with engine.begin() as conn:
        for username, (name, role, region) in STAFF.items():
            add_staff(conn, username=username, name=name, role=role, password=STAFF_PASSWORD, region_code=region)
    sec = security(FixedClock(MONDAY))
    with serve(engine, sec) as base, browser() as chromium:
        yield base, chromium, engine, people, sec
    engine.dispose()


@pytest.fixture
def desk(site):
    """A new browser context per staff member (their own cookies), signed in at the workbench."""
    base, chromium, *_ = site
    contexts = []

    def open_desk(username: str):
        context = chromium.new_context(viewport=WORKBENCH, locale="zh-CN")
        contexts.append(context)
        page = context.new_page()
        browser_sign_in(page, base, username)
        return page

    yield open_desk
    for context in contexts:
        context.close()


def check_page(page) -> None:
    """Labels on every input, readable contrast, no horizontal scrolling at 1366 px, no program text."""
    assert page.evaluate(UNLABELLED) == []
    assert page.evaluate(CONTRAST_FAILURES) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= WORKBENCH["width"]
    text = page.locator("body").inner_text()
    assert not PROGRAM_TEXT.search(text), PROGRAM_TEXT.search(text)


def state_reason(page, reason: str) -> None:
    page.get_by_label("常用事由").select_option(reason)
    page.get_by_role("button", name="确定并查看").click()


def steps_of(engine, actions: tuple[str, ...], person_id: int) -> list[tuple[str, str | None, str | None]]:
    return [(row["action"], row["reason"], (row["detail"] or {}).get("channel"))
            for row in audit_of(engine, person_id=person_id) if row["action"] in actions]


def receipt_jpeg() -> bytes:
    """A photographed receipt: a white slip with ruled lines and the amount."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (480, 300), (250, 248, 240))
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 10, 469, 289), outline=(170, 40, 40), width=3)
    for y in range(70, 260, 38):
        draw.line((30, y, 450, y), fill=(200, 120, 120), width=1)
    draw.text((40, 40), "20250610-0381", fill=(30, 30, 30))
    draw.text((40, 230), "6000.00", fill=(30, 30, 30))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def test_a_transfer_from_beijing_to_shanghai_at_the_workbench(site, desk):
    base, _, engine, people, sec = site
    alice = people["alice"]
    with client_for(engine, sec) as api:  # the person asks to move (the person's API)
        asked = api.post("/api/v1/me/transfers", json={"to_region": "310000"}, headers=person_token(api, alice))
        assert asked.status_code == 201, asked.text
        transfer_id = asked.json()["id"]

    with engine.begin() as conn:  # one asked in May, to Shenzhen, and not yet reviewed: overdue
        late = transfer.request(conn, load_book(), person_id=people["carol"].person_id, to_region="440300",
                                today=date(2025, 5, 20))

    bj = desk("agent_bj")
    bj.get_by_role("navigation", name="工作台菜单").get_by_role("link", name="转移接续").click()
    expect(bj.get_by_test_id(f"open-{late}")).to_contain_text("已逾期")
    expect(bj.locator("#open-summary")).to_contain_text("其中逾期1件")
    row = bj.get_by_test_id(f"open-{transfer_id}")
    expect(row).to_contain_text("转出地审核")
    expect(row).to_contain_text("上海市")
    expect(row).to_contain_text("2025-06-30")  # 10 working days
    expect(row).to_contain_text("李*")
    check_page(bj)
    screenshot(bj, "workbench-transfers-queue")
    row.get_by_role("link", name=f"第{transfer_id}号").click()
    expect(bj.locator("#id-masked")).to_have_text(re.compile(r"^110105\*+\d{3}[\dX]$"))
    check_page(bj)
    state_reason(bj, "医保关系转移接续办理")
    expect(bj.locator("#id-full")).to_have_text(alice.id_number)
    expect(bj.locator("#balance-place")).to_have_text("北京市原个人账户")
    bj.get_by_label("同意转出").check()
    bj.get_by_label(re.compile("^审核意见")).fill("材料齐全，同意转出")
    bj.get_by_role("button", name="提交审核结果").click()
    expect(bj.get_by_role("status")).to_have_text("转出地审核已通过，请在期限内办理转出。")
    expect(bj.locator("#out-amount")).to_have_text("1,234.56元")
    bj.get_by_label(re.compile("^办理意见")).fill("余额转入清算账户")
    bj.get_by_role("button", name="确认转出").click()
    expect(bj.get_by_role("status")).to_contain_text("已办理转出")
    expect(bj.locator("#balance-place")).to_have_text("转移途中（清算账户）")
    expect(bj.locator("#balance-amount")).to_have_text("1,234.56元")
    expect(bj.get_by_test_id("step-transfer_out")).to_contain_text("已办结")
    expect(bj.get_by_test_id("step-transfer_out")).to_contain_text("清算账户（转移途中）")
    expect(bj.get_by_test_id("step-transfer_out")).to_contain_text("刘晓红")
    check_page(bj)
    screenshot(bj, "workbench-transfer-case")

    sh = desk("agent_sh")
    sh.goto(f"{base}/counter/transfers")
    sh.get_by_label("方向").select_option("in")
    sh.get_by_role("button", name="筛选").click()
    incoming = sh.get_by_test_id(f"open-{transfer_id}")
    expect(incoming).to_contain_text("转入")
    expect(incoming).to_contain_text("2025-06-23")  # 5 working days after transfer out
    incoming.get_by_role("link").click()
    state_reason(sh, "医保关系转移接续办理")
    expect(sh.locator("#in-amount")).to_have_text("1,234.56元")
    sh.get_by_label("接收余额，转入新账户").check()
    sh.get_by_label(re.compile("^办理意见")).fill("接收余额，开立新账户")
    sh.get_by_role("button", name="确认转入").click()
    expect(sh.get_by_role("status")).to_contain_text("已办理转入")
    expect(sh.locator("#transfer-status")).to_have_text("已完成")
    expect(sh.locator("#balance-place")).to_have_text("上海市新个人账户")
    expect(sh.locator("#new-balance")).to_have_text("1,234.56元")
    check_page(sh)
    screenshot(sh, "workbench-transfer-done")

    with engine.connect() as conn:
        new = conn.execute(select(accounts.c.region_code, accounts.c.balance_fen).where(
            accounts.c.person_id == alice.person_id, accounts.c.status == "active")).one()
    assert (new.region_code, new.balance_fen) == ("310000", 123_456)
    ledger_clean(engine)
    assert steps_of(engine, ("transfer.request", "staff.transfer.review", "staff.transfer.out", "staff.transfer.in"),
                    alice.person_id) == [
        ("transfer.request", None, None),
        ("staff.transfer.review", "材料齐全，同意转出", "counter"),
        ("staff.transfer.out", "余额转入清算账户", "counter"),
        ("staff.transfer.in", "接收余额，开立新账户", "counter"),
    ]
    views = steps_of(engine, ("staff.transfer.view",), alice.person_id)
    assert views and all(reason == "医保关系转移接续办理" and channel == "counter" for _, reason, channel in views)


def test_an_emergency_refund_entered_approved_twice_and_paid(site, desk, tmp_path):
    base, _, engine, people, _ = site
    bob = people["bob"]
    receipt = tmp_path / "急诊票据.jpg"
    receipt.write_bytes(receipt_jpeg())

    agent = desk("agent_bj")
    agent.get_by_role("navigation", name="工作台菜单").get_by_role("link", name="急诊垫付返还").click()
    agent.get_by_role("link", name="登记返还").click()
    agent.get_by_label("参保人身份证号码").fill(bob.id_number)
    agent.get_by_label("垫付金额（元）").fill("6000.005")
    agent.get_by_label("费用发生日期").fill("2025-06-10")
    agent.get_by_label("急诊收费票据号").fill("JZ20250610-0381")
    agent.get_by_label(re.compile("^急诊收费票据（")).set_input_files(str(receipt))
    agent.get_by_label(re.compile("^办理事由")).fill("参保人持急诊票据到柜台申请返还")
    agent.get_by_role("button", name="登记返还").click()
    expect(agent.locator("#amount-error")).to_have_text("金额最多两位小数（精确到分）")
    expect(agent.get_by_label("垫付金额（元）")).to_have_value("6000.005")  # what was typed stays
    check_page(agent)
    screenshot(agent, "workbench-refund-new")
    with engine.connect() as conn:
        assert conn.execute(select(emergency_refunds.c.id)).first() is None  # nothing entered
    agent.get_by_label("垫付金额（元）").fill("6000.00")
    agent.get_by_label(re.compile("^急诊收费票据（")).set_input_files(str(receipt))  # a file is not kept by the browser
    agent.get_by_role("button", name="登记返还").click()
    expect(agent.get_by_role("status")).to_have_text("返还已登记，须由另一位工作人员审批。")
    expect(agent.locator("#refund-status")).to_have_text("待审核")
    expect(agent.get_by_role("img", name=re.compile("急诊收费票据"))).to_be_visible()
    refund_id = int(re.search(r"/counter/refunds/(\d+)", agent.url).group(1))
    agent.get_by_label("同意返还").check()
    agent.get_by_label(re.compile("^审批意见")).fill("票据无误")
    agent.get_by_role("button", name="提交审批结果").click()
    expect(agent.get_by_role("alert")).to_have_text("您在此业务中办理了登记，须由另一位工作人员审批；同一人不能既经办又审批")
    expect(agent.locator("#refund-status")).to_have_text("待审核")

    colleague = desk("agent_bj2")
    colleague.goto(f"{base}/counter/refunds")
    expect(colleague.get_by_test_id(f"refund-{refund_id}")).to_contain_text("6,000.00元")
    check_page(colleague)
    colleague.get_by_test_id(f"refund-{refund_id}").get_by_role("link").click()
    expect(colleague.locator("#id-masked")).to_have_text(re.compile(r"^110105\*+\d{3}[\dX]$"))
    check_page(colleague)
    state_reason(colleague, "个人账户支取业务办理")
    colleague.get_by_label("同意返还").check()
    colleague.get_by_label(re.compile("^审批意见")).fill("票据与病历一致，同意返还")
    colleague.get_by_role("button", name="提交审批结果").click()
    expect(colleague.get_by_role("status")).to_contain_text("须由复核人员复核")
    expect(colleague.locator("#refund-status")).to_have_text("待复核")
    expect(colleague.locator("#waiting-second")).to_be_visible()

    supervisor = desk("super_bj")
    supervisor.goto(f"{base}/counter/refunds?status=approved_once")
    supervisor.get_by_test_id(f"refund-{refund_id}").get_by_role("link").click()
    state_reason(supervisor, "个人账户支取业务办理")
    supervisor.get_by_label("同意返还").check()
    supervisor.get_by_label(re.compile("^复核意见")).fill("大额返还复核同意")
    supervisor.get_by_role("button", name="提交复核结果").click()
    expect(supervisor.locator("#refund-status")).to_have_text("待返还")

    agent.reload()
    agent.get_by_label(re.compile("^办理意见")).fill("返还到个人账户")
    agent.get_by_role("button", name="确认返还").click()
    expect(agent.get_by_role("status")).to_have_text("已返还到参保人个人账户。")
    expect(agent.locator("#refunded-on")).to_have_text("2025-06-16")
    expect(agent.locator("#entered-by")).to_have_text("2025-06-16　刘晓红")
    expect(agent.locator("#approved-by")).to_have_text("2025-06-16　陈建国")
    expect(agent.locator("#second-by")).to_have_text("2025-06-16　孙立平")
    for who, what in (("刘晓红", "登记返还"), ("陈建国", "审批同意（超过限额，待复核）"), ("孙立平", "复核同意"), ("刘晓红", "返还到个人账户")):
        expect(agent.locator("#history tr", has_text=what)).to_contain_text(who)
    check_page(agent)
    screenshot(agent, "workbench-refund-case")

    with engine.connect() as conn:
        balance = conn.execute(select(accounts.c.balance_fen).where(accounts.c.id == bob.account_id)).scalar_one()
    assert balance == 123_456 + 600_000
    ledger_clean(engine)
    assert steps_of(engine, ("staff.refund.enter", "staff.refund.decision", "staff.refund.pay"), bob.person_id) == [
        ("staff.refund.enter", "参保人持急诊票据到柜台申请返还", "counter"),
        ("staff.refund.decision", "票据与病历一致，同意返还", "counter"),
        ("staff.refund.decision", "大额返还复核同意", "counter"),
        ("staff.refund.pay", "返还到个人账户", "counter"),
    ]
