"""A step's due date: the working-day deadline in force for the region on the day it opens."""

from __future__ import annotations

from datetime import date

from yibao.errors import InvalidInput
from yibao.policy.parameters import PolicyBook
from yibao.workdays import add_working_days

TRANSFER_OUT = "transfer.out_working_days"
TRANSFER_IN = "transfer.in_working_days"
EMERGENCY_REFUND = "refund.emergency_working_days"


def working_days(book: PolicyBook, parameter: str, region_code: str, on: date) -> int:
    resolution = book.resolve(parameter, book.regions.get(region_code), on)
    if resolution.value is None or resolution.value.rule is None:
        raise InvalidInput(
            f"{on.isoformat()}在{resolution.asked.name}没有已知的办理期限：{resolution.missing_text()}",
            field="date", code="deadline_unknown",
        )
    return resolution.value.rule.working_days


def due_date(book: PolicyBook, parameter: str, region_code: str, opened_on: date) -> date:
    return add_working_days(opened_on, working_days(book, parameter, region_code, opened_on))
