"""Question 4: is an in-service person still covered after gaps in contributions (断缴)?

Months are counted as missing only once they have ended unpaid; the current month is
never counted against anyone. The number of consecutive missing months that suspends
reimbursement, the arrears window and the longest waiting period are data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from yibao.domain.regions import Region
from yibao.policy.answers import envelope
from yibao.policy.channels import CHANNELS
from yibao.policy.inputs import STATUS, FieldParser, choice, parse_date, parse_months, region_parser
from yibao.policy.parameters import Confidence, PolicyBook, Resolution, weakest

# Channels where a person can ask a question the data does not answer (hotline, counter); their
# names come from the channels data.
ASK_CHANNEL_KEYS = ("hotline", "counter")

GAP = "continuity.suspension_gap"
ARREARS = "continuity.arrears_window"
WAITING = "continuity.waiting_period"
RESUMPTION = "continuity.resumption"


@dataclass(frozen=True)
class ContinuityRequest:
    region: Region
    paid: tuple[date, ...]  # first days of the paid months, sorted
    on: date
    status: str = "working"


def parse_continuity_request(raw: dict[str, Any], book: PolicyBook) -> ContinuityRequest:
    fields = FieldParser(raw)
    region = fields.get("region", region_parser(book.regions))
    status = fields.get("status", choice(STATUS), required=False, default="working")
    # A retiree pays no more: the answer does not depend on the months, which may be none.
    paid = fields.get("paid", parse_months, required=status != "retired", default=())
    on = fields.get("on", parse_date)
    if paid and on and paid[-1] > on.replace(day=1):
        fields.fail(f"已缴费月份 {paid[-1]:%Y-%m} 晚于查询日期（{on}）", "paid", "paid_after_date")
    fields.done()
    return ContinuityRequest(region, paid, on, status)


def month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def month_start(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def _label(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@dataclass(frozen=True)
class Gap:
    first: int  # month index of the first missing month
    length: int


def gaps(paid: tuple[date, ...], current: int) -> list[Gap]:
    """Runs of ended, unpaid months from the first paid month up to the month before ``current``."""
    indexes = sorted({month_index(day) for day in paid})
    runs = [Gap(a + 1, b - a - 1) for a, b in zip(indexes, indexes[1:]) if b - a > 1]
    if current - indexes[-1] > 1:
        runs.append(Gap(indexes[-1] + 1, current - indexes[-1] - 1))
    return runs


def continuity_answer(book: PolicyBook, request: ContinuityRequest) -> dict[str, Any]:
    gap, arrears, waiting, resumption = (book.resolve(p, request.region, request.on) for p in (GAP, ARREARS, WAITING, RESUMPTION))
    current = month_index(request.on)
    runs = gaps(request.paid, current) if request.paid else []
    ongoing = runs[-1] if runs and runs[-1].first + runs[-1].length == current else None
    verdict = _verdict(request, runs, ongoing, current, gap, waiting)
    used = [gap, arrears, waiting, resumption] if request.status == "working" else [gap]
    answer = envelope(book, "continuity", request.region, gap, used, verdict["confidence"], verdict["rule"])
    missing = [_label(run.first + k) for run in runs for k in range(run.length)]
    answer |= {
        "covered": verdict["covered"],
        "state": verdict["state"],
        "since": verdict["since"].isoformat() if verdict["since"] else None,
        "current_gap_months": ongoing.length if ongoing else 0,
        "missing_months": missing,
        "restore": _restore(book, verdict["state"], ongoing, arrears, waiting, resumption),
        "status": request.status,
        "on": request.on.isoformat(),
    }
    return answer


def _verdict(request, runs: list[Gap], ongoing: Gap | None, current: int, gap: Resolution, waiting: Resolution) -> dict[str, Any]:
    if request.status == "retired":
        return _state(None, "not_applicable", None, Confidence.STATED,
                      "断缴规定针对在职人员；退休人员不再按月缴费，缴费年限见终身医保缴费年限")
    if gap.value is None or gap.value.rule is None:
        return _state(None, "unknown", None, Confidence.UNKNOWN, f"{gap.rule_name}：{gap.missing_text()}")
    limit = gap.value.rule.months
    rule = f"{gap.rule_name}：在职人员连续断缴{limit}个月及以上，不能正常报销"
    if ongoing is not None and ongoing.length >= limit:
        since = month_start(ongoing.first + limit)
        return _state(False, "suspended", since, gap.confidence, f"{rule}。自{_label(ongoing.first)}起已连续{ongoing.length}个月未缴费")
    long_gaps = [run for run in runs if run.length >= limit and run is not ongoing]
    resumed = long_gaps[-1].first + long_gaps[-1].length if long_gaps else month_index(request.paid[0])
    if long_gaps:
        wait = waiting.value.rule.months if waiting.value is not None and waiting.value.rule else None
        if wait is None or current < resumed + wait:
            confidence = weakest(gap.confidence, waiting.confidence)
            return _state(None, "waiting", None, confidence,
                          f"{rule}。{_label(long_gaps[-1].first)}起曾断缴{long_gaps[-1].length}个月，{_label(resumed)}恢复缴费；"
                          f"恢复后可能有等待期（最长约{wait or '若干'}个月，各地不同），目前是否已恢复待遇资料未说明")
    if ongoing is not None:
        return _state(True, "arrears", month_start(resumed), gap.confidence,
                      f"{rule}。已连续{ongoing.length}个月未缴费，尚未达到{limit}个月；第{limit}个月结束仍未缴费的，"
                      f"自{month_start(ongoing.first + limit)}起不能正常报销")
    return _state(True, "covered", month_start(resumed), gap.confidence, f"{rule}。目前连续缴费")


def _state(covered, state, since, confidence, rule) -> dict[str, Any]:
    return {"covered": covered, "state": state, "since": since, "confidence": confidence, "rule": rule}


def _restore(
    book: PolicyBook, state: str, ongoing: Gap | None, arrears: Resolution, waiting: Resolution, resumption: Resolution
) -> list[dict[str, Any]]:
    if state in {"covered", "not_applicable", "unknown"}:
        return []
    steps = []
    if arrears.value is not None and arrears.value.rule:
        window = arrears.value.rule.months
        steps.append({
            "key": "pay_arrears",
            "text": f"尽快补缴欠费；欠缴不超过{window}个月并在规定期限内补缴的，一般视为连续参保",
            "confidence": arrears.confidence.value,
        })
    steps.append({"key": "make_up", "text": "按当地规定办理补缴（补缴）并恢复按月缴费", "confidence": Confidence.STATED.value})
    if waiting.value is not None and waiting.value.rule:
        steps.append({
            "key": "waiting_period",
            "text": f"断缴较久的，恢复缴费后可能有最长约{waiting.value.rule.months}个月的等待期，各地不同",
            "confidence": waiting.confidence.value,
        })
    steps.append({
        "key": "resumption",
        "text": resumption_text(book, resumption),
        "confidence": resumption.confidence.value,
    })
    return steps


def resumption_text(book: PolicyBook, resumption: Resolution) -> str:
    """When benefits resume after a make-up payment; when the data has no figure, where to ask."""
    value = resumption.value
    text = "补缴后多久恢复待遇：" + (value.note if value is not None else resumption.missing_text())
    if value is not None and value.rule is not None:
        return text
    channels = ask_channel_names(book, resumption.asked, resumption.day)
    return f"{text.rstrip('。')}；可通过{'、'.join(channels)}咨询" if channels else text


def ask_channel_names(book: PolicyBook, region: Region, on: date | None) -> list[str]:
    """Names of the channels, from the channels data, where a person can ask the local agency."""
    value = book.resolve(CHANNELS, region, on).value
    if value is None or value.rule is None:
        return []
    return [channel.name for channel in value.rule.channels if channel.key in ASK_CHANNEL_KEYS]
