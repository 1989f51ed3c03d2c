"""One transfer between pooling regions, step by step.

Money: transfer out posts the whole balance from the old personal account to the old
region's clearing account (``clearing:<region>``) and closes the old account; transfer in
opens the account in the new region and posts the amount from clearing into it. Between
the two the money is "in flight" in clearing, and the sum over both regions is unchanged
at every moment. If the new region refuses the balance, the person's insurance still moves
(new region, new empty account, contributions unchanged) and a withdrawal case with the
reason "refused" is opened for the amount in clearing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Connection, insert, select, update

from yibao.domain.regions import regions
from yibao.errors import InvalidInput, NotFound
from yibao.ledger.accounts import open_account_of, open_personal_account, set_status, system_account
from yibao.ledger.kinds import AccountKind, AccountStatus, TxKind
from yibao.ledger.ledger import Leg, TransactionRequest, post_within
from yibao.policy.parameters import PolicyBook
from yibao.security import four_eyes
from yibao.security.four_eyes import CaseKind, Part
from yibao.store.db import insert_unique
from yibao.store.models import accounts, persons, region_transfers
from yibao.transfers import deadlines
from yibao.withdrawals.cases import Actor, Applicant, CaseConflict, has_open_case, open_case
from yibao.withdrawals.eligibility import eligibility
from yibao.withdrawals.inheritance import open_heirs_case


class TransferStatus(StrEnum):
    REQUESTED = "requested"  # waiting for the old region's review
    APPROVED = "approved"  # reviewed: waiting for transfer out
    TRANSFERRED_OUT = "transferred_out"  # money in clearing: waiting for transfer in
    COMPLETED = "completed"
    REJECTED = "rejected"  # the old region refused the request

    @property
    def label(self) -> str:
        return {
            "requested": "待转出地审核", "approved": "待转出", "transferred_out": "待转入",
            "completed": "已完成", "rejected": "转出地不予办理",
        }[self.value]


OPEN_STATUSES = (TransferStatus.REQUESTED.value, TransferStatus.APPROVED.value, TransferStatus.TRANSFERRED_OUT.value)


@dataclass(frozen=True)
class TransferIn:
    accept_balance: bool
    withdrawal_case_id: int | None = None


def reference(transfer_id: int) -> str:
    return f"TR{transfer_id}"


def request(conn: Connection, book: PolicyBook, *, person_id: int, to_region: str, today: date) -> int:
    """The person asks to move to ``to_region`` (any division code: its pooling region is used)."""
    destination = regions().pooling_region_for(to_region, field="to_region").code
    if conn.execute(select(persons.c.died_on).where(persons.c.id == person_id)).scalar() is not None:
        raise CaseConflict("参保人已身故，不能办理转移，请办理个人账户继承", field="to_region", code="person_deceased")
    account_id = open_account_of(conn, person_id)
    from_region = conn.execute(select(accounts.c.region_code).where(accounts.c.id == account_id)).scalar_one()
    if destination == from_region:
        raise InvalidInput("转入地与当前参保地相同，无需转移", field="to_region", code="same_region")
    if has_open_case(conn, person_id):
        raise CaseConflict("有正在办理的余额提取申请，请办结后再申请转移", field="to_region", code="withdrawal_in_progress")
    out_due = deadlines.due_date(book, deadlines.TRANSFER_OUT, from_region, today)
    return insert_unique(
        conn,
        insert(region_transfers)
        .values(
            person_id=person_id, from_account_id=account_id, from_region=from_region, to_region=destination,
            status=TransferStatus.REQUESTED.value, requested_on=today, out_due=out_due,
        )
        .returning(region_transfers.c.id),
        taken=CaseConflict("已有正在办理的转移申请", field="to_region", code="transfer_already_open"),
    )


# ---------------------------------------------------------------------------- finding transfers


def transfer_row(conn: Connection, transfer_id: int, *, lock: bool = False):
    query = select(region_transfers).where(region_transfers.c.id == transfer_id)
    row = conn.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise NotFound("未找到该转移申请", field="transfer_id", code="transfer_not_found")
    return row


def for_staff(conn: Connection, transfer_id: int, staff: Actor, region_field: str, *, lock: bool = True):
    """The transfer if the staff member works for the region this step belongs to."""
    row = transfer_row(conn, transfer_id, lock=lock)
    if not staff.scope.covers(row[region_field]):
        raise NotFound("未找到该转移申请", field="transfer_id", code="transfer_not_found")
    return row


def transfers_of(conn: Connection, person_id: int) -> list:
    return list(
        conn.execute(
            select(region_transfers).where(region_transfers.c.person_id == person_id).order_by(region_transfers.c.id.desc())
        ).mappings()
    )


def _move(conn: Connection, row, expected: TransferStatus, new: TransferStatus, **changes) -> None:
    if row["status"] != expected.value:
        raise CaseConflict(
            f"该转移申请当前状态为“{TransferStatus(row['status']).label}”，不能办理此步骤",
            field="transfer_id", code="transfer_wrong_status",
        )
    done = conn.execute(
        update(region_transfers)
        .where(region_transfers.c.id == row["id"], region_transfers.c.status == expected.value)
        .values(status=new.value, **changes)
    ).rowcount
    if done != 1:
        raise CaseConflict("该转移申请刚被其他人处理，请刷新后重试", field="transfer_id", code="transfer_changed")


# ---------------------------------------------------------------------------- the steps


def review(conn: Connection, transfer_id: int, staff: Actor, *, approve: bool, note: str, today: date) -> TransferStatus:
    """The old region checks the request (same deadline as the transfer out it precedes)."""
    row = for_staff(conn, transfer_id, staff, "from_region")
    new = TransferStatus.APPROVED if approve else TransferStatus.REJECTED
    _move(conn, row, TransferStatus.REQUESTED, new, reviewed_on=today, reviewed_by=staff.id, note=note)
    return new


def transfer_out(conn: Connection, book: PolicyBook, transfer_id: int, staff: Actor, *, today: date) -> int:
    """Whole balance to the old region's clearing account, old account closed; returns the amount."""
    row = for_staff(conn, transfer_id, staff, "from_region")
    if row["status"] != TransferStatus.APPROVED.value:
        _move(conn, row, TransferStatus.APPROVED, TransferStatus.TRANSFERRED_OUT)  # raises the precise refusal
    account = conn.execute(
        select(accounts.c.status, accounts.c.balance_fen).where(accounts.c.id == row["from_account_id"]).with_for_update()
    ).one()
    if account.status != AccountStatus.ACTIVE.value:
        raise CaseConflict(
            f"原账户状态为“{AccountStatus(account.status).label}”，不能转出", field="transfer_id", code="account_not_active"
        )
    amount = account.balance_fen
    if amount > 0:
        clearing = system_account(conn, AccountKind.CLEARING, row["from_region"], opened_on=today)
        _post(conn, TxKind.TRANSFER_OUT, f"transfer-out:{transfer_id}", row["from_account_id"], clearing, amount, today,
              f"医保关系转出至{_name(row['to_region'])}", transfer_id)
    set_status(conn, row["from_account_id"], AccountStatus.CLOSED, today)
    in_due = deadlines.due_date(book, deadlines.TRANSFER_IN, row["to_region"], today)
    _move(conn, row, TransferStatus.APPROVED, TransferStatus.TRANSFERRED_OUT,
          out_on=today, out_by=staff.id, amount_fen=amount, in_due=in_due)
    return amount


def transfer_in(
    conn: Connection, book: PolicyBook, transfer_id: int, staff: Actor, *, accept_balance: bool, today: date,
    now: datetime,
) -> TransferIn:
    """The new region takes the person in; the balance too, unless it refuses it."""
    row = for_staff(conn, transfer_id, staff, "to_region")
    if row["status"] != TransferStatus.TRANSFERRED_OUT.value:
        _move(conn, row, TransferStatus.TRANSFERRED_OUT, TransferStatus.COMPLETED)  # raises the precise refusal
    new_account = open_personal_account(conn, row["person_id"], row["to_region"], today)
    conn.execute(update(persons).where(persons.c.id == row["person_id"]).values(region_code=row["to_region"]))
    amount = row["amount_fen"] or 0
    case_id = None
    if amount > 0 and accept_balance:
        clearing = system_account(conn, AccountKind.CLEARING, row["from_region"], opened_on=today)
        _post(conn, TxKind.TRANSFER_IN, f"transfer-in:{transfer_id}", clearing, new_account, amount, today,
              f"医保关系自{_name(row['from_region'])}转入", transfer_id)
    elif amount > 0:
        case_id = _offer_withdrawal(conn, book, row, today)
        if case_id is not None:  # who refused the balance prepared its payout: someone else approves it
            four_eyes.prepared(conn, CaseKind.WITHDRAWAL, case_id, staff.id, Part.REFUSED_BALANCE, now, field="transfer_id")
    _move(conn, row, TransferStatus.TRANSFERRED_OUT, TransferStatus.COMPLETED,
          in_on=today, in_by=staff.id, to_account_id=new_account, balance_accepted=accept_balance)
    if conn.execute(select(persons.c.died_on).where(persons.c.id == row["person_id"])).scalar() is not None:
        # Death recorded while the money was in flight: no account was open to freeze then.
        open_heirs_case(conn, book, row["person_id"], today)
    return TransferIn(accept_balance, case_id)


def _offer_withdrawal(conn: Connection, book: PolicyBook, row, today: date) -> int | None:
    """The refused balance stays in clearing; the person may withdraw it (reason "refused").

    Judged by the old region's policy, where the balance was held. When that policy says
    no, no case is opened and the amount stays in clearing for staff to settle by hand.
    """
    if eligibility(book, row["from_region"], "refused", today).allowed is False:
        return None
    clearing = system_account(conn, AccountKind.CLEARING, row["from_region"], opened_on=today)
    return open_case(
        conn, book, person_id=row["person_id"], account_id=clearing, region_code=row["from_region"], reason="refused",
        applicant=Applicant.PERSON, on=today, created_by=f"transfer:{row['id']}", transfer_id=row["id"],
        fixed_amount_fen=row["amount_fen"],
    )


def _post(conn, kind: TxKind, key: str, from_account: int, to_account: int, amount: int, today: date, memo: str,
          transfer_id: int) -> int:
    request = TransactionRequest(
        kind, key, (Leg(from_account, -amount), Leg(to_account, amount)), today, memo, reference(transfer_id)
    )
    return post_within(conn, request).transaction_id


def _name(code: str) -> str:
    return regions().get(code).name
