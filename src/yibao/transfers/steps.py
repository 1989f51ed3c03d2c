"""Every open step with a deadline, for staff: transfers waiting for a region, refunds waiting
to be paid. A step is overdue when today is past its due date and it is still open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, select

from yibao.security.permissions import StaffScope
from yibao.store.models import accounts, emergency_refunds, region_transfers
from yibao.transfers.refunds import RefundStatus
from yibao.transfers.transfer import TransferStatus
from yibao.workdays import is_provisional, working_days_between

# Which step an open emergency refund waits for.
_REFUND_STEPS = {
    RefundStatus.ENTERED: ("approve", "急诊垫付费用返还审核"),
    RefundStatus.APPROVED_ONCE: ("second_approval", "急诊垫付费用返还复核"),
    RefundStatus.APPROVED: ("refund", "急诊垫付费用返还"),
}
# Which step an open transfer waits for, which region must act, and which dates apply.
_TRANSFER_STEPS = {
    TransferStatus.REQUESTED: ("review", "转出地审核", "from_region", "requested_on", "out_due"),
    TransferStatus.APPROVED: ("transfer_out", "转出", "from_region", "reviewed_on", "out_due"),
    TransferStatus.TRANSFERRED_OUT: ("transfer_in", "转入", "to_region", "out_on", "in_due"),
}


@dataclass(frozen=True)
class OpenStep:
    kind: str  # "transfer" | "emergency_refund"
    id: int
    person_id: int
    step: str
    step_label: str
    region_code: str  # the region that must act
    opened_on: date
    due_on: date
    overdue: bool
    working_days_overdue: int
    due_provisional: bool  # counted without the official holiday calendar of that year


def _step(kind, id_, person_id, step, label, region, opened_on, due_on, today) -> OpenStep:
    overdue = today > due_on
    return OpenStep(kind, id_, person_id, step, label, region, opened_on, due_on, overdue,
                    working_days_between(due_on, today) if overdue else 0, is_provisional(due_on))


def open_steps(conn: Connection, today: date, scope: StaffScope = StaffScope(None), *, overdue_only: bool = False) -> list[OpenStep]:
    """Open steps for the regions of ``scope`` (default: all)."""
    steps = [*_transfer_steps(conn, today, scope), *_refund_steps(conn, today, scope)]
    if overdue_only:
        steps = [step for step in steps if step.overdue]
    return sorted(steps, key=lambda step: (step.due_on, step.kind, step.id))


def _transfer_steps(conn: Connection, today: date, scope: StaffScope):
    rows = conn.execute(
        select(region_transfers).where(region_transfers.c.status.in_([status.value for status in _TRANSFER_STEPS]))
    ).mappings()
    for row in rows:
        step, label, region_field, opened_field, due_field = _TRANSFER_STEPS[TransferStatus(row["status"])]
        if not scope.covers(row[region_field]):
            continue
        yield _step("transfer", row["id"], row["person_id"], step, label, row[region_field],
                    row[opened_field], row[due_field], today)


def _refund_steps(conn: Connection, today: date, scope: StaffScope):
    """Refunds not yet paid: the due date (from entry) covers approvals and payment alike."""
    query = (
        select(emergency_refunds, accounts.c.region_code)
        .join(accounts, accounts.c.id == emergency_refunds.c.account_id)
        .where(emergency_refunds.c.status.in_([status.value for status in _REFUND_STEPS]))
    )
    query = query.where(scope.limit(accounts.c.region_code))
    for row in conn.execute(query).mappings():
        step, label = _REFUND_STEPS[RefundStatus(row["status"])]
        yield _step("emergency_refund", row["id"], row["person_id"], step, label,
                    row["region_code"], row["entered_on"], row["due_on"], today)
