"""Contribution records (缴费记录) one year at a time, month by month: gaps and make-up months marked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from sqlalchemy import select

from yibao.policy import flexible, personal
from yibao.security.principal import Principal
from yibao.web.api import reads, schemas
from yibao.store.models import persons
from yibao.web.deps import get_engine, policy_book
from yibao.web.page_tools import today
from yibao.web.portal.answers import CONTINUITY_STATES, answer_or_missing
from yibao.web.portal.pages import PageRoute, current_person, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

ALL_RECORDS = 10**6  # one person has at most a few hundred months; the page shows one year of them


@dataclass(frozen=True)
class MonthRow:
    month: date
    record: schemas.ContributionItem | None
    state: str  # paid | makeup | gap (a month that should have been paid and was not) | none

    @property
    def label(self) -> str:
        return {"paid": "已缴费", "makeup": "补缴", "gap": "未缴费（断缴）", "none": "无记录"}[self.state]


@router.get("/portal/contributions")
def contributions_page(request: Request, principal: Principal = Depends(current_person), year: str | None = None) -> HTMLResponse:
    day = today(request)
    with get_engine(request).connect() as conn:
        record = reads.contribution_page(conn, principal.person_id, month_from=None, month_to=None, page=1, page_size=ALL_RECORDS)
        continuity = answer_or_missing(lambda: personal.continuity_answer(conn, principal.person_id, today=day))
        person = conn.execute(select(persons.c.employment, persons.c.region_code).where(persons.c.id == principal.person_id)).one()
    years = _years(record.continuity, day)
    shown = int(year) if year and year.isdigit() and int(year) in years else years[-1]
    context = {
        "rows": _rows(shown, record, day, _policy_missing(continuity)), "year": shown, "years": years, "record": record.continuity,
        "continuity": continuity, "continuity_states": CONTINUITY_STATES,
        "paid_in_year": sum(1 for item in record.items if item.month.year == shown),
        "years_text": personal.years_breakdown(record.years.model_dump()) if record.years.paid_months or record.years.deemed_months else None,
        # A flexible employee pays (and makes up) months online: when benefits resume after it, and where.
        "resumption": flexible.resumption(policy_book(request), person.region_code, day) if person.employment == "flexible" else None,
    }
    return render(request, "portal/contributions.html", context, principal=principal)


def _years(continuity: schemas.Continuity, day: date) -> list[int]:
    first = continuity.first_month.year if continuity.first_month else day.year
    return list(range(first, max(day.year, continuity.last_month.year if continuity.last_month else day.year) + 1))


def _policy_missing(continuity: dict) -> set[date]:
    """Months the policy engine counts as unpaid, including those after the last payment."""
    return {date.fromisoformat(f"{month}-01") for month in continuity.get("missing_months", [])}


def _rows(year: int, record: schemas.ContributionPage, day: date, policy_missing: set[date]) -> list[MonthRow]:
    by_month = {item.month: item for item in record.items}
    gaps = set(record.continuity.missing_months) | policy_missing
    rows = []
    for number in range(12, 0, -1):  # newest first, as the records are read
        month = date(year, number, 1)
        if month > day:
            continue
        item = by_month.get(month)
        if item is not None:
            state = "makeup" if item.is_makeup else "paid"
        else:
            state = "gap" if month in gaps else "none"
        rows.append(MonthRow(month, item, state))
    return rows
