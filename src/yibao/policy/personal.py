"""Policy answers from one person's own record, for every channel (API, portal, kiosk,
counter, phone line): the same engine as ``yibao policy``, with region, birth date, status
and contribution years taken from the database instead of typed in. Each answer also says
which of the person's facts it used (``facts``).
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_DOWN, Decimal
from typing import Any

from sqlalchemy import Connection, and_, func, select

from yibao.domain.contribution import next_month
from yibao.domain.money import Money
from yibao.errors import InvalidInput, NotFound
from yibao.ledger.kinds import AccountKind, TxKind
from yibao.policy.loading import load_book
from yibao.policy.service import ask
from yibao.store.models import accounts, contributions, ledger_transactions, persons, postings

CREDIT_KINDS = (TxKind.MONTHLY_CREDIT.value, TxKind.ANNUAL_CREDIT.value)
WITHDRAW_REASONS = "death|abandon|remote|refused|illness|emigration"


def credit_answer(conn: Connection, person_id: int, *, month: date, today: date) -> dict[str, Any]:
    """The credit the rules give the person for ``month``, and what the ledger actually received."""
    first_day = month.replace(day=1)
    person = person_record(conn, person_id)
    base_fen = _contribution_base(conn, person_id, first_day)
    credited_fen = credited_in_month(conn, person_id, first_day)
    raw = {
        "region": person.region_code, "birth": person.birth_date.isoformat(), "on": first_day.isoformat(),
        "insurance": person.insurance_type, "status": status_of(person),
        "base": Money(base_fen).yuan_str() if base_fen is not None else None,
        "flexible": "true" if person.employment == "flexible" else None,
    }
    answer = ask(load_book(), "credit", raw, today)
    answer["month"] = first_day.isoformat()[:7]
    answer["credited_fen"] = credited_fen
    answer["facts"] = {"region_code": person.region_code, "status": status_of(person), "contribution_base_fen": base_fen}
    return answer


def lifetime_answer(conn: Connection, person_id: int, *, today: date, retire_on: date | None = None) -> dict[str, Any]:
    """Years paid against the years the region requires for lifetime coverage."""
    person = person_record(conn, person_id)
    years = contribution_years(conn, person_id)
    retirement = person.retired_on or retire_on
    if retirement is None:
        raise InvalidInput("您尚未退休，请填写预计退休日期", field="retire_on", code="retire_on_required")
    raw = {
        "region": person.region_code, "sex": person.sex, "cumulative_years": years["cumulative_years"],
        "actual_years": years["actual_years"], "retire_on": retirement.isoformat(),
        "enrolled_on": person.enrolled_on.isoformat(),
        "flexible": "true" if person.employment == "flexible" else None, "insurance": person.insurance_type,
        "on": today.isoformat(),
    }
    answer = ask(load_book(), "lifetime", raw, today)
    answer["facts"] = {**years, "retire_on": retirement.isoformat(), "retired": person.retired_on is not None}
    return answer


def withdraw_answer(conn: Connection, person_id: int, *, reason: str, today: date) -> dict[str, Any]:
    person = person_record(conn, person_id)
    return ask(load_book(), "withdraw", {"region": person.region_code, "reason": reason, "on": today.isoformat()}, today)


def continuity_answer(conn: Connection, person_id: int, *, today: date) -> dict[str, Any]:
    person = person_record(conn, person_id)
    months = paid_months(conn, person_id, person.insurance_type)
    raw = {
        "region": person.region_code, "paid": ",".join(month.isoformat()[:7] for month in months),
        "on": today.isoformat(), "status": status_of(person),
    }
    answer = ask(load_book(), "continuity", raw, today)
    answer["facts"] = {"months_paid": len(months), "status": status_of(person)}
    return answer


def contribution_years(conn: Connection, person_id: int) -> dict[str, Any]:
    """Actual years (employee-insurance months on record) and cumulative years (plus deemed months).

    Only employee-insurance months count: residents' insurance has no lifetime-coverage rule.
    """
    person = person_record(conn, person_id)
    months = len(paid_months(conn, person_id, "employee"))
    return {
        "paid_months": months, "deemed_months": person.deemed_months,
        "actual_years": years_text(months), "cumulative_years": years_text(months + person.deemed_months),
    }


def years_text(months: int) -> str:
    """Months as years with two decimals, rounded down: never claim more than was paid."""
    return str((Decimal(months) / 12).quantize(Decimal("0.01"), rounding=ROUND_DOWN))


def person_record(conn: Connection, person_id: int):
    person = conn.execute(select(persons).where(persons.c.id == person_id)).one_or_none()
    if person is None:
        raise NotFound("未找到参保人", field="person_id", code="person_not_found")
    return person


def status_of(person) -> str:
    return "retired" if person.employment == "retired" else "working"


def paid_months(conn: Connection, person_id: int, insurance_type: str) -> list[date]:
    return list(conn.execute(
        select(contributions.c.month).distinct()
        .where(contributions.c.person_id == person_id, contributions.c.insurance_type == insurance_type)
        .order_by(contributions.c.month)
    ).scalars())


def _contribution_base(conn: Connection, person_id: int, month: date) -> int | None:
    return conn.execute(
        select(contributions.c.base_fen).where(contributions.c.person_id == person_id, contributions.c.month == month)
    ).scalar_one_or_none()


def credited_in_month(conn: Connection, person_id: int, month: date) -> int:
    """What the person's personal accounts received from credit runs in ``month``."""
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
