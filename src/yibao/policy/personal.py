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
from yibao.domain.person import mask_name
from yibao.errors import InvalidInput, NotFound
from yibao.ledger.kinds import AccountKind, TxKind
from yibao.policy.loading import load_book
from yibao.policy.service import ask
from yibao.policy.answers import sources_of
from yibao.store.models import (
    accounts,
    contributions,
    family_bindings,
    family_payments,
    ledger_transactions,
    persons,
    postings,
)

CREDIT_KINDS = (TxKind.MONTHLY_CREDIT.value, TxKind.ANNUAL_CREDIT.value)
WITHDRAW_REASONS = "death|abandon|remote|refused|illness|emigration"
RESIDENT_PREMIUM = "family.resident_premium"
FAMILY_RELATIONS = "family.relations"
# What a relative's employee account may pay for a member (家庭共济), in the members' words.
FAMILY_CAN_PAY = "已绑定的家人可用其职工医保个人账户为您支付：在定点医疗机构就医、定点零售药店购药的个人负担费用，以及您的城乡居民医保个人缴费"


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
    if base_fen is None and answer.get("reason") == "base_required":
        # The base comes from the person's own contribution record, not from them: say it has not arrived.
        answer["reason_text"] = f"{first_day.year}年{first_day.month}月的缴费记录还没有到账，到账后按缴费基数计算"
    answer["month"] = first_day.isoformat()[:7]
    answer["credited_fen"] = credited_fen
    answer["facts"] = {"region_code": person.region_code, "status": status_of(person), "contribution_base_fen": base_fen}
    return answer


def lifetime_answer(conn: Connection, person_id: int, *, today: date, retire_on: date | None = None) -> dict[str, Any]:
    """Years paid against the years the region requires for lifetime coverage.

    A retiree with employee insurance is answered by the retirement itself: the question is
    for people who have not retired yet, so only they are asked for a retirement date.
    """
    person = person_record(conn, person_id)
    years = contribution_years(conn, person_id)
    retired = is_employee_retiree(person)
    retirement = person.retired_on or (None if retired else retire_on)
    if retirement is None and not retired:
        raise InvalidInput("您尚未退休，请填写预计退休日期", field="retire_on", code="retire_on_required")
    raw = {
        "region": person.region_code, "sex": person.sex, "cumulative_years": years["cumulative_years"],
        "actual_years": years["actual_years"], "retire_on": retirement.isoformat() if retirement else None,
        "enrolled_on": person.enrolled_on.isoformat(), "retired": "true" if retired else None,
        "flexible": "true" if person.employment == "flexible" else None, "insurance": person.insurance_type,
        "on": today.isoformat(),
    }
    answer = ask(load_book(), "lifetime", raw, today)
    answer["facts"] = {**years, "retire_on": retirement.isoformat() if retirement else None, "retired": retired}
    return answer


def resident_answer(conn: Connection, person_id: int, *, today: date) -> dict[str, Any]:
    """A residents'-insurance member's own page: this year's premium and what family sharing pays.

    Residents have no personal-account credit and no lifetime-years question, so neither is asked.
    """
    person = person_record(conn, person_id)
    book = load_book()
    region = book.regions.get(person.region_code)
    year = today.year
    standard = book.resolve(RESIDENT_PREMIUM, region, date(year, 1, 1))
    sharing = book.resolve(FAMILY_RELATIONS, region, today)
    standard_fen = standard.value.rule.amount_fen if standard.value and standard.value.rule else None
    paid = _family_premium(conn, person_id, year)
    payer = _paying_relative(conn, person_id)
    if paid is not None:
        status = _paid_by_family(year, paid)
    else:
        status = f"本平台暂无您{year}年度居民医保费的缴费记录，请按当地通知缴费"
        if standard_fen is not None:
            status += f"（{standard.rule_name}标准：每人每年{Money(standard_fen).format()}）"
        last_year = _family_premium(conn, person_id, year - 1)
        if last_year is not None:
            status += f"。{_paid_by_family(year - 1, last_year)}"
    return {
        "year": year, "premium_paid": paid is not None, "premium_fen": -paid.amount_fen if paid else None,
        "standard_fen": standard_fen, "status": status,
        "payer": f"家人（{mask_name(payer)}）" if payer else None,
        "sharing": FAMILY_CAN_PAY + "。" + ("" if payer else "您还没有绑定家人，可请家人在其医保账户中发起绑定。"),
        "basis": [value.note for value in (standard.value, sharing.value) if value is not None],
        "sources": sources_of(book, [standard, sharing]),
    }


def _paid_by_family(year: int, paid) -> str:
    return f"{year}年度居民医保费已由家人（{mask_name(paid.name)}）的个人账户代缴{Money(-paid.amount_fen).format()}"


def _family_premium(conn: Connection, person_id: int, year: int):
    """The family payment of the member's premium for ``year``: the holder's name and the posted amount."""
    return conn.execute(
        select(persons.c.name, postings.c.amount_fen)
        .select_from(family_payments.join(persons, persons.c.id == family_payments.c.holder_person_id)
                     .join(postings, and_(postings.c.transaction_id == family_payments.c.transaction_id,
                                          postings.c.account_id == family_payments.c.account_id)))
        .where(family_payments.c.member_person_id == person_id, family_payments.c.premium_year == year)
    ).first()


def _paying_relative(conn: Connection, person_id: int) -> str | None:
    return conn.execute(
        select(persons.c.name)
        .join(family_bindings, family_bindings.c.holder_person_id == persons.c.id)
        .where(family_bindings.c.member_person_id == person_id, family_bindings.c.status == "active")
        .order_by(family_bindings.c.consented_at, family_bindings.c.id)
        .limit(1)
    ).scalar()


PROVISIONAL = "您尚未办理退休，以下按现行规定计算，以退休时的规定为准"


def person_answers(conn: Connection, person_id: int, today: date) -> dict[str, Any]:
    """The person's standing for channels that cannot ask for a retirement date (kiosk, phone line).

    A resident gets the premium and family-sharing answer; an employee the years paid and the
    lifetime answer — before retirement by the rule in force today, marked ``provisional``.
    """
    person = person_record(conn, person_id)
    if person.insurance_type == "resident":
        return {"resident": resident_answer(conn, person_id, today=today)}
    years = contribution_years(conn, person_id)
    waiting = not is_employee_retiree(person) and person.retired_on is None
    return {
        "years": years, "years_text": years_breakdown(years),
        "lifetime": lifetime_answer(conn, person_id, today=today, retire_on=today if waiting else None),
        "provisional": PROVISIONAL if waiting else None,
    }


def is_employee_retiree(person) -> bool:
    """Retired with employee insurance: receives retiree benefits and pays no more."""
    return person.insurance_type == "employee" and status_of(person) == "retired"


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
    """Actual years (employee-insurance months paid) and cumulative years (plus deemed months).

    Months paid are the months on the platform's own record plus those migrated as a total
    from the previous system (``prior_months``); the answer keeps the two apart so that
    screens can say which part comes from where. Only employee-insurance months count:
    residents' insurance has no lifetime-coverage rule.
    """
    person = person_record(conn, person_id)
    recorded = len(paid_months(conn, person_id, "employee"))
    paid = recorded + person.prior_paid_months
    return {
        "paid_months": paid, "recorded_months": recorded, "prior_months": person.prior_paid_months,
        "deemed_months": person.deemed_months,
        "actual_years": years_text(paid), "cumulative_years": years_text(paid + person.deemed_months),
    }


def years_breakdown(years: dict[str, Any]) -> str:
    """Where the years come from, in the words every channel uses."""
    parts = [f"本平台缴费记录{years['recorded_months']}个月"]
    if years["prior_months"]:
        parts.append(f"原系统迁移的缴费{years['prior_months']}个月")
    text = f"实际缴费{years['actual_years']}年（{'、'.join(parts)}）"
    if years["deemed_months"]:
        text += f"，另有视同缴费{years['deemed_months']}个月（原系统迁移）"
    return f"{text}，累计缴费{years['cumulative_years']}年"


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
