"""The 缴费 tab of a person at the workbench: what the person may pay online, an order made at
the window for the person to pay by scanning its QR code with their own phone (the counter
takes no money), the person's orders, and their receipts printed.

Opening the tab is a view of the person with the case's reason (audited, region-checked);
creating an order is ``yibao.collection.service``'s, with the clerk as the actor and the person
as the payer.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Form, Path, Request, Response
from fastapi.concurrency import run_in_threadpool

from yibao.clock import CHINA
from yibao.collection import orders, payers, quotes, receipt, service, settle
from yibao.collection.orders import Status
from yibao.counter_service import person_for_staff
from yibao.errors import InvalidInput, YibaoError
from yibao.policy.parameters import Confidence
from yibao.security.permissions import Permission
from yibao.security.principal import Principal
from yibao.web.api import reads
from yibao.web.api.staff import open_person
from yibao.web.counter.case import reason_for
from yibao.web.counter.workbench import CHANNEL_DETAIL, HOME, Requires, check_form, page, workbench_router
from yibao.web.deps import client_address, get_engine, get_security, policy_book
from yibao.web.page_tools import redirect, status_of, today
from yibao.web.portal.evoucher import qr_svg

router = workbench_router()
PersonId = Annotated[int, Path(ge=1, le=reads.MAX_ID)]
OrderNo = Annotated[str, Path(min_length=8, max_length=32, pattern=r"^[A-Z0-9]+$")]
viewer = Requires(Permission.PERSON_VIEW)


def _reason(request: Request, principal: Principal, person_id: int) -> str | None:
    """The case's reason for this person; another region's person is "not found" before anything else."""
    with get_engine(request).connect() as conn:
        person_for_staff(conn, principal, person_id)
    return reason_for(request, person_id)


def _url(person_id: int, order_no: str | None = None) -> str:
    return f"{HOME}/persons/{person_id}/pay" + (f"?order={order_no}" if order_no else "")


@router.get(HOME + "/persons/{person_id}/pay")
def pay_tab(request: Request, person_id: PersonId, order: str = "", principal: Principal = Depends(viewer)) -> Response:
    reason = _reason(request, principal, person_id)
    if reason is None:
        return redirect(f"{HOME}/persons/{person_id}")
    return _tab(request, principal, person_id, reason, shown=order)


@router.post(HOME + "/persons/{person_id}/pay/premium")
def premium(request: Request, person_id: PersonId, principal: Principal = Depends(viewer), csrf: str = Form(""),
            year: str = Form("")) -> Response:
    check_form(request, csrf)
    reason = _reason(request, principal, person_id)
    if reason is None:
        return redirect(f"{HOME}/persons/{person_id}")
    try:
        _open(request, principal, person_id, reason, "collection.counter_order")
        if not (year.isdigit() and len(year) == 4):
            raise InvalidInput("请选择缴费年度", field="year", code="year_missing")
        made = service.premium_order(get_engine(request), get_security(request), policy_book(request),
                                     _acting(request, principal, person_id), person_id=person_id, year=int(year))
    except YibaoError as error:
        return _tab(request, principal, person_id, reason, error=error)
    return redirect(_url(person_id, made.order_no))


@router.post(HOME + "/persons/{person_id}/pay/flexible")
async def flexible(request: Request, person_id: PersonId, principal: Principal = Depends(viewer)) -> Response:
    form = await request.form()
    check_form(request, str(form.get("csrf", "")))
    return await run_in_threadpool(_flexible, request, principal, person_id, str(form.get("tier", "")),
                                   [str(month) for month in form.getlist("months")])


def _flexible(request: Request, principal: Principal, person_id: int, tier: str, months: list[str]) -> Response:
    reason = _reason(request, principal, person_id)
    if reason is None:
        return redirect(f"{HOME}/persons/{person_id}")
    try:
        _open(request, principal, person_id, reason, "collection.counter_order")
        made = service.flexible_order(get_engine(request), get_security(request), policy_book(request),
                                      _acting(request, principal, person_id), tier_key=tier, months=months)
    except YibaoError as error:
        return _tab(request, principal, person_id, reason, error=error)
    return redirect(_url(person_id, made.order_no))


@router.post(HOME + "/persons/{person_id}/pay/orders/{order_no}/check")
def check(request: Request, person_id: PersonId, order_no: OrderNo, principal: Principal = Depends(viewer),
          csrf: str = Form("")) -> Response:
    check_form(request, csrf)
    reason = _reason(request, principal, person_id)
    if reason is None:
        return redirect(f"{HOME}/persons/{person_id}")
    _open(request, principal, person_id, reason, "staff.person.orders")
    order = _order(request, person_id, order_no)
    settle.check_with_gateway(get_engine(request), get_security(request), policy_book(request), order)
    return redirect(_url(person_id, order_no))


@router.get(HOME + "/persons/{person_id}/pay/orders/{order_no}/receipt.pdf")
def receipt_pdf(request: Request, person_id: PersonId, order_no: OrderNo,
                principal: Principal = Depends(Requires(Permission.STATEMENT_PRINT))) -> Response:
    reason = _reason(request, principal, person_id)
    if reason is None:
        return redirect(f"{HOME}/persons/{person_id}")
    _open(request, principal, person_id, reason, "staff.person.orders")
    return receipt.pdf_response(get_engine(request), get_security(request), _order(request, person_id, order_no),
                                principal, client_address(request))


# ---------------------------------------------------------------------------- helpers


def _acting(request: Request, principal: Principal, person_id: int) -> service.Acting:
    return service.Acting(principal, client_address(request), "counter", payer_id=person_id)


def _open(request: Request, principal: Principal, person_id: int, reason: str, action: str) -> None:
    open_person(get_engine(request), get_security(request), principal, person_id, reason=reason, action=action,
                client=client_address(request), detail=CHANNEL_DETAIL)


def _order(request: Request, person_id: int, order_no: str) -> orders.Order:
    return service.visible_now(get_engine(request), get_security(request), policy_book(request), order_no, person_id)


def _tab(request: Request, principal: Principal, person_id: int, reason: str, *, shown: str = "",
         error: YibaoError | None = None) -> Response:
    _open(request, principal, person_id, reason, "staff.person.orders")
    book, day, sec = policy_book(request), today(request), get_security(request)
    with get_engine(request).connect() as conn:
        profile = reads.staff_profile(conn, person_id)
        person = payers.role_for(conn, person_id, person_id)
        premium = quotes.premium_quotes(conn, book, person, day)
        flexible_quote = quotes.flexible_quote(conn, book, person, day)
        found = orders.of_person(conn, person_id, limit=20)
    current = next((each for each in found if each.order_no == shown), None)
    if current is not None:
        current = service.current(get_engine(request), sec, book, current)
    pay_url = service.checkout(sec, current, str(request.base_url)).pay_url if current and current.status is Status.OPEN else None
    context = {
        "person_id": person_id, "reason": reason, "profile": profile, "tab": "pay", "premium": premium,
        "flexible": flexible_quote, "orders": found, "current": current, "qr": qr_svg(pay_url) if pay_url else None,
        "error": error.message if error else None, "confidence_label": lambda value: Confidence(value).label,
        "expires_at": current.expires_at.astimezone(CHINA).strftime("%H:%M") if current else None,
    }
    return page(request, "counter/pay.html", principal, context, nav="home",
                status_code=status_of(error) if error else 200)
