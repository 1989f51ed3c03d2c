"""Reading what people typed into portal forms and links: text in, typed values or a Chinese error out.

Pages take every query value as text and parse it here, so a bad value is shown next to
its field instead of failing the whole request.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TypeVar

from yibao.errors import InvalidInput
from yibao.web.api.reads import MAX_ID

T = TypeVar("T")
MAX_PAGE = 100_000


class FormErrors:
    """Collects one message per field so that a form shows every mistake at once."""

    def __init__(self) -> None:
        self.by_field: dict[str, str] = {}

    def parse(self, parse: Callable[[str, str], T], text: str | None, field: str) -> T | None:
        if text is None or not text.strip():
            return None
        try:
            return parse(text.strip(), field)
        except InvalidInput as error:
            self.by_field.setdefault(error.field or field, error.message)
            return None

    def add(self, error: InvalidInput, field: str = "_form") -> None:
        self.by_field.setdefault(error.field or field, error.message)

    def __bool__(self) -> bool:
        return bool(self.by_field)


def parse_day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput("请输入有效日期，格式如 2025-06-15", field=field, code="invalid_date") from None


def parse_id(text: str, field: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_ID:
        raise InvalidInput("编号有误", field=field, code="invalid_id")
    return int(text)


def parse_page(text: str | None) -> int:
    """Page numbers come from links; a tampered one quietly means the first page."""
    if text and text.isdigit() and 1 <= int(text) <= MAX_PAGE:
        return int(text)
    return 1
