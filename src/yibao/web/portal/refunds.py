"""Emergency refunds (急诊垫付费用返还) on the portal: the person sees their refunds, however
entered, with status and decision, and applies with the receipt themselves. The person then
prepared the case; staff review and approve it (``security.four_eyes``: no staff member did both).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from fastapi.responses import HTMLResponse

from yibao import documents
from yibao.domain.money import Money
from yibao.errors import InvalidInput
from yibao.security.principal import Principal
from yibao.transfers import refunds
from yibao.web.api.transfers import person_refund_view, refund_settings
from yibao.web.api.withdrawals import audit_action
from yibao.web.deps import get_engine, get_security, policy_book
from yibao.web.page_tools import today
from yibao.web.portal.forms import FormErrors, parse_day, parse_id
from yibao.web.portal.pages import PageRoute, check_form, current_person, redirect, render
from yibao.web.portal.withdrawals import ACCEPT, at_fields, read_upload, upload_errors
from yibao.withdrawals.cases import CaseConflict

router = APIRouter(route_class=PageRoute, include_in_schema=False)

REFUNDS_PATH = "/portal/refunds"
NOTICES = {"applied": "返还申请已提交，经办机构审核通过后返还到您的个人账户。"}
EMPTY = {"amount": "", "incurred_on": "", "receipt_number": ""}
FIELDS = ("amount", "incurred_on", "receipt_number", "file")  # the fields the form shows a message at


def _parse_amount(text: str, field: str) -> int:
    return Money.parse(text, field=field).fen


@router.get(REFUNDS_PATH)
def refunds_page(request: Request, principal: Principal = Depends(current_person), notice: str | None = None) -> HTMLResponse:
    return _index(request, principal, typed=EMPTY, notice=NOTICES.get(notice or ""))


@router.post(REFUNDS_PATH)
def apply(
    request: Request, principal: Principal = Depends(current_person), csrf: str = Form(""), amount: str = Form(""),
    incurred_on: str = Form(""), receipt_number: str = Form(""), file: UploadFile | None = File(None),
) -> Response:
    check_form(request, csrf)
    typed = {"amount": amount, "incurred_on": incurred_on, "receipt_number": receipt_number}
    errors = FormErrors()
    amount_fen = errors.parse(_parse_amount, amount, "amount")
    day = errors.parse(parse_day, incurred_on, "incurred_on")
    for value, field, message in ((amount_fen, "amount", "请填写垫付金额"), (day, "incurred_on", "请选择费用发生日期")):
        if value is None and field not in errors.by_field:
            errors.by_field[field] = message
    if errors:
        return _index(request, principal, typed=typed, errors=errors.by_field, status_code=422)
    try:
        name, content = read_upload(file)
        claim = refunds.Claim(principal.person_id, amount_fen, day, receipt_number, name, content)
        with get_engine(request).begin() as conn:
            refund = refunds.apply(conn, policy_book(request), refund_settings(request), claim, today=today(request),
                                   now=get_security(request).now())
            audit_action(conn, request, principal, "refund.apply", person_id=principal.person_id, reason=None,
                         detail={"refund_id": refund.id, "amount_fen": amount_fen})
    except (InvalidInput, CaseConflict) as error:  # a receipt refunded before: shown at its field
        found = {("amount" if field == "amount_fen" else field): message for field, message in upload_errors(error).items()}
        return _index(request, principal, typed=typed, errors=at_fields(found, FIELDS), status_code=422)
    return redirect(f"{REFUNDS_PATH}/{refund.id}?notice=applied")


@router.get(REFUNDS_PATH + "/{refund_id}")
def refund_page(request: Request, refund_id: str, principal: Principal = Depends(current_person),
                notice: str | None = None) -> HTMLResponse:
    with get_engine(request).connect() as conn:
        row = refunds.refund_for_person(conn, parse_id(refund_id, "refund_id"), principal.person_id)
        view = person_refund_view(conn, row)
    return render(request, "portal/refund_case.html", {"refund": view, "notice": NOTICES.get(notice or "")},
                  principal=principal)


def _index(request: Request, principal: Principal, *, typed: dict, errors: dict | None = None, notice: str | None = None,
           status_code: int = 200) -> HTMLResponse:
    with get_engine(request).connect() as conn:
        mine = [person_refund_view(conn, row) for row in refunds.refunds_of(conn, principal.person_id)]
    context = {
        "refunds": mine, "typed": typed, "errors": errors or {}, "notice": notice, "accept": ACCEPT,
        "max_mb": documents.MAX_DOCUMENT_BYTES // (1024 * 1024), "today": today(request),
    }
    return render(request, "portal/refunds.html", context, status_code=status_code, principal=principal)
