"""One month's contribution record (缴费记录): base, rates and the parts they give."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from yibao.domain.money import Money
from yibao.errors import InvalidInput

BASIS_POINTS = 10_000
MAX_RATE_BP = 5_000  # no medical-insurance rate comes near 50%; anything above is a typo


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    """The first day of the month ``months`` after ``day``'s (before it when negative)."""
    years, month_index = divmod(day.month - 1 + months, 12)
    return date(day.year + years, month_index + 1, 1)


def next_month(day: date) -> date:
    """The first day of the month after ``day``'s."""
    return add_months(day, 1)


def month_range(first: date, last: date) -> list[date]:
    """The first days of every month from ``first``'s to ``last``'s, both included."""
    months, current = [], first_of_month(first)
    while current <= last:
        months.append(current)
        current = next_month(current)
    return months


def part_of(base: Money, rate_bp: int) -> Money:
    """base × rate, rounded half-up to the fen (the usual rounding of contribution bills)."""
    fen = (Decimal(base.fen) * rate_bp / BASIS_POINTS).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return Money(int(fen))


@dataclass(frozen=True)
class Contribution:
    month: date  # first day of the month paid for
    base: Money
    employer_rate_bp: int
    individual_rate_bp: int
    employer_part: Money
    individual_part: Money
    account_part: Money  # what went to the personal account
    paid_on: date
    employer_name: str | None = None
    flexible: bool = False
    is_makeup: bool = False  # 补缴: paid after its month

    def __post_init__(self) -> None:
        if self.month.day != 1:
            raise InvalidInput("缴费月份须为某月1日", field="month", code="month_not_first_day")
        for field in ("base", "employer_part", "individual_part", "account_part"):
            if getattr(self, field).is_negative:
                raise InvalidInput("金额不能为负", field=field, code="money_negative")
        for field in ("employer_rate_bp", "individual_rate_bp"):
            rate = getattr(self, field)
            if type(rate) is not int or not 0 <= rate <= MAX_RATE_BP:
                raise InvalidInput("费率超出合理范围", field=field, code="rate_out_of_range")
        if self.account_part > self.employer_part + self.individual_part:
            raise InvalidInput("划入个人账户的金额不能超过缴费合计", field="account_part", code="account_part_too_large")

    @classmethod
    def compute(
        cls,
        month: date,
        base: Money,
        *,
        employer_rate_bp: int,
        individual_rate_bp: int,
        paid_on: date,
        employer_name: str | None = None,
        flexible: bool = False,
        is_makeup: bool = False,
    ) -> Contribution:
        """A record whose parts follow from base and rates; the individual part goes to the account."""
        individual = part_of(base, individual_rate_bp)
        return cls(
            month=month,
            base=base,
            employer_rate_bp=employer_rate_bp,
            individual_rate_bp=individual_rate_bp,
            employer_part=part_of(base, employer_rate_bp),
            individual_part=individual,
            account_part=individual,
            paid_on=paid_on,
            employer_name=employer_name,
            flexible=flexible,
            is_makeup=is_makeup,
        )

    def check_not_future(self, today: date) -> None:
        if self.month > first_of_month(today):
            raise InvalidInput("缴费月份不能晚于本月", field="month", code="month_in_future")
        if self.paid_on > today:
            raise InvalidInput("缴费日期不能晚于今天", field="paid_on", code="paid_on_in_future")
