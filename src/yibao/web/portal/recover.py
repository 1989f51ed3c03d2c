"""Forgotten password (忘记密码) on the portal: ID number + name, an SMS code to the registered
phone (the page shows the masked number), then a new password. ``security.password_reset``
does the work, as for the API; like the sign-in forms, these carry the per-browser form token.
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Request, Response

from yibao.errors import InvalidInput
from yibao.security import password_reset
from yibao.security.errors import AccessError
from yibao.web.deps import client_address, get_engine, get_security
from yibao.web.page_session import Channel
from yibao.web.page_tools import remember_nonce, signin_nonce, signin_token
from yibao.web.portal.auth import check_signin_form, errors_of
from yibao.web.portal.pages import LOGIN_PATH, PageRoute, redirect, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

FORGOT_PATH = "/portal/forgot"


@router.get(FORGOT_PATH)
def forgot_page(request: Request) -> Response:
    return _page(request)


@router.post(FORGOT_PATH + "/code")
def send_code(request: Request, id_number: str = Form(""), name: str = Form(""), form_token: str = Form("")) -> Response:
    form = {"id_number": id_number, "name": name}
    try:
        check_signin_form(request, form_token)
        sent = password_reset.request_code(
            get_engine(request), get_security(request), id_number=id_number, name=name, client=client_address(request)
        )
    except (InvalidInput, AccessError) as error:
        return _page(request, form=form, error=error)
    minutes = max(1, sent.expires_in // 60)
    notice = f"如身份证号和姓名与登记信息一致，验证码已发送至手机{sent.masked_phone}，{minutes}分钟内有效。"
    return _page(request, form=form, code_sent=True, notice=notice)


@router.post(FORGOT_PATH)
def reset(
    request: Request, id_number: str = Form(""), name: str = Form(""), code: str = Form(""),
    new_password: str = Form(""), confirm_password: str = Form(""), form_token: str = Form(""),
) -> Response:
    form = {"id_number": id_number, "name": name}
    try:
        check_signin_form(request, form_token)
        if new_password and confirm_password != new_password:
            raise InvalidInput("两次输入的新密码不一致", field="confirm_password", code="password_mismatch")
        password_reset.reset_password(
            get_engine(request), get_security(request), id_number=id_number, name=name, code=code,
            new_password=new_password, client=client_address(request),
        )
    except (InvalidInput, AccessError) as error:
        return _page(request, form=form, error=error, code_sent=True)
    return redirect(f"{LOGIN_PATH}?notice=password_reset")


def _page(
    request: Request, *, form: dict | None = None, error: Exception | None = None, notice: str | None = None,
    code_sent: bool = False,
) -> Response:
    errors, status = errors_of(error)
    nonce = signin_nonce(request)
    context = {
        "form": form or {}, "errors": errors, "notice": notice, "code_sent": code_sent,
        "form_token": signin_token(request, Channel.PORTAL, nonce),
    }
    response = render(request, "portal/forgot.html", context, status_code=status)
    remember_nonce(request, response, nonce)
    return response
