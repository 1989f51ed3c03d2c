"""What a person may pay, and what it would bring, before anything is paid.

Residents: for each funding year on sale (``policy.enrolment.sellable_years``) the premium, the
enrolment window and its deadline, and the day benefits would start if paid today (a waiting
period for late or gap enrolment). Flexible employees: the region's tiers and the months that
may be paid ahead or made up. Every figure carries its confidence and sources; an unknown
figure is said to be unknown and cannot be paid online.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, select

from yibao.collection import orders
from yibao.collection.orders import Order
from yibao.collection.payers import Payable
from yibao.domain.person import InsuranceType
from yibao.policy import enrolment, flexible
from yibao.policy.parameters import PolicyBook
from yibao.store.models import contributions, family_payments, persons


@dataclass(frozen=True)
class PremiumQuote:
    year: int
    premium: enrolment.Figure
    subsidies: tuple[enrolment.Subsidy, ...]
    window: enrolment.EnrolmentWindow
    window_state: str  # before | open | closed | unknown
    benefit: enrolment.BenefitStart  # if paid today
    continuous: int  # continuous funding years counting this one
    critical_illness: dict
    state: str  # paid | paid_by_relative | registered | waiting (an order awaits payment) | unpaid
    order: Order | None  # the year's live order (paid, or waiting for payment)

    @property
    def state_label(self) -> str:
        return {
            "paid": "已缴费", "paid_by_relative": "已由亲属用个人账户代缴", "registered": "已参保（参保登记在册）",
            "waiting": "已下单，待支付", "unpaid": "未缴费",
        }[self.state]

    @property
    def payable(self) -> bool:
        return self.state in ("unpaid", "waiting") and self.premium.amount_fen is not None


def covered_years(conn: Connection, person_id: int, today: date) -> frozenset[int]:
    """Funding years the person is covered for.

    Years paid here (online or from a relative's account), and before the first of those the
    years since enrolment: the person is on the register as insured, and the earlier system's
    payments are not in this platform's records. A gap is only ever one that these records show.
    """
    recorded = orders.posted_years(conn, person_id) | _paid_from_account(conn, person_id)
    enrolled_on = conn.execute(select(persons.c.enrolled_on).where(persons.c.id == person_id)).scalar_one()
    registered_until = min(recorded) if recorded else today.year + 1
    return frozenset(recorded | set(range(enrolled_on.year, registered_until)))


def _paid_from_account(conn: Connection, person_id: int) -> set[int]:
    return set(conn.execute(
        select(family_payments.c.premium_year).where(
            family_payments.c.member_person_id == person_id, family_payments.c.premium_year.is_not(None))
    ).scalars())


def premium_quotes(conn: Connection, book: PolicyBook, person: Payable, today: date) -> list[PremiumQuote]:
    if person.insurance_type != InsuranceType.RESIDENT.value:
        return []
    covered = covered_years(conn, person.person_id, today)
    by_relative = _paid_from_account(conn, person.person_id)
    quotes = []
    for year in enrolment.sellable_years(book, person.region_code, today):
        window = enrolment.enrolment_window(book, person.region_code, year)
        order = orders.live(conn, person.person_id, orders.live_key(orders.PREMIUM, year))
        quotes.append(PremiumQuote(
            year=year,
            premium=enrolment.resident_premium(book, person.region_code, year),
            subsidies=enrolment.premium_subsidies(book, person.region_code, year),
            window=window, window_state=window.state(today),
            benefit=enrolment.benefit_start(book, person.region_code, year, today, covered),
            continuous=enrolment.continuous_years(covered | {year}, year),
            critical_illness=enrolment.critical_illness_raise(
                book, person.region_code, date(year, 1, 1), enrolment.continuous_years(covered | {year}, year)),
            state=_year_state(year, order, covered, by_relative), order=order,
        ))
    return quotes


def _year_state(year: int, order: Order | None, covered: frozenset[int], by_relative: set[int]) -> str:
    if order is not None:
        return "waiting" if order.status is orders.Status.OPEN else "paid"
    if year in by_relative:
        return "paid_by_relative"
    return "registered" if year in covered else "unpaid"


@dataclass(frozen=True)
class FlexibleQuote:
    tiers: flexible.TierChoice
    months: flexible.PayableMonths
    order: Order | None  # an order waiting for payment or being posted
    resumption: dict  # how long after a make-up payment benefits resume

    def tier(self, key: str) -> flexible.Tier | None:
        return next((tier for tier in self.tiers.tiers if tier.key == key), None)


def flexible_quote(conn: Connection, book: PolicyBook, person: Payable, today: date) -> FlexibleQuote | None:
    """A flexible employee's choices (only for themselves: nobody else pays their months here)."""
    if person.employment != "flexible":
        return None
    paid = frozenset(conn.execute(
        select(contributions.c.month).where(contributions.c.person_id == person.person_id)
    ).scalars())
    enrolled_on = conn.execute(select(persons.c.enrolled_on).where(persons.c.id == person.person_id)).scalar_one()
    first_month = min(paid) if paid else enrolled_on.replace(day=1)
    return FlexibleQuote(
        tiers=flexible.flexible_tiers(book, person.region_code, today),
        months=flexible.payable_months(book, person.region_code, today, paid, first_month),
        order=orders.live(conn, person.person_id, orders.FLEXIBLE),
        resumption=flexible.resumption(book, person.region_code, today),
    )
