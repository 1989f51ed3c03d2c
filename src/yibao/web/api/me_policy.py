"""Policy answers from the signed-in person's own record (see ``yibao.policy.personal``)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from yibao.clock import CHINA
from yibao.policy import personal
from yibao.security.principal import Scope
from yibao.web.api.schemas import IsoDate, error_responses
from yibao.web.deps import PersonRead, PersonReader, get_security

router = APIRouter(
    prefix="/api/v1/me/policy", tags=["本人 / the signed-in person"], responses=error_responses(401, 403, 422, 429)
)


@router.get("/credit", summary="本人某月个人账户划入：应划金额、依据与实际入账")
async def my_credit(
    request: Request,
    read: PersonReader = Depends(PersonRead(Scope.BALANCE)),
    month: IsoDate | None = Query(None, description="该月任一日期，默认本月"),
) -> dict[str, Any]:
    today = _today(request)
    return await read(lambda conn, person_id: personal.credit_answer(conn, person_id, month=month or today, today=today))


@router.get("/lifetime", summary="本人缴费年限与终身医保")
async def my_lifetime(
    request: Request,
    read: PersonReader = Depends(PersonRead(Scope.CONTRIBUTIONS)),
    retire_on: IsoDate | None = Query(None, description="尚未退休时：预计退休日期"),
) -> dict[str, Any]:
    today = _today(request)
    return await read(lambda conn, person_id: personal.lifetime_answer(conn, person_id, today=today, retire_on=retire_on))


@router.get("/withdraw", summary="本人个人账户余额能否提取")
async def my_withdrawal(
    request: Request,
    read: PersonReader = Depends(PersonRead(Scope.BALANCE)),
    reason: str = Query(..., min_length=1, max_length=16, description=personal.WITHDRAW_REASONS),
) -> dict[str, Any]:
    today = _today(request)
    return await read(lambda conn, person_id: personal.withdraw_answer(conn, person_id, reason=reason, today=today))


@router.get("/continuity", summary="本人连续缴费情况：是否断缴、待遇是否暂停")
async def my_continuity(request: Request, read: PersonReader = Depends(PersonRead(Scope.CONTRIBUTIONS))) -> dict[str, Any]:
    today = _today(request)
    return await read(lambda conn, person_id: personal.continuity_answer(conn, person_id, today=today))


def _today(request: Request) -> date:
    return get_security(request).now().astimezone(CHINA).date()
