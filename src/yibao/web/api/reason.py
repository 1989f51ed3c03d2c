"""The reason staff state for a read (查询事由): in a request header, never in the URL.

URLs end up in access logs, proxies and browser history, and a reason often says who came
for what. Staff reads (GET) carry it in ``X-Yibao-Reason``; writes keep it in their JSON body.
Header values are Latin-1, so the reason travels as percent-encoded UTF-8 (``quote(reason,
safe="")`` in Python, ``encodeURIComponent(reason)`` in a browser) and is decoded strictly.
A ``reason`` in the query string is refused, so that an old client learns instead of leaking.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated
from urllib.parse import unquote

from fastapi import Depends, Header, Request

from yibao.security.audit import MAX_REASON, MIN_REASON
from yibao.errors import InvalidInput

REASON_HEADER = "X-Yibao-Reason"
# Printable ASCII other than "%", and percent escapes: what quote() and encodeURIComponent() give.
ENCODED_PATTERN = r"^(?:[ -$&-~]|%[0-9A-Fa-f]{2})+$"
MAX_ENCODED = MAX_REASON * 12  # a character is at most 4 bytes of UTF-8, each 3 characters when encoded
HELP = f"请在请求头 {REASON_HEADER} 中填写查询事由（{MIN_REASON}至{MAX_REASON}字，UTF-8 百分号编码）"
DESCRIPTION = (
    f"查询事由（必填，记入审计日志）：{MIN_REASON}至{MAX_REASON}字，UTF-8 百分号编码，如 encodeURIComponent('打印对账单')。"
    " The reason for this read, percent-encoded UTF-8; never in the URL."
)


def _no_reason_in_url(request: Request) -> None:
    if "reason" in request.query_params:
        raise InvalidInput(
            f"查询事由不能放在网址中（网址会留在日志和浏览记录里），{HELP}", field="reason", code="reason_in_url"
        )


def staff_reason(
    encoded: Annotated[str, Header(
        alias=REASON_HEADER, min_length=MIN_REASON, max_length=MAX_ENCODED, pattern=ENCODED_PATTERN, description=DESCRIPTION,
    )],
    _: None = Depends(_no_reason_in_url),
) -> str:
    """The decoded reason: valid UTF-8, no control characters, 2 to 200 characters once trimmed."""
    try:
        reason = unquote(encoded, encoding="utf-8", errors="strict").strip()
    except UnicodeDecodeError:
        raise InvalidInput(f"查询事由编码有误，{HELP}", field="reason", code="reason_encoding") from None
    if not MIN_REASON <= len(reason) <= MAX_REASON or any(unicodedata.category(char) == "Cc" for char in reason):
        raise InvalidInput(HELP, field="reason", code="reason_invalid")
    return reason


# The parameter of every staff read about people or cases.
Reason = Annotated[str, Depends(staff_reason)]
