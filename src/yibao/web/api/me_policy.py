"""Policy answers from the signed-in person's own record (see ``yibao.policy.personal``)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from yibao.clock import CHINA
from yibao.policy import personal
from yibao.security.principal import Principal, Scope
from yibao.web.api.schemas import error_responses
from yibao.web.deps import PersonData, get_engine, get_security

router = APIRouter(
    prefix="/api/v1/me/policy", tags=["本人 / the signed-in person"], responses=error_responses(401, 403, 422, 429)
)


@router.get("/credit", summary="本人某月个人账户划入：应划金额、依据与实际入账")
def my_credit(
    request: Request,
    principal: Principal = Depends(PersonData(Scope.BALANCE)),
    month: date | None = Query(None, description="该月任一日期，默认本月"),
) -> dict[str, Any]:
    today = _today(request)
    with get_engine(request).connect() as conn:
        return personal.credit_answer(conn, principal.person_id, month=month or today, today=today)


@router.get("/lifetime", summary="本人缴费年限与终身医保")
def my_lifetime(
    request: Request,
    principal: Principal = Depends(PersonData(Scope.CONTRIBUTIONS)),
    retire_on: date | None = Query(None, description="尚未退休时：预计退休日期"),
) -> dict[str, Any]:
    with get_engine(request).connect() as conn:
        return personal.lifetime_answer(conn, principal.person_id, today=_today(request), retire_on=retire_on)


@router.get("/withdraw", summary="本人个人账户余额能否提取")
def my_withdrawal(
    request: Request,
    principal: Principal = Depends(PersonData(Scope.BALANCE)),
    reason: str = Query(..., description=personal.WITHDRAW_REASONS),
) -> dict[str, Any]:
    with get_engine(request).connect() as conn:
        return personal.withdraw_answer(conn, principal.person_id, reason=reason, today=_today(request))


@router.get("/continuity", summary="本人连续缴费情况：是否断缴、待遇是否暂停")
def my_continuity(request: Request, principal: Principal = Depends(PersonData(Scope.CONTRIBUTIONS))) -> dict[str, Any]:
    with get_engine(request).connect() as conn:
        return personal.continuity_answer(conn, principal.person_id, today=_today(request))


def _today(request: Request) -> date:
    return get_security(request).now().astimezone(CHINA).date()
