"""The month a run is for: ``YYYY-MM`` outside, its first day (a date) inside."""

from __future__ import annotations

import re
from datetime import date, timedelta

from yibao.errors import InvalidInput

_MONTH = re.compile(r"^\s*(\d{4})-(\d{1,2})\s*$")
EPOCH = date(1970, 1, 1)


def parse_month(text: str, today: date) -> date:
    """The first day of the month ``text`` names; months after ``today``'s are refused."""
    match = _MONTH.match(text) if isinstance(text, str) else None
    if match is None or not 1 <= int(match[2]) <= 12:
        raise InvalidInput(f"月份格式应为 YYYY-MM，如 2025-06：{text!r}", field="month", code="month_format")
    first = date(int(match[1]), int(match[2]), 1)
    if first > today.replace(day=1):
        raise InvalidInput(f"{label(first)}尚未到来，不能提前划入", field="month", code="month_in_future")
    return first


def last_day(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def label(first: date) -> str:
    return f"{first.year}年{first.month:02d}月"


def reference(first: date) -> str:
    """What a credit's transaction quotes as its month, e.g. ``202506`` (as the demo history does)."""
    return f"{first:%Y%m}"


def epoch_days(day: date) -> int:
    return (day - EPOCH).days
