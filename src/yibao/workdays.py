"""Working days (工作日) in mainland China: official holidays off, make-up workdays (调休) on.

Deadlines such as "transfer out within 10 working days" count working days after the
day the step opened: the opening day itself is not counted, so a step opened on a
Tuesday with a one-working-day deadline is due on Wednesday. The calendar comes from the
``chinese_calendar`` package, which knows each year's State Council holiday notice; a date
in a year it does not know yet is refused rather than guessed (weekends alone would be
wrong around every holiday).
"""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar

from yibao.errors import InvalidInput

ONE_DAY = timedelta(days=1)
# A deadline never needs to look further than this; more means bad input, not a long holiday.
MAX_WORKING_DAYS = 250


def is_working_day(day: date) -> bool:
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        raise InvalidInput(
            f"{day.year}年的法定节假日安排尚未收录，无法计算工作日期限，请更新节假日日历",
            field="date",
            code="holiday_calendar_missing",
        ) from None


def add_working_days(start: date, count: int) -> date:
    """The ``count``-th working day after ``start`` (``start`` itself not counted)."""
    if type(count) is not int or not 0 < count <= MAX_WORKING_DAYS:
        raise InvalidInput(f"工作日天数应在1到{MAX_WORKING_DAYS}之间", field="working_days", code="working_days_range")
    day = start
    while count:
        day += ONE_DAY
        if is_working_day(day):
            count -= 1
    return day


def working_days_between(start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end`` (0 when ``end`` <= ``start``)."""
    if end <= start:
        return 0
    return sum(1 for offset in range(1, (end - start).days + 1) if is_working_day(start + timedelta(days=offset)))
