"""Flexible employees (灵活就业人员) in employees' insurance: tiers, months payable, resumption.

A flexible employee chooses a contribution tier where the region's data has tiers
(``flexible.tiers``), pays the current month or several months ahead (``flexible.months_ahead``)
and makes up missed months within the arrears window (``continuity.arrears_window``: the same
public fact that arrears paid within it keep coverage continuous, so one figure serves both).
The account credit of a tier comes from the credit engine, never computed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from yibao.domain.contribution import add_months, first_of_month
from yibao.domain.money import Money
from yibao.policy.continuity import ARREARS, RESUMPTION, ask_channel_names, resumption_text
from yibao.policy.credit import CreditRequest, evaluate_credit, ratio_of
from yibao.policy.enrolment import ASK_LOCALLY, merged
from yibao.policy.parameters import Confidence, PolicyBook, Resolution, weakest
from yibao.policy.rules import TierRule

TIERS = "flexible.tiers"
MONTHS_AHEAD = "flexible.months_ahead"


@dataclass(frozen=True)
class Tier:
    key: str
    label: str  # e.g. "60", "60%档"
    base_fen: int  # monthly contribution base
    rate_bp: int  # total rate paid by the person, basis points
    monthly_fen: int  # base × rate, rounded half-up to the fen
    account_fen: int | None  # credited to the personal account per month; None when the credit rule gives no single amount
    rule_id: str | None
    account_rule_id: str | None = None
    account_confidence: str = Confidence.UNKNOWN.value


@dataclass(frozen=True)
class TierChoice:
    tiers: tuple[Tier, ...]  # empty when the region's data has none
    confidence: str
    rule_id: str | None
    sources: tuple[str, ...]
    note: str


def flexible_tiers(book: PolicyBook, region_code: str, on: date) -> TierChoice:
    region = book.regions.get(region_code)
    resolution = book.resolve(TIERS, region, on)
    value = resolution.value
    if value is None or value.rule is None:
        note = value.note if value is not None else f"{resolution.rule_name}：{resolution.missing_text()}"
        return TierChoice((), resolution.confidence.value, value.id if value else None, value.sources if value else (), note)
    priced = [_tier(book, region, on, tier, value.id) for tier in value.rule.tiers]
    sources = merged(value.sources, *(credit_sources for _, credit_sources in priced))
    return TierChoice(tuple(tier for tier, _ in priced), value.confidence.value, value.id, sources, value.note)


def _tier(book: PolicyBook, region, on: date, rule: TierRule, rule_id: str) -> tuple[Tier, tuple[str, ...]]:
    """The tier with its monthly payment and account credit, and the sources of that credit."""
    rate_bp = rule.rate.low_bp
    # The credit engine decides the account part (credit.flexible, else credit.in_service). Such rules
    # bracket on the base; the question's day stands in for the birth date an age bracket would need.
    request = CreditRequest(region, on, on, "employee", "working", base=Money(rule.base_fen), flexible=True)
    credit = evaluate_credit(book, request)
    value = credit.resolution.value
    by_age = value is not None and value.rule is not None and value.rule.bracket_on == "age"
    account = None if by_age else credit.monthly_equivalent_fen
    confidence = credit.confidence if account is not None else Confidence.UNKNOWN
    tier = Tier(rule.key, rule.label, rule.base_fen, rate_bp, ratio_of(rule.base_fen, rate_bp), account, rule_id,
                credit.rule_id, confidence.value)
    return tier, value.sources if value is not None else ()


@dataclass(frozen=True)
class PayableMonths:
    makeup: tuple[date, ...]  # missed months (first days) that may still be made up, oldest first
    ahead: tuple[date, ...]  # the current month and months that may be paid ahead
    makeup_window_months: int | None
    confidence: str
    rule_id: str | None
    sources: tuple[str, ...]
    note: str
    ahead_rule_id: str | None = None


def payable_months(
    book: PolicyBook, region_code: str, today: date, paid: frozenset[date], first_month: date | None
) -> PayableMonths:
    """Months a flexible employee may pay on ``today``: missed ones still inside the arrears window
    (never before ``first_month``, the first month of the enrolment) and the current month onwards."""
    region = book.regions.get(region_code)
    paid_months = {first_of_month(day) for day in paid}
    current = first_of_month(today)
    arrears, ahead = book.resolve(ARREARS, region, today), book.resolve(MONTHS_AHEAD, region, today)
    window = _months(arrears)
    extra = _months(ahead)
    start = first_of_month(first_month) if first_month is not None else current
    makeup = tuple(
        month for month in (add_months(current, -k) for k in range(window or 0, 0, -1))
        if month >= start and month not in paid_months
    )
    upcoming = (add_months(current, k) for k in range(0, (extra or 0) + 1))
    ahead_months = tuple(month for month in upcoming if month >= start and month not in paid_months)
    # Months ahead beyond the current one are listed only when the data gives them: an unknown
    # figure that contributed no month does not weaken the answer.
    used = [arrears, ahead] if extra is not None else [arrears]
    confidence = weakest(*(resolution.confidence for resolution in used))
    sources = merged(*(resolution.value.sources if resolution.value else () for resolution in (arrears, ahead)))
    return PayableMonths(
        makeup, ahead_months, window, confidence.value, arrears.value.id if arrears.value else None, sources,
        _payable_note(arrears, ahead, window, extra), ahead.value.id if ahead.value else None,
    )


def _months(resolution: Resolution) -> int | None:
    value = resolution.value
    return value.rule.months if value is not None and value.rule is not None else None


def _payable_note(arrears: Resolution, ahead: Resolution, window: int | None, extra: int | None) -> str:
    if window is not None:
        first = f"欠缴不超过{window}个月的可以补缴，在规定期限内补缴的一般视为连续参保"
    else:
        first = f"能否补缴欠费资料未说明，{ASK_LOCALLY}"
    if extra is not None:
        second = f"除当月外最多可提前缴纳{extra}个月"
    else:
        second = "可按月缴纳当月费用；能否提前缴纳多个月资料未说明"
    return f"{first}；{second}"


def resumption(book: PolicyBook, region_code: str, on: date) -> dict[str, Any]:
    """When benefits resume after making up arrears; names the channels to ask when the data does not say."""
    region = book.regions.get(region_code)
    resolution = book.resolve(RESUMPTION, region, on)
    value = resolution.value
    months = value.rule.months if value is not None and value.rule is not None else None
    return {
        "text": resumption_text(book, resolution),
        "months": months,
        "confidence": resolution.confidence.value,
        "rule_id": value.id if value is not None else None,
        "sources": value.sources if value is not None else (),
        "channels": ask_channel_names(book, region, on) if months is None else [],
    }
