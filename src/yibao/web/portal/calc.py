"""Calculators for anyone (no sign-in): monthly credit, lifetime coverage years, withdrawal.

Every answer comes from the policy engine (``yibao.policy.service.ask``, as the API and the
command line) for the region and date chosen, with its rule, confidence and sources. A
signed-in person finds the forms filled in from their own record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Connection, select

from yibao.domain.money import Money
from yibao.errors import InvalidInput, NotFound
from yibao.policy import personal
from yibao.policy.inputs import INSURANCE, SEX, STATUS
from yibao.policy.loading import load_book
from yibao.policy.service import ask
from yibao.policy.withdrawal import REASONS
from yibao.store.models import contributions
from yibao.web.deps import get_engine
from yibao.web.page_tools import today
from yibao.web.portal.pages import (
    PageRoute,
    field_errors,
    optional_person,
    render,
)
from yibao.web.portal.region_picker import region_groups

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@dataclass(frozen=True)
class Calculator:
    question: str
    title: str
    summary: str
    fields: tuple[str, ...]


CALCULATORS = {
    "credit": Calculator(
        "credit", "每月划入计算", "按参保地、年龄和人员状态，算一算个人账户每月划入多少。",
        ("region", "birth", "on", "insurance", "status", "base", "avg_pension", "flexible"),
    ),
    "lifetime": Calculator(
        "lifetime", "终身医保年限计算", "缴费满多少年，退休后才能不再缴费、终身享受医保待遇。",
        ("region", "sex", "cumulative_years", "actual_years", "retire_on", "enrolled_on", "insurance", "flexible", "on"),
    ),
    "withdraw": Calculator(
        "withdraw", "余额提取查询", "哪些情况下个人账户余额可以申请提取，需要什么材料。",
        ("region", "reason", "on"),
    ),
}
CHECKBOXES = {"flexible"}


@router.get("/calc")
def calculators_index(request: Request) -> HTMLResponse:
    principal = optional_person(request)
    return render(request, "portal/calc_index.html", {"calculators": CALCULATORS.values()}, principal=principal)


@router.get("/calc/{question}")
def calculator(request: Request, question: str) -> HTMLResponse:
    calc = CALCULATORS.get(question)
    if calc is None:
        raise NotFound("没有这个计算器", field="question", code="calculator_not_found")
    principal = optional_person(request)
    day = today(request)
    asked = "region" in request.query_params
    if asked:
        values = {name: request.query_params.get(name, "").strip() for name in calc.fields}
    elif principal is not None:
        with get_engine(request).connect() as conn:
            values = _from_record(conn, principal.person_id, day)
    else:
        values = {"on": day.isoformat(), "insurance": "employee", "status": "working", "sex": "M"}
    answer, errors = None, {}
    if asked:
        raw = {name: _raw(name, values.get(name)) for name in calc.fields}
        try:
            answer = ask(load_book(), calc.question, raw, day)
        except InvalidInput as error:
            errors = field_errors(error)
    context = {
        "calc": calc, "calculators": CALCULATORS.values(), "values": values, "answer": answer, "errors": errors,
        "region_groups": region_groups(), "insurance_options": INSURANCE, "status_options": STATUS,
        "sex_options": SEX, "reason_options": REASONS, "prefilled": principal is not None and not asked,
    }
    return render(request, f"portal/calc_{calc.question}.html", context, status_code=422 if errors else 200, principal=principal)


def _raw(name: str, text: str | None) -> str | None:
    if name in CHECKBOXES:
        return "true" if text else None
    return text or None


def _from_record(conn: Connection, person_id: int, day: date) -> dict[str, Any]:
    """The calculator fields from the person's own record (what ``/api/v1/me/policy`` would use)."""
    person = personal.person_record(conn, person_id)
    years = personal.contribution_years(conn, person_id)
    base_fen = conn.execute(
        select(contributions.c.base_fen).where(contributions.c.person_id == person_id)
        .order_by(contributions.c.month.desc()).limit(1)
    ).scalar()
    return {
        "region": person.region_code, "birth": person.birth_date.isoformat(), "on": day.isoformat(),
        "insurance": person.insurance_type, "status": personal.status_of(person), "sex": person.sex,
        "base": Money(base_fen).yuan_str() if base_fen is not None else "",
        "flexible": "true" if person.employment == "flexible" else "",
        "cumulative_years": years["cumulative_years"], "actual_years": years["actual_years"],
        "retire_on": person.retired_on.isoformat() if person.retired_on else "",
        "enrolled_on": person.enrolled_on.isoformat(),
    }
