"""What every portal page shares: templates, the signed-in person, errors shown as pages.

Portal routes use :class:`PageRoute`: an error a page does not handle itself becomes a
Chinese HTML page (never the API's JSON), a visitor who is not signed in is sent to the
sign-in page, a session limited to changing the password is sent to the change page, and
every answer carries headers that keep personal pages out of caches and frames.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from importlib.resources import files
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from yibao.clock import CHINA
from yibao.domain.money import Money
from yibao.errors import InvalidInput, NotFound, YibaoError
from yibao.security.errors import PasswordChangeRequired
from yibao.security.principal import Kind, Principal
from yibao.web import page_session
from yibao.web.page_session import Channel
from yibao.web.page_tools import (
    SignInRequired,
    redirect,
    route_class,
    status_of,
)

LOGIN_PATH = "/portal/login"
PASSWORD_PATH = "/portal/password"
HOME_PATH = "/portal"
EXPIRED = "expired"  # the sign-in page's notice: 登录已过期，请重新登录

templates = Jinja2Templates(directory=str(files("yibao.web") / "templates"))


def _money(fen: int | None) -> str:
    return "—" if fen is None else Money(fen).format()


def _china_time(moment: datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
    return "—" if moment is None else moment.astimezone(CHINA).strftime(pattern)


templates.env.filters["money"] = _money
templates.env.filters["china_time"] = _china_time


# ---------------------------------------------------------------------------- who is signed in


def current_person(request: Request) -> Principal:
    """The signed-in person with a full session; the dependency of every personal page."""
    principal = person_session(request)
    if principal.limited:
        raise PasswordChangeRequired()
    return principal


def person_session(request: Request) -> Principal:
    """The signed-in person, also with a session that may only change the password."""
    principal = page_session.principal(request, Channel.PORTAL)
    if principal is None or principal.kind is not Kind.PERSON:
        # A cookie whose session ended (expired, signed out elsewhere, password reset): say so on the sign-in page.
        raise SignInRequired(EXPIRED if page_session.token_of(request, Channel.PORTAL) else None)
    return principal


def optional_person(request: Request) -> Principal | None:
    """The signed-in person with a full session, or None (pages open to everyone)."""
    principal = page_session.principal(request, Channel.PORTAL)
    if principal is None or principal.kind is not Kind.PERSON or principal.limited:
        return None
    return principal


def check_form(request: Request, submitted: str | None) -> None:
    page_session.check_csrf(request, Channel.PORTAL, submitted)


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: only a path of this portal, never another site."""
    if not target:
        return HOME_PATH
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return HOME_PATH
    if not (parts.path == HOME_PATH or parts.path.startswith(HOME_PATH + "/") or parts.path.startswith("/calc")):
        return HOME_PATH
    if parts.path in (LOGIN_PATH, PASSWORD_PATH):
        return HOME_PATH
    return target


# ---------------------------------------------------------------------------- rendering


def render(
    request: Request, template: str, context: Mapping[str, Any] | None = None, *, status_code: int = 200,
    principal: Principal | None = None,
) -> HTMLResponse:
    """A page: the template plus what the layout needs (CSRF token, who is signed in)."""
    values = {
        "csrf": page_session.csrf_token(request, Channel.PORTAL) if principal is not None else "",
        "signed_in": principal is not None and not principal.limited,
        "path": request.url.path,
        **(context or {}),
    }
    return templates.TemplateResponse(request, template, values, status_code=status_code)


def field_errors(error: InvalidInput) -> dict[str, str]:
    """Messages by field name, for showing each next to its input (several when the engine found several)."""
    errors = getattr(error, "errors", None) or [error]
    found: dict[str, str] = {}
    for each in errors:
        found.setdefault(each.field or "_form", each.message)
    return found


def error_page(request: Request, status_code: int, title: str, message: str) -> HTMLResponse:
    principal = optional_person(request)
    return render(
        request, "portal/error.html", {"title": title, "message": message}, status_code=status_code, principal=principal
    )


# ---------------------------------------------------------------------------- the route class


def _handled(request: Request, error: Exception) -> Response:
    if isinstance(error, SignInRequired):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        notice = f"&notice={error.notice}" if error.notice else ""
        response = redirect(f"{LOGIN_PATH}?next={quote(target, safe='')}{notice}")
        if error.notice:
            page_session.end(response, Channel.PORTAL)
        return response
    if isinstance(error, PasswordChangeRequired):
        return redirect(PASSWORD_PATH)
    if isinstance(error, RequestValidationError):
        return error_page(request, 404, "页面不存在", "您访问的页面不存在或链接有误。")
    if isinstance(error, NotFound):
        return error_page(request, 404, "未找到", error.message)
    if isinstance(error, YibaoError):
        return error_page(request, status_of(error), "无法完成操作", error.message)
    raise error


# A portal page: errors become Chinese pages, answers carry the security headers.
PageRoute = route_class(_handled)


def account_options(own_accounts: list) -> list[tuple[int, str]]:
    """Choices for an account select: the person's own accounts only, named by what the person
    knows (region, status, opening date), never by the internal id."""
    return [
        (each.id, f"{each.region_name or each.region_code}（{each.status_label}，{each.opened_on.isoformat()}开户）")
        for each in own_accounts
    ]
