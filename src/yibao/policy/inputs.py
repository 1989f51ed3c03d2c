"""Parsing what a person or a script typed into typed values, with one error per bad field.

The CLI, the web API and the case files all pass raw text through these functions, so the
same bad input gets the same Chinese message and machine code everywhere. Messages name a
field by its Chinese label only; each channel adds its own way to reach the field (the CLI
its flag, see :func:`cli_message`; pages show the message beside the form field).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from yibao.domain.money import Money
from yibao.domain.regions import Region, RegionTable, is_known_division
from yibao.errors import InvalidInput

T = TypeVar("T")
MAX_YEARS = Decimal(80)
MAX_AGE = 130


class InvalidFields(InvalidInput):
    """Several fields at fault: the first one is the headline, all are in ``errors``."""

    def __init__(self, errors: list[InvalidInput]):
        first = errors[0]
        super().__init__(first.message, field=first.field, code=first.code)
        self.errors = errors

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = super().as_dict()
        if len(self.errors) > 1:
            data["errors"] = [error.as_dict() for error in self.errors]
        return data


class InvalidChoice(InvalidInput):
    """A value outside a fixed list: the message names the choices by their labels, ``choices``
    keeps the keys a program sends (the CLI shows them with the flag)."""

    def __init__(self, message: str, *, field: str, choices: tuple[str, ...]):
        super().__init__(message, field=field, code=f"invalid_{field}")
        self.choices = choices


def cli_flag(field: str) -> str:
    """The command-line option of a policy field: ``avg_pension`` → ``--avg-pension``."""
    return "--" + field.replace("_", "-")


def cli_message(error: InvalidInput) -> str:
    """``error``'s message as the command line says it: with the flag (and the accepted keys)."""
    error = getattr(error, "errors", [error])[0]  # several fields: the headline is the first
    if isinstance(error, InvalidChoice):
        return f"{error.message}（{cli_flag(error.field)} {'|'.join(error.choices)}）"
    if error.field in FIELD_LABELS:
        return f"{error.message}（{cli_flag(error.field)}）"
    return error.message


class FieldParser:
    """Parses fields one by one and reports every bad one at the end, not just the first."""

    def __init__(self, raw: Mapping[str, Any]):
        self.raw = raw
        self.errors: list[InvalidInput] = []

    def get(self, name: str, parse: Callable[[str, str], T], *, required: bool = True, default: T | None = None) -> T | None:
        text = self.raw.get(name)
        if text is None or (isinstance(text, str) and not text.strip()):
            if required:
                self.errors.append(InvalidInput(f"请填写{FIELD_LABELS.get(name, name)}", field=name, code="field_required"))
            return default
        try:
            return parse(text if not isinstance(text, str) else text.strip(), name)
        except InvalidInput as error:
            self.errors.append(error)
            return default

    def fail(self, message: str, field: str, code: str) -> None:
        self.errors.append(InvalidInput(message, field=field, code=code))

    def done(self) -> None:
        if self.errors:
            raise InvalidFields(self.errors)


FIELD_LABELS = {
    "retired": "是否已退休",
    "region": "地区",
    "birth": "出生日期",
    "on": "日期",
    "insurance": "险种",
    "status": "人员状态",
    "sex": "性别",
    "cumulative_years": "累计缴费年限",
    "actual_years": "实际缴费年限",
    "retire_on": "退休日期",
    "enrolled_on": "参保日期",
    "reason": "提取原因",
    "paid": "已缴费月份",
    "avg_pension": "人均养老金",
    "base": "缴费基数",
    "to_region": "转入地",
    "applied_on": "受理日期",
}


# ---------------------------------------------------------------------------- atoms


def parse_date(text: Any, field: str) -> date:
    if isinstance(text, date):
        return text
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(text)):
            raise ValueError
        return date.fromisoformat(str(text))
    except ValueError:
        raise InvalidInput(
            f"{FIELD_LABELS.get(field, field)}应为真实存在的日期，如 2025-06-15：{text}", field=field, code="invalid_date"
        ) from None


def parse_month(text: str, field: str) -> date:
    """``2025-03`` → the first day of that month."""
    if not re.fullmatch(r"\d{4}-\d{2}", text) or not 1 <= int(text[5:]) <= 12:
        raise InvalidInput(f"月份应写成年-月，如 2025-03：{text}", field=field, code="invalid_month")
    return date(int(text[:4]), int(text[5:]), 1)


def parse_months(text: Any, field: str) -> tuple[date, ...]:
    items = text if isinstance(text, list | tuple) else [item for item in str(text).replace("，", ",").split(",")]
    months = [parse_month(str(item).strip(), field) for item in items if str(item).strip()]
    if not months:
        raise InvalidInput("请至少填写一个已缴费月份，如 2025-03", field=field, code="field_required")
    return tuple(sorted(set(months)))


def parse_years(text: Any, field: str) -> Decimal:
    label = FIELD_LABELS.get(field, field)
    try:
        years = Decimal(str(text))
    except InvalidOperation:
        raise InvalidInput(f"{label}应为数字（可带两位小数）：{text}", field=field, code="invalid_years") from None
    if not years.is_finite():
        raise InvalidInput(f"{label}应为数字：{text}", field=field, code="invalid_years")
    if years < 0:
        raise InvalidInput(f"{label}不能为负数：{text}", field=field, code="years_negative")
    if years > MAX_YEARS or years.as_tuple().exponent < -2:
        raise InvalidInput(f"{label}应在0到80年之间，最多两位小数：{text}", field=field, code="invalid_years")
    return years


def parse_money(text: Any, field: str) -> Money:
    return Money.parse(str(text), field=field)


def parse_flag(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in {"1", "true", "yes", "是"}:
        return True
    if lowered in {"0", "false", "no", "否"}:
        return False
    raise InvalidInput(f"{FIELD_LABELS.get(field, field)}应为是或否：{value}", field=field, code="invalid_flag")


def choice(options: Mapping[str, str]) -> Callable[[Any, str], str]:
    """A parser accepting the keys of ``options`` (values are Chinese labels for messages)."""

    def parse(text: Any, field: str) -> str:
        key = str(text).strip().lower() if str(text).strip().lower() in options else str(text).strip()
        if key in options:
            return key
        listed = "、".join(options.values())
        raise InvalidChoice(f"{FIELD_LABELS.get(field, field)}应为{listed}之一", field=field, choices=tuple(options))

    return parse


INSURANCE = {"employee": "职工医保", "resident": "城乡居民医保"}
STATUS = {"working": "在职", "retired": "退休"}
SEX = {"M": "男", "F": "女"}


def full_years(birth: date, on: date) -> int:
    """Age in full years on ``on`` (someone born on 29 February turns a year older on 1 March)."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


# ---------------------------------------------------------------------------- regions


def region_parser(table: RegionTable) -> Callable[[Any, str], Region]:
    def parse(text: Any, field: str) -> Region:
        return find_region(table, str(text), field)

    return parse


def find_region(table: RegionTable, text: str, field: str = "region") -> Region:
    """A region by code, name or short name; county codes map to their city; typos get suggestions."""
    try:
        return table.find(text, field=field)
    except InvalidInput as error:
        if error.code != "unknown_region":
            raise
        county = _region_of_county(table, text.strip())
        if county is not None:
            return county
        suggestions = suggest_regions(table, text.strip())
        hint = f"，您是不是要找：{'、'.join(suggestions)}" if suggestions else "，请填写地区全称、简称或6位行政区划代码"
        raise InvalidInput(f"未找到地区：{text.strip()}{hint}", field=field, code="unknown_region") from None


def _region_of_county(table: RegionTable, code: str) -> Region | None:
    if not (len(code) == 6 and code.isdigit() and is_known_division(code)):
        return None
    for candidate in (code[:4] + "00", code[:2] + "0000"):
        if candidate in table:
            return table.get(candidate)
    return None


def suggest_regions(table: RegionTable, text: str, limit: int = 3) -> list[str]:
    names = {alias: region for region in table for alias in region.aliases}
    if text.isdigit():
        close = [region for region in table if region.code[:2] == text[:2]][:limit]
        return [f"{region.name}（{region.code}）" for region in close]
    scored = sorted(
        ((alias.startswith(text[:1]), difflib.SequenceMatcher(None, text, alias).ratio(), alias) for alias in names),
        reverse=True,
    )
    seen: list[str] = []
    for _same_start, ratio, alias in scored:
        label = f"{names[alias].name}（{names[alias].code}）"
        if ratio >= 0.4 and label not in seen:
            seen.append(label)
    return seen[:limit]


@dataclass(frozen=True)
class RegionDay:
    """A question about a region on a day (today unless given): channels, family sharing."""

    region: Region
    on: date


def parse_region_day(raw: dict[str, Any], regions: RegionTable, today: date) -> RegionDay:
    fields = FieldParser(raw)
    region = fields.get("region", region_parser(regions))
    on = fields.get("on", parse_date, required=False, default=today)
    fields.done()
    return RegionDay(region, on)
