"""Settings: the apps the person authorized (with last use, revocable), the statement download,
and the phone password used by the 12333 line, kiosks and pharmacy counters."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse

from yibao.errors import InvalidInput
from yibao.ledger.accounts import current_personal_account
from yibao.security import audit, oauth, phone_pin
from yibao.security.principal import SCOPE_LABELS, Principal, Scope
from yibao.statements import check_owner, statement_pdf, validate_period
from yibao.web.api import reads
from yibao.web.deps import client_address, get_engine, get_security
from yibao.web.page_tools import today
from yibao.web.portal.forms import FormErrors, parse_day, parse_id
from yibao.web.portal.pages import (
    PageRoute,
    account_options,
    check_form,
    current_person,
    field_errors,
    redirect,
    render,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)

SETTINGS_PATH = "/portal/settings"
NOTICES = {
    "revoked": "已撤销授权，该应用不能再读取您的信息。",
    "pin_set": "电话查询密码已设置。拨打12333、使用自助机或在定点药店刷卡时请使用新密码。",
}


@router.get(SETTINGS_PATH)
def settings_page(request: Request, principal: Principal = Depends(current_person), notice: str | None = None) -> HTMLResponse:
    day = today(request)
    typed = {"date_from": date(day.year, 1, 1).isoformat(), "date_to": day.isoformat(), "account_id": ""}
    return _settings(request, principal, typed=typed, notice=NOTICES.get(notice or ""))


@router.post(SETTINGS_PATH + "/apps/{grant_id}/revoke")
def revoke_app(request: Request, grant_id: int, principal: Principal = Depends(current_person), csrf: str = Form("")) -> Response:
    check_form(request, csrf)
    parse_id(str(grant_id), "grant_id")
    now = get_security(request).now()
    with get_engine(request).begin() as conn:
        oauth.revoke_grant(conn, principal.person_id, grant_id, now)  # NotFound unless the grant is this person's
        audit.record(
            conn, actor=principal, action="app.grant_revoked", at=now, subject_person_id=principal.person_id,
            client=client_address(request), detail={"grant_id": grant_id},
        )
    return redirect(SETTINGS_PATH + "?notice=revoked")


@router.post(SETTINGS_PATH + "/phone-pin")
def set_phone_pin(
    request: Request,
    principal: Principal = Depends(current_person),
    csrf: str = Form(""),
    old_pin: str = Form(""),
    new_pin: str = Form(""),
    new_pin_again: str = Form(""),
) -> Response:
    check_form(request, csrf)
    try:
        if new_pin != new_pin_again:
            raise InvalidInput("两次输入的新密码不一致", field="new_pin_again", code="pin_mismatch")
        phone_pin.set_phone_pin(
            get_engine(request), get_security(request), principal, new_pin=new_pin, old_pin=old_pin or None,
            client=client_address(request),
        )
    except InvalidInput as error:
        day = today(request)
        typed = {"date_from": date(day.year, 1, 1).isoformat(), "date_to": day.isoformat(), "account_id": ""}
        return _settings(request, principal, typed=typed, pin_errors=field_errors(error), status_code=422)
    return redirect(SETTINGS_PATH + "?notice=pin_set")


@router.get("/portal/statement.pdf")
def statement(
    request: Request,
    principal: Principal = Depends(current_person),
    date_from: str | None = None,
    date_to: str | None = None,
    account_id: str | None = None,
) -> Response:
    errors = FormErrors()
    start = errors.parse(parse_day, date_from, "date_from")
    end = errors.parse(parse_day, date_to, "date_to")
    chosen = errors.parse(parse_id, account_id, "account_id")
    for value, field in ((start, "date_from"), (end, "date_to")):
        if value is None and field not in errors.by_field:
            errors.by_field[field] = "请选择日期"
    if start and end:
        try:
            validate_period(start, end)
        except InvalidInput as error:
            errors.add(error)
    typed = {"date_from": date_from or "", "date_to": date_to or "", "account_id": account_id or ""}
    if errors:
        return _settings(request, principal, typed=typed, errors=errors.by_field, status_code=422)
    with get_engine(request).connect() as conn:
        account = chosen or _default_account(conn, principal.person_id)
        check_owner(conn, account_id=account, person_id=principal.person_id)  # NotFound: someone else's account
        pdf = statement_pdf(conn, account_id=account, date_from=start, date_to=end, generated_at=get_security(request).now())
    name = f"yibao-statement-{start:%Y%m%d}-{end:%Y%m%d}.pdf"
    return Response(pdf, media_type="application/pdf", headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _default_account(conn, person_id: int) -> int:
    account = current_personal_account(conn, person_id)
    if account is None:
        raise InvalidInput("您还没有个人账户", field="account_id", code="account_not_found")
    return account.id


def _settings(
    request: Request, principal: Principal, *, typed: dict, errors: dict | None = None, notice: str | None = None,
    pin_errors: dict | None = None, status_code: int = 200,
) -> HTMLResponse:
    with get_engine(request).connect() as conn:
        apps = oauth.authorized_apps(conn, principal.person_id)
        own = reads.account_list(conn, principal.person_id).accounts
        has_pin = phone_pin.has_phone_pin(conn, principal.person_id)
    for app in apps:
        app["scope_labels"] = [SCOPE_LABELS[Scope(scope)] for scope in app["scope"].split()]
    context = {
        "apps": apps, "account_options": account_options(own), "typed": typed, "errors": errors or {}, "notice": notice,
        "has_pin": has_pin, "pin_errors": pin_errors or {},
    }
    return render(request, "portal/settings.html", context, status_code=status_code, principal=principal)
