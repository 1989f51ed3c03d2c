"""Question 7: how long does moving my account to another region take (医保关系转移接续)?

The old region transfers out within ``transfer.out_working_days`` of accepting the application,
the new region transfers in within ``transfer.in_working_days`` of receiving it; the balance
moves with the person. Given the day the application was accepted, both deadlines are counted
in working days (weekends and public holidays skipped, ``yibao.workdays``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from yibao.domain.regions import Region
from yibao.policy.answers import envelope
from yibao.policy.inputs import FieldParser, parse_date, region_parser
from yibao.policy.parameters import Confidence, PolicyBook, weakest
from yibao.workdays import add_working_days

OUT, IN = "transfer.out_working_days", "transfer.in_working_days"


@dataclass(frozen=True)
class TransferRequest:
    region: Region  # where the person is insured now (transfers out)
    to_region: Region | None  # where they move (transfers in); the same rules when not given
    on: date
    applied_on: date | None  # the day the old region accepted the application


def parse_transfer_request(raw: dict[str, Any], book: PolicyBook, today: date) -> TransferRequest:
    fields = FieldParser(raw)
    region = fields.get("region", region_parser(book.regions))
    to_region = fields.get("to_region", region_parser(book.regions), required=False)
    on = fields.get("on", parse_date, required=False, default=today)
    applied_on = fields.get("applied_on", parse_date, required=False)
    fields.done()
    return TransferRequest(region, to_region, on, applied_on)


def transfer_answer(book: PolicyBook, request: TransferRequest) -> dict[str, Any]:
    out = book.resolve(OUT, request.region, request.applied_on or request.on)
    in_ = book.resolve(IN, request.to_region or request.region, request.applied_on or request.on)
    out_days, in_days = _days(out), _days(in_)
    known = out_days is not None and in_days is not None
    confidence = weakest(out.confidence, in_.confidence) if known else Confidence.UNKNOWN
    if known:
        text = (f"{out.rule_name}：转出地受理后{out_days}个工作日内办结转出；{in_.rule_name}：转入地收到后{in_days}个工作日内"
                f"办结转入，全程约{out_days + in_days}个工作日；个人账户余额随本人转移")
    else:
        text = f"转移办理时限：{(out if out_days is None else in_).missing_text()}"
    answer = envelope(book, "transfer", request.region, out, [out, in_], confidence, text)
    answer |= {
        "to_region": {"code": request.to_region.code, "name": request.to_region.name} if request.to_region else None,
        "out_working_days": out_days, "in_working_days": in_days,
        "total_working_days": out_days + in_days if known else None,
        "applied_on": request.applied_on.isoformat() if request.applied_on else None,
        "out_by": None, "in_by": None,
    }
    if known and request.applied_on is not None:
        out_by = add_working_days(request.applied_on, out_days)
        answer |= {"out_by": out_by.isoformat(), "in_by": add_working_days(out_by, in_days).isoformat()}
    return answer


def _days(resolution) -> int | None:
    value = resolution.value
    return value.rule.working_days if value is not None and value.rule is not None else None

