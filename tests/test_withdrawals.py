"""Withdrawing the balance through the API on SQLite and PostgreSQL: apply, documents, submit,
one or two approvals, payout and closing; every refusal; the closed account takes nothing."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from api_support import (
    payee_body,
    SAMPLE_PDF,
    SAMPLE_PNG,
    START,
    Insured,
    add_insured,
    add_staff_user,
    client_for,
    document_body,
    person_token,
    reason_header,
    security,
    staff_headers,
)
from ledger_support import ledger_clean
from yibao.clock import FixedClock
from yibao.credit.reasons import Skip
from yibao.credit.run import run_month
from yibao.documents import MAX_DOCUMENT_BYTES
from yibao.errors import AccountNotActive, InsufficientBalance
from yibao.ledger.accounts import open_personal_account, system_account
from yibao.ledger.kinds import AccountKind, AccountStatus, TxKind
from yibao.ledger.ledger import Ledger
from yibao.policy.loading import default_directory, load_book
from yibao.security.staff import StaffRole
from yibao.store.models import accounts, audit_log, documents, ledger_transactions, postings, withdrawal_cases
from yibao.withdrawals.settings import WithdrawalSettings

BALANCE = 123_456  # what add_insured leaves in the account
LARGE = 800_000  # above the default two-person threshold of 500,000 fen
EMIGRATION_DOCS = ["出国（境）定居证明", "身份证件"]  # national rule for emigration (range, allowed)
STAFF = {"agent1": StaffRole.AGENT, "agent2": StaffRole.AGENT, "super1": StaffRole.SUPERVISOR,
         "auditor1": StaffRole.AUDITOR, "agent_sh": StaffRole.AGENT}


@dataclass
class World:
    engine: object
    client: TestClient
    clock: FixedClock
    a: Insured
    tokens: dict = field(default_factory=dict)  # signing in hashes a password: once per caller

    def person(self, who: Insured | None = None) -> dict:
        who = who or self.a
        if who.person_id not in self.tokens:
            self.tokens[who.person_id] = person_token(self.client, who)
        return self.tokens[who.person_id]

    def staff(self, username: str) -> dict:
        """Staff are created on first use (each one costs a password hash)."""
        if username not in self.tokens:
            add_staff_user(self.engine, username, STAFF[username])
            self.tokens[username] = staff_headers(self.client, username)
        return self.tokens[username]


@pytest.fixture
def world(engine):
    clock = FixedClock(START)
    with client_for(engine, security(clock)) as client:
        yield World(engine, client, clock, add_insured(engine, 1))


def account_row(engine, account_id: int):
    with engine.connect() as conn:
        return conn.execute(select(accounts).where(accounts.c.id == account_id)).mappings().one()


def apply_with_documents(world: World, reason: str = "emigration", docs=EMIGRATION_DOCS, who: Insured | None = None) -> int:
    headers = world.person(who)
    answer = world.client.post("/api/v1/me/withdrawals", json={"reason": reason, **payee_body(who or world.a)}, headers=headers)
    assert answer.status_code == 201, answer.text
    case_id = answer.json()["id"]
    for doc_type in docs:
        uploaded = world.client.post(f"/api/v1/me/withdrawals/{case_id}/documents", json=document_body(doc_type), headers=headers)
        assert uploaded.status_code == 201, uploaded.text
    submitted = world.client.post(f"/api/v1/me/withdrawals/{case_id}/submit", headers=headers)
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "submitted"
    return case_id


def decide(world: World, case_id: int, username: str, approve: bool = True, **extra):
    body = {"approve": approve, "note": "材料齐全，同意" if approve else "材料不符，不同意", **extra}
    return world.client.post(f"/api/v1/staff/withdrawals/{case_id}/decision", json=body, headers=world.staff(username))


# ---------------------------------------------------------------------------- the whole workflow


def test_apply_upload_submit_approve_pays_out_and_closes_the_account(world):
    case_id = apply_with_documents(world)
    answer = decide(world, case_id, "agent1")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "paid" and body["paid_fen"] == BALANCE
    assert body["case"]["paid"] == "1,234.56元"

    account = account_row(world.engine, world.a.account_id)
    assert account["status"] == AccountStatus.CLOSED.value and account["balance_fen"] == 0
    assert account["closed_on"] == date(2025, 6, 15)
    with world.engine.connect() as conn:
        payout = system_account(conn, AccountKind.PAYOUT, "110000", opened_on=date(2025, 6, 15))
        leg = conn.execute(
            select(ledger_transactions.c.kind, ledger_transactions.c.reference, postings.c.amount_fen)
            .join(postings, postings.c.transaction_id == ledger_transactions.c.id)
            .where(postings.c.account_id == payout)
        ).one()
    assert (leg.kind, leg.reference, leg.amount_fen) == (TxKind.WITHDRAWAL.value, f"WD{case_id}", BALANCE)
    details = world.client.get("/api/v1/me/details", headers=world.person()).json()["items"]
    assert details[0]["kind"] == "withdrawal" and details[0]["amount_fen"] == -BALANCE
    mine = world.client.get("/api/v1/me/withdrawals", headers=world.person()).json()["items"]
    assert [(item["id"], item["status"]) for item in mine] == [(case_id, "paid")]
    ledger_clean(world.engine)


def test_staff_send_a_submitted_case_back_for_documents_and_the_person_resubmits(world):
    case_id = apply_with_documents(world)
    url = f"/api/v1/staff/withdrawals/{case_id}/request-documents"
    assert world.client.post(url, json={"note": "补"}, headers=world.staff("agent1")).status_code == 422
    asked = world.client.post(url, json={"note": "请补充定居证明的公证件"}, headers=world.staff("agent1"))
    assert asked.status_code == 200, asked.text
    assert asked.json()["status"] == "collecting" and asked.json()["decision_note"] == "请补充定居证明的公证件"
    assert asked.json()["submitted_on"] is None
    again = world.client.post(url, json={"note": "请补充定居证明的公证件"}, headers=world.staff("agent1"))
    assert again.status_code == 409 and again.json()["error"]["code"] == "case_wrong_status"
    told = world.client.get("/api/v1/me/notifications", headers=world.person()).json()["notifications"]
    assert "请补充定居证明的公证件" in told[0]["text"]
    with world.engine.connect() as conn:
        [row] = conn.execute(select(audit_log).where(audit_log.c.action == "staff.withdrawal.request_documents")).mappings().all()
    assert row["reason"] == "请补充定居证明的公证件" and row["detail"] == {"case_id": case_id}
    headers = world.person()
    assert world.client.post(f"/api/v1/me/withdrawals/{case_id}/documents", json=document_body("其他材料"),
                             headers=headers).status_code == 201
    assert world.client.post(f"/api/v1/me/withdrawals/{case_id}/submit", headers=headers).json()["status"] == "submitted"
    # Asking for documents is reviewing, not preparing: the same agent may still approve.
    assert decide(world, case_id, "agent1").json()["status"] == "paid"
    ledger_clean(world.engine)


def test_documents_are_stored_with_checksum_and_staff_read_them_with_an_audited_reason(world):
    case_id = apply_with_documents(world)
    view = world.client.get(f"/api/v1/staff/withdrawals/{case_id}", headers=world.staff("agent1") | reason_header("审核提取申请"))
    assert view.status_code == 200, view.text
    stored = view.json()["documents"]
    assert [d["doc_type"] for d in stored] == EMIGRATION_DOCS
    assert all(d["media_type"] == "application/pdf" and d["size_bytes"] == len(SAMPLE_PDF) for d in stored)
    import hashlib

    assert stored[0]["sha256"] == hashlib.sha256(SAMPLE_PDF).hexdigest()
    original = world.client.get(
        f"/api/v1/staff/withdrawals/{case_id}/documents/{stored[0]['id']}",
        headers=world.staff("agent1") | reason_header("核对材料原件"),
    )
    assert original.status_code == 200
    assert original.content == SAMPLE_PDF and original.headers["content-type"] == "application/pdf"
    with world.engine.connect() as conn:
        actions = conn.execute(
            select(audit_log.c.action, audit_log.c.reason).where(audit_log.c.actor_kind == "staff", audit_log.c.action.like("staff.withdrawal%"))
        ).all()
    assert ("staff.withdrawal.view", "审核提取申请") in actions and ("staff.withdrawal.document", "核对材料原件") in actions
    queue = world.client.get("/api/v1/staff/withdrawals", headers=world.staff("agent1") | reason_header("每日待办")).json()
    assert [item["id"] for item in queue["items"]] == [case_id]
    assert queue["items"][0]["payable_fen"] == BALANCE and not queue["items"][0]["needs_second_approval"]


def test_an_image_is_accepted_by_its_content_whatever_its_name(world):
    headers = world.person()
    case_id = world.client.post("/api/v1/me/withdrawals", json={"reason": "emigration", **payee_body(world.a)}, headers=headers).json()["id"]
    answer = world.client.post(
        f"/api/v1/me/withdrawals/{case_id}/documents", json=document_body("身份证件", SAMPLE_PNG, "scan.txt"), headers=headers
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["documents"][0]["media_type"] == "image/png"
    assert answer.json()["missing_documents"] == ["出国（境）定居证明"]


# ---------------------------------------------------------------------------- refusals


def _book_where_abandon_is_refused(tmp_path: Path):
    """The shipped data, plus a Beijing rule that says no to "giving up employee insurance"."""
    folder = tmp_path / "policy"
    folder.mkdir()
    for entry in default_directory().iterdir():
        if entry.name.endswith(".yaml"):
            (folder / entry.name).write_text(entry.read_text(encoding="utf-8"), encoding="utf-8")
    beijing = yaml.safe_load((folder / "110000.yaml").read_text(encoding="utf-8"))
    beijing["parameters"]["withdrawal.abandon"] = {
        "description": "本人放弃职工医保",
        "values": [{"from": date(2025, 1, 1), "confidence": "stated", "unit": "无", "allowed": False,
                    "sources": ["002_6cffb1dcc4da9c6b.txt"], "note": "测试：本地区不允许。"}],
    }
    (folder / "110000.yaml").write_text(yaml.safe_dump(beijing, allow_unicode=True), encoding="utf-8")
    return load_book(folder)


def test_a_reason_the_region_does_not_allow_is_refused_and_nothing_is_stored(world, tmp_path):
    world.client.app.state.policy_book = _book_where_abandon_is_refused(tmp_path)
    answer = world.client.post("/api/v1/me/withdrawals", json={"reason": "abandon", **payee_body(world.a)}, headers=world.person())
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "withdrawal_not_allowed"
    assert "不能提取" in answer.json()["error"]["message"]
    with world.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(withdrawal_cases)).scalar_one() == 0


@pytest.mark.parametrize(
    ("reason", "code"),
    [("lottery", "reason_unknown"), ("death", "reason_death_at_counter"), ("refused", "reason_refused_by_transfer")],
)
def test_reasons_the_person_cannot_use_are_refused(world, reason, code):
    answer = world.client.post("/api/v1/me/withdrawals", json={"reason": reason, **payee_body(world.a)}, headers=world.person())
    assert answer.status_code == 422 and answer.json()["error"]["code"] == code


def test_conflicting_or_unknown_policy_opens_a_flagged_case_that_staff_must_acknowledge(world):
    # Shanghai: the sources contradict each other on emigration (conflicting).
    with world.engine.begin() as conn:
        conn.execute(update(accounts).where(accounts.c.id == world.a.account_id).values(region_code="310000"))
    opened = world.client.post("/api/v1/me/withdrawals", json={"reason": "emigration", **payee_body(world.a)}, headers=world.person()).json()
    assert opened["policy"]["flagged"] is True and opened["policy"]["allowed"] is None
    assert opened["policy"]["confidence"] == "conflicting" and opened["policy"]["confidence_label"] == "资料说法矛盾"
    case_id = opened["id"]
    headers = world.person()
    world.client.post(f"/api/v1/me/withdrawals/{case_id}/documents", json=document_body("出国（境）定居证明"), headers=headers)
    assert world.client.post(f"/api/v1/me/withdrawals/{case_id}/submit", headers=headers).status_code == 200
    unacknowledged = decide(world, case_id, "agent1")
    assert unacknowledged.status_code == 422 and unacknowledged.json()["error"]["code"] == "policy_flag_unacknowledged"
    acknowledged = decide(world, case_id, "agent1", policy_flag_acknowledged=True)
    assert acknowledged.status_code == 200 and acknowledged.json()["status"] == "paid"
    ledger_clean(world.engine)


def test_unknown_policy_is_flagged_too(world):
    opened = world.client.post("/api/v1/me/withdrawals", json={"reason": "abandon", **payee_body(world.a)}, headers=world.person()).json()
    assert opened["policy"]["confidence"] == "unknown" and opened["policy"]["flagged"] is True
    assert opened["policy"]["required_documents"] == []


def test_submitting_with_a_missing_document_is_refused(world):
    headers = world.person()
    case_id = world.client.post("/api/v1/me/withdrawals", json={"reason": "emigration", **payee_body(world.a)}, headers=headers).json()["id"]
    world.client.post(f"/api/v1/me/withdrawals/{case_id}/documents", json=document_body("身份证件"), headers=headers)
    answer = world.client.post(f"/api/v1/me/withdrawals/{case_id}/submit", headers=headers)
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "documents_missing" and "出国（境）定居证明" in answer.json()["error"]["message"]
    early = decide(world, case_id, "agent1")
    assert early.status_code == 409 and early.json()["error"]["code"] == "case_not_submitted"


@pytest.mark.parametrize(
    ("content", "doc_type", "code"),
    [
        (b"MZ\x90\x00 not a document", "身份证件", "document_type"),  # an executable named .pdf
        (b"<html><script>alert(1)</script></html>", "身份证件", "document_type"),
        (b"%PDF-1.4" + b"0" * MAX_DOCUMENT_BYTES, "身份证件", "document_too_large"),  # one page too many
        (SAMPLE_PDF, "户口本", "doc_type_unknown"),
    ],
)
def test_wrong_file_type_oversize_and_unknown_document_type_are_refused(world, content, doc_type, code):
    headers = world.person()
    case_id = world.client.post("/api/v1/me/withdrawals", json={"reason": "emigration", **payee_body(world.a)}, headers=headers).json()["id"]
    answer = world.client.post(f"/api/v1/me/withdrawals/{case_id}/documents", json=document_body(doc_type, content), headers=headers)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == code
    with world.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(documents)).scalar_one() == 0


def test_invalid_base64_is_refused(world):
    headers = world.person()
    case_id = world.client.post("/api/v1/me/withdrawals", json={"reason": "emigration", **payee_body(world.a)}, headers=headers).json()["id"]
    body = {"doc_type": "身份证件", "file_name": "a.pdf", "content_base64": "!!!not base64!!!"}
    answer = world.client.post(f"/api/v1/me/withdrawals/{case_id}/documents", json=body, headers=headers)
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "document_encoding"


def test_one_open_case_at_a_time_and_nobody_else_sees_it(world):
    case_id = apply_with_documents(world)
    again = world.client.post("/api/v1/me/withdrawals", json={"reason": "emigration", **payee_body(world.a)}, headers=world.person())
    assert again.status_code == 409 and again.json()["error"]["code"] == "case_already_open"
    b = add_insured(world.engine, 2)
    stranger = world.client.post(f"/api/v1/me/withdrawals/{case_id}/submit", headers=world.person(b))
    assert stranger.status_code == 404
    assert world.client.get("/api/v1/me/withdrawals", headers=world.person(b)).json()["items"] == []
    add_staff_user(world.engine, "agent_sh", StaffRole.AGENT, region_code="310000")
    world.tokens["agent_sh"] = staff_headers(world.client, "agent_sh")
    other_region = world.client.get(f"/api/v1/staff/withdrawals/{case_id}", headers=world.staff("agent_sh") | reason_header("查看"))
    assert other_region.status_code == 404
    auditor = decide(world, case_id, "auditor1")
    assert auditor.status_code == 403


# ---------------------------------------------------------------------------- two approvals


def test_above_the_threshold_a_different_supervisor_must_approve_second(world):
    rich = add_insured(world.engine, 2, balance_fen=LARGE)
    case_id = apply_with_documents(world, who=rich)
    first = decide(world, case_id, "agent1")
    assert first.status_code == 200 and first.json()["status"] == "approved_once"
    assert first.json()["case"]["needs_second_approval"] is True
    assert account_row(world.engine, rich.account_id)["balance_fen"] == LARGE  # nothing paid yet

    twice = decide(world, case_id, "agent1")
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "same_approver"
    not_supervisor = decide(world, case_id, "agent2")
    assert not_supervisor.status_code == 403 and not_supervisor.json()["error"]["code"] == "supervisor_required"
    second = decide(world, case_id, "super1")
    assert second.status_code == 200 and second.json()["status"] == "paid" and second.json()["paid_fen"] == LARGE
    case = second.json()["case"]
    assert case["first_approver_id"] != case["second_approver_id"]
    assert account_row(world.engine, rich.account_id)["status"] == "closed"
    ledger_clean(world.engine)


def test_a_supervisor_cannot_give_both_approvals(world):
    rich = add_insured(world.engine, 2, balance_fen=LARGE)
    case_id = apply_with_documents(world, who=rich)
    assert decide(world, case_id, "super1").json()["status"] == "approved_once"
    twice = decide(world, case_id, "super1")
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "same_approver"


def test_the_threshold_is_a_service_setting(world):
    world.client.app.state.withdrawal_settings = WithdrawalSettings(withdrawal_second_approval_above_fen=100_000)
    case_id = apply_with_documents(world)
    assert decide(world, case_id, "agent1").json()["status"] == "approved_once"
    assert WithdrawalSettings().withdrawal_second_approval_above_fen == 500_000


def test_approval_of_a_closed_case_is_refused(world):
    paid = apply_with_documents(world)
    assert decide(world, paid, "agent1").json()["status"] == "paid"
    again = decide(world, paid, "agent2")
    assert again.status_code == 409 and again.json()["error"]["code"] == "case_closed"
    b = add_insured(world.engine, 2)
    rejected = apply_with_documents(world, who=b)
    no = decide(world, rejected, "agent1", approve=False)
    assert no.status_code == 200 and no.json()["status"] == "rejected"
    assert no.json()["case"]["decision_note"] == "材料不符，不同意"
    assert account_row(world.engine, b.account_id)["status"] == "active"  # rejection changes no money
    late = decide(world, rejected, "agent2")
    assert late.status_code == 409 and late.json()["error"]["code"] == "case_closed"
    ledger_clean(world.engine)


# ---------------------------------------------------------------------------- the closed account


def test_a_closed_account_takes_no_credit_and_no_debit_and_enrolling_again_opens_a_new_one(world):
    case_id = apply_with_documents(world)
    decide(world, case_id, "agent1")
    ledger = Ledger(world.engine)
    with world.engine.begin() as conn:
        pool = system_account(conn, AccountKind.POOL, "110000", opened_on=date(2025, 6, 1))
        pharmacy = system_account(conn, AccountKind.INSTITUTION, "110000", suffix="P001", opened_on=date(2025, 6, 1))
    with pytest.raises(AccountNotActive):
        ledger.transfer(kind=TxKind.MONTHLY_CREDIT, from_account=pool, to_account=world.a.account_id, amount_fen=100,
                        idempotency_key="after-close-credit", business_date=date(2025, 6, 16))
    with pytest.raises(AccountNotActive):
        ledger.transfer(kind=TxKind.SPENDING, from_account=world.a.account_id, to_account=pharmacy, amount_fen=1,
                        idempotency_key="after-close-debit", business_date=date(2025, 6, 16))

    report = run_month(world.engine, date(2025, 7, 1))
    assert report.skipped[Skip.CLOSED] == 1 and report.credited == 0

    with world.engine.begin() as conn:
        new_account = open_personal_account(conn, world.a.person_id, "110000", date(2025, 7, 2))
    assert new_account != world.a.account_id
    report = run_month(world.engine, date(2025, 8, 1))
    assert report.credited == 1  # the new account, not the closed one
    assert account_row(world.engine, world.a.account_id)["balance_fen"] == 0
    ledger_clean(world.engine)


# ---------------------------------------------------------------------------- concurrency (PostgreSQL)


def test_pharmacy_family_and_withdrawal_race_on_one_account(world):
    """Three writers at once: the balance never goes below zero and the closed account takes nothing."""
    if world.engine.dialect.name != "postgresql":
        pytest.skip("row-lock races are a PostgreSQL matter; SQLite serialises writers")
    case_id = apply_with_documents(world)
    with world.engine.begin() as conn:
        pharmacy = system_account(conn, AccountKind.INSTITUTION, "110000", suffix="P001", opened_on=date(2025, 6, 1))
        hospital = system_account(conn, AccountKind.INSTITUTION, "110000", suffix="H001", opened_on=date(2025, 6, 1))
    ledger = Ledger(world.engine)
    world.staff("agent1")  # signed in before the race starts, so the approval is not late by a password hash
    results: dict[str, object] = {}
    start = threading.Barrier(3)

    def spend(name: str, kind: TxKind, to_account: int, amount: int) -> None:
        start.wait()
        try:
            for round_ in range(40):
                ledger.transfer(kind=kind, from_account=world.a.account_id, to_account=to_account, amount_fen=amount,
                                idempotency_key=f"{name}-{round_}", business_date=date(2025, 6, 15))
            results[name] = "all posted"
        except (AccountNotActive, InsufficientBalance) as error:
            results[name] = error.code

    def approve() -> None:
        start.wait()
        results["withdrawal"] = decide(world, case_id, "agent1").json()

    threads = [
        threading.Thread(target=spend, args=("pharmacy", TxKind.SPENDING, pharmacy, 1_500)),
        threading.Thread(target=spend, args=("family", TxKind.FAMILY_PAYMENT, hospital, 1_000)),
        threading.Thread(target=approve),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    account = account_row(world.engine, world.a.account_id)
    assert account["status"] == "closed" and account["balance_fen"] == 0
    with world.engine.connect() as conn:
        spent = -conn.execute(
            select(func.coalesce(func.sum(postings.c.amount_fen), 0))
            .join(ledger_transactions, ledger_transactions.c.id == postings.c.transaction_id)
            .where(postings.c.account_id == world.a.account_id,
                   ledger_transactions.c.kind.in_([TxKind.SPENDING.value, TxKind.FAMILY_PAYMENT.value]),
                   postings.c.business_date == date(2025, 6, 15))
        ).scalar_one()
    assert set(results) == {"pharmacy", "family", "withdrawal"}
    assert results["pharmacy"] in ("all posted", "account_not_active") and results["family"] in ("all posted", "account_not_active")
    assert results["withdrawal"]["status"] == "paid"
    assert results["withdrawal"]["paid_fen"] + spent == BALANCE  # every fen went exactly one way
    with pytest.raises(AccountNotActive):
        ledger.transfer(kind=TxKind.SPENDING, from_account=world.a.account_id, to_account=pharmacy, amount_fen=1,
                        idempotency_key="after-race", business_date=date(2025, 6, 15))
    ledger_clean(world.engine)
