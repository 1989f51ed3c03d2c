"""Policy answers on pages: an answer or what is missing to give one, and the words for states."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from yibao.errors import InvalidInput

CONTINUITY_STATES = {
    "covered": "正常参保，待遇正常",
    "arrears": "有欠缴，仍可报销，请尽快补缴",
    "suspended": "已断缴，暂停报销",
    "waiting": "可能处于等待期",
    "not_applicable": "不适用",
    "unknown": "无法确定",
}


def answer_or_missing(ask: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The policy answer, or what is missing to give one (shown in its place instead of failing the page)."""
    try:
        return ask()
    except InvalidInput as error:
        return {"error": error.message, "field": error.field}
