"""Withdrawal cases: opening, documents, submission, and who may see which case.

Every status change is one conditional UPDATE (``… WHERE status = :expected``): two staff
members or two retries acting on the same case at once cannot both move it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Connection, insert, select, update

from yibao import documents, notifications
from yibao.domain.bank_account import BankAccount
from yibao.security.permissions import Permission, StaffScope, may
from yibao.errors import InvalidInput, NotFound, YibaoError
from yibao.ledger.accounts import open_account_of
from yibao.policy.parameters import PolicyBook
from yibao.policy.withdrawal import REASONS
from yibao.security import four_eyes
from yibao.security.four_eyes import CaseKind, Part
from yibao.store.db import insert_unique
from yibao.store.models import accounts, heirs, persons, region_transfers, withdrawal_cases
from yibao.withdrawals.eligibility import (
    GENERAL_DOCUMENTS,
    eligibility,
    parse_reason,
    require_filing_if_remote,
    require_not_refused,
)
from yibao.workdays import add_working_days


class CaseStatus(StrEnum):
    COLLECTING = "collecting"  # documents being gathered
    SUBMITTED = "submitted"  # waiting for staff
    APPROVED_ONCE = "approved_once"  # above the threshold: waiting for the second approval
    PAID = "paid"
    REJECTED = "rejected"

    @property
    def label(self) -> str:
        return {
            "collecting": "待补充材料", "submitted": "待审核", "approved_once": "待复核",
            "paid": "已支付", "rejected": "未通过",
        }[self.value]

    @property
    def is_open(self) -> bool:
        return self not in (CaseStatus.PAID, CaseStatus.REJECTED)


class Applicant(StrEnum):
    PERSON = "person"
    HEIR = "heir"


class CaseConflict(YibaoError):
    """The case is not in a state that allows this step (HTTP 409)."""

    code = "case_conflict"
    default_message = "该申请当前状态不允许此操作"


@dataclass(frozen=True)
class Actor:
    """Who acts on a case: the person themselves or a staff member (maybe region-scoped)."""

    kind: str  # "person" | "staff"
    id: int
    scope: StaffScope = StaffScope(None)  # the regions a staff member works for
    role: str | None = None

    def may(self, permission: Permission) -> bool:
        return self.kind == "staff" and may(self.role, permission)

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.id}"


def open_case(
    conn: Connection,
    book: PolicyBook,
    *,
    person_id: int,
    account_id: int,
    region_code: str,
    reason: str,
    applicant: Applicant,
    on: date,
    created_by: str,
    transfer_id: int | None = None,
    fixed_amount_fen: int | None = None,
) -> int:
    found = eligibility(book, region_code, reason, on)
    require_not_refused(found)
    require_filing_if_remote(conn, found, person_id, on)
    return insert_unique(
        conn,
        insert(withdrawal_cases)
        .values(
            person_id=person_id, account_id=account_id, region_code=region_code, reason=reason,
            applicant=applicant.value, status=CaseStatus.COLLECTING.value, policy_allowed=found.allowed,
            policy_confidence=found.confidence, required_documents=list(found.documents), rule_ids=list(found.rule_ids),
            transfer_id=transfer_id, fixed_amount_fen=fixed_amount_fen, applied_on=on, created_by=created_by,
        )
        .returning(withdrawal_cases.c.id),
        taken=CaseConflict("已有正在办理的提取申请，请先办结", field="reason", code="case_already_open"),
    )


@dataclass(frozen=True)
class PayeeInput:
    """The bank account a person's own withdrawal is paid to, as typed (checked against their name)."""

    bank_name: str
    bank_account: str
    account_holder: str


def payee_account(conn: Connection, person_id: int, typed: PayeeInput) -> BankAccount:
    """The typed account, checked: valid number, held in the person's own name."""
    name = conn.execute(select(persons.c.name).where(persons.c.id == person_id)).scalar_one()
    return BankAccount.parse(typed.bank_name, typed.bank_account, typed.account_holder, payee_name=name)


def apply(conn: Connection, book: PolicyBook, *, person_id: int, reason: str, on: date, payee: PayeeInput) -> int:
    """The person's own application for their open personal account, paid to their bank account."""
    parse_reason(reason)
    if reason == "death":
        raise InvalidInput("参保人身故后的余额由继承人到经办机构窗口办理", field="reason", code="reason_death_at_counter")
    if reason == "refused":
        raise InvalidInput(
            "“新参保地不接收余额”的提取在转移接续时由转入地办理后自动发起，请勿单独申请",
            field="reason", code="reason_refused_by_transfer",
        )
    if transfer_in_progress(conn, person_id):
        raise CaseConflict("医保关系转移正在办理中，暂不能申请提取", field="reason", code="transfer_in_progress")
    account_id = open_account_of(conn, person_id)
    if has_open_case(conn, person_id):  # before the bank account: no use checking it for a refused application
        raise CaseConflict("已有正在办理的提取申请，请先办结", field="reason", code="case_already_open")
    bank = payee_account(conn, person_id, payee)
    region_code = conn.execute(select(accounts.c.region_code).where(accounts.c.id == account_id)).scalar_one()
    case_id = open_case(
        conn, book, person_id=person_id, account_id=account_id, region_code=region_code, reason=reason,
        applicant=Applicant.PERSON, on=on, created_by=f"person:{person_id}",
    )
    conn.execute(update(withdrawal_cases).where(withdrawal_cases.c.id == case_id)
                 .values(bank_name=bank.bank_name, bank_account=bank.number))
    return case_id


def set_payee(conn: Connection, case, payee: PayeeInput) -> None:
    """Name (or correct) the person's bank account while documents are being gathered, e.g. for
    the balance a new region refused, whose case the transfer opened without one."""
    require_status(case, CaseStatus.COLLECTING, "申请已提交或已办结，不能再修改收款账户")
    if case["applicant"] != Applicant.PERSON.value:
        raise CaseConflict("继承人的收款账户由经办机构登记", field="bank_account", code="case_wrong_applicant")
    bank = payee_account(conn, case["person_id"], payee)
    conn.execute(update(withdrawal_cases).where(withdrawal_cases.c.id == case["id"])
                 .values(bank_name=bank.bank_name, bank_account=bank.number))


def transfer_in_progress(conn: Connection, person_id: int) -> bool:
    return conn.execute(
        select(region_transfers.c.id).where(
            region_transfers.c.person_id == person_id,
            region_transfers.c.status.in_(("requested", "approved", "transferred_out")),
        )
    ).first() is not None


def has_open_case(conn: Connection, person_id: int) -> bool:
    open_statuses = [status.value for status in CaseStatus if status.is_open]
    return conn.execute(
        select(withdrawal_cases.c.id).where(
            withdrawal_cases.c.person_id == person_id, withdrawal_cases.c.status.in_(open_statuses)
        )
    ).first() is not None


# ---------------------------------------------------------------------------- finding cases


def case_row(conn: Connection, case_id: int, *, lock: bool = False):
    query = select(withdrawal_cases).where(withdrawal_cases.c.id == case_id)
    row = conn.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise NotFound("未找到该提取申请", field="case_id", code="case_not_found")
    return row


def visible_case(conn: Connection, case_id: int, actor: Actor, *, lock: bool = False):
    """The case if ``actor`` may see it; someone else's case is "not found", never "forbidden"."""
    row = case_row(conn, case_id, lock=lock)
    # Heirs' cases are worked at the counter; they are not the deceased's account's to show.
    if actor.kind == "person" and (row["person_id"] != actor.id or row["applicant"] != Applicant.PERSON.value):
        raise NotFound("未找到该提取申请", field="case_id", code="case_not_found")
    if actor.kind == "staff" and not actor.scope.covers(row["region_code"]):
        raise NotFound("未找到该提取申请", field="case_id", code="case_not_found")
    return row


def cases_of(conn: Connection, person_id: int) -> list:
    """The person's own applications (not the heirs' case after a death)."""
    return list(
        conn.execute(
            select(withdrawal_cases)
            .where(withdrawal_cases.c.person_id == person_id, withdrawal_cases.c.applicant == Applicant.PERSON.value)
            .order_by(withdrawal_cases.c.id.desc())
        ).mappings()
    )


def queue(conn: Connection, actor: Actor, statuses: list[str], limit: int = 200) -> list:
    """Cases waiting for staff in the actor's region, oldest first."""
    conditions = [withdrawal_cases.c.status.in_(statuses), actor.scope.limit(withdrawal_cases.c.region_code)]
    return list(
        conn.execute(select(withdrawal_cases).where(*conditions).order_by(withdrawal_cases.c.id).limit(limit)).mappings()
    )


def heirs_of(conn: Connection, case_id: int) -> list:
    return list(conn.execute(select(heirs).where(heirs.c.case_id == case_id).order_by(heirs.c.id)).mappings())


# ---------------------------------------------------------------------------- documents and submission


def allowed_document_types(case) -> list[str]:
    return [*case["required_documents"], *(kind for kind in GENERAL_DOCUMENTS if kind not in case["required_documents"])]


def add_document(
    conn: Connection, case, *, doc_type: str, file_name: str, content: bytes, actor: Actor, at: datetime
) -> documents.StoredDocument:
    require_status(case, CaseStatus.COLLECTING, "申请已提交或已办结，不能再补充材料")
    allowed = allowed_document_types(case)
    if doc_type not in allowed:
        raise InvalidInput(f"材料类型应为：{'、'.join(allowed)}", field="doc_type", code="doc_type_unknown")
    if actor.kind == "staff":  # staff who upload at the counter prepare the case: they may not approve it
        four_eyes.prepared(conn, CaseKind.WITHDRAWAL, case["id"], actor.id, Part.UPLOADED_DOCUMENT, at, field="case_id")
    return documents.store(
        conn, person_id=case["person_id"], case_id=case["id"], doc_type=doc_type, file_name=file_name,
        content=content, uploaded_by=actor.label, at=at,
    )


def missing_documents(conn: Connection, case) -> list[str]:
    present = {document.doc_type for document in documents.of_case(conn, case["id"])}
    return [kind for kind in case["required_documents"] if kind not in present]


def submit(conn: Connection, case, on: date, *, actor: Actor | None = None, at: datetime | None = None) -> None:
    """Submit for approval; staff who submit (the heirs' case, at the counter) prepared it."""
    require_status(case, CaseStatus.COLLECTING, "申请已提交或已办结")
    missing = missing_documents(conn, case)
    if missing:
        raise InvalidInput(f"还缺少材料：{'、'.join(missing)}", field="documents", code="documents_missing")
    if not documents.of_case(conn, case["id"]):
        raise InvalidInput("请至少上传一份证明材料", field="documents", code="documents_missing")
    if case["applicant"] == Applicant.HEIR:
        _require_heirs_with_bank_accounts(heirs_of(conn, case["id"]))
    elif case["bank_account"] is None:
        raise InvalidInput("请填写收款银行账户", field="bank_account", code="bank_account_missing")
    if actor is not None and actor.kind == "staff":
        four_eyes.prepared(conn, CaseKind.WITHDRAWAL, case["id"], actor.id, Part.SUBMITTED, at, field="case_id")
    move(conn, case, CaseStatus.COLLECTING, CaseStatus.SUBMITTED, submitted_on=on)


MIN_NOTE, MAX_NOTE = 2, 200
DOCUMENTS_REQUESTED = "withdrawal_documents_requested"


def request_documents(conn: Connection, case, note: str, *, now: datetime) -> notifications.Outgoing | None:
    """Send a submitted case back for more documents, saying what is missing (the note).

    The case returns to 待补充材料 with the note on it; the person (on their own application)
    is told in a notification and an SMS, adds the documents on the portal and submits again,
    which starts the review period afresh. Asking for documents is part of reviewing, not of
    preparing, so whoever asks may still approve the case. Returns the SMS to send after commit.
    """
    text = (note or "").strip()
    if not MIN_NOTE <= len(text) <= MAX_NOTE:
        raise InvalidInput(f"请写明需要补充的材料（{MIN_NOTE}至{MAX_NOTE}字）", field="note", code="note_required")
    require_status(case, CaseStatus.SUBMITTED, "只有待审核的申请可以要求补充材料")
    move(conn, case, CaseStatus.SUBMITTED, CaseStatus.COLLECTING, decision_note=text, submitted_on=None)
    if case["applicant"] != Applicant.PERSON.value:
        return None  # heirs bring their papers to the counter; the deceased is told nothing
    return notifications.notify(
        conn, case["person_id"], kind=DOCUMENTS_REQUESTED, now=now,
        text=f"您的个人账户余额提取申请（{reason_label(case['reason'])}）需要补充材料：{text}。请登录网上服务补充后重新提交。",
    )


def due_on(case, working_days: int) -> date | None:
    """When a submitted case should be decided: ``working_days`` working days after submission
    (an agency setting, ``WithdrawalSettings``); None while documents are being gathered."""
    if case["submitted_on"] is None or not CaseStatus(case["status"]).is_open:
        return None
    return add_working_days(case["submitted_on"], working_days)


def _require_heirs_with_bank_accounts(listed: list) -> None:
    if not listed:
        raise InvalidInput("请先登记继承人及其份额", field="heirs", code="heirs_missing")
    if any(heir["bank_account"] is None for heir in listed):
        raise InvalidInput("请为每位继承人登记收款银行账户", field="heirs", code="heirs_bank_account_missing")


def require_status(case, expected: CaseStatus, message: str) -> None:
    if case["status"] != expected.value:
        closed = not CaseStatus(case["status"]).is_open
        raise CaseConflict(
            "该申请已办结" if closed else message, field="case_id", code="case_closed" if closed else "case_wrong_status"
        )


def move(conn: Connection, case, expected: CaseStatus, new: CaseStatus, **changes) -> None:
    """Change the status if it is still ``expected`` (someone else may have moved it)."""
    done = conn.execute(
        update(withdrawal_cases)
        .where(withdrawal_cases.c.id == case["id"], withdrawal_cases.c.status == expected.value)
        .values(status=new.value, **changes)
    ).rowcount
    if done != 1:
        raise CaseConflict("该申请刚被其他人处理，请刷新后重试", field="case_id", code="case_changed")


def reason_label(reason: str) -> str:
    return REASONS.get(reason, reason)
