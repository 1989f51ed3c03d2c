"""The person sets their own 12333 phone password (logic in ``yibao.security.phone_pin``)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from yibao.security.phone_pin import set_phone_pin
from yibao.security.principal import Principal
from yibao.web.api.schemas import error_responses
from yibao.web.deps import client_address, get_engine, get_security, own_session

router = APIRouter(prefix="/api/v1/me", tags=["本人 / the signed-in person"], responses=error_responses(401, 403, 422, 423, 429))


class PhonePinChange(BaseModel):
    new_pin: str = Field(min_length=1, max_length=16, description="新的6位电话查询密码 / new 6-digit phone password")
    old_pin: str | None = Field(
        None, max_length=16, description="原电话查询密码；从未设置过时可不填 / current phone password, if one is set"
    )

    model_config = {"json_schema_extra": {"examples": [{"new_pin": "730592"}, {"old_pin": "730592", "new_pin": "481736"}]}}


class PhonePinAnswer(BaseModel):
    message: str
    changed_at: datetime


@router.put("/phone-pin", summary="设置或修改12333电话查询密码（6位数字）", response_model=PhonePinAnswer)
def put_phone_pin(body: PhonePinChange, request: Request, principal: Principal = Depends(own_session)) -> PhonePinAnswer:
    """Only the person's own full session: no app and no staff member may set it. Weak
    passwords (123456, 111111, the birth date, the ID number's last six digits…) are refused."""
    result = set_phone_pin(
        get_engine(request), get_security(request), principal, new_pin=body.new_pin, old_pin=body.old_pin,
        client=client_address(request),
    )
    message = "电话查询密码已设置，可拨打12333查询医保个人账户" if result.first else "电话查询密码已修改"
    return PhonePinAnswer(message=message, changed_at=result.changed_at)
