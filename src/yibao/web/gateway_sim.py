"""The payment gateway simulator's own pages (``/gateway-sim``): the cashier where the payer
confirms, as a real gateway's checkout page would be, with a QR code for paying on a phone.

Served only while the configured gateway is the simulator (development: the demo, tests);
otherwise every page is "not found". The page says plainly that no real money moves.
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from yibao.domain.money import Money
from yibao.errors import NotFound, YibaoError
from yibao.gateway.simulator import CASHIER_PATH, SimulatorGateway
from yibao.web.deps import get_security
from yibao.web.page_tools import secure_page
from yibao.web.portal.evoucher import qr_svg
from yibao.web.portal.pages import templates

router = APIRouter(include_in_schema=False)


def _simulator(request: Request) -> SimulatorGateway:
    gateway = get_security(request).gateway
    if not isinstance(gateway, SimulatorGateway):
        raise NotFound("页面不存在", code="not_found")
    return gateway


@router.get(CASHIER_PATH + "/{order_no}")
def cashier(request: Request, order_no: str, paid: str | None = None) -> HTMLResponse:
    platform = _simulator(request).platform
    order = platform.order(order_no)
    if order is None:
        raise NotFound("订单不存在", code="not_found")
    trades = platform.trades(order_no)
    context = {
        "order": order, "amount": Money(order["amount_fen"]).format(), "trades": trades,
        "qr": qr_svg(str(request.url).split("?")[0]), "error": None, "just_paid": paid == "1",
    }
    return _page(request, context)


@router.post(CASHIER_PATH + "/{order_no}")
def confirm(request: Request, order_no: str, action: str = Form("pay")) -> Response:
    platform = _simulator(request).platform
    order = platform.order(order_no)
    if order is None:
        raise NotFound("订单不存在", code="not_found")
    try:
        if action == "notify_again":
            for trade in platform.trades(order_no):
                platform.deliver(trade.trade_no)  # the gateway sends its notice once more
            return RedirectResponse(f"{CASHIER_PATH}/{order_no}", status_code=303)
        platform.pay(order_no, again=action == "pay_again")
    except YibaoError as error:
        context = {"order": order, "amount": Money(order["amount_fen"]).format(), "trades": platform.trades(order_no),
                   "qr": None, "error": error.message, "just_paid": False}
        return _page(request, context, status_code=409)
    return RedirectResponse(order["return_url"], status_code=303)


def _page(request: Request, context: dict, status_code: int = 200) -> HTMLResponse:
    answer = templates.TemplateResponse(request, "gateway_sim.html", context, status_code=status_code)
    secure_page(answer)
    return answer
