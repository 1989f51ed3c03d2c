"""Withdrawal and inheritance at the workbench in a real browser (Chromium, 1366x768), each staff
member in their own browser context: a large withdrawal sent back for documents, approved by an
agent, refused to the same agent a second time and approved by a supervisor; a death recorded
with its certificate, confirmed by a supervisor, two heirs entered and paid to the fen. Each walk
ends with the ledger clean and the audit log naming every step with its reason and channel.
With ``YIBAO_SCREENSHOTS=docs/screenshots`` the pages are saved as images for the docs.
"""

from __future__ import annotations

import re
import struct
import zlib
from datetime import datetime, timezone

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from api_support import (
    SAMPLE_PDF, RecordingSender, add_insured, add_staff_user, client_for, document_body, payee_body, person_token, security,
)
from browser_support import WORKBENCH, browser, screenshot, serve
from test_browser_portal import CONTRAST_FAILURES, UNLABELLED
from test_inheritance import HEIRS
from workbench_support import audit_of, browser_sign_in, ledger_clean
from yibao.clock import FixedClock
from yibao.security.staff import StaffRole
from yibao.store.db import make_engine
from yibao.store.migrate import upgrade
from yibao.store.models import heirs, withdrawal_cases

pytestmark = pytest.mark.browser

MONDAY = datetime(2025, 6, 16, 2, 0, tzinfo=timezone.utc)


def certificate_png(width: int = 360, height: int = 240) -> bytes:
    """A small real PNG (a framed grey sheet), so the page shows the certificate as an image."""
    rows = []
    for y in range(height):
        edge = y < 6 or y >= height - 6
        row = bytes([0]) + b"".join(
            (b"\x33\x44\x55" if edge or x < 6 or x >= width - 6 or (40 < y < 52 and 30 < x < width - 30) else b"\xee\xee\xe4")
            for x in range(width)
        )
        rows.append(row)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('workbench') / 'workbench.sqlite3'}")
    upgrade(engine)
    for username, role in (("agent1", StaffRole.AGENT), ("super1", StaffRole.SUPERVISOR)):
        add_staff_user(engine, username, role)
    with serve(engine, security(FixedClock(MONDAY), RecordingSender())) as base, browser() as chromium:
        yield base, chromium, engine
    engine.dispose()


@pytest.fixture
def desk(site):
    """A signed-in browser page per staff member (one context each), closed after the test."""
    base, chromium, _ = site
    contexts = []

    def open_as(username: str):
        context = chromium.new_context(viewport=WORKBENCH, locale="zh-CN")
        contexts.append(context)
        page = context.new_page()
        browser_sign_in(page, base, username)
        return page

    yield open_as
    for context in contexts:
        context.close()


def check_page(page) -> None:
    """Labels on every input, readable contrast, no horizontal scrolling at 1366 px, no program text."""
    assert page.evaluate(UNLABELLED) == []
    assert page.evaluate(CONTRAST_FAILURES) == []
    wide = page.evaluate("""() => [...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > innerWidth)
                              .slice(0, 3).map(e => e.tagName + '.' + e.className + ':' + e.textContent.slice(0, 40))""")
    assert page.evaluate("document.documentElement.scrollWidth") <= WORKBENCH["width"], wide
    shown = page.locator("main").inner_text()
    assert not re.search(r"None|null|Traceback|collecting|submitted|approved_once|emigration|death\b", shown), shown


def state_reason(page, reason: str) -> None:
    page.get_by_label("或填写事由").fill(reason)
    page.get_by_role("button", name="确定并查看").click()


def steps_of(engine, person_id: int) -> list[tuple[str, str | None]]:
    """The workbench's steps about a person in the audit log: (action, reason), each on the counter channel."""
    rows = [row for row in audit_of(engine, person_id=person_id) if row["actor_kind"] == "staff"]
    assert all(row["detail"]["channel"] == "counter" for row in rows if row["detail"] is not None and "channel" in row["detail"])
    return [(row["action"], row["reason"]) for row in rows if not row["action"].endswith((".view", ".masked", ".document",
                                                                                             ".certificate"))]


def test_a_large_withdrawal_sent_back_for_documents_and_approved_by_two(site, desk, tmp_path):
    base, _, engine = site
    person = add_insured(engine, 1, balance_fen=800_000)
    with client_for(engine, security(FixedClock(MONDAY))) as api:  # the person, through the API
        own = person_token(api, person)
        case_id = api.post("/api/v1/me/withdrawals", json={"reason": "emigration", **payee_body(person)}, headers=own).json()["id"]
        for doc_type in ("出国（境）定居证明", "身份证件"):
            assert api.post(f"/api/v1/me/withdrawals/{case_id}/documents", json=document_body(doc_type), headers=own).status_code == 201
        assert api.post(f"/api/v1/me/withdrawals/{case_id}/submit", headers=own).status_code == 200

    agent = desk("agent1")
    agent.get_by_role("link", name="待审批的提取申请").click()
    row = agent.get_by_test_id(f"case-{case_id}")
    expect(row).to_contain_text("8,000.00元")
    expect(row).to_contain_text("2025年6月30日")  # submitted Monday 16 June: ten working days
    assert person.id_number not in agent.content()
    check_page(agent)
    screenshot(agent, "workbench-withdrawals-queue")
    row.get_by_role("link").click()
    expect(agent.locator("#name-masked")).to_have_text(re.compile(r"\*"))
    state_reason(agent, "参保人申请出国定居提取，审核材料")
    expect(agent.locator("#id-full")).to_have_text(person.id_number)
    agent.get_by_label("需要补充的材料（参保人可见，记入审计日志）").fill("请补充定居国长期居留证明的中文翻译件")
    agent.get_by_role("button", name="退回补充材料").click()
    expect(agent.locator("#notice")).to_contain_text("已退回参保人补充材料")
    expect(agent.locator("#case-status")).to_have_text("待补充材料")

    with client_for(engine, security(FixedClock(MONDAY))) as api:  # the person, through the API
        own = person_token(api, person)
        assert api.post(f"/api/v1/me/withdrawals/{case_id}/documents",
                        json=document_body("其他材料", file_name="居留证明译本.pdf"), headers=own).status_code == 201
        assert api.post(f"/api/v1/me/withdrawals/{case_id}/submit", headers=own).status_code == 200

    agent.reload()
    expect(agent.locator("#case-status")).to_have_text("待审核")
    agent.get_by_label("审批意见（").fill("材料齐全，同意提取")
    agent.get_by_role("button", name="同意", exact=True).click()
    expect(agent.locator("#notice")).to_contain_text("须由另一位复核人员复核")
    expect(agent.locator("#second-needed")).to_be_visible()
    # No button offers the agent a second approval; the server refuses it all the same.
    token = agent.locator("input[name=csrf]").first.get_attribute("value")
    again = agent.request.post(f"{base}/counter/withdrawals/{case_id}/decision",
                               form={"csrf": token, "decision": "approve", "note": "我再复核一次"})
    assert again.status == 409 and "同一人不能两次审批" in again.text()

    supervisor = desk("super1")
    supervisor.goto(f"{base}/counter/withdrawals?status=approved_once")
    supervisor.get_by_test_id(f"case-{case_id}").get_by_role("link").click()
    state_reason(supervisor, "复核大额提取申请")
    expect(supervisor.locator("#history")).to_contain_text("要求补充材料")
    expect(supervisor.locator("#history")).to_contain_text("请补充定居国长期居留证明的中文翻译件")
    expect(supervisor.locator("#history")).to_contain_text("审批通过，待复核")
    check_page(supervisor)
    screenshot(supervisor, "workbench-withdrawal-case")
    supervisor.get_by_label("审批意见（").fill("复核无误，同意支付")
    supervisor.get_by_role("button", name="复核同意").click()
    expect(supervisor.locator("#notice")).to_contain_text("款项已支付")
    expect(supervisor.locator("#paid")).to_contain_text("8,000.00元")

    ledger_clean(engine)
    steps = steps_of(engine, person.person_id)
    for step in (("staff.withdrawal.request_documents", "请补充定居国长期居留证明的中文翻译件"),
                 ("staff.withdrawal.decision", "材料齐全，同意提取"), ("staff.withdrawal.decision", "复核无误，同意支付")):
        assert step in steps, steps
    decisions = audit_of(engine, "staff.withdrawal.decision", person.person_id)
    assert [row["detail"]["status"] for row in decisions] == ["approved_once", "paid"]
    assert all(row["detail"]["channel"] == "counter" for row in decisions)


def test_a_death_with_two_heirs_paid_to_the_fen(site, desk, tmp_path):
    base, _, engine = site
    person = add_insured(engine, 2, balance_fen=123_456)
    certificate, kinship = tmp_path / "死亡证明.png", tmp_path / "亲属关系证明.pdf"
    certificate.write_bytes(certificate_png())
    kinship.write_bytes(SAMPLE_PDF)

    agent = desk("agent1")
    agent.get_by_role("link", name="提取与继承").click()
    agent.get_by_role("link", name="死亡登记").click()
    agent.get_by_label("参保人身份证号码").fill(person.id_number)
    agent.get_by_label("死亡日期").fill("2025-06-10")
    agent.get_by_label("死亡证明编号").fill("J110105202500456")
    agent.get_by_label("死亡证明文件（").set_input_files(str(certificate))
    agent.get_by_label("办理事由（").fill("家属持死亡证明到窗口办理")
    agent.get_by_role("button", name="登记死亡信息").click()
    expect(agent.locator("#notice")).to_contain_text("待另一位工作人员复核")
    expect(agent.locator("#death-status")).to_have_text("待复核")

    supervisor = desk("super1")
    supervisor.goto(f"{base}/counter/deaths")
    supervisor.get_by_test_id(f"death-{person.person_id}").get_by_role("link").click()
    state_reason(supervisor, "复核死亡登记")
    expect(supervisor.get_by_alt_text(re.compile("^死亡证明"))).to_be_visible()
    assert supervisor.evaluate("document.querySelector('.wd-certificate').naturalWidth") == 360  # the image loaded
    check_page(supervisor)
    screenshot(supervisor, "workbench-death-record")
    supervisor.get_by_label("复核意见（").fill("死亡证明原件核对无误")
    supervisor.get_by_role("button", name="确认死亡信息").click()
    expect(supervisor.locator("#death-status")).to_have_text("已确认")

    agent.reload()
    agent.locator("#heirs-case a").click()
    expect(agent.locator("#missing")).to_have_text("继承关系证明")
    agent.get_by_label("材料类型").select_option("继承关系证明")
    agent.locator("#file").set_input_files(str(kinship))
    agent.locator("#upload-reason").fill("继承人提交亲属关系证明")
    agent.get_by_role("button", name="上传").click()
    expect(agent.locator("#notice")).to_have_text("材料已上传。")
    for index, (heir, share) in enumerate(zip(HEIRS[:2], ("1/3", "2/3"))):
        for field, label in (("name", "姓名"), ("id_number", "身份证号码"), ("bank_name", "开户银行"), ("bank_account", "银行账号"),
                             ("account_holder", "开户人姓名")):
            agent.get_by_label(f"第{index + 1}位继承人{label}", exact=True).fill(heir[field])
        agent.get_by_label(f"第{index + 1}位继承人份额", exact=True).fill(share)
    agent.locator("#heirs-reason").fill("登记两位法定继承人")
    agent.get_by_role("button", name="保存继承人").click()
    expect(agent.locator("#notice")).to_have_text("继承人及份额已登记。")
    expect(agent.get_by_test_id("heir-paid-1")).to_have_text("411.52元")
    expect(agent.get_by_test_id("heir-paid-2")).to_have_text("823.04元")
    check_page(agent)
    screenshot(agent, "workbench-heirs")
    agent.locator("#submit-reason").fill("继承材料齐全，提交审批")
    agent.get_by_role("button", name="提交审批").click()
    expect(agent.locator("#case-status")).to_have_text("待审核")
    expect(agent.locator("#prepared-by-me")).to_be_visible()  # who prepared it is offered no approval
    token = agent.locator("input[name=csrf]").first.get_attribute("value")
    own = agent.request.post(agent.url.split("?")[0] + "/decision",
                             form={"csrf": token, "decision": "approve", "note": "我来审批"})
    assert own.status == 409 and "经办" in own.text()

    case_url = agent.url.split("?")[0]
    supervisor.goto(case_url)
    supervisor.get_by_label("审批意见（").fill("继承材料齐全，同意支付")
    supervisor.get_by_role("button", name="同意", exact=True).click()
    expect(supervisor.locator("#notice")).to_contain_text("款项已支付")
    expect(supervisor.get_by_test_id("heir-paid-1")).to_have_text("411.52元")
    expect(supervisor.get_by_test_id("heir-paid-2")).to_have_text("823.04元")

    with engine.connect() as conn:
        paid = conn.execute(select(heirs.c.paid_fen).order_by(heirs.c.id)).scalars().all()
        status = conn.execute(select(withdrawal_cases.c.status).where(withdrawal_cases.c.applicant == "heir")).scalar_one()
    assert paid == [41_152, 82_304] and sum(paid) == 123_456 and status == "paid"
    ledger_clean(engine)
    steps = steps_of(engine, person.person_id)
    for step in (("staff.withdrawal.death", "家属持死亡证明到窗口办理"), ("staff.withdrawal.death.confirm", "死亡证明原件核对无误"),
                 ("staff.withdrawal.upload", "继承人提交亲属关系证明"), ("staff.withdrawal.heirs", "登记两位法定继承人"),
                 ("staff.withdrawal.submit", "继承材料齐全，提交审批"), ("staff.withdrawal.decision", "继承材料齐全，同意支付")):
        assert step in steps, steps
