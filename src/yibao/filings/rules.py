"""What the policy data says about filing in one region on one day: the kinds with their
reasons and documents, and whether staff must confirm a filing before it takes effect."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

from yibao.errors import InvalidInput
from yibao.policy.parameters import PolicyBook
from yibao.policy.rules import FilingKind, FilingReason

KINDS = "filing.kinds"
CONFIRMATION = "filing.staff_confirmation"


@dataclass(frozen=True)
class FilingRules:
    kinds: tuple[FilingKind, ...]
    # Where the data says nothing (unknown), staff confirm: an unchecked filing would otherwise
    # open the "long-term residence elsewhere" withdrawal on the person's word alone.
    needs_confirmation: bool
    rule_ids: tuple[str, ...]

    def kind(self, key: str) -> FilingKind:
        found = next((kind for kind in self.kinds if kind.key == key), None)
        if found is None:
            names = "、".join(kind.name for kind in self.kinds)
            raise InvalidInput(f"请选择备案类型：{names}", field="kind", code="filing_kind_unknown")
        return found

    def reason(self, kind: FilingKind, key: str) -> FilingReason:
        found = kind.reason(key)
        if found is None:
            names = "、".join(reason.name for reason in kind.reasons)
            raise InvalidInput(f"{kind.name}的备案原因应为：{names}", field="reason", code="filing_reason_unknown")
        return found


def filing_rules(book: PolicyBook, region_code: str, day: date) -> FilingRules:
    region = book.regions.get(region_code)
    kinds = book.resolve(KINDS, region, day)
    confirmation = book.resolve(CONFIRMATION, region, day)
    if kinds.value is None or kinds.value.rule is None:
        raise InvalidInput("本地区暂无异地就医备案的规定资料，请到经办机构窗口办理", field="kind",
                           code="filing_rules_missing")
    flag = confirmation.value.rule if confirmation.value is not None else None
    used = [resolution.value.id for resolution in (kinds, confirmation) if resolution.value is not None]
    return FilingRules(kinds.value.rule.kinds, flag is None or flag.value, tuple(used))


def kind_name(book: PolicyBook, region_code: str, day: date, key: str) -> str:
    """The kind's name as the data in force names it (the key itself is never shown)."""
    try:
        return filing_rules(book, region_code, day).kind(key).name
    except InvalidInput:
        return "异地就医备案"


def reason_name(book: PolicyBook, region_code: str, day: date, kind: str, key: str) -> str:
    try:
        rules = filing_rules(book, region_code, day)
        return rules.reason(rules.kind(kind), key).name
    except InvalidInput:
        return "其他"


def earliest_end(start: date, months: int) -> date:
    """The first allowed end day of a filing lasting at least ``months`` months from ``start``:
    the day before the same day ``months`` months on (the month's last day when it is shorter)."""
    years, index = divmod(start.month - 1 + months, 12)
    year, month = start.year + years, index + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date(year, month, day) - timedelta(days=1)
