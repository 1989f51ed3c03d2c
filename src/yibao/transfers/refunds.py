"""Emergency costs the person paid themselves, refunded into the personal account: a case.

A staff member enters the refund with the receipt (number, date, amount, and the receipt
itself, stored with the refund; more documents may follow), or the person applies with the
receipt on the portal (then they prepared it, and no staff member did). Another staff member approves it;
above a threshold a supervisor who took no part approves it a second time (four eyes, see
``security.four_eyes``). Then it is paid: a ``refund`` posted from the region's pool into the
account. Amounts are limited per receipt and per person and year: policy data where a source
gives a figure, else the service settings (``RefundSettings``). One refund per receipt and
person; the due date is the working-day deadline in force in the account's region on the day
of entry, and covers approval and payment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Connection, cast, func, insert, select, update

from yibao import documents
from yibao.domain.money import MAX_FEN, Money
from yibao.errors import InvalidInput, NotFound
from yibao.ledger.accounts import open_account_of, system_account
from yibao.ledger.kinds import AccountKind, AccountStatus, TxKind
from yibao.ledger.ledger import Leg, TransactionRequest, post_within
from yibao.policy.parameters import Confidence, PolicyBook
from yibao.security import four_eyes
from yibao.security.errors import Forbidden
from yibao.security.four_eyes import CaseKind, Part
from yibao.security.permissions import Permission
from yibao.store.db import insert_unique
from yibao.store.models import accounts, emergency_refunds, persons
from yibao.transfers import deadlines
from yibao.transfers.refund_settings import RefundSettings
from yibao.withdrawals.cases import Actor, CaseConflict

RECEIPT = "急诊收费票据"
DOCUMENT_TYPES = (RECEIPT, "诊断证明或病历", "其他材料")
MAX_PER_RECEIPT = "refund.emergency_max_per_receipt"
MAX_PER_PERSON_YEAR = "refund.emergency_max_per_person_year"


class RefundStatus(StrEnum):
    ENTERED = "entered"  # waiting for approval by someone other than who entered it
    APPROVED_ONCE = "approved_once"  # above the threshold: waiting for a supervisor's second approval
    APPROVED = "approved"  # waiting to be paid
    PAID = "paid"
    REJECTED = "rejected"

    @property
    def label(self) -> str:
        return {"entered": "待审核", "approved_once": "待复核", "approved": "待返还", "paid": "已返还",
                "rejected": "未通过"}[self.value]


class RefundLimitExceeded(InvalidInput):
    code = "refund_limit_exceeded"


@dataclass(frozen=True)
class Refund:
    id: int
    person_id: int
    due_on: date
    transaction_id: int | None = None


@dataclass(frozen=True)
class Limit:
    fen: int
    source: str  # "policy" (the region's data gives it) or "setting" (the agency's, while the data does not)
    confidence: str


@dataclass(frozen=True)
class RefundLimits:
    per_receipt: Limit
    per_person_year: Limit


def reference(refund_id: int) -> str:
    return f"ER{refund_id}"


def limits(book: PolicyBook, settings: RefundSettings, region_code: str, day: date) -> RefundLimits:
    return RefundLimits(
        _limit(book, MAX_PER_RECEIPT, region_code, day, settings.refund_max_per_receipt_fen),
        _limit(book, MAX_PER_PERSON_YEAR, region_code, day, settings.refund_max_per_person_year_fen),
    )


def _limit(book: PolicyBook, parameter: str, region_code: str, day: date, setting_fen: int) -> Limit:
    resolution = book.resolve(parameter, book.regions.get(region_code), day)
    value = resolution.value
    if value is not None and value.rule is not None:
        return Limit(value.rule.amount_fen, "policy", value.confidence.value)
    return Limit(setting_fen, "setting", Confidence.UNKNOWN.value)


# ---------------------------------------------------------------------------- entering


def enter(
    conn: Connection,
    book: PolicyBook,
    settings: RefundSettings,
    *,
    person_id: int,
    amount_fen: int,
    incurred_on: date,
    receipt_number: str,
    file_name: str,
    content: bytes,
    staff: Actor,
    today: date,
    now: datetime,
) -> Refund:
    """Enter a refund with its receipt; nothing is paid until others approve it."""
    claim = Claim(person_id, amount_fen, incurred_on, receipt_number, file_name, content)
    refund = _open(conn, book, settings, claim, staff, today=today, now=now)
    four_eyes.prepared(conn, CaseKind.REFUND, refund.id, staff.id, Part.ENTERED, now, field="refund_id")
    return refund


def apply(
    conn: Connection, book: PolicyBook, settings: RefundSettings, claim: Claim, *, today: date, now: datetime
) -> Refund:
    """The person applies with the receipt themselves: they prepared it, so every approval
    is by staff, under the same limits, deadline and one-refund-per-receipt rule."""
    return _open(conn, book, settings, claim, Actor("person", claim.person_id), today=today, now=now)


@dataclass(frozen=True)
class Claim:
    """What a refund is for: the costs on one receipt, and the receipt itself."""

    person_id: int
    amount_fen: int
    incurred_on: date
    receipt_number: str
    file_name: str
    content: bytes


def _open(
    conn: Connection, book: PolicyBook, settings: RefundSettings, claim: Claim, by: Actor, *, today: date, now: datetime
) -> Refund:
    person_id, amount_fen, incurred_on = claim.person_id, claim.amount_fen, claim.incurred_on
    # The person's row is locked: two refunds entered at once are counted against the year one after the other.
    region = conn.execute(select(persons.c.region_code).where(persons.c.id == person_id).with_for_update()).scalar()
    if region is None or not by.scope.covers(region) or (by.kind == "person" and by.id != person_id):
        raise NotFound("未找到该参保人", field="person_id", code="person_not_found")
    if type(amount_fen) is not int or not 0 < amount_fen <= MAX_FEN:
        raise InvalidInput("返还金额应大于0", field="amount_fen", code="amount_not_positive")
    if incurred_on > today:
        raise InvalidInput("费用发生日期不能晚于今天", field="incurred_on", code="incurred_on_future")
    receipt = (claim.receipt_number or "").strip()
    if not 1 <= len(receipt) <= 40:
        raise InvalidInput("请填写票据号（1-40个字符）", field="receipt_number", code="receipt_number")
    documents.checked_content(claim.content)  # a wrong file is refused before anything is written
    account_id = open_account_of(conn, person_id)
    account_region = conn.execute(select(accounts.c.region_code).where(accounts.c.id == account_id)).scalar_one()
    _check_limits(conn, limits(book, settings, account_region, today), person_id, amount_fen, incurred_on)
    due_on = deadlines.due_date(book, deadlines.EMERGENCY_REFUND, account_region, today)
    by_person = by.kind == "person"
    refund_id = insert_unique(
        conn,
        insert(emergency_refunds)
        .values(
            person_id=person_id, account_id=account_id, amount_fen=amount_fen, incurred_on=incurred_on,
            receipt_number=receipt, status=RefundStatus.ENTERED.value, entered_on=today,
            entered_by=None if by_person else by.id, applied_by_person=by_person, due_on=due_on,
        )
        .returning(emergency_refunds.c.id),
        taken=CaseConflict("该票据已登记过返还", field="receipt_number", code="receipt_already_refunded"),
    )
    documents.store(conn, person_id=person_id, case_id=None, refund_id=refund_id, doc_type=RECEIPT,
                    file_name=claim.file_name, content=claim.content, uploaded_by=by.label, at=now)
    return Refund(refund_id, person_id, due_on)


def _check_limits(conn: Connection, found: RefundLimits, person_id: int, amount_fen: int, incurred_on: date) -> None:
    if amount_fen > found.per_receipt.fen:
        raise RefundLimitExceeded(
            f"每张票据返还金额不能超过{Money(found.per_receipt.fen).format()}", field="amount_fen"
        )
    used = year_total_fen(conn, person_id, incurred_on.year)
    if used + amount_fen > found.per_person_year.fen:
        left = max(0, found.per_person_year.fen - used)
        raise RefundLimitExceeded(
            f"{incurred_on.year}年度急诊费用返还合计不能超过{Money(found.per_person_year.fen).format()}，"
            f"本年度还可返还{Money(left).format()}",
            field="amount_fen",
        )


def year_total_fen(conn: Connection, person_id: int, year: int) -> int:
    """Every refund of the person for costs incurred in ``year`` that was not rejected."""
    return int(conn.execute(
        select(cast(func.coalesce(func.sum(emergency_refunds.c.amount_fen), 0), BigInteger)).where(
            emergency_refunds.c.person_id == person_id,
            emergency_refunds.c.incurred_on.between(date(year, 1, 1), date(year, 12, 31)),
            emergency_refunds.c.status != RefundStatus.REJECTED.value,
        )
    ).scalar_one())


def add_document(
    conn: Connection, refund_id: int, staff: Actor, *, doc_type: str, file_name: str, content: bytes, now: datetime
) -> documents.StoredDocument:
    row = refund_for_staff(conn, refund_id, staff, lock=True)
    if row["status"] != RefundStatus.ENTERED.value:
        raise CaseConflict("该返还已审批或已办结，不能再补充材料", field="refund_id", code="refund_wrong_status")
    if doc_type not in DOCUMENT_TYPES:
        raise InvalidInput(f"材料类型应为：{'、'.join(DOCUMENT_TYPES)}", field="doc_type", code="doc_type_unknown")
    four_eyes.prepared(conn, CaseKind.REFUND, refund_id, staff.id, Part.UPLOADED_DOCUMENT, now, field="refund_id")
    return documents.store(conn, person_id=row["person_id"], case_id=None, refund_id=refund_id, doc_type=doc_type,
                           file_name=file_name, content=content, uploaded_by=staff.label, at=now)


# ---------------------------------------------------------------------------- finding refunds


def refund_for_staff(conn: Connection, refund_id: int, staff: Actor, *, lock: bool = False):
    """The refund with its account's region, if the staff member works for that region."""
    query = (
        select(emergency_refunds, accounts.c.region_code)
        .join(accounts, accounts.c.id == emergency_refunds.c.account_id)
        .where(emergency_refunds.c.id == refund_id)
    )
    row = conn.execute(query.with_for_update(of=emergency_refunds) if lock else query).mappings().first()
    if row is None or not staff.scope.covers(row["region_code"]):
        raise NotFound("未找到该返还记录", field="refund_id", code="refund_not_found")
    return row


def refunds_of(conn: Connection, person_id: int) -> list:
    """The person's refunds, newest first, whoever entered them."""
    return list(conn.execute(
        select(emergency_refunds).where(emergency_refunds.c.person_id == person_id).order_by(emergency_refunds.c.id.desc())
    ).mappings())


def refund_for_person(conn: Connection, refund_id: int, person_id: int):
    """The person's own refund; someone else's is "not found", never "forbidden"."""
    row = conn.execute(
        select(emergency_refunds).where(emergency_refunds.c.id == refund_id, emergency_refunds.c.person_id == person_id)
    ).mappings().first()
    if row is None:
        raise NotFound("未找到该返还记录", field="refund_id", code="refund_not_found")
    return row


# ---------------------------------------------------------------------------- approvals


def decide(
    conn: Connection, refund_id: int, staff: Actor, *, approve: bool, note: str, settings: RefundSettings,
    today: date, now: datetime,
) -> RefundStatus:
    row = refund_for_staff(conn, refund_id, staff, lock=True)
    status = RefundStatus(row["status"])
    if status not in (RefundStatus.ENTERED, RefundStatus.APPROVED_ONCE):
        raise CaseConflict(f"该返还当前状态为“{status.label}”，不能审批", field="refund_id", code="refund_wrong_status")
    if not approve:
        _move(conn, row, status, RefundStatus.REJECTED, rejected_by=staff.id, decision_note=note)
        return RefundStatus.REJECTED
    if status is RefundStatus.APPROVED_ONCE:
        four_eyes.approved(conn, CaseKind.REFUND, refund_id, staff.id, Part.SECOND_APPROVAL, now, field="refund_id")
        if not staff.may(Permission.REFUND_SECOND_APPROVE):
            raise Forbidden("超过限额的返还须由复核人员复核", code="supervisor_required")
        _move(conn, row, status, RefundStatus.APPROVED, second_approved_by=staff.id, second_approved_on=today,
              decision_note=note)
        return RefundStatus.APPROVED
    four_eyes.approved(conn, CaseKind.REFUND, refund_id, staff.id, Part.FIRST_APPROVAL, now, field="refund_id")
    new = RefundStatus.APPROVED_ONCE if needs_second_approval(row, settings) else RefundStatus.APPROVED
    _move(conn, row, status, new, approved_by=staff.id, approved_on=today, decision_note=note)
    return new


def needs_second_approval(row, settings: RefundSettings) -> bool:
    return row["amount_fen"] > settings.refund_second_approval_above_fen


def _move(conn: Connection, row, expected: RefundStatus, new: RefundStatus, **changes) -> None:
    done = conn.execute(
        update(emergency_refunds)
        .where(emergency_refunds.c.id == row["id"], emergency_refunds.c.status == expected.value)
        .values(status=new.value, **changes)
    ).rowcount
    if done != 1:
        raise CaseConflict("该返还刚被其他人处理，请刷新后重试", field="refund_id", code="refund_changed")


# ---------------------------------------------------------------------------- payment


def _receiving_account(conn: Connection, row) -> int:
    """The account the refund was entered for or, once that one is closed (a move between
    regions), the person's open account: the money follows the person. The old region's pool
    still pays it, as it owes it. With no open account left the refund cannot be posted."""
    status = conn.execute(select(accounts.c.status).where(accounts.c.id == row["account_id"])).scalar_one()
    if status != AccountStatus.CLOSED.value:
        return row["account_id"]
    try:
        return open_account_of(conn, row["person_id"])
    except NotFound:
        raise CaseConflict(
            "该参保人的个人账户已注销且没有新账户，本笔费用无法返还到账户，请按财务规定另行退付",
            field="refund_id", code="no_open_account",
        ) from None


def pay(conn: Connection, refund_id: int, staff: Actor, *, today: date) -> Refund:
    """Post an approved refund into the account (the approvals are what authorise it)."""
    row = refund_for_staff(conn, refund_id, staff, lock=True)
    status = RefundStatus(row["status"])
    if status is RefundStatus.PAID:
        raise CaseConflict("该笔费用已返还", field="refund_id", code="refund_already_paid")
    if status is not RefundStatus.APPROVED:
        raise CaseConflict(f"该返还当前状态为“{status.label}”，审批通过后才能返还", field="refund_id",
                           code="refund_not_approved")
    pool = system_account(conn, AccountKind.POOL, row["region_code"], opened_on=today)
    request = TransactionRequest(
        TxKind.REFUND, f"emergency-refund:{refund_id}",
        (Leg(pool, -row["amount_fen"]), Leg(_receiving_account(conn, row), row["amount_fen"])),
        today, f"急诊垫付费用返还（票据{row['receipt_number']}）", reference(refund_id),
    )
    transaction_id = post_within(conn, request).transaction_id
    _move(conn, row, RefundStatus.APPROVED, RefundStatus.PAID, refunded_on=today, transaction_id=transaction_id)
    return Refund(refund_id, row["person_id"], row["due_on"], transaction_id)
