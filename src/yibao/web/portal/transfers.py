"""转移接续 on the portal: apply to move to another pooling region, follow each step with its
due date in working days and an overdue mark, and see where the balance is.

The same service functions as the person's API (``transfers.transfer``, ``transfers.progress``).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse

from yibao.errors import InvalidInput
from yibao.security.principal import Principal
from yibao.transfers import deadlines, progress, transfer
from yibao.web.api import reads
from yibao.web.api.withdrawals import audit_action
from yibao.web.deps import get_engine, policy_book
from yibao.web.page_tools import today
from yibao.web.portal.region_picker import region_groups
from yibao.web.portal.pages import PageRoute, check_form, current_person, field_errors, redirect, render
from yibao.web.portal.withdrawals import at_fields
from yibao.withdrawals.cases import CaseConflict

router = APIRouter(route_class=PageRoute, include_in_schema=False)

TRANSFERS_PATH = "/portal/transfers"
NOTICES = {"requested": "转移申请已提交，转出地经办机构将在期限内审核。"}


@router.get(TRANSFERS_PATH)
def transfers_page(request: Request, principal: Principal = Depends(current_person), notice: str | None = None) -> HTMLResponse:
    return _page(request, principal, notice=NOTICES.get(notice or ""))


@router.post(TRANSFERS_PATH)
def request_transfer(
    request: Request, principal: Principal = Depends(current_person), csrf: str = Form(""), to_region: str = Form(""),
) -> Response:
    check_form(request, csrf)
    try:
        if not to_region.strip():
            raise InvalidInput("请选择转入地", field="to_region", code="region_required")
        with get_engine(request).begin() as conn:
            transfer_id = transfer.request(conn, policy_book(request), person_id=principal.person_id,
                                           to_region=to_region, today=today(request))
            audit_action(conn, request, principal, "transfer.request", person_id=principal.person_id, reason=None,
                         detail={"transfer_id": transfer_id})
    except (InvalidInput, CaseConflict) as error:  # e.g. a withdrawal still open: shown at the field
        return _page(request, principal, errors=at_fields(field_errors(error), ("to_region",)), chosen=to_region,
                     status_code=422)
    return redirect(TRANSFERS_PATH + "?notice=requested")


def _page(request: Request, principal: Principal, *, notice: str | None = None, errors: dict | None = None,
          chosen: str = "", status_code: int = 200) -> HTMLResponse:
    day = today(request)
    with get_engine(request).connect() as conn:
        found = [progress.progress(conn, row, day) for row in transfer.transfers_of(conn, principal.person_id)]
        region_code = reads.person_row(conn, principal.person_id)["region_code"]
    context = {
        "transfers": found, "can_apply": not any(item.status in transfer.OPEN_STATUSES for item in found),
        "region_groups": region_groups(pooling_only=True), "chosen": chosen, "errors": errors or {}, "notice": notice,
        "out_days": _out_days(request, region_code, day),
    }
    return render(request, "portal/transfers.html", context, status_code=status_code, principal=principal)


def _out_days(request: Request, region_code: str, day) -> int | None:
    """The working days the person's region has to review and transfer out (None: the data has none)."""
    try:
        return deadlines.working_days(policy_book(request), deadlines.TRANSFER_OUT, region_code, day)
    except InvalidInput:
        return None
