"""``/api/v1/policy/...``: the same answers as ``yibao policy ... --json``.

Query parameters arrive as text and go through the same parsers as the CLI, so a bad value
gets the same machine code (422, ``{"error": {code, message, field}}``, plus ``errors`` when
several fields are wrong).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from yibao.clock import SystemClock
from yibao.policy.loading import load_book
from yibao.policy.service import ask

router = APIRouter(prefix="/api/v1/policy", tags=["policy"])

REGION = Query(..., min_length=1, description="地区：代码、全称或简称，如 110000、北京市、京")


def _ask(question: str, raw: dict[str, Any]) -> dict[str, Any]:
    return ask(load_book(), question, raw, SystemClock().today())


@router.get("/credit", summary="每月个人账户划入 / monthly credit")
def credit(
    region: str = REGION,
    birth: str = Query(..., min_length=1, description="出生日期 YYYY-MM-DD"),
    on: str = Query(..., min_length=1, description="划入日期 YYYY-MM-DD"),
    insurance: str = Query(..., min_length=1, description="employee 或 resident"),
    status: str = Query(..., min_length=1, description="working 或 retired"),
    avg_pension: str | None = Query(None, description="当地人均基本养老金（元/月）"),
    base: str | None = Query(None, description="缴费基数（元/月）"),
    flexible: str | None = Query(None, description="灵活就业人员：true/false"),
) -> dict[str, Any]:
    return _ask("credit", {"region": region, "birth": birth, "on": on, "insurance": insurance, "status": status,
                           "avg_pension": avg_pension, "base": base, "flexible": flexible})


@router.get("/lifetime", summary="缴费年限与终身医保 / lifetime coverage")
def lifetime(
    region: str = REGION,
    sex: str = Query(..., min_length=1, description="M 或 F"),
    cumulative_years: str = Query(..., min_length=1, description="累计缴费年限"),
    actual_years: str = Query(..., min_length=1, description="实际缴费年限"),
    retire_on: str = Query(..., min_length=1, description="退休日期 YYYY-MM-DD"),
    enrolled_on: str | None = Query(None, description="参保日期 YYYY-MM-DD"),
    flexible: str | None = Query(None, description="灵活就业人员：true/false"),
    insurance: str | None = Query(None, description="employee（默认）或 resident"),
    on: str | None = Query(None, description="查询日期，默认今天"),
) -> dict[str, Any]:
    return _ask("lifetime", {"region": region, "sex": sex, "cumulative_years": cumulative_years, "actual_years": actual_years,
                             "retire_on": retire_on, "enrolled_on": enrolled_on, "flexible": flexible,
                             "insurance": insurance, "on": on})


@router.get("/withdraw", summary="个人账户余额提取 / withdrawal")
def withdraw(
    region: str = REGION,
    reason: str = Query(..., min_length=1, description="death|abandon|remote|refused|illness|emigration"),
    on: str | None = Query(None, description="查询日期，默认今天"),
) -> dict[str, Any]:
    return _ask("withdraw", {"region": region, "reason": reason, "on": on})


@router.get("/continuity", summary="断缴与待遇 / continuity")
def continuity(
    region: str = REGION,
    paid: str = Query(..., min_length=1, description="已缴费月份，逗号分隔：2025-01,2025-02"),
    on: str = Query(..., min_length=1, description="查询日期 YYYY-MM-DD"),
    status: str | None = Query(None, description="working（默认）或 retired"),
) -> dict[str, Any]:
    return _ask("continuity", {"region": region, "paid": paid, "on": on, "status": status})


@router.get("/family", summary="家庭共济：可共济的亲属与限额 / family sharing")
def family(region: str = REGION, on: str | None = Query(None, description="查询日期，默认今天")) -> dict[str, Any]:
    return _ask("family", {"region": region, "on": on})


@router.get("/transfer", summary="转移接续办理时限 / transfer deadlines")
def transfer(
    region: str = REGION,
    to_region: str | None = Query(None, max_length=40, description="转入地（行政区划代码或名称）"),
    applied_on: str | None = Query(None, max_length=10, description="转出地受理申请的日期 YYYY-MM-DD"),
    on: str | None = Query(None, description="查询日期，默认今天"),
) -> dict[str, Any]:
    return _ask("transfer", {"region": region, "to_region": to_region, "applied_on": applied_on, "on": on})


@router.get("/channels", summary="余额查询渠道 / channels")
def channels(region: str = REGION, on: str | None = Query(None, description="查询日期，默认今天")) -> dict[str, Any]:
    return _ask("channels", {"region": region, "on": on})
