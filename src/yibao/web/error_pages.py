"""Chinese error pages for browsers: unknown paths (404), refused methods and unexpected errors
(500) anywhere outside the API answer an HTML page in the look of the part of the site asked
for (the kiosk's and the counter's own error templates, the portal's elsewhere), never JSON
and never a stack trace. The API (``/api``, OAuth and the service checks) keeps its JSON.
"""

from __future__ import annotations

from fastapi import Request, Response

from yibao.web import page_tools
from yibao.web.portal.pages import render as portal_render

API_PREFIXES = ("/api/", "/oauth/", "/.well-known/", "/fsi/")
API_PATHS = frozenset({"/api", "/health", "/ready", "/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"})
MESSAGES = {
    404: ("页面不存在", "您访问的页面不存在或链接有误。"),
    405: ("无法完成操作", "该页面不支持这种访问方式，请返回后重试。"),
    500: ("系统繁忙", "系统暂时无法处理您的请求，请稍后再试。如多次出现，请拨打12393咨询。"),
}
GENERIC = ("无法完成操作", "请求无法处理，请返回后重试。")
# The part of the site by its path prefix, and the error template in its own look.
TEMPLATES = (("/kiosk", "kiosk/error.html"), ("/counter", "counter/error.html"))


def is_api_path(path: str) -> bool:
    return path in API_PATHS or path.startswith(API_PREFIXES)


def for_status(request: Request, status: int) -> Response:
    title, message = MESSAGES.get(status, GENERIC)
    return page(request, status, title, message)


def page(request: Request, status: int, title: str, message: str) -> Response:
    """The error page of the part of the site ``request`` is for; who is signed in is not looked up
    (the database may be what failed)."""
    path = request.url.path
    context = {"title": title, "message": message}
    for prefix, template in TEMPLATES:
        if path == prefix or path.startswith(prefix + "/"):
            return page_tools.secure_page(page_tools.render(request, template, context, status_code=status))
    # The portal's layout needs its own context (navigation, sign-out), which its render gives.
    return page_tools.secure_page(portal_render(request, "portal/error.html", context, status_code=status))
