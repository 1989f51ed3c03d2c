"""Policy answers from the signed-in person's own record: the same engine as /api/v1/policy,
with region, birth date, status and contribution years taken from the database instead of
typed in. Each answer also says which of the person's facts it used (``facts``).
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_DOWN, Decimal
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import Connection, and_, func, select

from yibao.clock import CHINA
from yibao.domain.contribution import next_month
from yibao.domain.money import Money
from yibao.errors import InvalidInput, NotFound
from yibao.ledger.kinds import AccountKind, TxKind
from yibao.policy.loading import load_book
from yibao.policy.service import ask
from yibao.security.principal import Principal, Scope
from yibao.store.models import accounts, contributions, ledger_transactions, persons, postings
from yibao.web.api.schemas import error_responses
from yibao.web.deps import PersonData, get_engine, get_security

router = APIRouter(
    prefix="/api/v1/me/policy", tags=["本人 / the signed-in person"], responses=error_responses(401, 403, 422, 429)
)

CREDIT_KINDS = (TxKind.MONTHLY_CREDIT.value, TxKind.ANNUAL_CREDIT.value)
WITHDRAW_REASONS = "death|abandon|remote|refused|illness|emigration"


@router.get("/credit", summary="本人某月个人账户划入：应划金额、依据与实际入账")
def my_credit(
    request: Request,
    principal: Principal = Depends(PersonData(Scope.BALANCE)),
    month: date | None = Query(None, description="该月任一日期，默认本月"),
) -> dict[str, Any]:
    first_day = (month or _today(request)).replace(day=1)
    with get_engine(request).connect() as conn:
        person = _person(conn, principal.person_id)
        base_fen = _contribution_base(conn, principal.person_id, first_day)
        credited_fen = _credited_in_month(conn, principal.person_id, first_day)
    raw = {
        "region": person.region_code, "birth": person.birth_date.isoformat(), "on": first_day.isoformat(),
        "insurance": person.insurance_type, "status": _status(person),
        "base": Money(base_fen).yuan_str() if base_fen is not None else None,
        "flexible": "true" if person.employment == "flexible" else None,
    }
    answer = _ask(request, "credit", raw)
    answer["month"] = first_day.isoformat()[:7]
    answer["credited_fen"] = credited_fen  # what the ledger actually received that month
    answer["facts"] = {"region_code": person.region_code, "status": _status(person), "contribution_base_fen": base_fen}
    return answer


@router.get("/lifetime", summary="本人缴费年限与终身医保")
def my_lifetime(
    request: Request,
    principal: Principal = Depends(PersonData(Scope.CONTRIBUTIONS)),
    retire_on: date | None = Query(None, description="尚未退休时：预计退休日期"),
) -> dict[str, Any]:
    with get_engine(request).connect() as conn:
        person = _person(conn, principal.person_id)
        paid_months = len(_paid_months(conn, principal.person_id, "employee"))
    retirement = person.retired_on or retire_on
    if retirement is None:
        raise InvalidInput("您尚未退休，请填写预计退休日期", field="retire_on", code="retire_on_required")
    actual, cumulative = _years(paid_months), _years(paid_months + person.deemed_months)
    raw = {
        "region": person.region_code, "sex": person.sex, "cumulative_years": cumulative, "actual_years": actual,
        "retire_on": retirement.isoformat(), "enrolled_on": person.enrolled_on.isoformat(),
        "flexible": "true" if person.employment == "flexible" else None, "insurance": person.insurance_type,
        "on": _today(request).isoformat(),
    }
    answer = _ask(request, "lifetime", raw)
    answer["facts"] = {
        "paid_months": paid_months, "deemed_months": person.deemed_months, "actual_years": actual,
        "cumulative_years": cumulative, "retire_on": retirement.isoformat(), "retired": person.retired_on is not None,
    }
    return answer


@router.get("/withdraw", summary="本人个人账户余额能否提取")
def my_withdrawal(
    request: Request,
    principal: Principal = Depends(PersonData(Scope.BALANCE)),
    reason: str = Query(..., description=WITHDRAW_REASONS),
) -> dict[str, Any]:
    with get_engine(request).connect() as conn:
        person = _person(conn, principal.person_id)
    return _ask(request, "withdraw", {"region": person.region_code, "reason": reason, "on": _today(request).isoformat()})


@router.get("/continuity", summary="本人连续缴费情况：是否断缴、待遇是否暂停")
def my_continuity(request: Request, principal: Principal = Depends(PersonData(Scope.CONTRIBUTIONS))) -> dict[str, Any]:
    with get_engine(request).connect() as conn:
        person = _person(conn, principal.person_id)
        months = _paid_months(conn, principal.person_id, person.insurance_type)
    raw = {
        "region": person.region_code, "paid": ",".join(month.isoformat()[:7] for month in months),
        "on": _today(request).isoformat(), "status": _status(person),
    }
    answer = _ask(request, "continuity", raw)
    answer["facts"] = {"months_paid": len(months), "status": _status(person)}
    return answer


def _ask(request: Request, question: str, raw: dict[str, Any]) -> dict[str, Any]:
    return ask(load_book(), question, raw, _today(request))


def _today(request: Request) -> date:
    return get_security(request).now().astimezone(CHINA).date()


def _person(conn: Connection, person_id: int):
    person = conn.execute(select(persons).where(persons.c.id == person_id)).one_or_none()
    if person is None:
        raise NotFound("未找到参保人", field="person_id", code="person_not_found")
    return person


def _status(person) -> str:
    return "retired" if person.employment == "retired" else "working"


def _years(months: int) -> str:
    """Months as years with two decimals, rounded down: never claim more than was paid."""
    return str((Decimal(months) / 12).quantize(Decimal("0.01"), rounding=ROUND_DOWN))


def _paid_months(conn: Connection, person_id: int, insurance_type: str) -> list[date]:
    return list(conn.execute(
        select(contributions.c.month).distinct()
        .where(contributions.c.person_id == person_id, contributions.c.insurance_type == insurance_type)
        .order_by(contributions.c.month)
    ).scalars())


def _contribution_base(conn: Connection, person_id: int, month: date) -> int | None:
    return conn.execute(
        select(contributions.c.base_fen).where(contributions.c.person_id == person_id, contributions.c.month == month)
    ).scalar_one_or_none()


def _credited_in_month(conn: Connection, person_id: int, month: date) -> int:
    total = conn.execute(
        select(func.coalesce(func.sum(postings.c.amount_fen), 0))
        .select_from(postings.join(accounts, accounts.c.id == postings.c.account_id)
                     .join(ledger_transactions, ledger_transactions.c.id == postings.c.transaction_id))
        .where(
            accounts.c.person_id == person_id, accounts.c.kind == AccountKind.PERSONAL.value,
            ledger_transactions.c.kind.in_(CREDIT_KINDS),
            and_(postings.c.business_date >= month, postings.c.business_date < next_month(month)),
        )
    ).scalar_one()
    return int(total)
