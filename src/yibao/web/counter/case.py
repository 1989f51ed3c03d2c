"""The person an agent is serving and the stated reason (查询事由), kept for the counter's views.

Every view of a person is audited with the reason. Instead of carrying the reason in every
link (URLs end up in logs and history), the counter keeps one open case per browser in a
cookie: the person id and the reason, signed with the server key and bound to the agent's
session token, so it cannot be forged, moved to another agent or outlive the session.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from fastapi import Request, Response

from yibao.security.audit import MAX_REASON, MIN_REASON
from yibao.errors import InvalidInput
from yibao.web import page_session
from yibao.web.deps import get_security
from yibao.web.page_session import Channel

CASE_COOKIE = "yb_counter_case"
COOKIE_PATH = "/counter"
OTHER = "其他"
COMMON_REASONS = (
    "参保人本人到柜台查询",
    "打印个人账户对账单",
    "核对缴费记录",
    "个人账户余额异议处理",
    "个人账户支取业务办理",
    "医保关系转移接续办理",
)


@dataclass(frozen=True)
class Case:
    person_id: int
    reason: str


def stated_reason(choice: str, other: str) -> str:
    """The reason an agent chose from the list, or typed (typing wins: it is more specific)."""
    reason = (other or "").strip() or ("" if (choice or "").strip() == OTHER else (choice or "").strip())
    if not MIN_REASON <= len(reason) <= MAX_REASON:
        raise InvalidInput(
            f"请选择或填写查询事由（{MIN_REASON}至{MAX_REASON}字），查询将记入审计日志", field="reason", code="reason_required"
        )
    return reason


def open_case(request: Request, response: Response, case: Case) -> None:
    payload = f"{case.person_id}.{base64.urlsafe_b64encode(case.reason.encode()).decode()}"
    response.set_cookie(
        CASE_COOKIE, f"{payload}.{_signature(request, payload)}", httponly=True, samesite="strict",
        secure=request.url.scheme == "https", path=COOKIE_PATH,
    )


def current_case(request: Request) -> Case | None:
    """The open case of this browser's agent session; None when there is none or it does not verify."""
    value = request.cookies.get(CASE_COOKIE, "")
    payload, _, signature = value.rpartition(".")
    if not payload or not hmac.compare_digest(_signature(request, payload), signature):
        return None
    person_id, _, encoded = payload.partition(".")
    try:
        return Case(int(person_id), base64.urlsafe_b64decode(encoded.encode()).decode())
    except (ValueError, binascii.Error):
        return None


def reason_for(request: Request, person_id: int) -> str | None:
    case = current_case(request)
    return case.reason if case is not None and case.person_id == person_id else None


def close_case(response: Response) -> None:
    response.delete_cookie(CASE_COOKIE, path=COOKIE_PATH)


def _signature(request: Request, payload: str) -> str:
    token = page_session.token_of(request, Channel.COUNTER) or ""
    return hmac.new(get_security(request).key, f"case:{token}:{payload}".encode(), hashlib.sha256).hexdigest()
