"""Residents' insurance (城乡居民医保) enrolment: premium, subsidies, window, waiting period, incentives.

Residents pay a yearly premium for a funding year (缴费年度). Every figure is policy data resolved
for the funding year's 1 January; what the data does not give is answered as unknown, never as a
number. From the 2025 funding year, late or gap enrolment carries a waiting period (待遇等待期):
a fixed part plus months per year of gap, with a floor for long gaps (``resident.waiting_period``).
Pure functions over a :class:`PolicyBook`; payment orders and pages build on them.
"""

from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass
from datetime import date
from typing import Any

from yibao.domain.money import Money
from yibao.errors import InvalidInput
from yibao.policy.credit import ratio_of
from yibao.policy.parameters import Confidence, PolicyBook, Resolution, weakest
from yibao.policy.rules import SubsidyGroup, WaitingPeriodRule

PREMIUM = "family.resident_premium"
SUBSIDIES = "resident.premium_subsidies"
WINDOW = "resident.enrolment_window"
WAITING = "resident.waiting_period"
CRITICAL_ILLNESS = "resident.critical_illness_raise"
# Funding years the engine answers for: a sanity bound on input, not a policy figure.
FIRST_YEAR, LAST_YEAR = 1998, 2100
ASK_LOCALLY = "请向当地医保经办机构咨询"


def day_text(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def check_year(year: int, field: str = "year") -> int:
    if isinstance(year, bool) or not isinstance(year, int) or not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidInput(f"缴费年度应为{FIRST_YEAR}到{LAST_YEAR}之间的年份", field=field, code="year_invalid")
    return year


def resolve_for_year(book: PolicyBook, parameter: str, region_code: str, year: int) -> Resolution:
    """The value in force for a funding year: the one in force on its 1 January."""
    return book.resolve(parameter, book.regions.get(region_code), date(check_year(year), 1, 1))


def _missing(resolution: Resolution) -> str:
    return f"{resolution.rule_name}：{resolution.missing_text()}"


def _ids(resolution: Resolution) -> tuple[str | None, tuple[str, ...]]:
    value = resolution.value
    return (value.id, value.sources) if value is not None else (None, ())


# ---------------------------------------------------------------------------- premium and subsidies


@dataclass(frozen=True)
class Figure:
    """One policy figure as an answer uses it."""

    amount_fen: int | None  # None: no source gives it
    confidence: str  # stated | range | conflicting | unknown
    rule_id: str | None  # the DatedValue id, e.g. "national:family.resident_premium@2025-01-01"
    sources: tuple[str, ...]
    note: str  # Chinese, for people

    @property
    def known(self) -> bool:
        return self.amount_fen is not None


def resident_premium(book: PolicyBook, region_code: str, year: int) -> Figure:
    """The individual premium per person for the funding year (个人缴费标准)."""
    resolution = resolve_for_year(book, PREMIUM, region_code, year)
    value = resolution.value
    if value is None:
        return Figure(None, Confidence.UNKNOWN.value, None, (), _missing(resolution))
    amount = value.rule.amount_fen if value.rule is not None else None
    return Figure(amount, value.confidence.value, value.id, value.sources, value.note)


@dataclass(frozen=True)
class Subsidy:
    key: str
    label: str
    figure: Figure  # the reduction per person for the year; unknown until a source gives it


def premium_subsidies(book: PolicyBook, region_code: str, year: int) -> tuple[Subsidy, ...]:
    """Groups whose premium is reduced (特困、低保…), each with the reduction as far as the data gives it."""
    resolution = resolve_for_year(book, SUBSIDIES, region_code, year)
    value = resolution.value
    if value is None or value.rule is None:
        return ()
    premium = resident_premium(book, region_code, year)
    return tuple(_subsidy(group, value, premium) for group in value.rule.groups)


def _subsidy(group: SubsidyGroup, value, premium: Figure) -> Subsidy:
    note = group.note or value.note
    confidence = value.confidence
    if group.amount_fen is not None:
        amount = group.amount_fen
    elif group.ratio is not None and premium.known and not group.ratio.is_range:
        # A share of the premium: only as sure as the premium itself.
        amount = ratio_of(premium.amount_fen, group.ratio.low_bp)
        confidence = weakest(confidence, Confidence(premium.confidence))
        note = f"{note.rstrip('。')}（按个人缴费标准{Money(premium.amount_fen).format()}的{group.ratio.text()}）"
    else:
        amount, confidence = None, Confidence.UNKNOWN
    sources = merged(value.sources, premium.sources) if group.ratio is not None else value.sources
    return Subsidy(group.key, group.label, Figure(amount, confidence.value, value.id, sources, note))


# ---------------------------------------------------------------------------- enrolment window


@dataclass(frozen=True)
class EnrolmentWindow:
    year: int
    opens: date | None
    closes: date | None
    confidence: str
    rule_id: str | None
    sources: tuple[str, ...]
    note: str

    @property
    def known(self) -> bool:
        return self.opens is not None and self.closes is not None

    def state(self, day: date) -> str:
        """"before" | "open" | "closed" | "unknown" on ``day``."""
        if not self.known:
            return "unknown"
        if day < self.opens:
            return "before"
        return "open" if day <= self.closes else "closed"

    def text(self) -> str:
        if not self.known:
            return f"{self.year}年度的集中参保缴费期：{self.note}"
        return f"{self.year}年度集中参保缴费期：{day_text(self.opens)}至{day_text(self.closes)}"


def enrolment_window(book: PolicyBook, region_code: str, year: int) -> EnrolmentWindow:
    resolution = resolve_for_year(book, WINDOW, region_code, year)
    value = resolution.value
    if value is None:
        return EnrolmentWindow(year, None, None, Confidence.UNKNOWN.value, None, (), _missing(resolution))
    rule = value.rule
    if rule is None:
        return EnrolmentWindow(year, None, None, value.confidence.value, value.id, value.sources, value.note)
    opens = date(year + rule.opens.year, rule.opens.month, rule.opens.day)
    closes = date(year + rule.closes.year, rule.closes.month, rule.closes.day)
    return EnrolmentWindow(year, opens, closes, value.confidence.value, value.id, value.sources, value.note)


def sellable_years(book: PolicyBook, region_code: str, day: date) -> tuple[int, ...]:
    """Funding years a person may pay for on ``day``: a year whose window is open, and the current
    year as late enrolment (with a waiting period); only years whose premium the data gives."""
    years = {year for year in (day.year, day.year + 1) if enrolment_window(book, region_code, year).state(day) == "open"}
    years.add(day.year)
    return tuple(sorted(year for year in years if resident_premium(book, region_code, year).known))


# ---------------------------------------------------------------------------- benefit start


def continuous_years(paid_years: frozenset[int], year: int) -> int:
    """Consecutive funding years paid, ending at ``year`` (0 when ``year`` itself is unpaid)."""
    count = 0
    while year - count in paid_years:
        count += 1
    return count


def gap_years(paid_years: frozenset[int], year: int) -> int:
    """Funding years left unpaid right before ``year``; 0 without an earlier paid year (first enrolment)."""
    earlier = [paid for paid in paid_years if paid < year]
    return year - max(earlier) - 1 if earlier else 0


def waiting_months(rule: WaitingPeriodRule, on_time: bool, gaps: int, repaired: int = 0) -> int:
    """Waiting months: none when paid on time without a gap; otherwise the fixed part plus the gap
    years not repaired (修复) by paying for them, never below the floor for long gaps."""
    if on_time and gaps == 0:
        return 0
    months = rule.fixed_months + rule.per_gap_year_months * max(gaps - repaired, 0)
    if rule.floor_from_gap_years is not None and gaps >= rule.floor_from_gap_years:
        months = max(months, rule.floor_months)
    return months


def add_months_to_day(day: date, months: int) -> date:
    """The same day ``months`` later, or the month's last day when it has no such day."""
    years, index = divmod(day.month - 1 + months, 12)
    year, month = day.year + years, index + 1
    return date(year, month, min(day.day, monthrange(year, month)[1]))


@dataclass(frozen=True)
class BenefitStart:
    year: int
    paid_on: date
    on_time: bool  # paid inside the window (or before it closes)
    gap_years: int  # funding years not paid right before `year`
    waiting_months: int | None  # None when the rule is unknown for that year/region
    starts_on: date | None  # first day benefits apply; None when unknown
    confidence: str
    rule_id: str | None
    sources: tuple[str, ...]
    text: str  # Chinese, for people
    window_rule_id: str | None = None
    repaired_years: int = 0


def benefit_start(
    book: PolicyBook, region_code: str, year: int, paid_on: date, paid_years: frozenset[int], repaired_years: int = 0
) -> BenefitStart:
    """When benefits of the funding year ``year`` start for a premium paid on ``paid_on``.

    ``paid_years`` are the funding years paid (``year`` itself may be in it or not);
    ``repaired_years`` are gap years paid afterwards to shorten the variable part (修复).
    """
    window = enrolment_window(book, region_code, year)
    resolution = resolve_for_year(book, WAITING, region_code, year)
    if paid_on > date(year, 12, 31):
        raise InvalidInput(f"缴费日期（{day_text(paid_on)}）晚于{year}年度，不能再缴该年度的保费", field="paid_on", code="paid_after_year")
    on_time = window.closes is not None and paid_on <= window.closes
    gaps = gap_years(paid_years, year)
    repaired = min(max(repaired_years, 0), gaps)
    value = resolution.value
    if value is None or value.rule is None:
        note = value.note if value is not None else resolution.missing_text()
        rule_id, sources = _ids(resolution)
        text = f"{year}年度待遇等待期：{note}；{ASK_LOCALLY}"
        months, starts_on, confidence = None, None, resolution.confidence
    elif gaps == 0 and not window.known:
        # Without a gap, only lateness brings a waiting period, and the window is not in the data.
        rule_id, sources = value.id, merged(value.sources, window.sources)
        text = f"{window.text()}，无法判断是否按时缴费，待遇开始日期{ASK_LOCALLY}"
        months, starts_on, confidence = None, None, weakest(value.confidence, Confidence(window.confidence))
    else:
        rule_id, sources = value.id, merged(value.sources, window.sources)
        months = waiting_months(value.rule, on_time, gaps, repaired)
        year_start = date(year, 1, 1)
        starts_on = year_start if months == 0 else add_months_to_day(max(paid_on, year_start), months)
        # With a gap the waiting period does not depend on the window.
        confidence = value.confidence if gaps else weakest(value.confidence, Confidence(window.confidence))
        text = _start_text(value.rule, _reason(on_time, gaps, window.known), gaps, repaired, months, starts_on)
    return BenefitStart(
        year, paid_on, on_time, gaps, months, starts_on, confidence.value, rule_id, sources, text, window.rule_id, repaired
    )


def merged(*groups: tuple[str, ...]) -> tuple[str, ...]:
    """Source ids of several values, each once, in order of first mention."""
    return tuple(dict.fromkeys(source for group in groups for source in group))


def _reason(on_time: bool, gaps: int, window_known: bool) -> str:
    if gaps and (on_time or not window_known):
        return f"未连续参保（断缴{gaps}年）"
    if gaps:
        return f"未在集中参保缴费期内缴费且未连续参保（断缴{gaps}年）"
    return "未在集中参保缴费期内缴费"


def _start_text(rule: WaitingPeriodRule, reason: str, gaps: int, repaired: int, months: int, starts_on: date) -> str:
    if months == 0:
        return f"按时缴费，{day_text(starts_on)}起享受待遇"
    parts = [f"固定{rule.fixed_months}个月"]
    counted = gaps - repaired
    if counted:
        parts.append(f"断缴{counted}年各{rule.per_gap_year_months}个月")
    if repaired:
        parts.append(f"已缴费修复{repaired}年")
    if months > rule.fixed_months + rule.per_gap_year_months * counted:
        parts.append(f"断缴{rule.floor_from_gap_years}年及以上合计不少于{rule.floor_months}个月")
    return f"{reason}，等待期{months}个月（{'+'.join(parts)}），{day_text(starts_on)}起享受待遇"


# ---------------------------------------------------------------------------- incentives


def critical_illness_raise(book: PolicyBook, region_code: str, on: date, continuous: int) -> dict[str, Any]:
    """How the critical-illness cap (大病保险最高支付限额) rises for ``continuous`` paid years."""
    resolution = book.resolve(CRITICAL_ILLNESS, book.regions.get(region_code), on)
    value = resolution.value
    rule_id, sources = _ids(resolution)
    answer = {"confidence": resolution.confidence.value, "rule_id": rule_id, "sources": sources, "raise_min_fen": None}
    if value is None or value.rule is None:
        note = value.note if value is not None else resolution.missing_text()
        return answer | {"text": f"连续参保激励：{note}；{ASK_LOCALLY}"}
    rule = value.rule
    # The raise accrues from the rule's first year on (自2025年起): earlier continuous years only
    # count towards the years that must come first.
    extra = min(max(continuous - rule.after_years, 0), max(on.year - value.start.year + 1, 0))
    raise_fen = extra * rule.per_year_fen
    if extra:
        head = (f"已连续参保{continuous}年；自{value.start.year}年起满{rule.after_years}年后每再连续参保1年计一次，"
                f"至{on.year}年共{extra}次，大病保险最高支付限额可提高至少{Money(raise_fen).format()}")
    else:
        head = (f"已连续参保{continuous}年；连续参保满{rule.after_years}年后，每再连续参保1年，"
                f"大病保险最高支付限额至少提高{Money(rule.per_year_fen).format()}")
    tail = f"；当年基金零报销的，次年还可至少提高{Money(rule.claim_free_fen).format()}（具体由当地确定）"
    return answer | {"text": head + tail, "raise_min_fen": raise_fen}
