"""Who the client is behind a reverse proxy: ``X-Forwarded-For`` only from proxies named in
``YIBAO_TRUSTED_PROXIES``.

Lockouts, rate limits and the audit log key on the client's address. A header anyone can send
must not change it: with no trusted proxy configured (the default), the socket's peer is the
client and forwarding headers are ignored. ``yibao serve`` runs uvicorn with its own proxy
handling turned off (it trusts 127.0.0.1 by default), so this is the one place that decides.
The work itself is uvicorn's ``ProxyHeadersMiddleware`` (the client is the right-most address
that is not a trusted proxy; ``X-Forwarded-Proto`` sets the scheme). ``X-Real-IP`` is never read.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware


class TrustedProxies:
    """ASGI middleware; the setting is read from the application's security context on each
    request (tests and deployments set it after the app is built)."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self._built: tuple[str, ProxyHeadersMiddleware] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            settings = scope["app"].state.security.settings
            if settings.trusted_proxies.strip():
                await self._middleware(settings)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _middleware(self, settings) -> ProxyHeadersMiddleware:
        if self._built is None or self._built[0] != settings.trusted_proxies:
            self._built = (settings.trusted_proxies, ProxyHeadersMiddleware(self.app, trusted_hosts=settings.trusted_proxy_list()))
        return self._built[1]
