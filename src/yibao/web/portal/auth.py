"""Signing in to the portal (ID + card + password, or ID + SMS code), the forced password
change and signing out. The same ``yibao.security.signin`` functions as the API's sign-in.

There is no session yet to derive a CSRF token from, so the sign-in forms carry the same
token as the kiosk's and the counter's: bound to a per-browser cookie by the server key
(``page_tools.signin_token``). Another site cannot sign the browser in to an account of its
choosing (login CSRF), whatever Origin its post carries.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request, Response

from yibao.errors import InvalidInput
from yibao.security import signin
from yibao.security.errors import AccessError, Forbidden, Unauthenticated
from yibao.security.principal import Principal
from yibao.security.sessions import revoke_session
from yibao.web import page_session
from yibao.web.deps import client_address, get_engine, get_security
from yibao.web.page_session import Channel
from yibao.web.page_tools import check_signin_token, remember_nonce, signin_nonce, signin_token
from yibao.web.portal.pages import (
    LOGIN_PATH,
    PageRoute,
    check_form,
    field_errors,
    optional_person,
    person_session,
    redirect,
    render,
    safe_next,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PASSWORD_METHOD, SMS_METHOD = "password", "sms"
NOTICES = {
    "signed_out": "您已安全退出。",
    "expired": "登录已过期，请重新登录。",
    "password_reset": "密码已重置，原有登录已全部退出。请用新密码登录。",
}


@router.get(LOGIN_PATH)
def login_page(request: Request, method: str = PASSWORD_METHOD, next: str | None = None, notice: str | None = None) -> Response:
    if optional_person(request) is not None:
        return redirect(safe_next(next))
    return _login(request, method=SMS_METHOD if method == SMS_METHOD else PASSWORD_METHOD, next=next,
                  notice=NOTICES.get(notice or ""))


@router.post(LOGIN_PATH)
def login_with_password(
    request: Request,
    id_number: str = Form(""),
    card_number: str = Form(""),
    password: str = Form(""),
    next: str = Form(""),
    form_token: str = Form(""),
) -> Response:
    form = {"id_number": id_number, "card_number": card_number}
    try:
        check_signin_form(request, form_token)
        signed = signin.sign_in_with_password(
            get_engine(request), get_security(request), id_number=id_number, card_number=card_number,
            password=password, client=client_address(request),
        )
    except (InvalidInput, AccessError) as error:
        return _login(request, method=PASSWORD_METHOD, next=next, form=_masked(form), error=error)
    return _signed_in(request, signed, next)


@router.post(f"{LOGIN_PATH}/sms-code")
def send_sms_code(request: Request, id_number: str = Form(""), next: str = Form(""), form_token: str = Form("")) -> Response:
    form = {"id_number": id_number}
    sec = get_security(request)
    try:
        check_signin_form(request, form_token)
        phone = signin.request_sms_code(get_engine(request), sec, id_number=id_number, client=client_address(request))
    except (InvalidInput, AccessError) as error:
        return _login(request, method=SMS_METHOD, next=next, form=_masked(form), error=error)
    minutes = max(1, sec.settings.sms_code_ttl_seconds // 60)
    return _login(
        request, method=SMS_METHOD, next=next, form=form, code_sent=True,
        notice=f"验证码已发送至 {phone}，{minutes}分钟内有效，请注意查收。",
    )


@router.post(f"{LOGIN_PATH}/sms")
def login_with_sms(
    request: Request, id_number: str = Form(""), code: str = Form(""), next: str = Form(""), form_token: str = Form("")
) -> Response:
    form = {"id_number": id_number}
    try:
        check_signin_form(request, form_token)
        signed = signin.sign_in_with_sms(
            get_engine(request), get_security(request), id_number=id_number, code=code.strip(),
            client=client_address(request),
        )
    except (InvalidInput, AccessError) as error:
        return _login(request, method=SMS_METHOD, next=next, form=form, error=error, code_sent=True)
    return _signed_in(request, signed, next)


@router.get("/portal/password")
def password_page(request: Request, principal: Principal = Depends(person_session)) -> Response:
    return _password(request, principal)


@router.post("/portal/password")
def change_password(
    request: Request,
    principal: Principal = Depends(person_session),
    csrf: str = Form(""),
    old_password: str = Form(""),
    new_password: str = Form(""),
    confirm_password: str = Form(""),
) -> Response:
    check_form(request, csrf)
    try:
        if new_password and confirm_password != new_password:
            raise InvalidInput("两次输入的新密码不一致", field="confirm_password", code="password_mismatch")
        signed = signin.change_password(
            get_engine(request), get_security(request), principal, old_password=old_password,
            new_password=new_password, client=client_address(request),
        )
    except (InvalidInput, AccessError) as error:
        return _password(request, principal, error=error)
    response = redirect("/portal?notice=password_changed")
    page_session.start(request, response, Channel.PORTAL, signed.token, signed.expires_at)
    return response


@router.post("/portal/logout")
def logout(request: Request, principal: Principal = Depends(person_session), csrf: str = Form("")) -> Response:
    check_form(request, csrf)
    with get_engine(request).begin() as conn:
        revoke_session(conn, principal.session_id, get_security(request).now())
    response = redirect(f"{LOGIN_PATH}?notice=signed_out")
    page_session.end(response, Channel.PORTAL)
    return response


# ---------------------------------------------------------------------------- helpers


def check_signin_form(request: Request, form_token: str) -> None:
    """The form came from this browser's own sign-in page (its token) and not from another site.

    ``Origin: null`` alone proves nothing either way: the pages' ``Referrer-Policy: no-referrer``
    makes browsers send it with their own same-origin posts, and sandboxed frames send it too.
    """
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
        raise Forbidden("页面已过期，请刷新后重试", code="csrf_failed")
    check_signin_token(request, Channel.PORTAL, form_token)


def _masked(form: dict[str, str]) -> dict[str, str]:
    """A refused form comes back without the ID and card numbers typed: a shared or public
    computer must not show them to the next person (the page says what was wrong instead)."""
    return {name: "" for name in form}


def _signed_in(request: Request, signed: signin.SignedIn, next: str) -> Response:
    response = redirect("/portal/password" if signed.password_change_required else safe_next(next))
    page_session.start(request, response, Channel.PORTAL, signed.token, signed.expires_at)
    return response


def _login(
    request: Request, *, method: str, next: str | None, form: dict | None = None, error: Exception | None = None,
    notice: str | None = None, code_sent: bool = False,
) -> Response:
    errors, status = errors_of(error)
    nonce = signin_nonce(request)
    context = {
        "method": method, "next": next or "", "form": form or {}, "errors": errors, "notice": notice,
        "code_sent": code_sent, "form_token": signin_token(request, Channel.PORTAL, nonce),
    }
    response = render(request, "portal/login.html", context, status_code=status)
    remember_nonce(request, response, nonce)
    return response


def _password(request: Request, principal: Principal, error: Exception | None = None) -> Response:
    errors, status = errors_of(error)
    context = {"errors": errors, "forced": principal.limited}
    return render(request, "portal/password.html", context, status_code=status, principal=principal)


def errors_of(error: Exception | None) -> tuple[dict[str, str], int]:
    """Field errors next to their inputs; wrong details, lockouts and limits above the form."""
    if error is None:
        return {}, 200
    if isinstance(error, InvalidInput):
        return field_errors(error), 422
    if isinstance(error, Unauthenticated) and error.field == "code":
        return {"code": error.message}, error.status_code
    return {"_form": error.message}, error.status_code
