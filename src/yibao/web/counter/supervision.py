"""Supervisors' pages: the team's open and overdue work (工作看板) and the institutions' daily
settlement beside the ledger (机构日结).

The dashboard counts what is open within the supervisor's regions, per clerk and per kind of
case: withdrawal cases, deaths waiting for a second staff member, transfer steps and emergency
refunds (``transfers.steps.open_steps``). Each open item belongs to the staff member who last
prepared or acted on it (``case_participants`` and the cases' ``*_by`` columns), or to nobody
yet (未分配).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from fastapi import Depends, Request, Response
from sqlalchemy import Connection, select

from yibao.errors import InvalidInput
from yibao.payments.settlement import daily_settlement
from yibao.security.institutions import InstitutionKind
from yibao.security.permissions import Permission, StaffScope
from yibao.security.principal import Principal
from yibao.store.models import (
    case_participants,
    death_records,
    emergency_refunds,
    institutions,
    persons,
    region_transfers,
    withdrawal_cases,
)
from yibao.transfers import steps
from yibao.web.api import reads
from yibao.web.counter.workbench import HOME, Requires, page, workbench_router
from yibao.web.counter.workbench import staff_names as workbench_staff_names
from yibao.web.api.withdrawals import withdrawal_settings
from yibao.web.deps import get_engine
from yibao.web.page_tools import today
from yibao.withdrawals import cases
from yibao.withdrawals.cases import CaseStatus
from yibao.withdrawals.inheritance import DeathStatus

router = workbench_router()
UNASSIGNED = "未分配"
# The kinds of open work, in the dashboard's column order.
KINDS = {
    "withdrawal": "提取申请",
    "death": "死亡登记待复核",
    "transfer": "转移接续",
    "refund": "急诊垫付返还",
}
OPEN_CASE_STATUSES = (CaseStatus.COLLECTING, CaseStatus.SUBMITTED, CaseStatus.APPROVED_ONCE)


@dataclass(frozen=True)
class OpenItem:
    kind: str
    clerk_id: int | None
    step: str
    region_code: str
    opened_on: date | None
    due_on: date | None
    overdue: bool
    url: str | None

    @property
    def kind_label(self) -> str:
        return KINDS[self.kind]


# ---------------------------------------------------------------------------- who last acted


def _last_participants(conn: Connection, case_kind: str, case_ids: list) -> dict:
    """Per case, the staff member who last took part (either side)."""
    if not case_ids:
        return {}
    rows = conn.execute(
        select(case_participants.c.case_id, case_participants.c.staff_id, case_participants.c.last_at).where(
            case_participants.c.case_kind == case_kind, case_participants.c.case_id.in_(case_ids)
        ).order_by(case_participants.c.last_at, case_participants.c.id)
    ).all()
    return {row.case_id: row.staff_id for row in rows}  # the latest wins


def _staff_of(created_by: str | None) -> int | None:
    kind, _, number = (created_by or "").partition(":")
    return int(number) if kind == "staff" and number.isdigit() else None


def withdrawal_items(conn: Connection, scope: StaffScope, day: date, review_days: int) -> list[OpenItem]:
    rows = conn.execute(
        select(withdrawal_cases.c.id, withdrawal_cases.c.status, withdrawal_cases.c.region_code,
               withdrawal_cases.c.applied_on, withdrawal_cases.c.submitted_on, withdrawal_cases.c.created_by,
               withdrawal_cases.c.first_approver_id).where(
            withdrawal_cases.c.status.in_([status.value for status in OPEN_CASE_STATUSES]),
            scope.limit(withdrawal_cases.c.region_code),
        ).order_by(withdrawal_cases.c.id)
    ).all()
    last = _last_participants(conn, "withdrawal", [row.id for row in rows])
    items = []
    for row in rows:
        status = CaseStatus(row.status)
        due = cases.due_on(row._mapping, review_days)
        clerk = last.get(row.id) or row.first_approver_id or _staff_of(row.created_by)
        items.append(OpenItem("withdrawal", clerk, status.label, row.region_code, row.submitted_on or row.applied_on, due,
                              due is not None and day > due, f"{HOME}/withdrawals/{row.id}"))
    return items


def death_items(conn: Connection, scope: StaffScope, day: date) -> list[OpenItem]:
    rows = conn.execute(
        select(death_records.c.person_id, death_records.c.recorded_by, death_records.c.recorded_at, persons.c.region_code)
        .join(persons, persons.c.id == death_records.c.person_id)
        .where(death_records.c.status == DeathStatus.PENDING.value, scope.limit(persons.c.region_code))
        .order_by(death_records.c.recorded_at)
    ).all()
    last = _last_participants(conn, "death", [row.person_id for row in rows])
    return [OpenItem("death", last.get(row.person_id) or row.recorded_by, "待第二人复核", row.region_code,
                     None, None, False, None) for row in rows]


def step_items(conn: Connection, scope: StaffScope, day: date) -> list[OpenItem]:
    found = steps.open_steps(conn, day, scope)
    transfer_ids = [step.id for step in found if step.kind == "transfer"]
    refund_ids = [step.id for step in found if step.kind == "emergency_refund"]
    acted = {}
    if transfer_ids:
        for row in conn.execute(select(region_transfers.c.id, region_transfers.c.reviewed_by, region_transfers.c.out_by,
                                       region_transfers.c.in_by).where(region_transfers.c.id.in_(transfer_ids))):
            acted[("transfer", row.id)] = row.in_by or row.out_by or row.reviewed_by
    if refund_ids:
        last = _last_participants(conn, "refund", refund_ids)
        for row in conn.execute(select(emergency_refunds.c.id, emergency_refunds.c.entered_by, emergency_refunds.c.approved_by,
                                       emergency_refunds.c.second_approved_by).where(emergency_refunds.c.id.in_(refund_ids))):
            acted[("emergency_refund", row.id)] = (last.get(row.id) or row.second_approved_by or row.approved_by
                                                   or row.entered_by)
    items = []
    for step in found:
        kind = "transfer" if step.kind == "transfer" else "refund"
        url = f"{HOME}/transfers/{step.id}" if kind == "transfer" else f"{HOME}/refunds/{step.id}"
        items.append(OpenItem(kind, acted.get((step.kind, step.id)), step.step_label, step.region_code, step.opened_on,
                              step.due_on, step.overdue, url))
    return items


def open_items(conn: Connection, scope: StaffScope, day: date, review_days: int) -> list[OpenItem]:
    return [*withdrawal_items(conn, scope, day, review_days), *death_items(conn, scope, day), *step_items(conn, scope, day)]


def staff_names(conn: Connection, ids) -> dict[int, str]:
    """Clerks as the dashboard names them: name and user name (a supervisor knows both)."""
    return workbench_staff_names(conn, ids, lambda row: f"{row.name}（{row.username}）")


@router.get(f"{HOME}/dashboard")
def dashboard(request: Request, principal: Principal = Depends(Requires(Permission.DASHBOARD_VIEW))) -> Response:
    day = today(request)
    review_days = withdrawal_settings(request).withdrawal_review_working_days
    with get_engine(request).connect() as conn:
        items = open_items(conn, principal.scope, day, review_days)
        names = staff_names(conn, (item.clerk_id for item in items))
    table: dict[int | None, dict[str, list[int]]] = defaultdict(lambda: {kind: [0, 0] for kind in KINDS})
    for item in items:
        cell = table[item.clerk_id][item.kind]
        cell[0] += 1
        cell[1] += item.overdue
    rows = sorted(table.items(), key=lambda pair: (pair[0] is None, names.get(pair[0], "")))
    totals = {kind: [sum(cells[kind][0] for _, cells in rows), sum(cells[kind][1] for _, cells in rows)] for kind in KINDS}
    overdue = sorted((item for item in items if item.overdue), key=lambda item: item.due_on)
    context = {
        "day": day, "kinds": KINDS, "rows": [(names.get(clerk, UNASSIGNED), cells) for clerk, cells in rows],
        "totals": totals, "overdue": overdue, "names": names, "unassigned": UNASSIGNED,
        "region_name": lambda code: reads.region_name(code) or "未知地区",
    }
    return page(request, "counter/supervision/dashboard.html", principal, context, nav="dashboard")


# ---------------------------------------------------------------------------- daily settlement


def _day(text: str, default: date) -> date:
    text = (text or "").strip()
    if not text:
        return default
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput("日期格式应为 YYYY-MM-DD，如 2025-06-15", field="day", code="invalid_date") from None
    if not date(2000, 1, 1) <= day <= default:
        raise InvalidInput("请选择2000年1月1日至今天之间的日期", field="day", code="day_out_of_range")
    return day


@router.get(f"{HOME}/settlement")
def settlement(request: Request, day: str = "", principal: Principal = Depends(Requires(Permission.SETTLEMENT_VIEW))) -> Response:
    now = today(request)
    try:
        chosen = _day(day[:20], now)
    except InvalidInput as error:
        context = {"day": day.strip()[:20], "error": error.message, "rows": [], "totals": None, "max_day": now.isoformat()}
        return page(request, "counter/supervision/settlement.html", principal, context, nav="settlement", status_code=422)
    with get_engine(request).connect() as conn:
        found = conn.execute(
            select(institutions.c.id, institutions.c.code, institutions.c.name, institutions.c.kind, institutions.c.region_code)
            .where(institutions.c.designated.is_(True), principal.scope.limit(institutions.c.region_code))
            .order_by(institutions.c.region_code, institutions.c.code)
        ).all()
        rows = [(row, daily_settlement(conn, row.id, chosen)) for row in found]
    totals = {
        "payments_count": sum(each.payments_count for _, each in rows), "paid_fen": sum(each.paid_fen for _, each in rows),
        "refunds_count": sum(each.refunds_count for _, each in rows), "refunded_fen": sum(each.refunded_fen for _, each in rows),
        "net_fen": sum(each.net_fen for _, each in rows), "ledger_net_fen": sum(each.ledger_net_fen for _, each in rows),
        "differ": sum(not each.reconciled for _, each in rows),
    }
    context = {
        "day": chosen.isoformat(), "chosen": chosen, "error": None, "rows": rows, "totals": totals, "max_day": now.isoformat(),
        "kind_label": lambda kind: {InstitutionKind.PHARMACY.value: "药店", InstitutionKind.HOSPITAL.value: "医院"}.get(kind, "其他"),
        "region_name": lambda code: reads.region_name(code) or "未知地区",
    }
    return page(request, "counter/supervision/settlement.html", principal, context, nav="settlement")
