"""The workbench's transfer and emergency-refund pages through the test client, on SQLite and
PostgreSQL: region scope (another region's step is "not found"), permissions per role, the
form token, bad input shown at its field with nothing changed, the person masked until a
reason is given, a balance refused at transfer in, and refunds through both approvals.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import date

import pytest
from sqlalchemy import func, select

from api_support import SAMPLE_PDF, START, add_insured, add_staff_user, client_for, person_token, security
from workbench_support import audit_of, csrf_of, ledger_clean, post_form, workbench_sign_in
from yibao import documents
from yibao.clock import FixedClock
from yibao.domain.resident_id import ResidentId
from yibao.policy.loading import load_book
from yibao.security.staff import StaffRole
from yibao.store.models import accounts, emergency_refunds, region_transfers, withdrawal_cases
from yibao.transfers import refunds, transfer

TODAY = date(2025, 6, 15)
STAFF = {
    "agent_bj": (StaffRole.AGENT, "110000"), "agent_bj2": (StaffRole.AGENT, "110000"),
    "agent_sh": (StaffRole.AGENT, "310000"), "super_bj": (StaffRole.SUPERVISOR, "110000"),
    "auditor1": (StaffRole.AUDITOR, None), "admin1": (StaffRole.ADMIN, None),
}
PROGRAM_TEXT = re.compile(r"None|null|Traceback|\{\"|\b(?:approved|rejected|entered|transferred_out|requested|completed)\b")


class SignedIn(dict):
    """One browser (test client) per staff member, created and signed in when first used."""

    def __init__(self, engine):
        super().__init__()
        self.engine, self.sec = engine, security(FixedClock(START))

    def __missing__(self, username: str):
        role, region = STAFF[username]
        add_staff_user(self.engine, username, role, region_code=region)
        client = self[username] = client_for(self.engine, self.sec)
        assert workbench_sign_in(client, username).status_code == 303
        return client


@pytest.fixture
def world(engine):
    people = {"a": add_insured(engine, 1), "b": add_insured(engine, 2)}
    clients = SignedIn(engine)
    yield engine, people, clients
    for client in clients.values():
        client.close()


def request_transfer(engine, person, to_region: str = "310000") -> int:
    with engine.begin() as conn:
        return transfer.request(conn, load_book(), person_id=person.person_id, to_region=to_region, today=TODAY)


def give_reason(client, url: str, reason: str = "医保关系转移接续办理"):
    answer = post_form(client, f"{url}/reason", {"reason_choice": reason, "reason_other": ""}, csrf_from=url)
    assert answer.status_code == 303, answer.text
    return client.get(url)


def status_of(engine, transfer_id: int) -> str:
    with engine.connect() as conn:
        return conn.execute(select(region_transfers.c.status).where(region_transfers.c.id == transfer_id)).scalar_one()


def refund_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(emergency_refunds)).scalar_one()


def clean_page(text: str) -> None:
    """What a clerk sees: no program text (the HTML's own attributes aside)."""
    visible = re.sub(r"<[^>]+>", " ", text)
    assert not PROGRAM_TEXT.search(visible), PROGRAM_TEXT.search(visible)


# ---------------------------------------------------------------------------- transfers


def test_the_open_steps_list_shows_due_dates_filters_and_masked_people(world):
    engine, people, clients = world
    first = request_transfer(engine, people["a"])
    second = request_transfer(engine, people["b"], "440300")
    bj = clients["agent_bj"]
    listed = bj.get("/counter/transfers")
    assert listed.status_code == 200
    assert f">第{first}号<" in listed.text and f">第{second}号<" in listed.text
    assert ResidentId(people["a"].id_number).masked in listed.text and people["a"].id_number not in listed.text
    assert "转出地审核" in listed.text and "上海市" in listed.text and "深圳市" in listed.text and "未逾期" in listed.text
    clean_page(listed.text)
    assert f">第{first}号<" not in bj.get("/counter/transfers?direction=in").text  # nothing comes into Beijing
    assert f">第{first}号<" in bj.get("/counter/transfers?direction=out&step=review").text
    assert f">第{first}号<" not in bj.get("/counter/transfers?step=transfer_out").text
    assert "暂无需要办理的转移接续" in bj.get("/counter/transfers?overdue=1").text
    start = bj.get("/counter").text  # the start page counts them and links here
    assert re.search(r'href="/counter/transfers">.*?办理中的转移接续.*?2件', start, re.S)
    # Shanghai has nothing to do before transfer out, and never sees Beijing-Shenzhen at all.
    assert "暂无需要办理的转移接续" in clients["agent_sh"].get("/counter/transfers").text
    assert clients["agent_sh"].get(f"/counter/transfers/{second}").status_code == 404


def test_the_person_is_masked_until_a_reason_is_given_and_each_view_is_audited(world):
    engine, people, clients = world
    transfer_id = request_transfer(engine, people["a"])
    bj, url = clients["agent_bj"], f"/counter/transfers/{transfer_id}"
    masked = bj.get(url)
    assert masked.status_code == 200 and "请先填写查询事由" in masked.text
    assert people["a"].id_number not in masked.text and ResidentId(people["a"].id_number).masked in masked.text
    refused = post_form(bj, f"{url}/reason", {"reason_choice": "", "reason_other": "x"}, csrf_from=url)
    assert refused.status_code == 422 and "查询事由" in refused.text
    shown = give_reason(bj, url)
    assert people["a"].id_number in shown.text and "北京市原个人账户" in shown.text and "1,234.56元" in shown.text
    assert "2025-06-27" in shown.text  # 10 working days after Sunday 15 June
    clean_page(shown.text)
    views = audit_of(engine, "staff.transfer.view")
    assert views[-1]["reason"] == "医保关系转移接续办理" and views[-1]["detail"] == {"channel": "counter", "transfer_id": transfer_id}
    assert audit_of(engine, "staff.transfer.masked")[0]["reason"] is None


def test_a_shanghai_agent_cannot_act_on_beijings_step_and_the_balance_can_be_refused(world):
    engine, people, clients = world
    transfer_id = request_transfer(engine, people["a"])
    url = f"/counter/transfers/{transfer_id}"
    bj, sh = clients["agent_bj"], clients["agent_sh"]
    wrong = post_form(sh, f"{url}/review", {"decision": "approve", "note": "审核通过"})
    assert wrong.status_code == 404 and "未找到该转移申请" in wrong.text
    assert status_of(engine, transfer_id) == "requested"

    short = post_form(bj, f"{url}/review", {"decision": "approve", "note": "好"}, csrf_from=url)
    assert short.status_code == 422 and "审核意见" in short.text and status_of(engine, transfer_id) == "requested"
    reviewed = post_form(bj, f"{url}/review", {"decision": "approve", "note": "材料齐全，同意转出"}, csrf_from=url)
    assert reviewed.status_code == 303 and reviewed.headers["location"] == f"{url}?notice=approved"
    assert post_form(sh, f"{url}/out", {"note": "办理转出"}).status_code == 404
    out = post_form(bj, f"{url}/out", {"note": "余额转入清算账户"}, csrf_from=url)
    assert out.status_code == 303 and status_of(engine, transfer_id) == "transferred_out"
    give_reason(bj, url)
    page = bj.get(f"{url}?notice=out").text
    assert "转移途中（清算账户）" in page and "已办理转出" in page
    again = post_form(bj, f"{url}/out", {"note": "再次转出"}, csrf_from=url)
    assert again.status_code == 409 and "不能办理此步骤" in again.text

    assert "号</a>" in sh.get("/counter/transfers?direction=in").text
    assert post_form(bj, f"{url}/in", {"balance": "accept", "note": "办理转入"}).status_code == 404
    missing = post_form(sh, f"{url}/in", {"balance": "", "note": "办理转入"})
    assert missing.status_code == 422 and "请选择是否接收个人账户余额" in missing.text
    done = post_form(sh, f"{url}/in", {"balance": "refuse", "note": "本地不接收余额"})
    assert done.status_code == 303 and done.headers["location"] == f"{url}?notice=in_refused"
    with engine.connect() as conn:
        case_id = conn.execute(select(withdrawal_cases.c.id).where(withdrawal_cases.c.transfer_id == transfer_id)).scalar_one()
    give_reason(sh, url)
    finished = sh.get(f"{url}?notice=in_refused").text
    assert f'href="/counter/withdrawals/{case_id}"' in finished and "已为参保人发起余额提取申请" in finished
    clean_page(finished)

    rows = [(row["action"], row["reason"], row["detail"]["channel"]) for row in audit_of(engine)
            if row["action"] in ("staff.transfer.review", "staff.transfer.out", "staff.transfer.in")]
    assert rows == [("staff.transfer.review", "材料齐全，同意转出", "counter"), ("staff.transfer.out", "余额转入清算账户", "counter"),
                    ("staff.transfer.in", "本地不接收余额", "counter")]
    assert audit_of(engine, "staff.transfer.in")[0]["detail"]["withdrawal_case_id"] == case_id
    ledger_clean(engine)


def test_a_refused_review_ends_the_transfer(world):
    engine, people, clients = world
    transfer_id = request_transfer(engine, people["a"])
    url = f"/counter/transfers/{transfer_id}"
    refused = post_form(clients["agent_bj"], f"{url}/review", {"decision": "refuse", "note": "申请人要求撤回"}, csrf_from=url)
    assert refused.status_code == 303 and status_of(engine, transfer_id) == "rejected"
    listed = clients["agent_bj"].get("/counter/transfers").text
    assert "转出地不予办理" in listed and "最近办结或不予办理的转移" in listed


# ---------------------------------------------------------------------------- permissions and the form token


@pytest.mark.parametrize("role", ["auditor1", "admin1"])
def test_auditors_and_admins_are_refused_every_page_and_action(world, role):
    engine, people, clients = world
    transfer_id = request_transfer(engine, people["a"])
    client = clients[role]
    for url in ("/counter/transfers", f"/counter/transfers/{transfer_id}", "/counter/refunds", "/counter/refunds/new"):
        answer = client.get(url)
        assert answer.status_code == 403 and "权限" in answer.text, url
    csrf = csrf_of(client)
    for url in (f"/counter/transfers/{transfer_id}/review", f"/counter/transfers/{transfer_id}/out",
                f"/counter/transfers/{transfer_id}/in", "/counter/refunds/new", "/counter/refunds/1/pay"):
        answer = client.post(url, data={"csrf": csrf, "decision": "approve", "balance": "accept", "note": "试图办理"},
                             follow_redirects=False)
        assert answer.status_code == 403, url
    assert status_of(engine, transfer_id) == "requested"


def test_every_form_needs_the_session_token(world):
    engine, people, clients = world
    transfer_id = request_transfer(engine, people["a"])
    bj = clients["agent_bj"]
    forged = bj.post(f"/counter/transfers/{transfer_id}/review", data={"csrf": "0" * 64, "decision": "approve", "note": "审核通过"},
                     follow_redirects=False)
    assert forged.status_code == 403 and status_of(engine, transfer_id) == "requested"
    no_token = bj.post("/counter/refunds/new", data={"id_number": people["a"].id_number, "amount": "10", "incurred_on": "2025-06-01",
                                                     "receipt_number": "Z1", "reason": "柜台登记"},
                       files={"file": ("票据.pdf", SAMPLE_PDF, "application/pdf")}, follow_redirects=False)
    assert no_token.status_code == 403 and refund_count(engine) == 0


# ---------------------------------------------------------------------------- emergency refunds


def enter(client, person, **changes):
    data = {"id_number": person.id_number, "amount": "356.80", "incurred_on": "2025-06-10", "receipt_number": "JZ0610",
            "reason": "参保人持票据到柜台申请返还"} | changes
    return post_form(client, "/counter/refunds/new", data, files={"file": ("票据.pdf", SAMPLE_PDF, "application/pdf")},
                     csrf_from="/counter/refunds/new")


def test_bad_input_is_shown_at_its_field_and_changes_nothing(world):
    engine, people, clients = world
    bj = clients["agent_bj"]
    form = bj.get("/counter/refunds/new")
    assert form.status_code == 200 and 'for="amount"' in form.text and 'enctype="multipart/form-data"' in form.text
    bad = enter(bj, people["a"], amount="12.345", incurred_on="2025-07-01", receipt_number="JZ-typed")
    assert bad.status_code == 422
    assert re.search(r'id="amount-error">金额最多两位小数（精确到分）<', bad.text)
    assert re.search(r'id="incurred_on-error">费用发生日期不能晚于今天<', bad.text)
    assert 'value="12.345"' in bad.text and 'value="JZ-typed"' in bad.text  # what was typed stays
    assert refund_count(engine) == 0 and audit_of(engine, "staff.refund.enter") == []
    outside = enter(clients["agent_sh"], people["a"])
    assert outside.status_code == 422 and "未找到该参保人" in outside.text and refund_count(engine) == 0
    no_reason = enter(bj, people["a"], reason="")
    assert no_reason.status_code == 422 and 'id="reason-error"' in no_reason.text and refund_count(engine) == 0
    too_much = enter(bj, people["a"], amount="20000.01")
    assert too_much.status_code == 422 and "每张票据返还金额不能超过" in too_much.text and refund_count(engine) == 0
    clean_page(bad.text)


def refund_id_of(answer) -> int:
    assert answer.status_code == 303, answer.text
    return int(re.search(r"/counter/refunds/(\d+)\?notice=entered", answer.headers["location"]).group(1))


def test_a_refund_needs_another_person_to_approve_it_and_is_then_paid(world):
    engine, people, clients = world
    bj, bj2 = clients["agent_bj"], clients["agent_bj2"]
    refund_id = refund_id_of(enter(bj, people["a"]))
    url = f"/counter/refunds/{refund_id}"
    row = re.search(rf'<tr data-testid="refund-{refund_id}">.*?</tr>', bj.get("/counter/refunds").text, re.S).group(0)
    assert "待审核" in row and "356.80元" in row and "柜台登记" in row and "2025-06-24" in row and "未逾期" in row  # 7 working days
    entered = bj.get(f"{url}?notice=entered").text  # the reason given on entry opens the person
    assert people["a"].id_number in entered and "返还已登记" in entered and "待审核" in entered
    assert re.search(r"SHA-256 校验值：<code[^>]*>[0-9a-f]{64}</code>", entered)
    own = post_form(bj, f"{url}/decision", {"decision": "approve", "note": "票据无误"}, csrf_from=url)
    assert own.status_code == 409 and "须由另一位工作人员审批" in own.text
    assert refunds.RefundStatus(refunds_status(engine, refund_id)) is refunds.RefundStatus.ENTERED
    assert post_form(clients["agent_sh"], f"{url}/decision", {"decision": "approve", "note": "票据无误"}).status_code == 404

    masked = bj2.get(url).text
    assert people["a"].id_number not in masked and "请先填写查询事由" in masked
    page = give_reason(bj2, url, "急诊垫付费用返还审批").text
    assert "登记返还" in page and "参保人持票据到柜台申请返还" in page and "经办工作台" in page
    document_id = int(re.search(rf"{url}/documents/(\d+)", page).group(1))
    download = bj2.get(f"{url}/documents/{document_id}")
    assert download.status_code == 200 and download.content == SAMPLE_PDF
    approved = post_form(bj2, f"{url}/decision", {"decision": "approve", "note": "票据无误，同意返还"}, csrf_from=url)
    assert approved.status_code == 303 and approved.headers["location"] == f"{url}?notice=approved"
    paid = post_form(bj, f"{url}/pay", {"note": "返还到个人账户"}, csrf_from=url)
    assert paid.status_code == 303
    with engine.connect() as conn:
        balance = conn.execute(select(accounts.c.balance_fen).where(accounts.c.id == people["a"].account_id)).scalar_one()
    assert balance == 123_456 + 35_680
    done = bj.get(f"{url}?notice=paid").text
    assert "已返还到参保人个人账户" in done and "2025-06-15" in done
    clean_page(done)
    steps = [(row["action"], row["reason"], row["detail"]["channel"]) for row in audit_of(engine, person_id=people["a"].person_id)
             if row["action"] in ("staff.refund.enter", "staff.refund.decision", "staff.refund.pay", "staff.refund.document")]
    assert steps == [("staff.refund.enter", "参保人持票据到柜台申请返还", "counter"),
                     ("staff.refund.document", "急诊垫付费用返还审批", "counter"),
                     ("staff.refund.decision", "票据无误，同意返还", "counter"),
                     ("staff.refund.pay", "返还到个人账户", "counter")]
    listed = bj.get("/counter/refunds").text
    assert f">第{refund_id}号<" in listed and "已返还" in listed
    ledger_clean(engine)


def refunds_status(engine, refund_id: int) -> str:
    with engine.connect() as conn:
        return conn.execute(select(emergency_refunds.c.status).where(emergency_refunds.c.id == refund_id)).scalar_one()


def test_above_the_threshold_a_supervisor_approves_again_and_a_person_applied_refund_is_listed(world):
    engine, people, clients = world
    bj, bj2, boss = clients["agent_bj"], clients["agent_bj2"], clients["super_bj"]
    refund_id = refund_id_of(enter(bj, people["a"], amount="6000", receipt_number="JZ-big"))
    url = f"/counter/refunds/{refund_id}"
    post_form(bj, f"{url}/documents", {"doc_type": "诊断证明或病历", "reason": "补充病历"},
              files={"file": ("病历.pdf", SAMPLE_PDF, "application/pdf")}, csrf_from=url)
    assert post_form(bj2, f"{url}/decision", {"decision": "approve", "note": "同意"}, csrf_from=url).headers["location"] == \
        f"{url}?notice=approved_once"
    assert refunds_status(engine, refund_id) == "approved_once"
    assert post_form(bj2, f"{url}/second-approval", {"decision": "approve", "note": "复核"}).status_code == 403
    listed = bj.get("/counter/refunds?status=approved_once").text
    assert f">第{refund_id}号<" in listed and "待复核" in listed
    twice = post_form(boss, f"{url}/decision", {"decision": "approve", "note": "同意"}, csrf_from=url)
    assert twice.status_code == 409 and refunds_status(engine, refund_id) == "approved_once"
    second = post_form(boss, f"{url}/second-approval", {"decision": "approve", "note": "复核同意"}, csrf_from=url)
    assert second.status_code == 303 and refunds_status(engine, refund_id) == "approved"

    with client_for(engine, clients.sec) as api:  # the person applies through their own API
        answer = api.post("/api/v1/me/transfers/emergency-refunds", headers=person_token(api, people["b"]), json={
            "amount_fen": 5_000, "incurred_on": "2025-06-01", "receipt_number": "WEB-1", "file_name": "票据.pdf",
            "content_base64": base64.b64encode(SAMPLE_PDF).decode()})
        assert answer.status_code == 201, answer.text
        applied_id = answer.json()["refund_id"]
    listed = bj.get("/counter/refunds").text
    assert f">第{applied_id}号<" in listed and "参保人网上申请" in listed
    assert f">第{applied_id}号<" not in bj.get("/counter/refunds?status=approved").text
    assert clients["agent_sh"].get(f"/counter/refunds/{applied_id}").status_code == 404
    applied_page = give_reason(bj2, f"/counter/refunds/{applied_id}", "急诊垫付费用返还审批").text
    history = re.search(r'<table class="c-table" id="history">.*?</table>', applied_page, re.S).group(0)
    assert "参保人网上申请" in history and "参保人本人" in history and "网上服务" in history


def test_receipts_as_large_as_a_document_may_be_are_taken_and_larger_bodies_refused(world):
    engine, people, clients = world
    bj = clients["agent_bj"]
    scan = SAMPLE_PDF + b"%" + b"0" * (300 * 1024) + b"\n"  # a scanned receipt: far above a form's 64 KB
    refund_id = refund_id_of(post_form(bj, "/counter/refunds/new", {
        "id_number": people["a"].id_number, "amount": "88.00", "incurred_on": "2025-06-01", "receipt_number": "SCAN-1",
        "reason": "参保人持票据到柜台申请返还"}, files={"file": ("扫描件.pdf", scan, "application/pdf")}))
    url = f"/counter/refunds/{refund_id}"
    added = post_form(bj, f"{url}/documents", {"doc_type": "诊断证明或病历", "reason": "补充病历"},
                      files={"file": ("病历.pdf", scan, "application/pdf")}, csrf_from=url)
    assert added.status_code == 303 and added.headers["location"] == f"{url}?notice=uploaded"
    wrong = post_form(bj, f"{url}/documents", {"doc_type": "诊断证明或病历", "reason": "补充病历"},
                      files={"file": ("病历.txt", b"plain text", "text/plain")}, csrf_from=url)
    assert wrong.status_code == 422 and "只接受 PDF 或图片" in wrong.text
    huge = post_form(bj, f"{url}/documents", {"doc_type": "其他材料", "reason": "补充材料"},
                     files={"file": ("大文件.pdf", SAMPLE_PDF + b"0" * (6 * 1024 * 1024), "application/pdf")}, csrf_from=url)
    assert huge.status_code == 413 and "提交的内容过大" in huge.text
    with engine.connect() as conn:
        assert len(documents.of_refund(conn, refund_id)) == 2  # the receipt and the record; nothing of the refused two
    assert [row["detail"]["sha256"] for row in audit_of(engine, "staff.refund.upload")] == [hashlib.sha256(scan).hexdigest()]
