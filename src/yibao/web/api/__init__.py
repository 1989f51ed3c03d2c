"""The JSON API under ``/api/v1`` and the OAuth endpoints: routers per concept, one error shape.

``install_api(app)`` adds the routers and the handlers that turn validation and HTTP errors
into ``{"error": {code, message, field}}`` with a Chinese message.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from yibao.security.context import Security
from yibao.web.api.reason import HELP as REASON_HELP
from yibao.web.api.reason import REASON_HEADER

_MESSAGES = {
    "missing": ("missing_field", "缺少必填项"),
    "json_invalid": ("invalid_json", "请求内容不是有效的 JSON"),
    "model_attributes_type": ("invalid_body", "请求内容应为 JSON 对象"),
    "dict_type": ("invalid_body", "请求内容应为 JSON 对象"),
    "string_too_short": ("too_short", "内容过短"),
    "string_too_long": ("too_long", "内容过长"),
    "string_type": ("invalid_format", "应为文本"),
    "int_parsing": ("invalid_format", "应为整数"),
    "int_type": ("invalid_format", "应为整数"),
    "date_parsing": ("invalid_format", "应为日期，格式 YYYY-MM-DD"),
    "date_from_datetime_parsing": ("invalid_format", "应为日期，格式 YYYY-MM-DD"),
    "date_type": ("invalid_format", "应为日期，格式 YYYY-MM-DD"),
    "bool_type": ("invalid_format", "应为 true 或 false"),
    "bool_parsing": ("invalid_format", "应为 true 或 false"),
    "string_pattern_mismatch": ("invalid_format", "格式不正确"),
    "enum": ("invalid_choice", "取值不在允许范围内"),
    "greater_than_equal": ("out_of_range", "数值超出允许范围"),
    "less_than_equal": ("out_of_range", "数值超出允许范围"),
}
_HTTP = {
    422: ("invalid_body", "请求内容无法解析，请使用 UTF-8 编码的 JSON"),
    404: ("not_found", "未找到"),
    405: ("method_not_allowed", "不支持该请求方法"),
}


def install_api(app: FastAPI, security: Security | None = None) -> None:
    from yibao.web.api import audit, auth, imports, institution, me, me_policy, oauth, staff, statements
    from yibao.web.api import ivr, phone_pin
    from yibao.web.api import transfers, withdrawals
    from yibao.web.api import family, guardianships, notices, payments
    from yibao.web.api import maintenance, national
    from yibao.web.api import collection, filings

    app.state.security = security or Security()
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    # FastAPI tries routes in order, each included router's one by one: the person's own reads,
    # the balance above all the most frequent requests, come first (docs/benchmarks.md).
    for router in (
        me.router, auth.router, me_policy.router, statements.router, staff.router, staff.person_views, imports.router,
        institution.router, audit.router, oauth.router,
        phone_pin.router, ivr.router,
        withdrawals.person_router, withdrawals.staff_router, transfers.person_router, transfers.staff_router,
        payments.router, family.router, guardianships.router, notices.router, maintenance.router, national.router,
        collection.router, collection.gateway_router, filings.router,
    ):
        app.include_router(router)


def _validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
    first = error.errors()[0] if error.errors() else {}
    code, message = _MESSAGES.get(first.get("type", ""), ("invalid_input", "输入有误"))
    if first.get("type") == "string_too_short" and first.get("input") == "":
        message = "不能为空"
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path", "header")]
    field = ".".join(location) or None
    if field and field.lower() == REASON_HEADER.lower():  # the staff reason: named as before it moved to a header
        code, message, field = ("reason_required" if first.get("type") == "missing" else "reason_invalid"), REASON_HELP, "reason"
    elif field:
        message = f"{message}：{field}"
    return JSONResponse({"error": {"code": code, "message": message, "field": field}}, status_code=422)


def http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
    # FastAPI answers 400 to a body it cannot even decode: for clients that is invalid input too.
    status = 422 if error.status_code == 400 else error.status_code
    code, message = _HTTP.get(status, ("http_error", "请求无法处理"))
    return JSONResponse({"error": {"code": code, "message": message, "field": None}}, status_code=status, headers=error.headers)
