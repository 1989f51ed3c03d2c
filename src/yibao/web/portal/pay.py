"""网上缴费 on the portal (phone width first): a resident's yearly premium (for themselves, a minor
in their guardianship, or a relative bound by family sharing) and a flexible employee's months.

The person sees each year's amount, deadline and the day benefits would start, creates an
order, pays at the gateway (a link and a QR code), comes back to the order page, and gets the
receipt as a PDF. The operations are ``yibao.collection.service``'s, the same as the API's.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from yibao.collection import orders, payers, quotes, receipt, refunds, service, settle
from yibao.collection.orders import Order, Status
from yibao.errors import InvalidInput, YibaoError
from yibao.policy.parameters import Confidence
from yibao.security.principal import Principal
from yibao.web.deps import client_address, get_engine, get_security, policy_book
from yibao.web.page_tools import today
from yibao.web.portal.evoucher import qr_svg
from yibao.web.portal.forms import parse_id
from yibao.web.portal.pages import PageRoute, check_form, current_person, field_errors, redirect, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PAY_PATH = "/portal/pay"
ORDER_PATH = PAY_PATH + "/orders/{order_no}"
NOTICES = {
    "refunded": "已申请退费，款项将原路退回支付账户。",
    "checked": "已向支付渠道查询支付结果。",
}


@router.get(PAY_PATH)
def pay_page(request: Request, principal: Principal = Depends(current_person), person: str | None = None) -> HTMLResponse:
    return _pay_page(request, principal, chosen=_chosen(person))


@router.post(PAY_PATH + "/premium")
def create_premium(request: Request, principal: Principal = Depends(current_person), csrf: str = Form(""),
                   person_id: str = Form(""), year: str = Form("")) -> Response:
    check_form(request, csrf)
    person = parse_id(person_id, "person_id")
    try:
        if not (year.isdigit() and len(year) == 4):
            raise InvalidInput("请选择缴费年度", field="year", code="year_missing")
        order = service.premium_order(get_engine(request), get_security(request), policy_book(request),
                                      _acting(request, principal), person_id=person, year=int(year))
    except InvalidInput as error:
        return _pay_page(request, principal, chosen=person, errors=_form_errors(error), status_code=422)
    except YibaoError as error:
        if error.code == payers.PersonNotPayable.code:
            raise
        return _pay_page(request, principal, chosen=person, errors={"_form": error.message}, status_code=409)
    return redirect(ORDER_PATH.format(order_no=order.order_no))


@router.post(PAY_PATH + "/flexible")
async def create_flexible(request: Request, principal: Principal = Depends(current_person)) -> Response:
    form = await request.form()
    check_form(request, str(form.get("csrf", "")))
    months = [str(month) for month in form.getlist("months")]
    try:
        order = await _in_thread(service.flexible_order, get_engine(request), get_security(request), policy_book(request),
                                 _acting(request, principal), tier_key=str(form.get("tier", "")), months=months)
    except YibaoError as error:
        errors = _form_errors(error) if isinstance(error, InvalidInput) else {"_form": error.message}
        return await _in_thread(_pay_page, request, principal, chosen=principal.person_id, errors=errors,
                                form={"tier": str(form.get("tier", "")), "months": months}, status_code=422)
    return redirect(ORDER_PATH.format(order_no=order.order_no))


@router.get(ORDER_PATH)
def order_page(request: Request, order_no: str, principal: Principal = Depends(current_person),
               notice: str | None = None) -> HTMLResponse:
    return _order_page(request, principal, _current(request, order_no, principal), notice=NOTICES.get(notice or ""))


@router.post(ORDER_PATH + "/check")
def check(request: Request, order_no: str, principal: Principal = Depends(current_person), csrf: str = Form("")) -> Response:
    check_form(request, csrf)
    order = _current(request, order_no, principal)
    settle.check_with_gateway(get_engine(request), get_security(request), policy_book(request), order)
    return redirect(ORDER_PATH.format(order_no=order_no) + "?notice=checked")


@router.post(ORDER_PATH + "/refund")
def refund(request: Request, order_no: str, principal: Principal = Depends(current_person), csrf: str = Form(""),
           reason: str = Form("")) -> Response:
    check_form(request, csrf)
    order = _current(request, order_no, principal)
    try:
        if order.payer_person_id != principal.person_id:
            raise refunds.not_payer()
        refunds.refund_order(get_engine(request), get_security(request), order, actor=principal, reason=reason,
                             client=client_address(request))
    except YibaoError as error:
        return _order_page(request, principal, order, errors=_form_errors(error), status_code=422)
    return redirect(ORDER_PATH.format(order_no=order_no) + "?notice=refunded")


@router.get(ORDER_PATH + "/receipt.pdf")
def receipt_pdf(request: Request, order_no: str, principal: Principal = Depends(current_person)) -> Response:
    order = _current(request, order_no, principal)
    return receipt.pdf_response(get_engine(request), get_security(request), order, principal, client_address(request))


# ---------------------------------------------------------------------------- helpers


async def _in_thread(function, *args, **kwargs):
    return await run_in_threadpool(function, *args, **kwargs)


def _acting(request: Request, principal: Principal) -> service.Acting:
    return service.Acting.person(principal, client_address(request), "portal")


def _chosen(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() and len(raw) <= 18 else None


def _form_errors(error: YibaoError) -> dict[str, str]:
    errors = field_errors(error) if isinstance(error, InvalidInput) else {"_form": error.message}
    # Fields without an input of their own on the page are said above the form.
    return {("_form" if name not in ("reason", "tier", "months") else name): text for name, text in errors.items()}


def _current(request: Request, order_no: str, principal: Principal) -> Order:
    return service.visible_now(get_engine(request), get_security(request), policy_book(request), order_no,
                               principal.person_id)


def _sources(book, ids) -> list:
    return [book.sources[each] for each in ids if each in book.sources]


def _pay_page(request: Request, principal: Principal, *, chosen: int | None, errors: dict | None = None,
              form: dict | None = None, status_code: int = 200) -> HTMLResponse:
    book, day = policy_book(request), today(request)
    with get_engine(request).connect() as conn:
        people = payers.payable_people(conn, principal.person_id)
        person = next((each for each in people if each.person_id == chosen), people[0])
        premium = quotes.premium_quotes(conn, book, person, day)
        flexible = quotes.flexible_quote(conn, book, person, day) if person.role == payers.SELF else None
        recent = orders.of_person(conn, principal.person_id, limit=10)
    context = {
        "people": people, "person": person, "premium": premium, "flexible": flexible, "recent": recent,
        "sources": lambda ids: _sources(book, ids), "confidence_label": lambda value: Confidence(value).label,
        "errors": errors or {}, "form": form or {"months": []},
    }
    return render(request, "portal/pay.html", context, status_code=status_code, principal=principal)


def _order_page(request: Request, principal: Principal, order: Order, *, notice: str | None = None,
                errors: dict | None = None, status_code: int = 200) -> HTMLResponse:
    sec = get_security(request)
    pay_url = service.checkout(sec, order, str(request.base_url)).pay_url if order.status is Status.OPEN else None
    refundable = None
    if order.status is Status.POSTED and order.payer_person_id == principal.person_id:
        try:
            refunds.check_refundable(order, today(request))
            refundable = True
        except InvalidInput as error:
            refundable = error.message
    context = {
        "order": order, "pay_url": pay_url, "qr": qr_svg(pay_url) if pay_url else None, "notice": notice,
        "errors": errors or {}, "refundable": refundable, "role_label": payers.ROLE_LABELS[order.payer_role],
        "minutes_left": max(0, int((order.expires_at - sec.now()).total_seconds() // 60)),
    }
    return render(request, "portal/pay_order.html", context, status_code=status_code, principal=principal)
