"""``/fsi/api/rsfComIfsService/callService[/{infno}]``: the national platform's interface for
designated pharmacies and hospitals, so that their software works with yibao unchanged.

The body is the interface's JSON envelope (``Content-Type`` application/json or text/plain);
the answer is always HTTP 200 with ``infcode`` 0 or -1 (yibao.national.service).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from yibao.national import service
from yibao.web.deps import client_address, get_engine, get_security, limit_address, limit_caller, policy_book

PATH = "/fsi/api/rsfComIfsService/callService"
ENVELOPE_DOC = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {
            "type": "object", "description": "请求报文：infno、msgid、fixmedins_code、sign_no、input 等（见 README）",
        }}},
    },
}

# The infno in the address is checked by the service (a wrong one is answered with infcode -1, as the
# interface answers every fault); the document says the same pattern.
INFNO_DOC = ENVELOPE_DOC | {"parameters": [{
    "name": "infno", "in": "path", "required": True, "description": "交易编号，如 1101、2102",
    "schema": {"type": "string", "pattern": "^[0-9A-Za-z]{4,6}$", "title": "Infno"},
}]}

router = APIRouter(tags=["国家医保接口 / national interface"])


async def _call(request: Request, path_infno: str | None) -> Response:
    limit_address(request)
    body = await request.body()
    text = await run_in_threadpool(
        service.answer, get_engine(request), get_security(request), policy_book(request), headers=request.headers,
        body=body, path_infno=path_infno, client=client_address(request),
        limit=lambda principal: limit_caller(request, principal),
    )
    return Response(content=text, media_type="application/json; charset=utf-8")


@router.post(PATH, summary="定点医药机构接口（交易编号在报文 infno 中）", openapi_extra=ENVELOPE_DOC)
async def call_service(request: Request) -> Response:
    return await _call(request, None)


@router.post(PATH + "/{infno}", summary="定点医药机构接口（交易编号在地址中）", openapi_extra=INFNO_DOC)
async def call_service_infno(request: Request) -> Response:
    return await _call(request, request.path_params["infno"])
