"""办事: the person's cases in one place (transfers, withdrawals, emergency refunds), each with
where it stands and a link to apply or follow it."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from yibao.filings import service as filings
from yibao.filings.display import describe
from yibao.security.principal import Principal
from yibao.transfers import refunds, transfer
from yibao.transfers.refunds import RefundStatus
from yibao.transfers.transfer import TransferStatus
from yibao.web.deps import get_engine, policy_book
from yibao.web.page_tools import today
from yibao.web.portal.pages import PageRoute, current_person, render
from yibao.withdrawals import cases
from yibao.withdrawals.cases import CaseStatus

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/portal/cases")
def cases_page(request: Request, principal: Principal = Depends(current_person)) -> HTMLResponse:
    with get_engine(request).connect() as conn:
        moves = transfer.transfers_of(conn, principal.person_id)
        withdrawals = cases.cases_of(conn, principal.person_id)
        mine = refunds.refunds_of(conn, principal.person_id)
        filed = [describe(policy_book(request), row, today(request)) for row in filings.filings_of(conn, principal.person_id)[:3]]
    services = [
        ("/portal/transfers", "医保关系转移接续", "换工作或搬家到其他城市，把医保关系和个人账户余额转过去。",
         [f"{TransferStatus(row['status']).label}（{row['requested_on']}）" for row in moves[:3]]),
        ("/portal/withdrawals", "个人账户余额提取", "出国定居、放弃职工医保等情况下，申请提取个人账户余额。",
         [f"{cases.reason_label(row['reason'])}：{CaseStatus(row['status']).label}" for row in withdrawals[:3]]),
        ("/portal/refunds", "急诊垫付费用返还", "急诊时自己垫付的费用，凭票据申请返还到个人账户。",
         [f"票据{row['receipt_number']}：{RefundStatus(row['status']).label}" for row in mine[:3]]),
        ("/portal/filings", "异地就医备案", "长期在外地居住、工作或临时到外地就医，先办理备案。",
         [f"{line.kind_label}（{line.place_name}）：{line.status_label}" for line in filed]),
    ]
    return render(request, "portal/cases.html", {"services": services}, principal=principal)
