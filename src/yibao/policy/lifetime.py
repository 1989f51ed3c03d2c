"""Question 2: do the contribution years give lifetime coverage (终身医保)?

The value in force is picked by the date the region's data names (``keyed_by``): the
retirement date in most regions (Shenzhen's 2023 change), the enrolment date in Guangzhou.
When that date is not given, every candidate value is tried and the answer stands only if
they all agree.

The question is for people who have not retired yet: a retiree with employee insurance
already receives retiree benefits, and that is the answer (``retired``). When the deciding
date falls before the earliest dated rule in the data, the answer says that rule is not in
the data and shows the earliest known one beside it (``earliest_rule``) — never a shortfall.
Every answer carries ``summary``, the one sentence each channel shows or speaks first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from yibao.domain.regions import Region
from yibao.policy.answers import envelope
from yibao.policy.inputs import INSURANCE, SEX, FieldParser, choice, parse_date, parse_flag, parse_years, region_parser
from yibao.policy.parameters import Confidence, DatedValue, KeyedBy, PolicyBook, Resolution
from yibao.policy.rules import LifetimeRule

EMPLOYEE = "lifetime.employee"
RESIDENT = "lifetime.resident"
OPTIONS = "lifetime.options_when_short"
RETIRED_SUMMARY = "已办理退休，享受退休人员医保待遇，无需继续缴费"


@dataclass(frozen=True)
class LifetimeRequest:
    region: Region
    sex: str
    cumulative_years: Decimal
    actual_years: Decimal
    retire_on: date | None
    on: date
    enrolled_on: date | None = None
    flexible: bool = False
    insurance: str = "employee"
    retired: bool = False  # already retired and receiving retiree benefits


def parse_lifetime_request(raw: dict[str, Any], book: PolicyBook, today: date) -> LifetimeRequest:
    fields = FieldParser(raw)
    region = fields.get("region", region_parser(book.regions))
    sex = fields.get("sex", choice(SEX))
    cumulative = fields.get("cumulative_years", parse_years)
    actual = fields.get("actual_years", parse_years)
    retired = fields.get("retired", parse_flag, required=False, default=False)
    retire_on = fields.get("retire_on", parse_date, required=not retired)
    enrolled_on = fields.get("enrolled_on", parse_date, required=False)
    on = fields.get("on", parse_date, required=False, default=today)
    flexible = fields.get("flexible", parse_flag, required=False, default=False)
    insurance = fields.get("insurance", choice(INSURANCE), required=False, default="employee")
    if cumulative is not None and actual is not None and actual > cumulative:
        fields.fail(f"实际缴费年限（{actual}）不能大于累计缴费年限（{cumulative}）", "actual_years", "actual_exceeds_cumulative")
    if enrolled_on and retire_on and enrolled_on > retire_on:
        fields.fail(f"参保日期（{enrolled_on}）晚于退休日期（{retire_on}）", "enrolled_on", "enrolled_after_retirement")
    fields.done()
    return LifetimeRequest(region, sex, cumulative, actual, retire_on, on, enrolled_on, flexible, insurance, retired)


@dataclass(frozen=True)
class Verdict:
    eligible: bool
    required_cumulative: Decimal
    required_actual: Decimal
    missing_cumulative: Decimal
    missing_actual: Decimal


def judge(rule: LifetimeRule, request: LifetimeRequest) -> Verdict:
    need_cumulative = rule.cumulative_for(request.sex)
    need_actual = rule.actual_for(request.flexible)
    missing_cumulative = max(Decimal(0), need_cumulative - request.cumulative_years)
    missing_actual = max(Decimal(0), need_actual - request.actual_years)
    return Verdict(missing_cumulative == missing_actual == 0, need_cumulative, need_actual, missing_cumulative, missing_actual)


def _years(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _verdicts(value: DatedValue, request: LifetimeRequest) -> list[Verdict]:
    rules = [claim.rule for claim in value.claims] if value.claims else [value.rule]
    return [judge(rule, request) for rule in rules]


# ---------------------------------------------------------------------------- answer


def lifetime_answer(book: PolicyBook, request: LifetimeRequest) -> dict[str, Any]:
    if request.insurance == "resident":
        return _resident_answer(book, request)
    if request.retired:
        return _retired_answer(book, request)
    code, history = book.history(EMPLOYEE, request.region)
    keyed_by = history.keyed_by if history else KeyedBy.RETIREMENT_DATE
    deciding = request.enrolled_on if keyed_by is KeyedBy.ENROLMENT_DATE else request.retire_on
    main = book.resolve(EMPLOYEE, request.region, deciding)
    candidates = [main.value] if deciding is not None else [v for v in (history.values if history else ()) if v.confidence is not Confidence.UNKNOWN]
    candidates = [value for value in candidates if value is not None and value.confidence is not Confidence.UNKNOWN]
    verdicts = [verdict for value in candidates for verdict in _verdicts(value, request)]
    eligible = _agreed([v.eligible for v in verdicts])
    missing_cumulative = _agreed([v.missing_cumulative for v in verdicts])
    missing_actual = _agreed([v.missing_actual for v in verdicts])
    confidence = _confidence(main, candidates, eligible)
    options = book.resolve(OPTIONS, request.region, request.on)
    answer = envelope(book, "lifetime", request.region, main, [main, options], confidence, _rule_text(main, candidates, keyed_by, deciding, request))
    answer |= {
        "eligible": eligible,
        "missing_cumulative_years": _years(missing_cumulative),
        "missing_actual_years": _years(missing_actual),
        "required": _required(verdicts),
        "decided_by": {"kind": keyed_by.value, "label": keyed_by.label, "date": deciding.isoformat() if deciding else None},
        "reason": _reason(main, candidates, eligible, keyed_by, deciding),
        # Ways to make up years only for a real shortfall, never for an unknown rule.
        "options": _options(options, candidates) if eligible is False else [],
        "sex": request.sex,
        "flexible": request.flexible,
        "retired": False,
        "earliest_rule": _earliest(main),
    }
    if main.value is not None and main.value.claims:
        answer["claims"] = [
            {"note": claim.note, "sources": list(claim.sources), **_verdict_dict(judge(claim.rule, request))} for claim in main.value.claims
        ]
    answer["summary"] = _summary(answer, main)
    return answer


def _earliest(main: Resolution) -> dict[str, str] | None:
    """The earliest known rule, shown beside an answer whose date precedes every rule in the data."""
    first = main.earliest if main.before_earliest else None
    if first is None or first.rule is None:
        return None
    return {"period": first.period_text(), "text": f"{main.rule_name}（{first.period_text()}）：{_describe(first.rule)}"}


def _summary(answer: dict[str, Any], main: Resolution) -> str:
    if answer["eligible"] is True:
        return "已缴够年限，退休后可终身享受医保待遇"
    if answer["eligible"] is False:
        missing = [f"{label}{years}年" for label, years in (
            ("累计缴费", answer["missing_cumulative_years"]), ("实际缴费", answer["missing_actual_years"])) if years]
        if missing:
            return "尚未缴够年限：还差" + "、".join(missing)
        return "尚未缴够年限（资料说法不一，所差年限见下）" if answer.get("claims") else "尚未缴够年限"
    if main.before_earliest:
        return f"{main.missing_text()}，无法据此判断是否已缴够年限"
    if answer.get("claims"):
        return "资料说法不一，无法确定是否已缴够年限"
    return "无法确定是否已缴够年限"


def _agreed(items: list):
    """The common answer of all candidates, or None when they differ or there are none."""
    return items[0] if items and all(item == items[0] for item in items) else None


def _confidence(main: Resolution, candidates: list[DatedValue], eligible: bool | None) -> Confidence:
    if not candidates:
        return Confidence.UNKNOWN
    if main.value is not None:
        return main.value.confidence
    return Confidence.STATED if eligible is not None and all(v.confidence is Confidence.STATED for v in candidates) else Confidence.UNKNOWN


def _required(verdicts: list[Verdict]) -> dict[str, Any] | None:
    if not verdicts or len({(v.required_cumulative, v.required_actual) for v in verdicts}) != 1:
        return None
    return {"cumulative_years": _years(verdicts[0].required_cumulative), "actual_years": _years(verdicts[0].required_actual)}


def _verdict_dict(verdict: Verdict) -> dict[str, Any]:
    return {
        "eligible": verdict.eligible,
        "required_cumulative_years": _years(verdict.required_cumulative),
        "required_actual_years": _years(verdict.required_actual),
        "missing_cumulative_years": _years(verdict.missing_cumulative),
        "missing_actual_years": _years(verdict.missing_actual),
    }


def _describe(rule: LifetimeRule) -> str:
    if rule.cumulative_male == rule.cumulative_female:
        text = f"累计缴费满{_years(rule.cumulative_male)}年"
    else:
        text = f"累计缴费男满{_years(rule.cumulative_male)}年、女满{_years(rule.cumulative_female)}年"
    if rule.actual:
        text += f"，实际缴费满{_years(rule.actual)}年"
    if rule.flexible_actual is not None:
        text += f"，灵活就业人员实际缴费满{_years(rule.flexible_actual)}年"
    if rule.make_up_to is not None:
        text += f"，不足的可一次性补缴至{_years(rule.make_up_to)}年"
    return text


def _rule_text(main: Resolution, candidates: list[DatedValue], keyed_by: KeyedBy, deciding: date | None, request) -> str:
    where = main.rule_name
    if main.value is not None and main.value.rule is not None:
        text = f"{where}（{main.value.period_text()}）：{_describe(main.value.rule)}"
    elif main.value is not None and main.value.claims:
        text = f"{where}：说法矛盾——" + "；".join(f"{_describe(c.rule)}" for c in main.value.claims)
    elif deciding is None and candidates:
        text = f"{where}：按{keyed_by.label}区分的规定——" + "；".join(f"{v.period_text()}：{_describe(v.rule)}" for v in candidates)
    else:
        return f"{where}：{main.missing_text()}"
    if deciding is not None and main.history is not None and len(main.history.values) > 1:
        text += f"。按{keyed_by.label}（{deciding.isoformat()}）确定适用的规定"
    return text


def _reason(main: Resolution, candidates, eligible, keyed_by: KeyedBy, deciding: date | None) -> str | None:
    if not candidates:
        return main.missing_text() if main.value is None else main.value.note
    if eligible is None and deciding is None:
        return f"需要{keyed_by.label}才能确定适用哪项规定"
    if eligible is None:
        return "资料说法矛盾，两种说法结论不同"
    return None


def _options(options: Resolution, candidates: list[DatedValue]) -> list[dict[str, str]]:
    if options.value is None or options.value.rule is None:
        return []
    make_up = next((v.rule.make_up_to for v in candidates if v.rule is not None and v.rule.make_up_to is not None), None)
    result = []
    for option in options.value.rule.options:
        text = option.text
        if option.key == "lump_sum" and make_up is not None:
            text = f"退休时一次性补缴至{_years(make_up)}年"
        result.append({"key": option.key, "text": text})
    return result


def _retired_answer(book: PolicyBook, request: LifetimeRequest) -> dict[str, Any]:
    """A retiree with employee insurance: retirement itself answers the question, no years are judged."""
    main = book.resolve(EMPLOYEE, request.region, request.retire_on or request.on)
    when = f"{request.retire_on.isoformat()}" if request.retire_on else ""
    answer = envelope(book, "lifetime", request.region, main, [], Confidence.STATED, f"参保记录：{when}已办理退休（职工医保）")
    answer |= {
        "inherited": False, "inheritance": None,  # no regional rule was used: the record answers
        "eligible": None, "missing_cumulative_years": None, "missing_actual_years": None, "required": None,
        "decided_by": None, "reason": None, "options": [], "sex": request.sex, "flexible": request.flexible,
        "retired": True, "earliest_rule": None, "summary": RETIRED_SUMMARY,
    }
    return answer


def _resident_answer(book: PolicyBook, request: LifetimeRequest) -> dict[str, Any]:
    main = book.resolve(RESIDENT, request.region, request.on)
    statement = main.value.rule.statement if main.value is not None and main.value.rule else main.missing_text()
    answer = envelope(book, "lifetime", request.region, main, [main], main.confidence, f"{main.rule_name}：{statement}")
    answer |= {
        "eligible": False if main.value is not None else None,
        "missing_cumulative_years": None,
        "missing_actual_years": None,
        "required": None,
        "decided_by": None,
        "reason": statement,
        "options": [],
        "sex": request.sex,
        "flexible": request.flexible,
        "retired": False,
        "earliest_rule": None,
        "summary": statement,
    }
    return answer
