"""Question 1: how much goes into the personal account each month (个人账户划入).

Which parameter applies depends on the person (residents' insurance, retiree, in-service,
flexible employee); the amounts, brackets and ratios all come from the data files.
Ratios are basis points; ``basis × bp / 10000`` is rounded half-up to the fen, and a
yearly credit's monthly equivalent is the yearly amount ÷ 12, rounded half-up to the fen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from yibao.domain.money import Money
from yibao.domain.regions import Region
from yibao.policy.answers import envelope
from yibao.policy.inputs import INSURANCE, MAX_AGE, STATUS, FieldParser, choice, full_years, parse_date, parse_flag, parse_money, region_parser
from yibao.policy.parameters import Confidence, PolicyBook, Resolution, weakest
from yibao.policy.rules import BASIS_POINTS, Bracket, CreditRule

RESIDENT = "credit.resident"
RETIREE = "credit.retiree"
IN_SERVICE = "credit.in_service"
FLEXIBLE = "credit.flexible"
AVERAGE_PENSION = "average_pension"
# The calendar month in which a yearly (period: year) credit is paid; unknown unless a source names it.
YEARLY_MONTH = "credit.yearly_month"
PERIOD_LABELS = {"month": "每月", "year": "每年"}


@dataclass(frozen=True)
class CreditRequest:
    region: Region
    birth: date
    on: date
    insurance: str
    status: str
    average_pension: Money | None = None
    base: Money | None = None
    flexible: bool = False


def parse_credit_request(raw: dict[str, Any], book: PolicyBook) -> CreditRequest:
    fields = FieldParser(raw)
    region = fields.get("region", region_parser(book.regions))
    birth = fields.get("birth", parse_date)
    on = fields.get("on", parse_date)
    insurance = fields.get("insurance", choice(INSURANCE))
    status = fields.get("status", choice(STATUS))
    average_pension = fields.get("avg_pension", parse_money, required=False)
    base = fields.get("base", parse_money, required=False)
    flexible = fields.get("flexible", parse_flag, required=False, default=False)
    if birth and on and birth > on:
        fields.fail(f"出生日期（{birth}）晚于查询日期（{on}）", "birth", "birth_after_date")
    elif birth and on and full_years(birth, on) > MAX_AGE:
        fields.fail(f"出生日期（{birth}）不合理：到{on}已超过{MAX_AGE}岁", "birth", "birth_implausible")
    fields.done()
    return CreditRequest(region, birth, on, insurance, status, average_pension, base, flexible)


# ---------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class CreditResult:
    resolution: Resolution
    age: int
    confidence: Confidence
    period: str
    amount_fen: int | None
    amount_min_fen: int | None
    amount_max_fen: int | None
    monthly_equivalent_fen: int | None
    bracket: Bracket | None = None
    basis_fen: int | None = None
    basis_from: str | None = None  # "data" | "caller"
    pension: Resolution | None = None
    reason: str | None = None
    reason_text: str | None = None
    fallback_note: str | None = None
    missing_field: str | None = None  # the request field whose value would give the amount

    @property
    def rule_id(self) -> str | None:
        return self.resolution.value.id if self.resolution.value else None


def ratio_of(basis_fen: int, bp: int) -> int:
    """``basis × bp / 10000`` rounded half-up to the fen (amounts are never negative)."""
    return (basis_fen * bp + BASIS_POINTS // 2) // BASIS_POINTS


def per_month(amount_fen: int, months: int) -> int:
    """A period's amount spread over its months, rounded half-up to the fen."""
    return (2 * amount_fen + months) // (2 * months)


def yearly_credit_month(book: PolicyBook, region: Region, on: date) -> int | None:
    """The month (1–12) in which ``region`` pays its yearly credit, or None when no source names it."""
    value = book.resolve(YEARLY_MONTH, region, on).value
    return value.rule.month if value is not None and value.rule is not None else None


def credit_resolution(book: PolicyBook, request: CreditRequest) -> tuple[Resolution, str | None]:
    """The parameter that applies to this person, and a note when a fallback was taken."""
    if request.insurance == "resident":
        return book.resolve(RESIDENT, request.region, request.on), None
    if request.status == "retired":
        return book.resolve(RETIREE, request.region, request.on), None
    if request.flexible:
        flexible = book.resolve(FLEXIBLE, request.region, request.on)
        if flexible.history is not None:
            return flexible, None
        note = "本地区资料未规定灵活就业人员的缴费档次，按在职职工一般规定计算"
        return book.resolve(IN_SERVICE, request.region, request.on), note
    return book.resolve(IN_SERVICE, request.region, request.on), None


def evaluate_credit(book: PolicyBook, request: CreditRequest) -> CreditResult:
    resolution, fallback = credit_resolution(book, request)
    age = full_years(request.birth, request.on)
    value = resolution.value
    if value is None:
        return _unknown(resolution, age, "no_rule_in_force", resolution.missing_text(), fallback)
    if value.confidence is Confidence.CONFLICTING:
        return _unknown(resolution, age, "conflicting", value.note, fallback, Confidence.CONFLICTING)
    if value.confidence is Confidence.UNKNOWN:
        return _unknown(resolution, age, "unknown_value", value.note, fallback)
    return _apply(book, request, resolution, value.rule, age, fallback)


def _apply(book, request, resolution: Resolution, rule: CreditRule, age: int, fallback: str | None) -> CreditResult:
    base_fen = request.base.fen if request.base is not None else None
    key = age if rule.bracket_on == "age" else base_fen
    if key is None:
        return _unknown(resolution, age, "base_required", "请提供缴费基数", fallback, period=rule.period, field="base")
    bracket = rule.brackets[rule.bracket_for(key)]
    confidence = resolution.confidence
    basis_fen, basis_from, pension = None, None, None
    if bracket.amount_fen is not None:
        low = high = bracket.amount_fen
    else:
        basis_fen, basis_from, pension = _basis(book, request, rule)
        if basis_fen is None:
            by_pension = rule.basis == "average_pension"
            missing = (
                f"资料中没有{request.region.name}在{request.on}的人均养老金，请提供当地人均基本养老金"
                if by_pension
                else "请提供缴费基数"
            )
            code, field = ("average_pension_unknown", "avg_pension") if by_pension else ("base_required", "base")
            return _unknown(
                resolution, age, code, missing, fallback, period=rule.period, bracket=bracket, pension=pension, field=field
            )
        if pension is not None:
            confidence = weakest(confidence, pension.confidence)
        low, high = ratio_of(basis_fen, bracket.ratio.low_bp), ratio_of(basis_fen, bracket.ratio.high_bp)
    amount = low if low == high else None
    return CreditResult(
        resolution, age, confidence, rule.period, amount, low, high,
        per_month(amount, rule.months) if amount is not None else None,
        bracket, basis_fen, basis_from, pension,
        reason=None if amount is not None else "range_only",
        reason_text=None if amount is not None else "资料只给出比例范围，无法给出确切金额",
        fallback_note=fallback,
    )


def _basis(book: PolicyBook, request: CreditRequest, rule: CreditRule) -> tuple[int | None, str | None, Resolution | None]:
    if rule.basis == "contribution_base":
        return (request.base.fen, "caller", None) if request.base is not None else (None, None, None)
    if request.average_pension is not None:
        return request.average_pension.fen, "caller", None
    pension = book.resolve(AVERAGE_PENSION, request.region, request.on)
    if pension.value is None or pension.value.rule is None:
        return None, None, pension
    return pension.value.rule.amount_fen, "data", pension


def _unknown(
    resolution, age, reason, text, fallback, confidence=Confidence.UNKNOWN, period="month", bracket=None, pension=None,
    field=None,
):
    return CreditResult(
        resolution, age, confidence, period, None, None, None, None,
        bracket=bracket, pension=pension, reason=reason, reason_text=text, fallback_note=fallback, missing_field=field,
    )


# ---------------------------------------------------------------------------- answer


def credit_answer(book: PolicyBook, request: CreditRequest) -> dict[str, Any]:
    result = evaluate_credit(book, request)
    value = result.resolution.value
    rule: CreditRule | None = value.rule if value is not None else None
    answer = envelope(
        book, "credit", request.region, result.resolution, [result.resolution, result.pension],
        result.confidence, _rule_text(result, rule),
        extra_sources=rule.approximately.sources if rule is not None and rule.approximately and result.amount_fen is None else (),
    )
    answer |= {
        "insurance": request.insurance,
        "status": request.status,
        "flexible": request.flexible,
        "on": request.on.isoformat(),
        "age": result.age,
        "amount_fen": result.amount_fen,
        "amount_min_fen": result.amount_min_fen,
        "amount_max_fen": result.amount_max_fen,
        "period": result.period,
        "monthly_equivalent_fen": result.monthly_equivalent_fen,
        "amount": Money(result.amount_fen).format() if result.amount_fen is not None else None,
        "basis": _basis_dict(result, rule),
        "approximate_fen": rule.approximately.amount_fen if rule is not None and rule.approximately and result.amount_fen is None else None,
        "reason": result.reason,
        "reason_text": result.reason_text,
        "missing_field": result.missing_field,  # the input that would give an amount (each channel names it)
        "note": value.note if value is not None else None,
        "fallback": result.fallback_note,
    }
    if value is not None and value.claims:
        answer["claims"] = [{"note": claim.note, "sources": list(claim.sources), "rule": describe_rule(claim.rule)} for claim in value.claims]
    return answer


def _basis_dict(result: CreditResult, rule: CreditRule | None) -> dict[str, Any] | None:
    if rule is None or rule.basis is None:
        return None
    return {"kind": rule.basis, "amount_fen": result.basis_fen, "from": result.basis_from}


def describe_rule(rule: CreditRule) -> str:
    unit = "周岁" if rule.bracket_on == "age" else "元缴费基数"
    parts = []
    for index, bracket in enumerate(rule.brackets):
        upper = rule.brackets[index + 1].threshold if index + 1 < len(rule.brackets) else None
        threshold = bracket.threshold if rule.bracket_on == "age" else Money(bracket.threshold).yuan_str()
        if len(rule.brackets) == 1:
            span = ""
        elif upper is None:
            span = f"{threshold}{unit}及以上"
        elif bracket.threshold == 0:
            # "不满" (under), never "以下": in legal Chinese "以下" includes the number itself.
            span = f"不满{upper if rule.bracket_on == 'age' else Money(upper).yuan_str()}{unit}"
        else:
            span = f"{threshold}{unit}起"
        parts.append(f"{span}{PERIOD_LABELS[rule.period]}{_bracket_text(bracket, rule)}")
    return "；".join(parts)


def _bracket_text(bracket: Bracket, rule: CreditRule) -> str:
    if bracket.amount_fen is not None:
        return Money(bracket.amount_fen).format()
    basis = "当地人均基本养老金" if rule.basis == "average_pension" else "缴费基数"
    return f"按{basis}的{bracket.ratio.text()}"


def _rule_text(result: CreditResult, rule: CreditRule | None) -> str:
    where = result.resolution.rule_name
    if rule is None:
        return f"{where}：{result.reason_text}"
    text = f"{where}：{describe_rule(rule)}"
    if result.amount_fen is not None:
        text += f"。本人{result.age}周岁，{PERIOD_LABELS[result.period]}{Money(result.amount_fen).format()}"
        if result.period != "month":
            text += f"（月均{Money(result.monthly_equivalent_fen).format()}，年额÷12四舍五入到分）"
    elif result.amount_min_fen is not None:
        text += f"。约{Money(result.amount_min_fen).format()}至{Money(result.amount_max_fen).format()}"
    if result.basis_from == "caller":
        text += f"（按提供的基数{Money(result.basis_fen).format()}计算，比例结果四舍五入到分）"
    return text
