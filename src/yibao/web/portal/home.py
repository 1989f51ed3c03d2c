"""The portal's home page: balance, this month's credit and why, continuity, lifetime coverage, charts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from yibao.domain.money import Money
from yibao.policy import personal
from yibao.security.principal import Principal
from yibao.web import charts
from yibao.web.api import reads
from yibao.web.deps import get_engine
from yibao.web.page_tools import today
from yibao.web.portal.answers import CONTINUITY_STATES, answer_or_missing
from yibao.web.portal.forms import FormErrors, parse_day
from yibao.web.portal.history import monthly_figures, months_back
from yibao.web.portal.pages import HOME_PATH, PageRoute, current_person, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

CHART_MONTHS = 12
NOTICES = {"password_changed": "密码已修改，请牢记新密码。"}


@router.get(HOME_PATH)
def home(
    request: Request, principal: Principal = Depends(current_person), retire_on: str | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    day = today(request)
    errors = FormErrors()
    expected_retirement = errors.parse(parse_day, retire_on, "retire_on")
    person_id = principal.person_id
    with get_engine(request).connect() as conn:
        profile = reads.profile(conn, person_id)
        own_accounts = reads.account_list(conn, person_id)
        continuity = answer_or_missing(lambda: personal.continuity_answer(conn, person_id, today=day))
        figures = monthly_figures(conn, person_id, months_back(day, CHART_MONTHS))
        if personal.person_record(conn, person_id).insurance_type == "resident":
            # No personal-account credit and no lifetime-years question: their premium and family sharing instead.
            employee = {"resident": personal.resident_answer(conn, person_id, today=day)}
        else:
            years = personal.contribution_years(conn, person_id)
            employee = {
                "credit": answer_or_missing(lambda: personal.credit_answer(conn, person_id, month=day, today=day)),
                "years": years, "years_text": personal.years_breakdown(years),
                "lifetime": answer_or_missing(
                    lambda: personal.lifetime_answer(conn, person_id, today=day, retire_on=expected_retirement)
                ),
            }
    context = {
        "profile": profile, "accounts": own_accounts, "continuity": continuity, **employee,
        "continuity_states": CONTINUITY_STATES, "retire_on": retire_on or "",
        "retire_on_error": errors.by_field.get("retire_on"), "figures": figures, "today": day,
        "notice": NOTICES.get(notice or ""), **_charts(figures),
    }
    return render(request, "portal/home.html", context, principal=principal)


def _charts(figures: list) -> dict[str, Any]:
    balance_points = [charts.Point(f"{item.month.month}月", item.closing_balance_fen) for item in figures]
    credit_points = [charts.Point(f"{item.month.month}月", item.credited_fen) for item in figures]
    if not figures:
        return {"balance_chart": None, "credit_chart": None}
    span = f"{figures[0].month:%Y年%m月}至{figures[-1].month:%Y年%m月}"
    last, total = figures[-1], sum(item.credited_fen for item in figures)
    return {
        "balance_chart": charts.line_chart(
            "balance-chart", balance_points, title="个人账户月末余额",
            description=f"{span}每月月末余额，最近一个月末为{Money(last.closing_balance_fen).format()}。详见下方数据表。",
        ),
        "credit_chart": charts.bar_chart(
            "credit-chart", credit_points, title="每月划入金额",
            description=f"{span}每月划入个人账户的金额，合计{Money(total).format()}。详见下方数据表。",
        ),
    }
