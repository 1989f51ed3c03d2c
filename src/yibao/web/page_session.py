"""Sign-in for the server-rendered pages (portal, kiosk, counter).

The portal uses the same sign-in sessions as the API; the kiosk and the counter have their
own (a session carries its channel, see ``yibao.security.sessions``). The token travels in
an HttpOnly, SameSite=Strict cookie, one cookie per channel, and each cookie is looked up
only among its channel's sessions: a kiosk session never opens the portal or the API, and a
counter session opens neither. Every form that changes
something carries a CSRF token derived from the session token (HMAC with the server key):
a page from another site cannot know it.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from enum import StrEnum

from fastapi import Request, Response

from yibao.security import sessions
from yibao.security.errors import Forbidden
from yibao.security.principal import Principal
from yibao.web.deps import get_engine, get_security, session_principal


class Channel(StrEnum):
    PORTAL = "yb_portal"
    KIOSK = "yb_kiosk"
    COUNTER = "yb_counter"

    @property
    def session_channel(self) -> str:
        """The channel of the sessions this cookie may carry (the portal shares the API's)."""
        return SESSION_CHANNELS[self]


SESSION_CHANNELS = {Channel.PORTAL: sessions.WEB, Channel.KIOSK: sessions.KIOSK, Channel.COUNTER: sessions.COUNTER}


def start(request: Request, response: Response, channel: Channel, token: str, expires_at: datetime) -> None:
    """Remember a fresh sign-in on this browser for ``channel``."""
    now = get_security(request).now()
    response.set_cookie(
        channel.value, token, max_age=max(0, int((expires_at - now).total_seconds())), httponly=True,
        samesite="strict", secure=request.url.scheme == "https", path="/",
    )


def end(response: Response, channel: Channel) -> None:
    response.delete_cookie(channel.value, path="/")


def token_of(request: Request, channel: Channel) -> str | None:
    return request.cookies.get(channel.value) or None


def principal(request: Request, channel: Channel) -> Principal | None:
    """Who this browser is signed in as on ``channel``; None when not (or no longer) signed in."""
    token = token_of(request, channel)
    if not token:
        return None
    with get_engine(request).connect() as conn:
        return session_principal(conn, token, get_security(request), channel.session_channel)


def csrf_token(request: Request, channel: Channel) -> str:
    """The token forms of this session must send back (empty when not signed in)."""
    token = token_of(request, channel)
    if not token:
        return ""
    return hmac.new(get_security(request).key, f"csrf:{channel.value}:{token}".encode(), hashlib.sha256).hexdigest()


def check_csrf(request: Request, channel: Channel, submitted: str | None) -> None:
    expected = csrf_token(request, channel)
    if not expected or not submitted or not hmac.compare_digest(expected, submitted):
        raise Forbidden("页面已过期，请刷新后重试", code="csrf_failed")
