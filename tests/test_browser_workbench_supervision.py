"""Supervision, audit and administration in a real browser (Chromium via Playwright) at 1366×768:
a supervisor's dashboard with open and overdue work and the day's settlement with one pharmacy
payment; an auditor filtering the audit log by person and exporting it; an administrator
registering an institution and rotating its key (the old key is refused at once), and adding a
staff member with two regions who then signs in. With ``YIBAO_SCREENSHOTS=docs/screenshots``
the pages are saved as images for the docs.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from api_support import CARD_PIN, START, STAFF_PASSWORD, add_staff_user, security, set_card_pin
from browser_support import WORKBENCH, browser, screenshot, serve
from oversight_support import OTHER, OWN, build_world, client_at
from workbench_support import audit_of, browser_sign_in, ledger_clean
from yibao.clock import FixedClock
from yibao.domain.resident_id import ResidentId
from yibao.security.staff import StaffRole
from yibao.store.db import make_engine
from yibao.store.migrate import upgrade

pytestmark = pytest.mark.browser
PAYMENT_FEN = 2_350


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('oversight') / 'oversight.sqlite3'}")
    upgrade(engine)
    clock = FixedClock(START)
    sec = security(clock)
    with client_at(engine, sec) as client:
        world = build_world(engine, client)
        add_staff_user(engine, "guanli_all", StaffRole.ADMIN)  # an administrator for every region
        clock.at = START + timedelta(days=40)  # the refund and the transfer are past their due dates
        set_card_pin(engine, world.people["a"].person_id)
        paid = client.post("/api/v1/institution/payments", headers={"X-Api-Key": world.pharmacy_key}, json={
            "card_number": world.people["a"].card_number, "pin": CARD_PIN, "amount_fen": PAYMENT_FEN,
            "receipt_no": "R0001", "idempotency_key": "browser-settle-1"})
        assert paid.status_code in (200, 201), paid.text
        with serve(engine, sec) as base, browser() as chromium:
            yield base, chromium, engine, world, client
    engine.dispose()


@pytest.fixture
def page(site):
    _, chromium, *_ = site
    context = chromium.new_context(viewport=WORKBENCH, locale="zh-CN", accept_downloads=True)
    yield context.new_page()
    context.close()


def no_horizontal_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways"


def test_the_supervisor_sees_open_and_overdue_work_and_the_days_settlement(site, page):
    base, _, engine, world, _ = site
    browser_sign_in(page, base, "supervisor1")
    page.get_by_role("link", name="工作看板").click()
    expect(page.get_by_role("heading", name="工作看板")).to_be_visible()
    board = page.locator("table.sv-board")
    expect(board.get_by_role("row", name=re.compile("工作人员（agent1）"))).to_contain_text("逾期1件")
    # The transfer nobody has acted on and the person's own withdrawal past its review period.
    expect(board.get_by_role("row", name=re.compile("未分配"))).to_contain_text(re.compile("1件（逾期1件）.*1件（逾期1件）", re.S))
    expect(page.get_by_role("heading", name="逾期事项（3件）")).to_be_visible()
    expect(page.get_by_role("link", name="查看详情").first).to_have_attribute(
        "href", re.compile(r"/counter/(refunds|transfers|withdrawals)/\d+"))
    no_horizontal_scroll(page)
    screenshot(page, "workbench-dashboard")

    page.get_by_role("link", name="机构日结").click()
    row = page.get_by_role("row", name=re.compile("某某大药房"))
    expect(row).to_contain_text("23.50元")
    expect(row).to_contain_text("一致")
    expect(page.locator("tfoot")).to_contain_text("全部一致")
    page.get_by_label("结算日期").fill("2025-05-20")
    page.get_by_role("button", name="查询").click()
    expect(page.get_by_role("row", name=re.compile("某某大药房"))).to_contain_text("不一致")
    page.get_by_label("结算日期").fill((START + timedelta(days=40)).date().isoformat())
    page.get_by_role("button", name="查询").click()
    expect(page.get_by_role("row", name=re.compile("某某大药房"))).to_contain_text("23.50元")
    no_horizontal_scroll(page)
    screenshot(page, "workbench-settlement")
    ledger_clean(engine)


def test_the_auditor_filters_the_log_by_person_and_exports_it(site, page, tmp_path):
    base, _, engine, world, _ = site
    person = world.people["a"]
    masked = ResidentId(person.id_number).masked
    browser_sign_in(page, base, "auditor1")
    page.get_by_role("link", name="审计日志").click()
    page.get_by_label("参保人身份证号码").fill(person.id_number)
    page.get_by_role("button", name="查询").click()
    expect(page.locator(".au-person")).to_have_text(masked)
    expect(page.locator("table.au-table")).to_contain_text("参保人申请提取")
    assert person.id_number not in page.content()
    assert person.id_number not in page.url
    no_horizontal_scroll(page)
    screenshot(page, "workbench-audit")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="导出表格文件（CSV）").click()
    path = tmp_path / "audit.csv"
    download_info.value.save_as(path)
    content = path.read_bytes()
    assert content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["时间（北京时间）", "操作人类型", "操作人", "操作"]
    assert len(rows) > 2 and {row[4] for row in rows[1:]} == {masked}
    assert person.id_number.encode() not in content
    reads = [row for row in audit_of(engine) if row["action"] in ("audit.read", "audit.export")]
    assert [row["action"] for row in reads][-2:] == ["audit.read", "audit.export"]
    assert all(row["subject_person_id"] == person.person_id and row["detail"]["channel"] == "counter" for row in reads[-2:])
    ledger_clean(engine)


def test_the_admin_registers_an_institution_and_rotates_its_key(site, page):
    base, _, engine, world, client = site
    browser_sign_in(page, base, "admin1")
    page.get_by_role("link", name="定点机构").click()
    page.get_by_label("机构编码").fill("YF-0099")
    page.get_by_label("机构名称").fill("某某社区药房")
    page.get_by_label("机构类型").select_option(label="药店")
    page.get_by_label("所在统筹区").select_option(OWN)
    page.get_by_label("办理事由").fill("新签定点协议")
    page.get_by_role("button", name="登记并生成密钥").click()
    old_key = page.locator("#new-key").inner_text().strip()
    assert old_key.startswith("ybk_")
    assert client.get("/api/v1/institution/settlement", headers={"X-Api-Key": old_key}).status_code != 401
    page.get_by_label("办理事由").nth(1).fill("密钥疑似泄露")
    page.get_by_role("button", name="更换密钥").click()
    expect(page.get_by_text("原密钥已立即失效")).to_be_visible()
    new_key = page.locator("#new-key").inner_text().strip()
    assert new_key != old_key
    assert client.get("/api/v1/institution/settlement", headers={"X-Api-Key": old_key}).status_code == 401
    assert client.get("/api/v1/institution/settlement", headers={"X-Api-Key": new_key}).status_code != 401
    no_horizontal_scroll(page)
    screenshot(page, "workbench-admin-institutions")
    steps = [(row["action"], row["reason"], row["detail"]["channel"]) for row in audit_of(engine)
             if row["action"] in ("admin.institution.add", "admin.institution.key")]
    assert steps == [("admin.institution.add", "新签定点协议", "counter"), ("admin.institution.key", "密钥疑似泄露", "counter")]
    ledger_clean(engine)


def test_the_admin_adds_a_staff_member_with_two_regions_who_then_signs_in(site, page):
    base, chromium, engine, world, _ = site
    browser_sign_in(page, base, "guanli_all")
    page.get_by_role("link", name="工作人员").click()
    page.get_by_label("用户名").fill("clerk_two")
    page.get_by_label("姓名").fill("两地同事")
    page.get_by_label("岗位").select_option(label="经办人员")
    page.get_by_label("负责地区").select_option([OWN, OTHER])
    page.get_by_label("初始密码").fill(STAFF_PASSWORD)
    page.get_by_label("办理事由").fill("新入职经办人员")
    page.get_by_role("button", name="添加").click()
    expect(page.get_by_role("status")).to_contain_text("已添加工作人员")
    expect(page.locator(".c-facts")).to_contain_text("北京市、上海市")
    no_horizontal_scroll(page)
    page.get_by_role("link", name="返回工作人员列表").click()
    expect(page.get_by_role("row", name=re.compile("clerk_two"))).to_contain_text("北京市、上海市")
    screenshot(page, "workbench-admin-staff")
    context = chromium.new_context(viewport=WORKBENCH, locale="zh-CN")
    try:
        theirs = context.new_page()
        browser_sign_in(theirs, base, "clerk_two")
        expect(theirs.locator(".c-staff")).to_contain_text("两地同事")
        expect(theirs.locator(".c-staff")).to_contain_text("北京市、上海市")
    finally:
        context.close()
    added = audit_of(engine, "admin.staff.add")[-1]
    assert added["reason"] == "新入职经办人员" and added["detail"] == {
        "channel": "counter", "staff_id": added["detail"]["staff_id"], "role": "agent", "regions": [OWN, OTHER]}
    ledger_clean(engine)
