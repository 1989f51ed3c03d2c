"""Withdrawal and inheritance cases and deaths at the workbench (/counter/withdrawals, /counter/deaths),
through the pages' own forms on SQLite and PostgreSQL: region scope, permission and CSRF refusals,
masked persons until a reason is stated, bad input shown at its field with nothing changed, and
each step audited with its reason and the channel like the staff API's."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import func, select, update

from api_support import SAMPLE_PDF, START, add_insured, add_staff_user, client_for, payee_of, portal_sign_in, security
from test_inheritance import HEIRS
from workbench_support import audit_of, ledger_clean, post_form, workbench_sign_in
from yibao.clock import FixedClock
from yibao.policy.loading import load_book
from yibao.security.staff import StaffRole
from yibao.store.models import death_records, heirs, notifications, withdrawal_cases
from yibao.withdrawals import cases
from yibao.withdrawals.cases import Actor

TODAY = date(2025, 6, 15)
STAFF = {"agent1": (StaffRole.AGENT, None), "agent2": (StaffRole.AGENT, None), "super1": (StaffRole.SUPERVISOR, None),
         "auditor1": (StaffRole.AUDITOR, None), "admin1": (StaffRole.ADMIN, None), "agent_sh": (StaffRole.AGENT, "310000")}


class Desk:
    """One test client per staff member (each signed in once), the engine and a person's case."""

    def __init__(self, engine):
        self.engine, self.clients, self.stack = engine, {}, []
        for username, (role, region) in STAFF.items():
            add_staff_user(engine, username, role, region_code=region)

    def __call__(self, username: str):
        if username not in self.clients:
            client = client_for(self.engine, security(FixedClock(START)))
            self.stack.append(client.__enter__())
            assert workbench_sign_in(client, username).status_code == 303
            self.clients[username] = client
        return self.clients[username]

    def close(self):
        for client in self.stack:
            client.__exit__(None, None, None)


@pytest.fixture
def desk(engine):
    made = Desk(engine)
    yield made
    made.close()


def submitted_case(engine, n: int = 1, balance_fen: int = 123_456) -> tuple[int, object]:
    """A person's own emigration withdrawal with its documents, submitted on the portal's day."""
    person = add_insured(engine, n, balance_fen=balance_fen)
    with engine.begin() as conn:
        case_id = cases.apply(conn, load_book(), person_id=person.person_id, reason="emigration", on=TODAY, payee=payee_of(person))
        for doc_type in ("出国（境）定居证明", "身份证件"):
            cases.add_document(conn, cases.case_row(conn, case_id), doc_type=doc_type, file_name="证明.pdf", content=SAMPLE_PDF,
                               actor=Actor("person", person.person_id), at=START)
        cases.submit(conn, cases.case_row(conn, case_id), TODAY)
    return case_id, person


def state_reason(client, url: str, reason: str = "参保人申请余额提取，核对材料") -> None:
    answer = post_form(client, f"{url}/reason", {"reason_choice": "", "reason_other": reason})
    assert answer.status_code == 303, answer.text


def visible(html: str) -> str:
    """The words a clerk sees: the page without its tags (values in attributes are for programs)."""
    return re.sub(r"<[^>]+>", " ", html)


def status_of(engine, case_id: int) -> str:
    with engine.connect() as conn:
        return conn.execute(select(withdrawal_cases.c.status).where(withdrawal_cases.c.id == case_id)).scalar_one()


def test_the_queue_lists_open_cases_masked_with_due_dates_and_overdue_marks(engine, desk):
    case_id, person = submitted_case(engine)
    late_id, late = submitted_case(engine, 2)
    with engine.begin() as conn:
        conn.execute(update(withdrawal_cases).where(withdrawal_cases.c.id == late_id).values(submitted_on=date(2025, 5, 6)))
    agent = desk("agent1")
    page = agent.get("/counter/withdrawals")
    assert page.status_code == 200
    assert person.id_number not in page.text and person.id_number[-4:] in page.text and person.name not in page.text
    row = re.search(rf'data-testid="case-{case_id}">(.*?)</tr>', page.text, re.S).group(1)
    # Submitted on Sunday 15 June 2025; ten working days later is Friday 27 June.
    assert "出国（境）定居、退休移民" in row and "1,234.56元" in row and "2025年6月27日" in row and "已逾期" not in row
    late_row = re.search(rf'data-testid="case-{late_id}">(.*?)</tr>', page.text, re.S).group(1)
    assert "已逾期" in late_row and page.text.index(f"case-{late_id}") < page.text.index(f"case-{case_id}")  # oldest first
    only_late = agent.get("/counter/withdrawals?overdue=1").text
    assert f"case-{late_id}" in only_late and f"case-{case_id}" not in only_late
    assert f"case-{case_id}" not in agent.get("/counter/withdrawals?status=collecting").text
    assert f"case-{case_id}" not in agent.get("/counter/withdrawals?applicant=heir").text
    start = agent.get("/counter").text
    assert re.search(r"待审批的提取申请</span>\s*<span class=\"c-queue-count\">2件</span><span class=\"c-overdue\">其中逾期1件", start)
    assert not re.search(r"None|collecting|submitted|emigration|[A-Za-z]{4,}", visible(page.text))
    [row] = audit_of(engine, "staff.withdrawal.queue")[:1]
    assert row["detail"]["channel"] == "counter"


def test_the_case_is_masked_until_a_reason_is_stated_and_every_view_is_audited(engine, desk):
    case_id, person = submitted_case(engine)
    agent = desk("agent1")
    masked = agent.get(f"/counter/withdrawals/{case_id}")
    assert masked.status_code == 200 and "请填写查询事由" in masked.text
    assert person.id_number not in masked.text and person.name not in masked.text
    refused = post_form(agent, f"/counter/withdrawals/{case_id}/reason", {"reason_other": "查"})
    assert refused.status_code == 422 and "查询事由" in refused.text
    state_reason(agent, f"/counter/withdrawals/{case_id}")
    opened = agent.get(f"/counter/withdrawals/{case_id}")
    assert person.id_number in opened.text and person.name in opened.text
    assert "出国（境）定居证明" in opened.text and "校验值（SHA-256）" in opened.text
    views = audit_of(engine, "staff.withdrawal.view", person.person_id)
    assert views and views[-1]["reason"] == "参保人申请余额提取，核对材料" and views[-1]["detail"]["channel"] == "counter"
    assert audit_of(engine, "staff.withdrawal.masked", person.person_id)
    doc_id = int(re.search(rf"/counter/withdrawals/{case_id}/documents/(\d+)", opened.text).group(1))
    document = agent.get(f"/counter/withdrawals/{case_id}/documents/{doc_id}")
    assert document.status_code == 200 and document.content == SAMPLE_PDF
    assert document.headers["content-disposition"].startswith("inline")
    assert audit_of(engine, "staff.withdrawal.document", person.person_id)[-1]["reason"] == "参保人申请余额提取，核对材料"


def test_another_regions_case_and_death_are_not_found(engine, desk):
    case_id, person = submitted_case(engine)
    shanghai = desk("agent_sh")
    assert f"case-{case_id}" not in shanghai.get("/counter/withdrawals").text
    for url in (f"/counter/withdrawals/{case_id}", f"/counter/withdrawals/{case_id}/documents/1",
                f"/counter/deaths/{person.person_id}"):
        answer = shanghai.get(url)
        assert answer.status_code == 404 and "未找到" in answer.text, url
    refused = post_form(shanghai, f"/counter/withdrawals/{case_id}/decision", {"decision": "approve", "note": "同意支付"})
    assert refused.status_code == 404 and status_of(engine, case_id) == "submitted"
    death = post_form(shanghai, "/counter/deaths", {"id_number": person.id_number, "died_on": "2025-06-01",
                                                   "certificate_number": "D1", "reason": "家属到窗口办理"},
                      files={"file": ("d.pdf", SAMPLE_PDF, "application/pdf")})
    assert death.status_code == 404 and "未找到该参保人" in death.text
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(death_records)).scalar_one() == 0


@pytest.mark.parametrize("role", ["auditor1", "admin1"])
def test_roles_without_the_permission_are_refused(engine, desk, role):
    case_id, person = submitted_case(engine)
    client = desk(role)
    for url in ("/counter/withdrawals", f"/counter/withdrawals/{case_id}", "/counter/deaths", f"/counter/deaths/{person.person_id}"):
        answer = client.get(url)
        assert answer.status_code == 403 and "查看提取申请" in answer.text, url
    refused = post_form(client, f"/counter/withdrawals/{case_id}/decision", {"decision": "approve", "note": "同意支付"})
    assert refused.status_code == 403 and "审批提取申请" in refused.text
    assert status_of(engine, case_id) == "submitted"


def test_a_form_without_the_session_token_changes_nothing(engine, desk):
    case_id, _ = submitted_case(engine)
    agent = desk("agent1")
    answer = agent.post(f"/counter/withdrawals/{case_id}/decision", data={"csrf": "forged", "decision": "approve", "note": "同意支付"},
                        follow_redirects=False)
    assert answer.status_code == 403 and "页面已过期" in answer.text
    assert status_of(engine, case_id) == "submitted" and not audit_of(engine, "staff.withdrawal.decision")


def test_bad_input_is_shown_at_its_field_and_changes_nothing(engine, desk):
    case_id, person = submitted_case(engine)
    agent = desk("agent1")
    state_reason(agent, f"/counter/withdrawals/{case_id}")
    no_note = post_form(agent, f"/counter/withdrawals/{case_id}/decision", {"decision": "approve", "note": " "})
    assert no_note.status_code == 422 and 'id="note-error"' in no_note.text and "办理事由或意见" in no_note.text
    assert status_of(engine, case_id) == "submitted"
    short = post_form(agent, f"/counter/withdrawals/{case_id}/request-documents", {"note": "补"})
    assert short.status_code == 422 and "请写明需要补充的材料" in short.text and status_of(engine, case_id) == "submitted"
    death = post_form(agent, "/counter/deaths", {"id_number": person.id_number, "died_on": "2025-13-01",
                                                "certificate_number": "D1", "reason": "家属到窗口办理"},
                      files={"file": ("d.pdf", SAMPLE_PDF, "application/pdf")})
    assert death.status_code == 422 and 'id="died_on-error"' in death.text and 'value="D1"' in death.text
    not_a_file = post_form(agent, "/counter/deaths", {"id_number": person.id_number, "died_on": "2025-06-01",
                                                     "certificate_number": "D1", "reason": "家属到窗口办理"},
                           files={"file": ("d.txt", b"hello", "text/plain")})
    assert not_a_file.status_code == 422 and 'id="file-error"' in not_a_file.text and "PDF" in not_a_file.text
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(death_records)).scalar_one() == 0
    assert not audit_of(engine, "staff.withdrawal.decision") and not audit_of(engine, "staff.withdrawal.death")


def test_requesting_documents_sends_the_case_back_and_tells_the_person(engine, desk):
    case_id, person = submitted_case(engine)
    agent = desk("agent1")
    asked = post_form(agent, f"/counter/withdrawals/{case_id}/request-documents", {"note": "请补充定居国居留许可的中文译本"})
    assert asked.status_code == 303 and asked.headers["location"].endswith("notice=requested")
    assert status_of(engine, case_id) == "collecting"
    with engine.connect() as conn:
        told = conn.execute(select(notifications.c.text).where(notifications.c.person_id == person.person_id)).scalar_one()
    assert "请补充定居国居留许可的中文译本" in told
    [row] = audit_of(engine, "staff.withdrawal.request_documents")
    assert row["reason"] == "请补充定居国居留许可的中文译本" and row["detail"] == {"channel": "counter", "case_id": case_id}
    state_reason(agent, f"/counter/withdrawals/{case_id}")
    assert "请补充定居国居留许可的中文译本" in agent.get(f"/counter/withdrawals/{case_id}").text
    with client_for(engine, security(FixedClock(START))) as portal:  # the person sees what to add
        assert portal_sign_in(portal, person).status_code == 303
        assert "经办机构请您补充材料：请补充定居国居留许可的中文译本" in portal.get(f"/portal/withdrawals/{case_id}").text
    again = post_form(agent, f"/counter/withdrawals/{case_id}/request-documents", {"note": "再次要求补充"})
    assert again.status_code == 409 and "只有待审核的申请可以要求补充材料" in again.text


def test_a_large_payout_needs_a_supervisor_who_did_not_approve_first(engine, desk):
    case_id, person = submitted_case(engine, balance_fen=800_000)
    agent, supervisor = desk("agent1"), desk("super1")
    assert post_form(agent, f"/counter/withdrawals/{case_id}/decision", {"decision": "approve", "note": "材料齐全"}).status_code == 303
    assert status_of(engine, case_id) == "approved_once"
    again = post_form(agent, f"/counter/withdrawals/{case_id}/decision", {"decision": "approve", "note": "再次审批"})
    assert again.status_code == 409 and "同一人不能两次审批" in again.text and status_of(engine, case_id) == "approved_once"
    paid = post_form(supervisor, f"/counter/withdrawals/{case_id}/decision", {"decision": "approve", "note": "复核无误"})
    assert paid.status_code == 303 and paid.headers["location"].endswith("notice=paid")
    assert status_of(engine, case_id) == "paid"
    assert [row["reason"] for row in audit_of(engine, "staff.withdrawal.decision")] == ["材料齐全", "复核无误"]
    ledger_clean(engine)


def test_a_death_recorded_confirmed_and_its_heirs_shares_checked(engine, desk):
    person = add_insured(engine, 1)
    agent, other = desk("agent1"), desk("agent2")
    recorded = post_form(agent, "/counter/deaths", {"id_number": person.id_number, "died_on": "2025-06-01",
                                                   "certificate_number": "J110105202500123", "reason": "家属到窗口办理继承"},
                         files={"file": ("死亡证明.pdf", SAMPLE_PDF, "application/pdf")})
    assert recorded.status_code == 303, recorded.text
    shown = agent.get(recorded.headers["location"])
    assert person.id_number in shown.text and "待复核" in shown.text and "确认死亡信息" not in shown.text  # not the recorder's
    own = post_form(agent, f"/counter/deaths/{person.person_id}/decision", {"decision": "confirm", "note": "核对无误"})
    assert own.status_code == 409 and "待复核" in agent.get(f"/counter/deaths/{person.person_id}").text
    assert f"death-{person.person_id}" in other.get("/counter/deaths").text
    confirmed = post_form(other, f"/counter/deaths/{person.person_id}/decision", {"decision": "confirm", "note": "核对死亡证明原件"})
    assert confirmed.status_code == 303
    with engine.connect() as conn:
        case_id = conn.execute(select(withdrawal_cases.c.id).where(withdrawal_cases.c.applicant == "heir")).scalar_one()
    rows = {"reason": "登记继承人"}
    short = [HEIRS[0], HEIRS[1]]
    form = {f"heir_{field}": [heir[field] for heir in short] + [""] * 4
            for field in ("name", "id_number", "share", "bank_name", "bank_account", "account_holder")}
    refused = post_form(agent, f"/counter/withdrawals/{case_id}/heirs", {**rows, **form})
    assert refused.status_code == 422 and "各继承人份额之和须等于1（现为5/6）" in refused.text
    assert f'value="{HEIRS[1]["bank_account"]}"' in refused.text  # what was typed is kept
    form["heir_share"] = ["1/3", "0.5"] + [""] * 4
    bad_share = post_form(agent, f"/counter/withdrawals/{case_id}/heirs", {**rows, **form})
    assert bad_share.status_code == 422 and "现为5/6" in bad_share.text
    form["heir_bank_account"] = [HEIRS[0]["bank_account"], "6222020200112345678"] + [""] * 4
    form["heir_share"] = ["1/3", "2/3"] + [""] * 4
    bad_card = post_form(agent, f"/counter/withdrawals/{case_id}/heirs", {**rows, **form})
    assert bad_card.status_code == 422 and 'id="heirs-1-bank_account-error"' in bad_card.text
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(heirs)).scalar_one() == 0
    form["heir_bank_account"] = [HEIRS[0]["bank_account"], HEIRS[1]["bank_account"]] + [""] * 4
    assert post_form(agent, f"/counter/withdrawals/{case_id}/heirs", {**rows, **form}).status_code == 303
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(heirs)).scalar_one() == 2
    [row] = audit_of(engine, "staff.withdrawal.heirs")
    assert row["reason"] == "登记继承人" and row["detail"]["channel"] == "counter"


def test_a_flagged_policy_answer_must_be_acknowledged_before_approval(engine, desk):
    case_id, _ = submitted_case(engine)
    with engine.begin() as conn:  # the sources conflict about this reason here
        conn.execute(update(withdrawal_cases).where(withdrawal_cases.c.id == case_id).values(policy_allowed=None))
    agent = desk("agent1")
    state_reason(agent, f"/counter/withdrawals/{case_id}")
    page = agent.get(f"/counter/withdrawals/{case_id}").text
    assert 'id="policy-flag"' in page and 'name="policy_flag_acknowledged"' in page
    refused = post_form(agent, f"/counter/withdrawals/{case_id}/decision", {"decision": "approve", "note": "同意支付"})
    assert refused.status_code == 422 and 'id="policy_flag_acknowledged-error"' in refused.text
    assert "同意支付" in refused.text and status_of(engine, case_id) == "submitted"
    paid = post_form(agent, f"/counter/withdrawals/{case_id}/decision",
                     {"decision": "approve", "note": "已核实当地规定，同意支付", "policy_flag_acknowledged": "1"})
    assert paid.status_code == 303 and status_of(engine, case_id) == "paid"
    ledger_clean(engine)


def test_a_refusal_with_its_reason_and_a_death_record_rejected(engine, desk):
    case_id, person = submitted_case(engine)
    agent, other = desk("agent1"), desk("agent2")
    refused = post_form(agent, f"/counter/withdrawals/{case_id}/decision", {"decision": "reject", "note": "定居证明已过期，不予通过"})
    assert refused.status_code == 303 and refused.headers["location"].endswith("notice=rejected")
    assert status_of(engine, case_id) == "rejected"
    [row] = audit_of(engine, "staff.withdrawal.decision")
    assert row["reason"] == "定居证明已过期，不予通过" and row["detail"]["approve"] is False
    state_reason(agent, f"/counter/withdrawals/{case_id}")
    closed = agent.get(f"/counter/withdrawals/{case_id}").text
    assert "本申请已办结" in closed and "定居证明已过期，不予通过" in closed and 'id="decision-form"' not in closed

    recorded = post_form(agent, "/counter/deaths", {"id_number": person.id_number, "died_on": "2025-06-01",
                                                   "certificate_number": "J1", "reason": "家属到窗口办理"},
                         files={"file": ("d.pdf", SAMPLE_PDF, "application/pdf")})
    assert recorded.status_code == 303
    rejected = post_form(other, f"/counter/deaths/{person.person_id}/decision", {"decision": "reject", "note": "证明编号与原件不符"})
    assert rejected.status_code == 303 and rejected.headers["location"].endswith("notice=death_rejected")
    with engine.connect() as conn:
        assert conn.execute(select(death_records.c.status)).scalar_one() == "rejected"
    assert audit_of(engine, "staff.withdrawal.death.reject")[0]["reason"] == "证明编号与原件不符"
    ledger_clean(engine)
