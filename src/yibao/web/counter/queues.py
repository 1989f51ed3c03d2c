"""The work waiting for a staff member's regions, counted for the workbench's start page.

Each queue names the permission needed to see it and a function that counts its open and
overdue items within the staff member's regions; the start page shows the queues the role
may open, with links to them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, func, select

from yibao.security.permissions import Permission, StaffScope
from yibao.filings import service as filings
from yibao.store.models import care_filings, death_records, persons, withdrawal_cases
from yibao.transfers import steps
from yibao.withdrawals.cases import CaseStatus, due_on
from yibao.withdrawals.inheritance import DeathStatus
from yibao.withdrawals.settings import get_withdrawal_settings


@dataclass(frozen=True)
class Count:
    open: int
    overdue: int = 0


@dataclass(frozen=True)
class Queue:
    label: str
    url: str
    permission: Permission
    count: Callable[[Connection, StaffScope, date], Count]


def withdrawal_count(statuses: tuple[CaseStatus, ...]) -> Callable[[Connection, StaffScope, date], Count]:
    """Open withdrawal cases of these statuses; overdue: past the agency's review period."""

    def count(conn: Connection, scope: StaffScope, today: date) -> Count:
        rows = conn.execute(
            select(withdrawal_cases.c.status, withdrawal_cases.c.submitted_on).where(
                withdrawal_cases.c.status.in_([status.value for status in statuses]),
                scope.limit(withdrawal_cases.c.region_code),
            )
        ).mappings().all()
        days = get_withdrawal_settings().withdrawal_review_working_days
        due = [due_on(row, days) for row in rows]
        return Count(len(rows), sum(1 for day in due if day is not None and day < today))

    return count


def pending_deaths(conn: Connection, scope: StaffScope, today: date) -> Count:
    total = conn.execute(
        select(func.count()).select_from(death_records.join(persons, persons.c.id == death_records.c.person_id)).where(
            death_records.c.status == DeathStatus.PENDING.value, scope.limit(persons.c.region_code)
        )
    ).scalar_one()
    return Count(total)


def pending_filings(conn: Connection, scope: StaffScope, today: date) -> Count:
    total = conn.execute(
        select(func.count()).select_from(care_filings).where(
            care_filings.c.status == filings.FilingStatus.PENDING.value, scope.limit(care_filings.c.region_code)
        )
    ).scalar_one()
    return Count(total)


def step_count(kind: str) -> Callable[[Connection, StaffScope, date], Count]:
    def count(conn: Connection, scope: StaffScope, today: date) -> Count:
        found = [step for step in steps.open_steps(conn, today, scope) if step.kind == kind]
        return Count(len(found), sum(step.overdue for step in found))

    return count


QUEUES = (
    Queue("待审批的提取申请", "/counter/withdrawals?status=submitted", Permission.WITHDRAWAL_VIEW,
          withdrawal_count((CaseStatus.SUBMITTED,))),
    Queue("待复核的大额提取", "/counter/withdrawals?status=approved_once", Permission.WITHDRAWAL_VIEW,
          withdrawal_count((CaseStatus.APPROVED_ONCE,))),
    Queue("待补充材料的提取申请", "/counter/withdrawals?status=collecting", Permission.WITHDRAWAL_VIEW,
          withdrawal_count((CaseStatus.COLLECTING,))),
    Queue("待复核的死亡登记", "/counter/deaths", Permission.WITHDRAWAL_VIEW, pending_deaths),
    Queue("办理中的转移接续", "/counter/transfers", Permission.TRANSFER_VIEW, step_count("transfer")),
    Queue("办理中的急诊垫付返还", "/counter/refunds", Permission.REFUND_VIEW, step_count("emergency_refund")),
    Queue("待确认的异地就医备案", "/counter/filings", Permission.FILING_VIEW, pending_filings),
)


def counts_for(conn: Connection, scope: StaffScope, today: date, may: Callable[[Permission], bool]) -> list[tuple[Queue, Count]]:
    return [(queue, queue.count(conn, scope, today)) for queue in QUEUES if may(queue.permission)]
