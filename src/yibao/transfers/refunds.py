"""Emergency costs the person paid themselves, approved for refund into the personal account.

Approval records the receipt and the due date (the working-day deadline in force in the
account's region that day); paying posts a ``refund`` from the region's pool into the
account. One refund per receipt and person: the same costs are never refunded twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, insert, select, update

from yibao.domain.money import MAX_FEN
from yibao.errors import InvalidInput, NotFound
from yibao.ledger.accounts import open_account_of, system_account
from yibao.ledger.kinds import AccountKind, AccountStatus, TxKind
from yibao.ledger.ledger import Leg, TransactionRequest, post_within
from yibao.policy.parameters import PolicyBook
from yibao.store.db import insert_unique
from yibao.store.models import accounts, emergency_refunds, persons
from yibao.transfers import deadlines
from yibao.withdrawals.cases import Actor, CaseConflict


@dataclass(frozen=True)
class Refund:
    id: int
    person_id: int
    due_on: date
    transaction_id: int | None = None


def reference(refund_id: int) -> str:
    return f"ER{refund_id}"


def approve(
    conn: Connection,
    book: PolicyBook,
    *,
    person_id: int,
    amount_fen: int,
    incurred_on: date,
    receipt_number: str,
    staff: Actor,
    today: date,
) -> Refund:
    region = conn.execute(select(persons.c.region_code).where(persons.c.id == person_id)).scalar()
    if region is None or staff.region_code not in (None, region):
        raise NotFound("未找到该参保人", field="person_id", code="person_not_found")
    if type(amount_fen) is not int or not 0 < amount_fen <= MAX_FEN:
        raise InvalidInput("返还金额应大于0", field="amount_fen", code="amount_not_positive")
    if incurred_on > today:
        raise InvalidInput("费用发生日期不能晚于今天", field="incurred_on", code="incurred_on_future")
    receipt = (receipt_number or "").strip()
    if not 1 <= len(receipt) <= 40:
        raise InvalidInput("请填写票据号（1-40个字符）", field="receipt_number", code="receipt_number")
    account_id = open_account_of(conn, person_id)
    account_region = conn.execute(select(accounts.c.region_code).where(accounts.c.id == account_id)).scalar_one()
    due_on = deadlines.due_date(book, deadlines.EMERGENCY_REFUND, account_region, today)
    refund_id = insert_unique(
        conn,
        insert(emergency_refunds)
        .values(
            person_id=person_id, account_id=account_id, amount_fen=amount_fen, incurred_on=incurred_on,
            receipt_number=receipt, approved_on=today, approved_by=staff.id, due_on=due_on,
        )
        .returning(emergency_refunds.c.id),
        taken=CaseConflict("该票据已登记过返还", field="receipt_number", code="receipt_already_refunded"),
    )
    return Refund(refund_id, person_id, due_on)


def _receiving_account(conn: Connection, row) -> int:
    """The account the refund was approved for or, once that one is closed (a move between
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
    """Post the refund into the account."""
    row = conn.execute(
        select(emergency_refunds, accounts.c.region_code)
        .join(accounts, accounts.c.id == emergency_refunds.c.account_id)
        .where(emergency_refunds.c.id == refund_id)
        .with_for_update(of=emergency_refunds)
    ).mappings().first()
    if row is None or staff.region_code not in (None, row["region_code"]):
        raise NotFound("未找到该返还记录", field="refund_id", code="refund_not_found")
    if row["refunded_on"] is not None:
        raise CaseConflict("该笔费用已返还", field="refund_id", code="refund_already_paid")
    pool = system_account(conn, AccountKind.POOL, row["region_code"], opened_on=today)
    request = TransactionRequest(
        TxKind.REFUND, f"emergency-refund:{refund_id}",
        (Leg(pool, -row["amount_fen"]), Leg(_receiving_account(conn, row), row["amount_fen"])),
        today, f"急诊垫付费用返还（票据{row['receipt_number']}）", reference(refund_id),
    )
    transaction_id = post_within(conn, request).transaction_id
    done = conn.execute(
        update(emergency_refunds)
        .where(emergency_refunds.c.id == refund_id, emergency_refunds.c.refunded_on.is_(None))
        .values(refunded_on=today, transaction_id=transaction_id)
    ).rowcount
    if done != 1:
        raise CaseConflict("该笔费用已返还", field="refund_id", code="refund_already_paid")
    return Refund(refund_id, row["person_id"], row["due_on"], transaction_id)
