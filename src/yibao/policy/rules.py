"""Typed bodies of parameter values, parsed from the data files.

Money in the files is yuan written as a quoted string (``"157.50"``) so YAML never turns
it into a float; ratios are percent strings (``"2.8%"``, or ``"2%~3%"`` for a range) held
as integer basis points. Each parser raises :class:`BodyError` with a Chinese message
that ``yibao policy check`` shows to the policy officer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from yibao.domain.money import Money
from yibao.errors import InvalidInput

BASIS_POINTS = 10_000  # 100% in basis points
PERIOD_MONTHS = {"month": 1, "year": 12}


class BodyError(ValueError):
    """A value body that does not follow the schema of its parameter."""


# ---------------------------------------------------------------------------- atoms


@dataclass(frozen=True, order=True)
class Ratio:
    """A ratio in basis points; ``low == high`` unless the source gives only a range."""

    low_bp: int
    high_bp: int

    @property
    def is_range(self) -> bool:
        return self.low_bp != self.high_bp

    def text(self) -> str:
        low, high = _percent_text(self.low_bp), _percent_text(self.high_bp)
        return f"{low}%" if not self.is_range else f"{low}%—{high}%"


_RATIO = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*(?:[~～\-—至]\s*([0-9]+(?:\.[0-9]+)?)\s*%)?\s*$")


def parse_ratio(text: object, most_bp: int = BASIS_POINTS) -> Ratio:
    """A percent or a range of percents; ``most_bp`` is the largest allowed (100% unless a share of a base)."""
    match = _RATIO.match(text) if isinstance(text, str) else None
    if match is None:
        raise BodyError(f"比例应写成带引号的百分数，如 \"2.8%\" 或 \"2%~3%\"，而不是 {text!r}")
    low = _basis_points(match[1])
    high = _basis_points(match[2]) if match[2] else low
    if high < low or high > most_bp:
        raise BodyError(f"比例范围不正确：{text}")
    return Ratio(low, high)


def _basis_points(percent: str) -> int:
    scaled = Decimal(percent) * 100
    if scaled != scaled.to_integral_value():
        raise BodyError(f"比例最多精确到0.01%：{percent}%")
    return int(scaled)


def _percent_text(bp: int) -> str:
    return format(Decimal(bp) / 100, "f").rstrip("0").rstrip(".") if bp % 100 else str(bp // 100)


def parse_amount(text: object, what: str = "金额") -> int:
    """Yuan in a data file → fen. Quoted strings or whole numbers; never a YAML float."""
    if isinstance(text, bool) or isinstance(text, float):
        raise BodyError(f"{what}请写成带引号的字符串，如 \"157.50\"，避免被读成浮点数：{text!r}")
    if isinstance(text, int):
        text = str(text)
    if not isinstance(text, str):
        raise BodyError(f"{what}格式不正确：{text!r}")
    try:
        return Money.parse(text, field="amount").fen
    except InvalidInput as error:
        raise BodyError(f"{what}{text!r}：{error.message}") from None


def parse_years(value: object, what: str = "年限") -> Decimal:
    if isinstance(value, bool) or isinstance(value, float) or not isinstance(value, int | str):
        raise BodyError(f"{what}应为整数或带引号的小数：{value!r}")
    try:
        years = Decimal(str(value))
    except InvalidOperation:
        raise BodyError(f"{what}格式不正确：{value!r}") from None
    if not years.is_finite() or years < 0 or years > 80:
        raise BodyError(f"{what}应在0到80年之间：{value!r}")
    return years


def _whole_number(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BodyError(f"{what}应为非负整数：{value!r}")
    return value


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BodyError(f"{what}应为非空文字")
    return value.strip()


def _texts(value: object, what: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise BodyError(f"{what}应为列表")
    return tuple(_text(item, what) for item in value)


def _only_keys(body: Mapping[str, Any], allowed: set[str], required: set[str] = frozenset()) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BodyError(f"不认识的字段：{'、'.join(unknown)}（可用：{'、'.join(sorted(allowed))}）")
    missing = sorted(required - set(body))
    if missing:
        raise BodyError(f"缺少字段：{'、'.join(missing)}")


# ---------------------------------------------------------------------------- credit


@dataclass(frozen=True)
class Bracket:
    """From ``threshold`` (inclusive) up to the next bracket: a fixed amount or a ratio."""

    threshold: int  # full years of age, or fen of contribution base
    amount_fen: int | None
    ratio: Ratio | None


@dataclass(frozen=True)
class Approximation:
    amount_fen: int
    sources: tuple[str, ...]
    note: str


@dataclass(frozen=True)
class CreditRule:
    period: str  # "month" | "year"
    bracket_on: str  # "age" | "base"
    basis: str | None  # None | "average_pension" | "contribution_base"
    brackets: tuple[Bracket, ...]
    approximately: Approximation | None = None

    @property
    def months(self) -> int:
        return PERIOD_MONTHS[self.period]

    def bracket_for(self, key: int) -> int:
        """Index of the bracket whose inclusive lower threshold is the highest ≤ key."""
        index = 0
        for position, bracket in enumerate(self.brackets):
            if key >= bracket.threshold:
                index = position
        return index


_BRACKET_KEYS = {"min_age": "age", "min_base": "base"}


def parse_credit(body: Mapping[str, Any]) -> CreditRule:
    _only_keys(body, {"period", "basis", "brackets", "approximately"}, {"period", "brackets"})
    period = body["period"]
    if period not in PERIOD_MONTHS:
        raise BodyError(f"period 应为 month 或 year：{period!r}")
    basis = body.get("basis")
    if basis not in (None, "average_pension", "contribution_base"):
        raise BodyError(f"basis 应为 average_pension 或 contribution_base：{basis!r}")
    raw = body["brackets"]
    if not isinstance(raw, list) or not raw:
        raise BodyError("brackets 应为非空列表")
    bracket_on = {key for item in raw if isinstance(item, Mapping) for key in item if key in _BRACKET_KEYS}
    if len(bracket_on) != 1:
        raise BodyError("每一档须有 min_age 或 min_base，且同一规定只能用其中一种")
    key = bracket_on.pop()
    brackets = tuple(_parse_bracket(item, key) for item in raw)
    if brackets[0].threshold != 0 or any(a.threshold >= b.threshold for a, b in zip(brackets, brackets[1:])):
        raise BodyError("各档下限须从0开始并严格递增")
    if any(b.ratio for b in brackets) and basis is None:
        raise BodyError("按比例划入时须写明 basis（average_pension 或 contribution_base）")
    if basis and not any(b.ratio for b in brackets):
        raise BodyError("写了 basis 但没有按比例的档次")
    approximately = _parse_approximation(body["approximately"]) if "approximately" in body else None
    return CreditRule(period, _BRACKET_KEYS[key], basis, brackets, approximately)


def _parse_bracket(item: object, key: str) -> Bracket:
    if not isinstance(item, Mapping):
        raise BodyError("brackets 的每一项应为映射，如 {min_age: 70, amount: \"110.00\"}")
    _only_keys(item, {key, "amount", "ratio"}, {key})
    if ("amount" in item) == ("ratio" in item):
        raise BodyError("每一档须写 amount 或 ratio 之一")
    threshold = _whole_number(item[key], key) if key == "min_age" else parse_amount(item[key], key)
    if "amount" in item:
        return Bracket(threshold, parse_amount(item["amount"]), None)
    return Bracket(threshold, None, parse_ratio(item["ratio"]))


def _parse_approximation(raw: object) -> Approximation:
    if not isinstance(raw, Mapping):
        raise BodyError("approximately 应为映射")
    _only_keys(raw, {"amount", "sources", "note"}, {"amount", "sources", "note"})
    return Approximation(parse_amount(raw["amount"]), _texts(raw["sources"], "sources"), _text(raw["note"], "note"))


@dataclass(frozen=True)
class AmountRule:
    amount_fen: int


def parse_amount_rule(body: Mapping[str, Any]) -> AmountRule:
    _only_keys(body, {"amount"}, {"amount"})
    return AmountRule(parse_amount(body["amount"]))


# ---------------------------------------------------------------------------- lifetime


@dataclass(frozen=True)
class LifetimeRule:
    cumulative_male: Decimal
    cumulative_female: Decimal
    actual: Decimal = Decimal(0)
    flexible_actual: Decimal | None = None
    make_up_to: Decimal | None = None

    def cumulative_for(self, sex: str) -> Decimal:
        return self.cumulative_male if sex == "M" else self.cumulative_female

    def actual_for(self, flexible: bool) -> Decimal:
        if flexible and self.flexible_actual is not None:
            return max(self.actual, self.flexible_actual)
        return self.actual


def parse_lifetime(body: Mapping[str, Any]) -> LifetimeRule:
    _only_keys(body, {"cumulative", "actual", "flexible_actual", "make_up_to"}, {"cumulative"})
    cumulative = body["cumulative"]
    if isinstance(cumulative, Mapping):
        _only_keys(cumulative, {"male", "female"}, {"male", "female"})
        male, female = parse_years(cumulative["male"]), parse_years(cumulative["female"])
    else:
        male = female = parse_years(cumulative)
    actual = parse_years(body.get("actual", 0))
    if actual > min(male, female):
        raise BodyError("实际缴费年限要求不能高于累计缴费年限要求")
    optional = {key: parse_years(body[key]) if key in body else None for key in ("flexible_actual", "make_up_to")}
    return LifetimeRule(male, female, actual, **optional)


@dataclass(frozen=True)
class Option:
    key: str
    text: str


@dataclass(frozen=True)
class OptionsRule:
    options: tuple[Option, ...]


def parse_options(body: Mapping[str, Any]) -> OptionsRule:
    _only_keys(body, {"options"}, {"options"})
    raw = body["options"]
    if not isinstance(raw, list) or not raw:
        raise BodyError("options 应为非空列表")
    options = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise BodyError("options 的每一项应为 {key, text}")
        _only_keys(item, {"key", "text"}, {"key", "text"})
        options.append(Option(_text(item["key"], "key"), _text(item["text"], "text")))
    return OptionsRule(tuple(options))


@dataclass(frozen=True)
class StatementRule:
    statement: str


def parse_statement(body: Mapping[str, Any]) -> StatementRule:
    _only_keys(body, {"statement"}, {"statement"})
    return StatementRule(_text(body["statement"], "statement"))


# ---------------------------------------------------------------------------- withdrawal


@dataclass(frozen=True)
class WithdrawalRule:
    allowed: bool
    documents: tuple[str, ...] = ()
    conditions: str | None = None
    figures: tuple[tuple[str, int], ...] = ()


def parse_withdrawal(body: Mapping[str, Any]) -> WithdrawalRule:
    _only_keys(body, {"allowed", "documents", "conditions", "figures"}, {"allowed"})
    if not isinstance(body["allowed"], bool):
        raise BodyError("allowed 应为 true 或 false")
    documents = _texts(body.get("documents", []), "documents")
    if body["allowed"] and not documents:
        raise BodyError("允许提取时须列出所需材料 documents")
    conditions = _text(body["conditions"], "conditions") if "conditions" in body else None
    figures = body.get("figures", {})
    if not isinstance(figures, Mapping):
        raise BodyError("figures 应为映射")
    numbers = tuple((str(name), _whole_number(number, str(name))) for name, number in figures.items())
    return WithdrawalRule(body["allowed"], documents, conditions, numbers)


# ---------------------------------------------------------------------------- out-of-area care filing

# The kinds the filing table knows (its check constraint); the data names, dates and fills them.
FILING_KINDS = ("long_term", "temporary")

@dataclass(frozen=True)
class FilingReason:
    key: str
    name: str


@dataclass(frozen=True)
class FilingKind:
    """One kind of out-of-area care filing: valid until cancelled, or for at least some months."""

    key: str
    name: str
    until_cancelled: bool
    minimum_months: int | None
    reasons: tuple[FilingReason, ...]
    documents: tuple[str, ...]

    def reason(self, key: str) -> FilingReason | None:
        return next((reason for reason in self.reasons if reason.key == key), None)


@dataclass(frozen=True)
class FilingKindsRule:
    kinds: tuple[FilingKind, ...]

    def kind(self, key: str) -> FilingKind | None:
        return next((kind for kind in self.kinds if kind.key == key), None)


def parse_filing_kinds(body: Mapping[str, Any]) -> FilingKindsRule:
    _only_keys(body, {"kinds"}, {"kinds"})
    raw = body["kinds"]
    if not isinstance(raw, list) or not raw:
        raise BodyError("kinds 应为非空列表")
    kinds = tuple(_filing_kind(item) for item in raw)
    if len({kind.key for kind in kinds}) != len(kinds):
        raise BodyError("kinds 的 key 有重复")
    return FilingKindsRule(kinds)


def _filing_kind(item: object) -> FilingKind:
    if not isinstance(item, Mapping):
        raise BodyError("kinds 的每一项应为映射")
    _only_keys(item, {"key", "name", "until_cancelled", "minimum_months", "reasons", "documents"},
               {"key", "name", "reasons", "documents"})
    until_cancelled = item.get("until_cancelled", False)
    if not isinstance(until_cancelled, bool):
        raise BodyError("until_cancelled 应为 true 或 false")
    months = _whole_number(item["minimum_months"], "minimum_months") if "minimum_months" in item else None
    # Exactly one way of ending: by cancellation, or on an end date at least this many months on.
    if until_cancelled == (months is not None) or months == 0:
        raise BodyError("每种备案须写 until_cancelled: true 或大于0的 minimum_months（二者选一）")
    reasons = item["reasons"]
    if not isinstance(reasons, list) or not reasons:
        raise BodyError("reasons 应为非空列表，每项为 {key, name}")
    parsed = []
    for reason in reasons:
        if not isinstance(reason, Mapping):
            raise BodyError("reasons 的每一项应为 {key, name}")
        _only_keys(reason, {"key", "name"}, {"key", "name"})
        parsed.append(FilingReason(_text(reason["key"], "key"), _text(reason["name"], "name")))
    documents = _texts(item["documents"], "documents")
    if not documents:
        raise BodyError("documents 应列出所需材料")
    key = _text(item["key"], "key")
    if key not in FILING_KINDS:
        raise BodyError(f"备案类型 key 应为 {'、'.join(FILING_KINDS)} 之一：{key}")
    return FilingKind(key, _text(item["name"], "name"), until_cancelled, months,
                      tuple(parsed), documents)


@dataclass(frozen=True)
class FlagRule:
    value: bool


def parse_flag(body: Mapping[str, Any]) -> FlagRule:
    _only_keys(body, {"value"}, {"value"})
    if not isinstance(body["value"], bool):
        raise BodyError("value 应为 true 或 false")
    return FlagRule(body["value"])


# ---------------------------------------------------------------------------- continuity


@dataclass(frozen=True)
class MonthsRule:
    months: int


def parse_months(body: Mapping[str, Any]) -> MonthsRule:
    _only_keys(body, {"months"}, {"months"})
    months = _whole_number(body["months"], "months")
    if months == 0:
        raise BodyError("months 应大于0")
    return MonthsRule(months)


@dataclass(frozen=True)
class MonthOfYearRule:
    """A calendar month (1–12), e.g. the month in which a yearly credit is paid."""

    month: int


def parse_month_of_year(body: Mapping[str, Any]) -> MonthOfYearRule:
    _only_keys(body, {"month"}, {"month"})
    month = _whole_number(body["month"], "month")
    if not 1 <= month <= 12:
        raise BodyError(f"month 应为1到12之间的整数：{month}")
    return MonthOfYearRule(month)


# ---------------------------------------------------------------------------- working-day deadlines


@dataclass(frozen=True)
class WorkingDaysRule:
    """A deadline in working days (工作日), counted by ``yibao.workdays``."""

    working_days: int


def parse_working_days(body: Mapping[str, Any]) -> WorkingDaysRule:
    _only_keys(body, {"working_days"}, {"working_days"})
    days = _whole_number(body["working_days"], "working_days")
    if not 1 <= days <= 250:
        raise BodyError(f"working_days 应为1到250之间的整数：{days}")
    return WorkingDaysRule(days)


# ---------------------------------------------------------------------------- channels


@dataclass(frozen=True)
class Channel:
    key: str
    name: str
    steps: tuple[str, ...]
    shows: tuple[str, ...]
    note: str | None


@dataclass(frozen=True)
class ChannelsRule:
    channels: tuple[Channel, ...]
    warnings: tuple[str, ...]


def parse_channels(body: Mapping[str, Any]) -> ChannelsRule:
    _only_keys(body, {"channels", "warnings"}, {"channels"})
    raw = body["channels"]
    if not isinstance(raw, list) or not raw:
        raise BodyError("channels 应为非空列表")
    channels = tuple(_parse_channel(item) for item in raw)
    keys = [channel.key for channel in channels]
    if len(set(keys)) != len(keys):
        raise BodyError("渠道 key 重复")
    return ChannelsRule(channels, _texts(body.get("warnings", []), "warnings"))


def _parse_channel(item: object) -> Channel:
    if not isinstance(item, Mapping):
        raise BodyError("channels 的每一项应为映射")
    _only_keys(item, {"key", "name", "steps", "shows", "note"}, {"key", "name", "steps"})
    note = _text(item["note"], "note") if "note" in item else None
    steps = _texts(item["steps"], "steps")
    if not steps:
        raise BodyError(f"渠道 {item['key']} 没有步骤")
    return Channel(_text(item["key"], "key"), _text(item["name"], "name"), steps, _texts(item.get("shows", []), "shows"), note)


# ---------------------------------------------------------------------------- family sharing

# Close relatives (近亲属) a holder may share the personal account with, seen from the holder:
# the member is the holder's spouse, parent, child, sibling, grandparent or grandchild.
# Which of them may be bound on a date is policy data (``family.relations``).
FAMILY_RELATIONS = ("spouse", "parent", "child", "sibling", "grandparent", "grandchild")


@dataclass(frozen=True)
class RelationsRule:
    relations: tuple[str, ...]


def parse_relations(body: Mapping[str, Any]) -> RelationsRule:
    _only_keys(body, {"relations"}, {"relations"})
    relations = _texts(body["relations"], "relations")
    unknown = [relation for relation in relations if relation not in FAMILY_RELATIONS]
    if not relations or unknown:
        raise BodyError(f"relations 应为非空列表，取值为 {'、'.join(FAMILY_RELATIONS)}：{'、'.join(unknown)}")
    if len(set(relations)) != len(relations):
        raise BodyError("relations 有重复")
    return RelationsRule(relations)


# ---------------------------------------------------------------------------- residents' enrolment


@dataclass(frozen=True)
class YearDay:
    """A calendar day relative to a funding year: ``year`` is the offset (-1: the year before)."""

    year: int
    month: int
    day: int


@dataclass(frozen=True)
class EnrolmentWindowRule:
    """The enrolment window (集中参保缴费期) of a funding year, as days relative to that year."""

    opens: YearDay
    closes: YearDay


def parse_enrolment_window(body: Mapping[str, Any]) -> EnrolmentWindowRule:
    _only_keys(body, {"opens", "closes"}, {"opens", "closes"})
    opens, closes = _year_day(body["opens"], "opens"), _year_day(body["closes"], "closes")
    if (closes.year, closes.month, closes.day) < (opens.year, opens.month, opens.day):
        raise BodyError("closes 不能早于 opens")
    return EnrolmentWindowRule(opens, closes)


def _year_day(raw: object, what: str) -> YearDay:
    if not isinstance(raw, Mapping):
        raise BodyError(f"{what} 应为映射，如 {{year: -1, month: 9, day: 1}}（year 为相对缴费年度的年数）")
    _only_keys(raw, {"year", "month", "day"}, {"year", "month", "day"})
    year = raw["year"]
    if isinstance(year, bool) or not isinstance(year, int) or not -1 <= year <= 1:
        raise BodyError(f"{what}.year 应为 -1、0 或 1（相对缴费年度）：{year!r}")
    month, day = _whole_number(raw["month"], f"{what}.month"), _whole_number(raw["day"], f"{what}.day")
    try:
        date(2001, month, day)  # a common year: 29 February would not exist every year
    except ValueError:
        raise BodyError(f"{what} 不是每年都有的日期：{month}月{day}日") from None
    return YearDay(year, month, day)


@dataclass(frozen=True)
class WaitingPeriodRule:
    """Waiting period after late or gap enrolment: fixed part + months per gap year, with a floor for long gaps."""

    fixed_months: int
    per_gap_year_months: int
    floor_from_gap_years: int | None = None
    floor_months: int | None = None


def parse_waiting_period(body: Mapping[str, Any]) -> WaitingPeriodRule:
    allowed = {"fixed_months", "per_gap_year_months", "floor_from_gap_years", "floor_months"}
    _only_keys(body, allowed, {"fixed_months", "per_gap_year_months"})
    if ("floor_from_gap_years" in body) != ("floor_months" in body):
        raise BodyError("floor_from_gap_years 和 floor_months 须同时写")
    numbers = {key: _whole_number(body[key], key) for key in allowed if key in body}
    if numbers["fixed_months"] > 24 or numbers["per_gap_year_months"] > 12:
        raise BodyError("等待期月数不合理（固定部分最多24个月，每断缴1年最多12个月）")
    return WaitingPeriodRule(**numbers)


@dataclass(frozen=True)
class SubsidyGroup:
    """A group whose premium is reduced: a fixed amount, a share of the premium, or neither (unknown)."""

    key: str
    label: str
    amount_fen: int | None
    ratio: Ratio | None
    note: str | None


@dataclass(frozen=True)
class SubsidiesRule:
    groups: tuple[SubsidyGroup, ...]


def parse_subsidies(body: Mapping[str, Any]) -> SubsidiesRule:
    _only_keys(body, {"groups"}, {"groups"})
    raw = body["groups"]
    if not isinstance(raw, list) or not raw:
        raise BodyError("groups 应为非空列表")
    groups = tuple(_subsidy_group(item) for item in raw)
    if len({group.key for group in groups}) != len(groups):
        raise BodyError("groups 的 key 重复")
    return SubsidiesRule(groups)


def _subsidy_group(item: object) -> SubsidyGroup:
    if not isinstance(item, Mapping):
        raise BodyError("groups 的每一项应为 {key, label, amount 或 ratio（可不写）, note}")
    _only_keys(item, {"key", "label", "amount", "ratio", "note"}, {"key", "label"})
    if "amount" in item and "ratio" in item:
        raise BodyError(f"资助对象 {item['key']} 只能写 amount 或 ratio 之一")
    amount = parse_amount(item["amount"]) if "amount" in item else None
    ratio = parse_ratio(item["ratio"]) if "ratio" in item else None
    note = _text(item["note"], "note") if "note" in item else None
    return SubsidyGroup(_text(item["key"], "key"), _text(item["label"], "label"), amount, ratio, note)


@dataclass(frozen=True)
class CriticalIllnessRaiseRule:
    """Raises of the critical-illness cap: per continuous year after ``after_years``, per claim-free year."""

    after_years: int
    per_year_fen: int  # "at least" this much per year
    claim_free_fen: int


def parse_critical_illness_raise(body: Mapping[str, Any]) -> CriticalIllnessRaiseRule:
    _only_keys(body, {"after_years", "per_year_at_least", "claim_free_at_least"}, {"after_years", "per_year_at_least", "claim_free_at_least"})
    return CriticalIllnessRaiseRule(
        _whole_number(body["after_years"], "after_years"),
        parse_amount(body["per_year_at_least"], "per_year_at_least"),
        parse_amount(body["claim_free_at_least"], "claim_free_at_least"),
    )


# ---------------------------------------------------------------------------- flexible employees


@dataclass(frozen=True)
class TierRule:
    key: str
    label: str
    base_fen: int
    rate: Ratio


@dataclass(frozen=True)
class FlexibleTiersRule:
    """Contribution tiers a flexible employee chooses from: a base each, a rate (the tier's or the common one)."""

    tiers: tuple[TierRule, ...]
    reference_base_fen: int | None


def parse_flexible_tiers(body: Mapping[str, Any]) -> FlexibleTiersRule:
    _only_keys(body, {"rate", "reference_base", "tiers"}, {"tiers"})
    rate = _exact_ratio(body["rate"], "rate") if "rate" in body else None
    reference = parse_amount(body["reference_base"], "reference_base") if "reference_base" in body else None
    raw = body["tiers"]
    if not isinstance(raw, list) or not raw:
        raise BodyError("tiers 应为非空列表")
    tiers = tuple(_tier(item, rate, reference) for item in raw)
    if len({tier.key for tier in tiers}) != len(tiers):
        raise BodyError("tiers 的 key 重复")
    return FlexibleTiersRule(tiers, reference)


def _tier(item: object, rate: Ratio | None, reference: int | None) -> TierRule:
    if not isinstance(item, Mapping):
        raise BodyError("tiers 的每一项应为 {key, label, base 或 share, rate（可不写）}")
    _only_keys(item, {"key", "label", "base", "share", "rate"}, {"key", "label"})
    if ("base" in item) == ("share" in item):
        raise BodyError(f"档次 {item['key']} 须写 base（缴费基数）或 share（占 reference_base 的比例）之一")
    if "share" in item and reference is None:
        raise BodyError("按 share 定档时须写 reference_base")
    base = parse_amount(item["base"], "base") if "base" in item else _share_of(reference, _exact_ratio(item["share"], "share", MAX_SHARE_BP))
    tier_rate = _exact_ratio(item["rate"], "rate") if "rate" in item else rate
    if tier_rate is None:
        raise BodyError(f"档次 {item['key']} 没有费率：写 rate（全部档次）或在该档写 rate")
    return TierRule(str(item["key"]), _text(item["label"], "label"), base, tier_rate)


# A tier's base may be several times the reference base (e.g. 300%); more than ten times is a typo.
MAX_SHARE_BP = 10 * BASIS_POINTS


def _exact_ratio(raw: object, what: str, most_bp: int = BASIS_POINTS) -> Ratio:
    ratio = parse_ratio(raw, most_bp)
    if ratio.is_range:
        raise BodyError(f"{what} 应为确定的百分数，不能是范围：{raw}")
    return ratio


def _share_of(reference: int, share: Ratio) -> int:
    # Half-up to the fen, as every ratio in the engine (credit.ratio_of).
    return (reference * share.low_bp + BASIS_POINTS // 2) // BASIS_POINTS


# ---------------------------------------------------------------------------- registry

WITHDRAWAL_REASONS = ("death", "abandon", "remote", "refused", "illness", "emigration")

# Every parameter a data file may define, with the parser of its body.
PARSERS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "credit.retiree": parse_credit,
    "credit.in_service": parse_credit,
    "credit.flexible": parse_credit,
    "credit.resident": parse_credit,
    "credit.yearly_month": parse_month_of_year,
    "average_pension": parse_amount_rule,
    "lifetime.employee": parse_lifetime,
    "lifetime.options_when_short": parse_options,
    "lifetime.resident": parse_statement,
    **{f"withdrawal.{reason}": parse_withdrawal for reason in WITHDRAWAL_REASONS},
    "withdrawal.account_after": parse_statement,
    # Out-of-area care filing (异地就医备案): its kinds, and whether staff confirm a filing.
    "filing.kinds": parse_filing_kinds,
    "filing.staff_confirmation": parse_flag,
    "continuity.suspension_gap": parse_months,
    "continuity.arrears_window": parse_months,
    "continuity.waiting_period": parse_months,
    "continuity.resumption": parse_months,
    "channels": parse_channels,
    # Deadlines of the transfer between pooling regions and of emergency refunds.
    "transfer.out_working_days": parse_working_days,
    "transfer.in_working_days": parse_working_days,
    "refund.emergency_working_days": parse_working_days,
    # Limits of emergency refunds per receipt and per person and year (unknown nationally: see transfers.refunds).
    "refund.emergency_max_per_receipt": parse_amount_rule,
    "refund.emergency_max_per_person_year": parse_amount_rule,
    # Family sharing (家庭共济): who may be bound, the residents' premium a holder may pay, the yearly limit.
    "family.relations": parse_relations,
    "family.resident_premium": parse_amount_rule,
    "family.payment_limit": parse_amount_rule,
    # Residents' enrolment (参保缴费期, 待遇等待期, 资助参保, 大病保险限额提高) and flexible employees.
    "resident.enrolment_window": parse_enrolment_window,
    "resident.waiting_period": parse_waiting_period,
    "resident.premium_subsidies": parse_subsidies,
    "resident.critical_illness_raise": parse_critical_illness_raise,
    "flexible.tiers": parse_flexible_tiers,
    "flexible.months_ahead": parse_months,
}
# Parameters whose value may be picked by a date of the person instead of the question's date.
PERSON_DATED = {"lifetime.employee"}
