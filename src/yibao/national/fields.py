"""Reading the values of a message: text, codes, amounts and dates, each refusal naming its field.

Bodies are parsed with ``parse_float=Decimal``: an amount arrives as a JSON number (or, from
some clients, a string) and becomes integer fen without passing through float.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from yibao.domain.money import MAX_FEN
from yibao.errors import InvalidInput

DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d")
DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y%m%d%H%M%S")


def _name(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def missing(name: str) -> InvalidInput:
    return InvalidInput(f"缺少字段 {name}", field=name, code="national_field_missing")


def bad(name: str, what: str) -> InvalidInput:
    return InvalidInput(f"字段 {name} 有误：{what}", field=name, code="national_field_invalid")


def node(container: dict, key: str, path: str = "") -> dict:
    """A JSON object inside ``container`` (e.g. ``input.data``)."""
    name = _name(path, key)
    value = container.get(key)
    if value is None:
        raise missing(name)
    if not isinstance(value, dict):
        raise bad(name, "应为 JSON 对象")
    return value


def rows(container: dict, key: str, path: str, *, limit: int = 1000, required: bool = False) -> list[dict]:
    name = _name(path, key)
    value = container.get(key)
    if value in (None, ""):
        if required:
            raise missing(name)
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise bad(name, "应为 JSON 对象的数组")
    if len(value) > limit:
        raise bad(name, f"最多{limit}条")
    return value


def text(container: dict, key: str, path: str = "", *, required: bool = True, limit: int = 50) -> str:
    """A short text value; numbers are taken as their digits (clients send codes either way)."""
    name = _name(path, key)
    value = container.get(key)
    if isinstance(value, bool):
        raise bad(name, "应为文字")
    if isinstance(value, (int, Decimal)):
        value = str(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise missing(name)
        return ""
    if not isinstance(value, str):
        raise bad(name, "应为文字")
    value = value.strip()
    if len(value) > limit or not value.isprintable():
        raise bad(name, f"应为不超过{limit}个可打印字符")
    return value


def code(container: dict, key: str, path: str, allowed: dict | set | tuple, *, required: bool = True) -> str:
    value = text(container, key, path, required=required, limit=10)
    if value and value not in allowed:
        choices = "、".join(sorted(allowed))
        raise bad(_name(path, key), f"取值应为 {choices}")
    return value


def flag(container: dict, key: str, path: str) -> bool:
    """A 0/1 flag; "00"/"01" (seen from one client) are read as 0/1."""
    value = text(container, key, path, limit=2)
    if value not in ("0", "1", "00", "01"):
        raise bad(_name(path, key), "取值应为 0 或 1")
    return value.endswith("1")


def amount_fen(
    container: dict, key: str, path: str, *, required: bool = True, positive: bool = False, signed: bool = False
) -> int:
    """Yuan with at most two decimals → fen (``signed``: a net total, which may be negative)."""
    name = _name(path, key)
    value = container.get(key)
    if value in (None, ""):
        if required:
            raise missing(name)
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise bad(name, "应为金额（元，最多两位小数）")
    try:
        yuan = Decimal(str(value).strip())
    except InvalidOperation:
        raise bad(name, "应为金额（元，最多两位小数）") from None
    if not yuan.is_finite() or abs(yuan) * 100 > MAX_FEN:
        raise bad(name, "金额超出范围")
    if yuan != yuan.quantize(Decimal("0.01")):
        raise bad(name, "金额最多两位小数")
    fen = int(yuan * 100)
    if (fen < 0 and not signed) or (positive and fen == 0):
        raise bad(name, "金额应大于零" if positive else "金额不能为负数")
    return fen


def day(container: dict, key: str, path: str, *, required: bool = True) -> date | None:
    value = text(container, key, path, required=required, limit=19)
    if not value:
        return None
    for fmt in DATE_FORMATS + DATETIME_FORMATS:
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise bad(_name(path, key), "日期格式应为 yyyy-MM-dd")


def yuan(fen: int) -> Decimal:
    """Fen → yuan with two decimals, for the answer."""
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


def whole(container: dict, key: str, path: str) -> int:
    """A whole number (a count), possibly negative."""
    value = text(container, key, path, limit=12)
    if not value.lstrip("-").isdigit() or not value.isascii():
        raise bad(_name(path, key), "应为整数")
    return int(value)
