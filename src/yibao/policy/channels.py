"""Question 5: where can a person check the balance, details and contribution records?

The channels and their steps are data, listed in the order of convenience the data gives
(phone apps first, counters and pharmacy staff last).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from yibao.domain.regions import Region
from yibao.policy.answers import envelope
from yibao.policy.inputs import FieldParser, parse_date, region_parser
from yibao.policy.parameters import PolicyBook

CHANNELS = "channels"


@dataclass(frozen=True)
class ChannelsRequest:
    region: Region
    on: date


def parse_channels_request(raw: dict[str, Any], book: PolicyBook, today: date) -> ChannelsRequest:
    fields = FieldParser(raw)
    region = fields.get("region", region_parser(book.regions))
    on = fields.get("on", parse_date, required=False, default=today)
    fields.done()
    return ChannelsRequest(region, on)


def channels_answer(book: PolicyBook, request: ChannelsRequest) -> dict[str, Any]:
    main = book.resolve(CHANNELS, request.region, request.on)
    rule = main.value.rule if main.value is not None else None
    text = f"{main.rule_name}：查询个人账户余额、明细和缴费记录的渠道，按便利程度排列" if rule else f"{main.rule_name}：{main.missing_text()}"
    answer = envelope(book, "channels", request.region, main, [main], main.confidence, text)
    answer |= {
        "channels": [
            {"rank": rank, "key": c.key, "name": c.name, "steps": list(c.steps), "shows": list(c.shows), "note": c.note}
            for rank, c in enumerate(rule.channels if rule else (), start=1)
        ],
        "warnings": list(rule.warnings) if rule else [],
        "hint": None if rule else "请拨打12333或到当地医保经办机构咨询",
    }
    return answer
