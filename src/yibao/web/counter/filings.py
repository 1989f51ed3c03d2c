"""Out-of-area care filings at the workbench (``/counter/filings``): the queue of filings waiting
for confirmation in the staff member's regions, one filing with the person's earlier filings, and
the decision (confirm, or reject with a reason), which the person is told by notification.

A filing outside the staff member's regions is "not found", like every other workbench object.
The person is shown masked (name and ID number): deciding needs the filing and its documents,
not the person's full identity. Every view and decision is written to the audit log.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Form, Path, Request, Response

from yibao import notifications
from yibao.errors import InvalidInput, NotFound, YibaoError
from yibao.filings import service
from yibao.filings.display import describe
from yibao.filings.service import Actor
from yibao.security.permissions import Permission
from yibao.security.principal import Principal
from yibao.web.api import reads
from yibao.web.counter.transfer_tools import error_status, masked_person, persons_by_id
from yibao.web.counter.withdrawals import china_time, staff_names
from yibao.web.counter.workbench import HOME, Requires, audit_action, check_form, page, workbench_router
from yibao.web.deps import get_engine, get_security, policy_book
from yibao.web.page_tools import redirect, today

router = workbench_router()
FILINGS = f"{HOME}/filings"
FilingId = Annotated[int, Path(ge=1, le=reads.MAX_ID)]
viewer = Requires(Permission.FILING_VIEW)
decider = Requires(Permission.FILING_DECIDE)
NOTICES = {"confirmed": "备案已确认生效，参保人将收到通知。", "rejected": "备案未予通过，参保人将收到通知。"}


def staff_actor(principal: Principal) -> Actor:
    return Actor("staff", principal.subject_id, principal.scope)


@router.get(FILINGS)
def queue_page(request: Request, principal: Principal = Depends(viewer)) -> Response:
    day, book = today(request), policy_book(request)
    with get_engine(request).begin() as conn:
        rows = service.waiting(conn, principal.scope)
        people = persons_by_id(conn, [row["person_id"] for row in rows])
        audit_action(conn, request, principal, "staff.filing.queue", reason=None, detail={"count": len(rows)})
    items = [{"line": describe(book, row, day), "person": masked_person(people[row["person_id"]]),
              "region": reads.region_name(row["region_code"]) or "未知地区", "filed_at": china_time(row["created_at"])}
             for row in rows]
    return page(request, "counter/filings.html", principal, {"items": items}, nav="filings")


@router.get(FILINGS + "/{filing_id}")
def filing_page(request: Request, filing_id: FilingId, notice: str = "", principal: Principal = Depends(viewer)) -> Response:
    return _filing_page(request, principal, filing_id, notice=NOTICES.get(notice))


def _filing_page(request: Request, principal: Principal, filing_id: int, *, notice: str | None = None,
                 error: YibaoError | None = None, typed: dict | None = None, status_code: int = 200) -> Response:
    day, book = today(request), policy_book(request)
    with get_engine(request).begin() as conn:
        row = service.visible_filing(conn, filing_id, staff_actor(principal))
        person = reads.person_row(conn, row["person_id"])
        earlier = [describe(book, other, day) for other in service.filings_of(conn, row["person_id"]) if other["id"] != filing_id]
        decided_by = staff_names(conn, [row["decided_by"]]).get(row["decided_by"])
        audit_action(conn, request, principal, "staff.filing.view", reason=None, person_id=row["person_id"],
                     detail={"filing_id": filing_id})
    context = {
        "filing": describe(book, row, day), "person": masked_person(person),
        "region": reads.region_name(row["region_code"]) or "未知地区", "filed_at": china_time(row["created_at"]),
        "decided_by": decided_by, "decided_at": china_time(row["decided_at"]) if row["decided_at"] else None,
        "earlier": earlier, "notice": notice, "error": error.message if error else None,
        "error_field": getattr(error, "field", None), "typed": typed or {},
        "can_decide": row["status"] == service.FilingStatus.PENDING.value and principal.may(Permission.FILING_DECIDE),
    }
    return page(request, "counter/filings_case.html", principal, context, nav="filings", status_code=status_code)


@router.post(FILINGS + "/{filing_id}/decision")
def decide(request: Request, filing_id: FilingId, principal: Principal = Depends(decider), csrf: str = Form(""),
           decision: str = Form(""), note: str = Form("")) -> Response:
    check_form(request, csrf)
    typed = {"decision": decision, "note": note.strip()[:200]}
    book = policy_book(request)
    try:
        if decision not in ("confirm", "reject"):
            raise InvalidInput("请选择确认结果：确认生效或不予通过", field="decision", code="decision_required")
        with get_engine(request).begin() as conn:
            row = service.visible_filing(conn, filing_id, staff_actor(principal), lock=True)
            line = describe(book, row, today(request))
            outgoing = service.decide(conn, row, staff_id=principal.subject_id, approve=decision == "confirm", note=note,
                                      now=get_security(request).now(), place_name=line.place_name,
                                      kind_name=line.kind_label)
            audit_action(conn, request, principal, "staff.filing.decision", reason=note.strip(),
                         person_id=row["person_id"], detail={"filing_id": filing_id, "approve": decision == "confirm"})
    except NotFound:
        raise
    except YibaoError as error:
        return _filing_page(request, principal, filing_id, error=error, typed=typed, status_code=error_status(error))
    notifications.send(get_security(request), [outgoing])
    return redirect(f"{FILINGS}/{filing_id}?notice={'confirmed' if decision == 'confirm' else 'rejected'}")
