"""What the server-rendered pages (portal, kiosk, counter) share: headers that keep personal
data out of caches and history, the route class that shows errors as Chinese pages; for the
kiosk and the counter also their templates, the sign-in form token, and the period and
account of a printed statement.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from datetime import date
from importlib.resources import files
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlalchemy import Connection

from yibao.clock import CHINA
from yibao.domain.contribution import add_months
from yibao.domain.money import Money
from yibao.domain.person import InsuranceType
from yibao.errors import InvalidInput, NotFound, YibaoError
from yibao.ledger.accounts import current_personal_account
from yibao.security.errors import AccessError, Forbidden
from yibao.statements import validate_period
from yibao.web.deps import get_security
from yibao.web.page_session import Channel

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    # Kiosks, counter PCs and many home computers are shared: nothing personal may stay in a cache, in the
    # back/forward history or inside another site's frame (X-Frame-Options for browsers without CSP).
    "Cache-Control": "no-store, max-age=0",
    "Pragma": "no-cache",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY.format(form_action="'self'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# A random value per browser that sign-in forms are bound to (no session exists yet to bind them to).
SIGNIN_COOKIE = "yb_signin_form"
STATEMENT_MONTHS = 12

templates = Jinja2Templates(directory=str(files("yibao.web") / "templates"))
templates.env.filters["money"] = lambda fen: "—" if fen is None else Money(fen).format()
templates.env.filters["month"] = lambda day: f"{day.year}年{day.month}月"
templates.env.filters["insurance"] = lambda kind: InsuranceType(kind).label


class SignInRequired(Exception):
    """The page needs a session of its channel and this browser has none (or it ended)."""

    def __init__(self, notice: str | None = None):
        super().__init__(notice or "")
        self.notice = notice


def render(request: Request, template: str, context: Mapping[str, Any] | None = None, *, status_code: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, template, dict(context or {}), status_code=status_code)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def today(request: Request) -> date:
    return get_security(request).now().astimezone(CHINA).date()


def status_of(error: YibaoError) -> int:
    if isinstance(error, AccessError):
        return error.status_code
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, InvalidInput):
        return 422
    return 409


def page_route(home: str, error_template: str) -> type[APIRoute]:
    """A route class for one channel: an error a page does not handle becomes a Chinese page,
    a browser without a session goes back to ``home``, every answer carries the headers above."""

    def handled(request: Request, error: Exception) -> Response:
        if isinstance(error, SignInRequired):
            response = redirect(f"{home}?notice={error.notice}" if error.notice else home)
        elif isinstance(error, RequestValidationError):
            response = render(request, error_template, {"title": "页面不存在", "message": "您访问的页面不存在或链接有误。"}, status_code=404)
        elif isinstance(error, YibaoError):
            title = "未找到" if isinstance(error, NotFound) else "无法完成操作"
            response = render(request, error_template, {"title": title, "message": error.message}, status_code=status_of(error))
        else:
            raise error
        return response

    return route_class(handled)


# ---------------------------------------------------------------------------- sign-in form token


def route_class(handled: Callable[[Request, Exception], Response]) -> type[APIRoute]:
    """A route class whose pages turn sign-in, validation and domain errors into ``handled``'s
    answer, and whose every answer carries ``SECURITY_HEADERS``."""

    class ChannelPageRoute(APIRoute):
        def get_route_handler(self) -> Callable:
            inner = super().get_route_handler()

            async def handle(request: Request) -> Response:
                try:
                    response = await inner(request)
                except (SignInRequired, RequestValidationError, YibaoError) as error:
                    response = handled(request, error)
                return secure_page(response)

            return handle

    return ChannelPageRoute


def secure_page(response: Response, *, form_targets: tuple[str, ...] = ()) -> Response:
    """Every HTML answer's headers (``SECURITY_HEADERS``); a page whose form is answered with a
    redirect to another origin (the OAuth decision) names that origin in ``form_targets``."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if form_targets:
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.format(
            form_action=" ".join(("'self'", *form_targets))
        )
    return response


def signin_nonce(request: Request) -> str:
    return request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(24)


def signin_token(request: Request, channel: Channel, nonce: str) -> str:
    """The token a sign-in form sends back: bound to this browser's nonce cookie by the server key."""
    return hmac.new(get_security(request).key, f"signin:{channel.value}:{nonce}".encode(), hashlib.sha256).hexdigest()


def remember_nonce(request: Request, response: Response, nonce: str) -> None:
    response.set_cookie(
        SIGNIN_COOKIE, nonce, httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/"
    )


def check_signin_token(request: Request, channel: Channel, submitted: str | None) -> None:
    nonce = request.cookies.get(SIGNIN_COOKIE)
    if not nonce or not submitted or not hmac.compare_digest(signin_token(request, channel, nonce), submitted):
        raise Forbidden("页面已过期，请刷新后重试", code="csrf_failed")


# ---------------------------------------------------------------------------- statements


def statement_period(day: date) -> tuple[date, date]:
    """The last 12 calendar months: from the first day of the month 11 months back to ``day``."""
    return add_months(day, 1 - STATEMENT_MONTHS), day


def requested_period(day: date, date_from: str, date_to: str) -> tuple[date, date]:
    """A statement's period from a form: each date as typed, else the last 12 months; checked."""
    start, end = statement_period(day)
    start, end = optional_day(date_from, "date_from") or start, optional_day(date_to, "date_to") or end
    validate_period(start, end)
    return start, end


def optional_day(text: str, field: str) -> date | None:
    """A date typed into a form (YYYY-MM-DD), or None when the field was left empty."""
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput("日期格式应为 YYYY-MM-DD，如 2025-06-15", field=field, code="invalid_date") from None


def statement_account(conn: Connection, person_id: int) -> int:
    """The person's open personal account (the newest closed one when none is open)."""
    account = current_personal_account(conn, person_id)
    if account is None:
        raise NotFound("该参保人没有个人账户", field="account_id", code="account_not_found")
    return account.id
