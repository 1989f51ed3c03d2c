"""Working days (工作日) in mainland China: official holidays off, make-up workdays (调休) on.

Deadlines such as "transfer out within 10 working days" count working days after the
day the step opened: the opening day itself is not counted, so a step opened on a
Tuesday with a one-working-day deadline is due on Wednesday. The calendar comes from the
``chinese_calendar`` package, which knows each year's State Council holiday notice.

The notice for a year comes out late in the year before, so a deadline opened in December
can end in a year the package does not know yet. Refusing the request would stop the work;
there, Monday to Friday count as working days and the due date is *provisional*
(``is_provisional``): staff see the flag, and an updated calendar makes it exact.
"""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar

from yibao.errors import InvalidInput

ONE_DAY = timedelta(days=1)
# A deadline never needs to look further than this; more means bad input, not a long holiday.
MAX_WORKING_DAYS = 250


def is_working_day(day: date) -> bool:
    if calendar_covers(day):
        return chinese_calendar.is_workday(day)
    return day.weekday() < 5  # provisional: weekends only until the year's notice is known


def calendar_covers(day: date) -> bool:
    """Whether the official holiday calendar for ``day``'s year is known."""
    try:
        chinese_calendar.is_workday(day)
    except NotImplementedError:
        return False
    return True


def is_provisional(due_on: date) -> bool:
    """A due date counted partly without the official calendar (see the module docstring)."""
    return not calendar_covers(due_on)


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
