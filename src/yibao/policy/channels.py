"""Question 5: where can a person check the balance, details and contribution records?

The channels and their steps are data, listed in the order of convenience the data gives
(phone apps first, counters and pharmacy staff last).
"""

from __future__ import annotations

from typing import Any

from yibao.policy.answers import envelope
from yibao.policy.inputs import RegionDay
from yibao.policy.parameters import PolicyBook

CHANNELS = "channels"


def channels_answer(book: PolicyBook, request: RegionDay) -> dict[str, Any]:
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
