"""Sign-in of insured people: password or SMS code, forced password change, sign-out."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from yibao.security import password_reset, signin
from yibao.security.principal import Principal
from yibao.security.sessions import revoke_session
from yibao.security.signin import SignedIn
from yibao.web.api.schemas import ResetCodeSent, SmsSent, TokenAnswer, error_responses
from yibao.web.deps import any_session, client_address, get_engine, get_security, signed_in_person

router = APIRouter(prefix="/api/v1/auth", tags=["登录 / sign-in"])


class PasswordLogin(BaseModel):
    id_number: str = Field(min_length=1, max_length=40, description="身份证号码")
    card_number: str = Field(min_length=1, max_length=20, description="社会保障卡卡号")
    password: str = Field(min_length=1, max_length=64, description="密码")


class SmsCodeRequest(BaseModel):
    id_number: str = Field(min_length=1, max_length=40, description="身份证号码")


class SmsLogin(BaseModel):
    id_number: str = Field(min_length=1, max_length=40, description="身份证号码")
    code: str = Field(min_length=1, max_length=10, description="短信验证码")


class PasswordChange(BaseModel):
    old_password: str = Field("", max_length=64, description="原密码（仅用短信登录且从未设置密码时可为空）")
    new_password: str = Field(min_length=1, max_length=64, description="新密码：至少8位，含字母和数字")


class ResetCodeRequest(BaseModel):
    id_number: str = Field(min_length=1, max_length=40, description="身份证号码")
    name: str = Field(min_length=1, max_length=40, description="姓名（与登记信息一致）")


class PasswordReset(BaseModel):
    id_number: str = Field(min_length=1, max_length=40, description="身份证号码")
    name: str = Field(min_length=1, max_length=40, description="姓名（与登记信息一致）")
    code: str = Field(min_length=1, max_length=10, description="短信验证码")
    new_password: str = Field(min_length=1, max_length=64, description="新密码：至少8位，含字母和数字")


def token_answer(request: Request, signed: SignedIn) -> TokenAnswer:
    now = get_security(request).now()
    return TokenAnswer(
        access_token=signed.token,
        expires_in=max(0, int((signed.expires_at - now).total_seconds())),
        expires_at=signed.expires_at,
        password_change_required=signed.password_change_required,
    )


@router.post(
    "/login",
    summary="登录：身份证号 + 社保卡号 + 密码",
    response_model=TokenAnswer,
    responses=error_responses(401, 422, 423, 429),
)
def login(body: PasswordLogin, request: Request) -> TokenAnswer:
    """Answers a bearer token. When the password is the initial one or weak, the token may
    only be used to change the password (``password_change_required``): every data
    endpoint answers 403 with it."""
    signed = signin.sign_in_with_password(
        get_engine(request), get_security(request), id_number=body.id_number, card_number=body.card_number,
        password=body.password, client=client_address(request),
    )
    return token_answer(request, signed)


@router.post(
    "/sms-code",
    summary="发送短信验证码",
    status_code=202,
    response_model=SmsSent,
    responses=error_responses(422, 429),
)
def send_sms_code(body: SmsCodeRequest, request: Request) -> SmsSent:
    """The answer is the same whether or not the ID number has a phone on record."""
    sec = get_security(request)
    signin.request_sms_code(get_engine(request), sec, id_number=body.id_number, client=client_address(request))
    return SmsSent(
        message="如该身份证号已登记手机号码，验证码已发送，请注意查收",
        expires_in=sec.settings.sms_code_ttl_seconds,
    )


@router.post(
    "/login/sms",
    summary="登录：身份证号 + 短信验证码",
    response_model=TokenAnswer,
    responses=error_responses(401, 422, 423, 429),
)
def login_sms(body: SmsLogin, request: Request) -> TokenAnswer:
    signed = signin.sign_in_with_sms(
        get_engine(request), get_security(request), id_number=body.id_number, code=body.code, client=client_address(request)
    )
    return token_answer(request, signed)


@router.post(
    "/password",
    summary="修改密码（初始密码或弱密码须先修改）",
    response_model=TokenAnswer,
    responses=error_responses(401, 403, 422, 423, 429),
)
def change_password(body: PasswordChange, request: Request, principal: Principal = Depends(signed_in_person)) -> TokenAnswer:
    """Ends every session of the person, including this one, and answers a new full token."""
    signed = signin.change_password(
        get_engine(request), get_security(request), principal, old_password=body.old_password,
        new_password=body.new_password, client=client_address(request),
    )
    return token_answer(request, signed)


@router.post(
    "/password/reset-code",
    summary="忘记密码：发送验证码到登记的手机",
    status_code=202,
    response_model=ResetCodeSent,
    responses=error_responses(422, 429),
)
def send_reset_code(body: ResetCodeRequest, request: Request) -> ResetCodeSent:
    """The answer has the same form whether or not the ID number and name match a person with a phone."""
    sent = password_reset.request_code(
        get_engine(request), get_security(request), id_number=body.id_number, name=body.name, client=client_address(request)
    )
    return ResetCodeSent(
        message=f"如身份证号和姓名与登记信息一致，验证码已发送至手机{sent.masked_phone}",
        masked_phone=sent.masked_phone, expires_in=sent.expires_in,
    )


@router.post(
    "/password/reset",
    summary="忘记密码：用短信验证码设置新密码",
    status_code=204,
    response_class=Response,
    responses=error_responses(401, 422, 423, 429),
)
def reset_password(body: PasswordReset, request: Request) -> Response:
    """No old password needed. Every session and every app authorization of the person ends; sign in again."""
    password_reset.reset_password(
        get_engine(request), get_security(request), id_number=body.id_number, name=body.name, code=body.code,
        new_password=body.new_password, client=client_address(request),
    )
    return Response(status_code=204)


@router.post(
    "/logout",
    summary="退出登录",
    status_code=204,
    response_class=Response,
    responses=error_responses(401, 403, 429),
)
def logout(request: Request, principal: Principal = Depends(any_session)) -> Response:
    with get_engine(request).begin() as conn:
        revoke_session(conn, principal.session_id, get_security(request).now())
    return Response(status_code=204)
