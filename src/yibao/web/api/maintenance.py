"""``/api/v1/staff/persons/{person_id}/…``: what agency staff change for a person after checking
the identity document in person — a one-time sign-in password, the service PIN cleared, the
registered mobile number, a freeze of the personal account and its lifting.

Each body says the identity document was checked (``identity_checked: true``) and gives a
reason; the domain functions (``yibao.counter_service``) check the staff member's regions,
write the audit row and tell the person. The workbench's 账户维护 tab calls the same ones.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from yibao.counter_service.freeze import freeze, unfreeze
from yibao.counter_service.password import reset_password
from yibao.counter_service.phone import change_phone
from yibao.counter_service.pin import reset_pin
from yibao.security.permissions import Permission
from yibao.security.principal import Principal
from yibao.web.api import reads
from yibao.web.api.schemas import error_responses
from yibao.web.deps import StaffPermission, client_address, get_engine, get_security
from yibao.web.page_tools import today

router = APIRouter(
    prefix="/api/v1/staff/persons", tags=["经办人员 / agency staff"], responses=error_responses(401, 403, 404, 409, 422, 429)
)
PersonId = Annotated[int, Path(ge=1, le=reads.MAX_ID)]
password_staff = StaffPermission(Permission.PERSON_PASSWORD_RESET)
pin_staff = StaffPermission(Permission.PERSON_PIN_RESET)
phone_staff = StaffPermission(Permission.PERSON_PHONE_CHANGE)
freeze_staff = StaffPermission(Permission.ACCOUNT_FREEZE)


class CounterRequest(BaseModel):
    identity_checked: bool = Field(description="已核验本人身份证件原件（须为 true）")
    reason: str = Field(min_length=2, max_length=200, description="办理事由（必填，记入审计日志）")


class PhoneChange(CounterRequest):
    phone: str = Field(min_length=1, max_length=20, description="新手机号码（11位）")


class PasswordResetAnswer(BaseModel):
    person_id: int
    one_time_password: str = Field(description="一次性临时密码（只返回这一次），参保人下次登录须修改")
    must_change: bool = True
    apps_revoked: int = Field(description="随之失效的第三方应用授权数")


class PinResetAnswer(BaseModel):
    person_id: int
    had_pin: bool = Field(description="清除前是否设置过服务密码；参保人登录后自行设置新密码")


class PhoneAnswer(BaseModel):
    person_id: int
    phone_masked: str


class FreezeAnswer(BaseModel):
    person_id: int
    freeze_id: int
    frozen: bool


def _common(request: Request, principal: Principal, person_id: int, body: CounterRequest) -> dict:
    return {"principal": principal, "person_id": person_id, "identity_checked": body.identity_checked,
            "reason": body.reason, "client": client_address(request)}


@router.post("/{person_id}/password-reset", summary="柜台重置登录密码（一次性临时密码，下次登录须修改）",
             response_model=PasswordResetAnswer)
def password_reset(body: CounterRequest, request: Request, person_id: PersonId,
                   principal: Principal = Depends(password_staff)) -> PasswordResetAnswer:
    done = reset_password(get_engine(request), get_security(request), **_common(request, principal, person_id, body))
    return PasswordResetAnswer(person_id=person_id, one_time_password=done.password, apps_revoked=done.apps_revoked)


@router.post("/{person_id}/pin-reset", summary="柜台清除服务密码（参保人登录后自行设置新密码）", response_model=PinResetAnswer)
def pin_reset(body: CounterRequest, request: Request, person_id: PersonId,
              principal: Principal = Depends(pin_staff)) -> PinResetAnswer:
    done = reset_pin(get_engine(request), get_security(request), **_common(request, principal, person_id, body))
    return PinResetAnswer(person_id=person_id, had_pin=done.had_pin)


@router.post("/{person_id}/phone", summary="柜台变更登记的手机号码", response_model=PhoneAnswer)
def phone(body: PhoneChange, request: Request, person_id: PersonId, principal: Principal = Depends(phone_staff)) -> PhoneAnswer:
    done = change_phone(get_engine(request), get_security(request), phone=body.phone, **_common(request, principal, person_id, body))
    return PhoneAnswer(person_id=person_id, phone_masked=done.new_masked)


@router.post("/{person_id}/freeze", summary="柜台冻结个人账户", response_model=FreezeAnswer)
def freeze_account(body: CounterRequest, request: Request, person_id: PersonId,
                   principal: Principal = Depends(freeze_staff)) -> FreezeAnswer:
    freeze_id = freeze(get_engine(request), get_security(request), today=today(request),
                       **_common(request, principal, person_id, body))
    return FreezeAnswer(person_id=person_id, freeze_id=freeze_id, frozen=True)


@router.post("/{person_id}/unfreeze", summary="柜台解除冻结（只能解除柜台办理的冻结）", response_model=FreezeAnswer)
def unfreeze_account(body: CounterRequest, request: Request, person_id: PersonId,
                     principal: Principal = Depends(freeze_staff)) -> FreezeAnswer:
    freeze_id = unfreeze(get_engine(request), get_security(request), today=today(request),
                         **_common(request, principal, person_id, body))
    return FreezeAnswer(person_id=person_id, freeze_id=freeze_id, frozen=False)
