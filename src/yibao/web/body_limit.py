"""Every request body is bounded before anything parses it: 413 as soon as it is too large.

A pure ASGI middleware: a declared ``Content-Length`` over the route's limit is answered at
once, without reading a byte; a body sent without one (chunked) is counted as it arrives and
refused at the first chunk past the limit. A 48 MB JSON body to the sign-in once took the
server to 1.4 GB, all before any validation ran.

Limits: small for JSON and form routes, the size of a Base64 document for document uploads,
and the contribution-file upload its own setting. API routes answer in the one JSON error
shape; pages answer with a Chinese HTML page.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from yibao import documents

KIB = 1024
JSON_BODY_BYTES = 64 * KIB  # the largest JSON request apart from documents is a few hundred bytes
DOCUMENT_BODY_BYTES = documents.MAX_BASE64_CHARS + 64 * KIB  # one Base64 document and its fields
MULTIPART_OVERHEAD_BYTES = 64 * KIB  # a file upload's part headers and form fields
JSON_ANSWER_PREFIXES = ("/api/", "/oauth/token", "/oauth/revoke")
DOCUMENT_ROUTES = re.compile(
    r"^/api/v1/((me|staff)/withdrawals/(\d+/documents|deaths)|(me|staff)/transfers/emergency-refunds(/\d+/documents)?)$"
)
# Portal and workbench pages that take one document as a file (multipart, not Base64).
PAGE_UPLOADS = re.compile(
    r"^/(portal/(withdrawals/\d+/documents|refunds)"
    r"|counter/(withdrawals/\d+/documents|deaths|refunds/new|refunds/\d+/documents))$"
)
CONTRIBUTION_UPLOAD = "/api/v1/staff/imports/contributions"
COUNTER_CONTRIBUTION_UPLOAD = "/counter/imports"  # the workbench's upload form (multipart)


class BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=413)


def limits_by_route(upload_bytes: int) -> Callable[[str], int]:
    """The body limit of a path: the contribution upload, document uploads, everything else."""

    def limit_for(path: str) -> int:
        if path in (CONTRIBUTION_UPLOAD, COUNTER_CONTRIBUTION_UPLOAD):
            return upload_bytes + MULTIPART_OVERHEAD_BYTES
        if DOCUMENT_ROUTES.match(path):
            return DOCUMENT_BODY_BYTES
        if PAGE_UPLOADS.match(path):
            return documents.MAX_DOCUMENT_BYTES + MULTIPART_OVERHEAD_BYTES
        return JSON_BODY_BYTES

    return limit_for


def too_large_answer(path: str) -> Response:
    if path.startswith(JSON_ANSWER_PREFIXES):
        error = {"code": "body_too_large", "message": "请求内容过大，已拒绝", "field": None}
        return JSONResponse({"error": error}, status_code=413, headers={"Connection": "close"})
    return HTMLResponse(_PAGE, status_code=413, headers={"Connection": "close"})


def too_large_handler(request: Request, _error: BodyTooLarge) -> Response:
    """For the app's exception handlers: a limit passed while a route was reading its body."""
    return too_large_answer(request.url.path)


_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>提交的内容过大</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><h1>提交的内容过大</h1><p>提交的内容超过了允许的大小，未做任何处理。请返回上一页重试。</p></body></html>"""


class BodyLimit:
    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        if _declared_length(scope) > limit:
            await too_large_answer(scope["path"])(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge()  # the route's body reading stops here; the handler answers 413
            return message

        await self.app(scope, counted, send)


def _declared_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0  # the server refuses a malformed length itself
    return 0
