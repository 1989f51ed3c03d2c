"""The columns of a contribution file and how each cell is read.

Agencies' exports name their columns in Chinese, and not all the same way; English names
are accepted for files made by programs. A cell parser returns a value or raises
``InvalidInput`` with a Chinese reason; the caller adds the row and column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from yibao.contributions.limits import MAX_CELL_CHARS
from yibao.domain.money import Money
from yibao.domain.person import InsuranceType
from yibao.errors import InvalidInput

FLEXIBLE_EMPLOYER = "灵活就业"


@dataclass(frozen=True)
class Column:
    key: str  # the field name programs use
    label: str  # the Chinese heading written in reports and templates
    aliases: tuple[str, ...]
    required: bool = True


COLUMNS = (
    Column("id_number", "身份证号", ("身份证号", "身份证号码", "公民身份号码", "证件号码", "id_number")),
    Column("month", "缴费月份", ("缴费月份", "费款所属期", "所属期", "缴费年月", "month")),
    Column("base", "缴费基数", ("缴费基数", "基数", "base")),
    Column("employer_part", "单位缴费", ("单位缴费", "单位缴费金额", "单位部分", "employer_part")),
    Column("individual_part", "个人缴费", ("个人缴费", "个人缴费金额", "个人部分", "individual_part")),
    Column("insurance_type", "险种", ("险种", "险种类型", "参保类型", "insurance_type")),
    Column("employer_name", "单位名称", ("单位名称", "缴费单位", "employer_name"), required=False),
    Column("paid_on", "缴费日期", ("缴费日期", "到账日期", "实缴日期", "paid_on")),
    Column("is_makeup", "补缴标志", ("补缴标志", "是否补缴", "补缴", "is_makeup"), required=False),
    # Only read when the import may enrol people it does not know yet.
    Column("name", "姓名", ("姓名", "name"), required=False),
)
COLUMN_BY_KEY = {column.key: column for column in COLUMNS}
_ALIASES = {alias.casefold(): column.key for column in COLUMNS for alias in column.aliases}


def column_key(heading: Any) -> str | None:
    """The field a heading stands for, or None for a column we do not read."""
    if heading is None:
        return None
    return _ALIASES.get(re.sub(r"\s+", "", str(heading)).casefold())


def cell_fault(cell: Any) -> InvalidInput | None:
    """Why a cell cannot be read at all, before its column's own parser sees it."""
    if not isinstance(cell, str):
        return None
    if len(cell) > MAX_CELL_CHARS:
        return InvalidInput(f"内容过长（每格不超过 {MAX_CELL_CHARS} 字）", code="field_too_long")
    if "\ufffd" in cell:  # what the reader put for bytes that are no GB18030 character
        return InvalidInput("含无法识别的字符：文件应为 UTF-8 或 GB18030 编码", code="encoding_invalid")
    return None


def text_of(cell: Any) -> str:
    """A cell as trimmed text; Excel numbers that are whole print without '.0'."""
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip()


_MONTH = re.compile(r"^(\d{4})\s*(?:[-/.年]\s*(\d{1,2})\s*月?|(\d{2}))$")


def parse_month(cell: Any) -> date:
    """'2025-06', '2025/6', '2025年6月', '202506', or an Excel date → the first of that month."""
    if isinstance(cell, datetime | date):
        return date(cell.year, cell.month, 1)
    match = _MONTH.match(text_of(cell))
    if not match:
        raise InvalidInput("缴费月份格式应为 2025-06 或 202506", code="month_format")
    year, month = int(match[1]), int(match[2] or match[3])
    if not 1 <= month <= 12 or year < 1990:
        raise InvalidInput("缴费月份不存在", code="month_invalid")
    return date(year, month, 1)


_DAY = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$|^(\d{4})(\d{2})(\d{2})$")


def parse_day(cell: Any) -> date:
    """'2025-06-15', '2025/6/15', '2025年6月15日', '20250615', or an Excel date."""
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, date):
        return cell
    text = text_of(cell)
    if " " in text:  # '2025-06-15 00:00:00' from some exports
        text = text.split(" ", 1)[0]
    match = _DAY.match(text)
    if not match:
        raise InvalidInput("日期格式应为 2025-06-15", code="date_format")
    parts = [int(part) for part in (match.groups()[:3] if match[1] else match.groups()[3:])]
    try:
        return date(*parts)
    except ValueError:
        raise InvalidInput("日期不存在", code="date_invalid") from None


def parse_amount(cell: Any) -> Money:
    """An amount in yuan, never through float arithmetic; negative amounts are refused."""
    if isinstance(cell, bool):
        raise InvalidInput("金额格式不正确", code="money_format")
    if isinstance(cell, int):
        cell = str(cell)
    elif isinstance(cell, float):
        # Excel stores numbers as doubles; repr gives the shortest decimal that reads back
        # to the same double, i.e. the figure the person typed (123.45, not 123.4500000001).
        cell = format(Decimal(repr(cell)), "f")
    text = text_of(cell)
    if text.startswith("-"):
        raise InvalidInput("金额不能为负", code="money_negative")
    return Money.parse(text)


_INSURANCE = {
    "职工": InsuranceType.EMPLOYEE, "职工医保": InsuranceType.EMPLOYEE, "职工基本医疗保险": InsuranceType.EMPLOYEE,
    "employee": InsuranceType.EMPLOYEE,
    "居民": InsuranceType.RESIDENT, "居民医保": InsuranceType.RESIDENT, "城乡居民": InsuranceType.RESIDENT,
    "城乡居民医保": InsuranceType.RESIDENT, "城乡居民基本医疗保险": InsuranceType.RESIDENT,
    "resident": InsuranceType.RESIDENT,
}


def parse_insurance_type(cell: Any) -> InsuranceType:
    value = _INSURANCE.get(text_of(cell).casefold())
    if value is None:
        raise InvalidInput("险种应为“职工医保”或“城乡居民医保”", code="insurance_type_unknown")
    return value


_YES = {"是", "y", "yes", "1", "true", "补缴"}
_NO = {"", "否", "n", "no", "0", "false", "正常", "正常缴费"}


def parse_flag(cell: Any) -> bool:
    text = text_of(cell).casefold()
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise InvalidInput("补缴标志应为“是”或“否”", code="flag_format")
