"""Where one transfer stands, for the person: each step with its due date in working days and
an overdue mark, and where the balance is (old account, clearing in transit, new account).

The portal page and the person's API read the same answer from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, select

from yibao.domain.regions import regions
from yibao.store.models import accounts
from yibao.transfers.transfer import TransferStatus
from yibao.workdays import is_provisional, working_days_between


@dataclass(frozen=True)
class StepProgress:
    step: str  # review | transfer_out | transfer_in
    label: str
    due_on: date | None  # None: the step's deadline starts when the step before it is done
    done_on: date | None
    state: str  # done | open | waiting | refused
    overdue: bool
    working_days_overdue: int
    due_provisional: bool  # counted without the official holiday calendar of that year


@dataclass(frozen=True)
class BalancePlace:
    place: str  # old_account | clearing | new_account | withdrawal
    label: str
    amount_fen: int | None


@dataclass(frozen=True)
class TransferProgress:
    id: int
    status: str
    status_label: str
    from_region: str
    from_region_name: str
    to_region: str
    to_region_name: str
    requested_on: date
    steps: tuple[StepProgress, ...]
    balance: BalancePlace
    note: str | None


# Each step: its name, label, the column of the day it was done and of its due date.
_STEPS = (
    ("review", "转出地审核", "reviewed_on", "out_due"),
    ("transfer_out", "转出：余额转入清算账户", "out_on", "out_due"),
    ("transfer_in", "转入：新参保地开户并接收余额", "in_on", "in_due"),
)
_OPEN_STEP = {TransferStatus.REQUESTED: "review", TransferStatus.APPROVED: "transfer_out",
              TransferStatus.TRANSFERRED_OUT: "transfer_in"}


def progress(conn: Connection, row, today: date) -> TransferProgress:
    status = TransferStatus(row["status"])
    return TransferProgress(
        id=row["id"], status=status.value, status_label=status.label, from_region=row["from_region"],
        from_region_name=_name(row["from_region"]), to_region=row["to_region"], to_region_name=_name(row["to_region"]),
        requested_on=row["requested_on"], steps=tuple(_step(row, status, each, today) for each in _STEPS),
        balance=_balance(conn, row, status), note=row["note"],
    )


def _step(row, status: TransferStatus, spec, today: date) -> StepProgress:
    step, label, done_field, due_field = spec
    done_on, due_on = row[done_field], row[due_field]
    if status is TransferStatus.REJECTED:
        state = "refused" if step == "review" else "waiting"
    elif done_on is not None:
        state = "done"
    else:
        state = "open" if _OPEN_STEP.get(status) == step else "waiting"
    if step == "review" and status is TransferStatus.REJECTED:
        done_on = row["reviewed_on"]
    late_on = done_on if done_on is not None else today
    overdue = due_on is not None and state in ("open", "done") and late_on > due_on
    return StepProgress(
        step, label, due_on, done_on, state, overdue,
        working_days_between(due_on, late_on) if overdue else 0,
        due_on is not None and is_provisional(due_on),
    )


def _balance(conn: Connection, row, status: TransferStatus) -> BalancePlace:
    if status is TransferStatus.TRANSFERRED_OUT:
        return BalancePlace("clearing", "转移途中（清算账户）", row["amount_fen"])
    if status is TransferStatus.COMPLETED and row["balance_accepted"]:
        return BalancePlace("new_account", f"{_name(row['to_region'])}新个人账户", row["amount_fen"])
    if status is TransferStatus.COMPLETED:
        return BalancePlace("withdrawal", "新参保地不接收余额：留在清算账户，可申请提取", row["amount_fen"])
    balance = conn.execute(select(accounts.c.balance_fen).where(accounts.c.id == row["from_account_id"])).scalar_one()
    return BalancePlace("old_account", f"{_name(row['from_region'])}原个人账户", balance)


def _name(code: str) -> str:
    return regions().get(code).name
