"""Contribution history from before the platform (原系统迁移的缴费年限), one total per person.

The previous system hands over totals, not months: ``prior_paid_months`` (employee-insurance
months paid before the platform's own records began) and ``deemed_months`` (视同缴费年限,
in months). Both are part of the person's record and count in actual and cumulative years
(``policy.personal.contribution_years``), which screens show apart from the months on record.

The file (``yibao import history FILE``) is CSV in UTF-8 or GB18030 with a heading row:
身份证号, 原系统已缴月数, 视同缴费月数 (or id_number, prior_paid_months, deemed_months). It
is applied whole or not at all: any fault refuses the file, naming its row and column.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import Connection, Engine, select, update

from yibao.contributions.reader import _is_utf8
from yibao.domain.resident_id import ResidentId
from yibao.errors import InvalidInput
from yibao.policy.inputs import InvalidFields
from yibao.store.models import persons

HEADINGS = {
    "id_number": ("身份证号", "身份证号码", "公民身份号码", "id_number"),
    "prior_paid_months": ("原系统已缴月数", "原系统缴费月数", "prior_paid_months"),
    "deemed_months": ("视同缴费月数", "deemed_months"),
}
LABELS = {"id_number": "身份证号", "prior_paid_months": "原系统已缴月数", "deemed_months": "视同缴费月数"}
MAX_DEEMED_MONTHS = 600  # fifty years: no working life before 1998 was longer
MAX_ROWS = 1_000_000
MAX_SHOWN_FAULTS = 50


@dataclass(frozen=True)
class PriorHistory:
    id_number: str
    prior_paid_months: int
    deemed_months: int


def record_prior_history(conn: Connection, history: PriorHistory, *, today: date) -> int:
    """Set one person's migrated totals (replacing earlier ones); returns the person's id.

    Months paid cannot exceed the months since enrolment: the previous system cannot have
    collected more than that.
    """
    person = conn.execute(
        select(persons.c.id, persons.c.enrolled_on).where(persons.c.id_number == history.id_number)
    ).one_or_none()
    if person is None:
        raise InvalidInput("未找到该身份证号的参保人", field="id_number", code="person_not_found")
    enrolled = max(0, (today.year - person.enrolled_on.year) * 12 + today.month - person.enrolled_on.month)
    if history.prior_paid_months > enrolled:
        raise InvalidInput(
            f"原系统已缴月数（{history.prior_paid_months}）超过参保以来的月数（{enrolled}）",
            field="prior_paid_months", code="prior_months_exceed_enrolment",
        )
    if history.deemed_months > MAX_DEEMED_MONTHS:
        raise InvalidInput(
            f"视同缴费月数（{history.deemed_months}）不能超过{MAX_DEEMED_MONTHS}", field="deemed_months", code="deemed_months_too_many"
        )
    conn.execute(
        update(persons).where(persons.c.id == person.id)
        .values(prior_paid_months=history.prior_paid_months, deemed_months=history.deemed_months)
    )
    return person.id


def import_prior_history(engine: Engine, path: Path, *, today: date) -> int:
    """Apply a file of migrated totals in one transaction; returns the number of people updated."""
    histories = read_prior_history(path)
    faults: list[InvalidInput] = []
    with engine.begin() as conn:
        for row_number, history in histories:
            try:
                record_prior_history(conn, history, today=today)
            except InvalidInput as error:
                faults.append(_at_row(row_number, error))
        if faults:
            conn.rollback()
            raise InvalidFields(faults[:MAX_SHOWN_FAULTS])
    return len(histories)


def read_prior_history(path: Path) -> list[tuple[int, PriorHistory]]:
    """Every row of the file with its row number (the heading is row 1), or every fault found."""
    encoding = "utf-8-sig" if _is_utf8(path) else "gb18030"
    with open(path, encoding=encoding, errors="replace", newline="") as handle:
        rows = csv.reader(handle)
        keys = _heading(next(rows, []))
        found, faults = [], []
        for row_number, cells in enumerate(rows, start=2):
            if row_number > MAX_ROWS + 1:
                raise InvalidInput(f"文件超过{MAX_ROWS}行", field="file", code="file_too_long")
            if not any(cell.strip() for cell in cells):
                continue
            try:
                found.append((row_number, _history(dict(zip(keys, cells, strict=False)))))
            except InvalidInput as error:
                faults.append(_at_row(row_number, error))
    if faults:
        raise InvalidFields(faults[:MAX_SHOWN_FAULTS])
    return found


def _heading(cells: list[str]) -> list[str | None]:
    aliases = {alias.casefold(): key for key, names in HEADINGS.items() for alias in names}
    keys = [aliases.get(re.sub(r"\s+", "", cell).casefold()) for cell in cells]
    missing = [LABELS[key] for key in HEADINGS if key not in keys]
    if missing:
        raise InvalidInput(f"文件缺少列：{'、'.join(missing)}", field="file", code="columns_missing")
    return keys


def _history(cells: dict[str | None, str]) -> PriorHistory:
    id_number = ResidentId.parse(cells.get("id_number") or "").full
    return PriorHistory(id_number, _months(cells, "prior_paid_months"), _months(cells, "deemed_months"))


def _months(cells: dict[str | None, str], key: str) -> int:
    text = (cells.get(key) or "").strip() or "0"
    if not text.isdigit() or len(text) > 4:
        raise InvalidInput(f"{LABELS[key]}应为不小于0的整数：{text[:20]}", field=key, code="months_invalid")
    return int(text)


def _at_row(row_number: int, error: InvalidInput) -> InvalidInput:
    return InvalidInput(f"第{row_number}行：{error.message}", field=error.field, code=error.code)
