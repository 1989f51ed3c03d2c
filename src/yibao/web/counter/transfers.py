"""Transfers between pooling regions (转移接续) at the workbench.

The list shows the open steps of the staff member's regions (``transfers.steps.open_steps``)
with their due dates in working days and an overdue mark, filtered by step, direction and
lateness, and the transfers finished lately. A transfer's page shows the person masked until a
reason is given, then every step with its dates and who did it, where the balance sits, and the
action of the region whose turn it is: the old region reviews and transfers out, the new region
transfers in and accepts or refuses the balance. The steps go through ``transfers.transfer``
exactly as the staff API does (``web.api.transfers``) and leave the same audit rows.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, Form, Path, Request, Response
from sqlalchemy import Connection, or_, select

from yibao.errors import InvalidInput, NotFound, YibaoError
from yibao.security.permissions import Permission, StaffScope
from yibao.security.principal import Principal
from yibao.store.models import accounts, region_transfers, withdrawal_cases
from yibao.transfers import progress, steps, transfer
from yibao.transfers.transfer import TransferStatus
from yibao.web.api import reads
from yibao.web.api.withdrawals import staff_actor
from yibao.web.counter import refunds
from yibao.web.counter.case import Case, open_case, reason_for, stated_reason
from yibao.web.counter.transfer_tools import (
    MAX_NOTE,
    error_status,
    masked_person,
    persons_by_id,
    reason_context,
    region_label,
    stated_note,
)
from yibao.web.counter.workbench import HOME, Requires, audit_action, check_form, page, staff_names, workbench_router
from yibao.web.deps import get_engine, get_security, policy_book
from yibao.web.page_tools import redirect, today

router = workbench_router()
router.include_router(refunds.router)  # emergency refunds: the same desk, their own pages
TransferId = Annotated[int, Path(ge=1, le=reads.MAX_ID)]
TRANSFERS = f"{HOME}/transfers"
RECENT = 20  # finished transfers shown under the open steps

STEP_LABELS = {"review": "转出地审核", "transfer_out": "转出", "transfer_in": "转入"}
DIRECTIONS = {"out": "转出（本地区转往外地）", "in": "转入（外地转入本地区）"}
NOTICES = {
    "approved": "转出地审核已通过，请在期限内办理转出。",
    "refused": "已不予办理该转移申请，参保人可在网上服务中看到办理意见。",
    "out": "已办理转出：个人账户余额已转入清算账户，原账户已注销。",
    "in": "已办理转入：新参保地已开立个人账户并接收余额。",
    "in_refused": "已办理转入，新参保地不接收余额：余额留在清算账户，已为参保人发起余额提取申请。",
    "in_refused_kept": "已办理转入，新参保地不接收余额：余额留在清算账户，原参保地政策不允许提取，请按财务规定处理。",
}
# Where the balance sits once each step is done (the person side reads the current place from
# ``transfers.progress``; the workbench shows it per step).
AFTER_STEP = {"review": "原参保地个人账户", "transfer_out": "清算账户（转移途中）"}


# ---------------------------------------------------------------------------- the list


def _visible(scope: StaffScope):
    """Transfers leaving or entering the staff member's regions."""
    return or_(scope.limit(region_transfers.c.from_region), scope.limit(region_transfers.c.to_region))


@router.get(TRANSFERS)
def transfer_list(request: Request, step: str = "", direction: str = "", overdue: str = "",
                  principal: Principal = Depends(Requires(Permission.TRANSFER_VIEW))) -> Response:
    filters = {"step": step if step in STEP_LABELS else "", "direction": direction if direction in DIRECTIONS else "",
               "overdue": overdue == "1"}
    day = today(request)
    with get_engine(request).connect() as conn:
        found = [each for each in steps.open_steps(conn, day, principal.scope, overdue_only=filters["overdue"])
                 if each.kind == "transfer"]
        if filters["step"]:
            found = [each for each in found if each.step == filters["step"]]
        if filters["direction"]:
            incoming = filters["direction"] == "in"  # the new region's step; the old region's are review and out
            found = [each for each in found if (each.step == "transfer_in") == incoming]
        rows = {row["id"]: row for row in conn.execute(
            select(region_transfers).where(region_transfers.c.id.in_([each.id for each in found] or [0]))).mappings()}
        recent = list(conn.execute(
            select(region_transfers).where(
                region_transfers.c.status.in_([TransferStatus.COMPLETED.value, TransferStatus.REJECTED.value]),
                _visible(principal.scope),
            ).order_by(region_transfers.c.id.desc()).limit(RECENT)
        ).mappings())
        people = persons_by_id(conn, [row["person_id"] for row in (*rows.values(), *recent)])
    open_items = [{
        "id": each.id, "step": STEP_LABELS[each.step], "from": region_label(rows[each.id]["from_region"]),
        "to": region_label(rows[each.id]["to_region"]), "person": masked_person(people[each.person_id]),
        "opened_on": each.opened_on, "due_on": each.due_on, "overdue": each.overdue,
        "days_overdue": each.working_days_overdue, "provisional": each.due_provisional,
    } for each in found]
    done_items = [{
        "id": row["id"], "status": TransferStatus(row["status"]).label, "from": region_label(row["from_region"]),
        "to": region_label(row["to_region"]), "person": masked_person(people[row["person_id"]]),
        "requested_on": row["requested_on"], "finished_on": row["in_on"] or row["reviewed_on"],
    } for row in recent]
    context = {"items": open_items, "done": done_items, "filters": filters, "step_labels": STEP_LABELS,
               "directions": DIRECTIONS, "overdue_count": sum(item["overdue"] for item in open_items)}
    return page(request, "counter/transfers/list.html", principal, context, nav="transfers")


# ---------------------------------------------------------------------------- one transfer


def _transfer_in_scope(conn: Connection, transfer_id: int, principal: Principal):
    """The transfer if it leaves or enters one of the staff member's regions; else "not found"."""
    row = transfer.transfer_row(conn, transfer_id)
    if not (principal.scope.covers(row["from_region"]) or principal.scope.covers(row["to_region"])):
        raise NotFound("未找到该转移申请", field="transfer_id", code="transfer_not_found")  # as transfer.for_staff says
    return row


def _turn(row, principal: Principal) -> str | None:
    """The action the staff member may take now, if it is their region's turn and their role's."""
    status = TransferStatus(row["status"])
    if status is TransferStatus.REQUESTED and principal.scope.covers(row["from_region"]) and principal.may(Permission.TRANSFER_REVIEW):
        return "review"
    if status is TransferStatus.APPROVED and principal.scope.covers(row["from_region"]) and principal.may(Permission.TRANSFER_OUT):
        return "out"
    if status is TransferStatus.TRANSFERRED_OUT and principal.scope.covers(row["to_region"]) and principal.may(Permission.TRANSFER_IN):
        return "in"
    return None


def _waiting_for(row) -> str | None:
    status = TransferStatus(row["status"])
    if status in (TransferStatus.REQUESTED, TransferStatus.APPROVED):
        return f"{region_label(row['from_region'])}医保经办机构"
    if status is TransferStatus.TRANSFERRED_OUT:
        return f"{region_label(row['to_region'])}医保经办机构"
    return None


@router.get(TRANSFERS + "/{transfer_id}")
def transfer_page(request: Request, transfer_id: TransferId, notice: str = "",
                  principal: Principal = Depends(Requires(Permission.TRANSFER_VIEW))) -> Response:
    return _transfer_page(request, principal, transfer_id, notice=NOTICES.get(notice))


def _transfer_page(request: Request, principal: Principal, transfer_id: int, *, notice: str | None = None,
                   error: YibaoError | None = None, form: dict | None = None, status_code: int = 200) -> Response:
    day = today(request)
    with get_engine(request).begin() as conn:
        row = _transfer_in_scope(conn, transfer_id, principal)
        person = reads.person_row(conn, row["person_id"])
        reason = reason_for(request, row["person_id"])
        audit_action(conn, request, principal, "staff.transfer.view" if reason else "staff.transfer.masked",
                     reason=reason, person_id=row["person_id"], detail={"transfer_id": transfer_id})
        context = {
            "transfer": row, "transfer_id": transfer_id, "person": masked_person(person), "reason": reason,
            "status_label": TransferStatus(row["status"]).label, "from_name": region_label(row["from_region"]),
            "to_name": region_label(row["to_region"]), "notice": notice, "waiting_for": _waiting_for(row),
            "error": error.message if error else None, "error_field": getattr(error, "field", None) if error else None,
            "typed": form or {}, **reason_context(form if form and "reason_choice" in form else None),
        }
        if reason:
            context.update(_details(conn, row, person, principal, day))
    template = "counter/transfers/case.html" if reason else "counter/transfers/reason.html"
    return page(request, template, principal, context, nav="transfers", status_code=status_code)


def _details(conn: Connection, row, person, principal: Principal, day: date) -> dict:
    found = progress.progress(conn, row, day)
    who = staff_names(conn, (row["reviewed_by"], row["out_by"], row["in_by"]))
    done_by = {"review": who.get(row["reviewed_by"]), "transfer_out": who.get(row["out_by"]),
               "transfer_in": who.get(row["in_by"])}
    status = TransferStatus(row["status"])
    balance_after = dict(AFTER_STEP)
    if status is TransferStatus.COMPLETED:
        balance_after["transfer_in"] = (f"{region_label(row['to_region'])}新个人账户" if row["balance_accepted"]
                                        else "清算账户（新参保地不接收，待提取）")
    step_rows = [{
        "key": each.step, "label": each.label, "state": each.state, "due_on": each.due_on, "done_on": each.done_on,
        "overdue": each.overdue, "days_overdue": each.working_days_overdue, "provisional": each.due_provisional,
        "by": done_by[each.step] if each.state in ("done", "refused") else None,
        "balance": balance_after.get(each.step) if each.state == "done" else None,
    } for each in found.steps]
    old_balance = conn.execute(select(accounts.c.balance_fen).where(accounts.c.id == row["from_account_id"])).scalar_one()
    new_balance = None
    if row["to_account_id"] is not None:
        new_balance = conn.execute(select(accounts.c.balance_fen).where(accounts.c.id == row["to_account_id"])).scalar_one()
    case_id = conn.execute(
        select(withdrawal_cases.c.id).where(withdrawal_cases.c.transfer_id == row["id"]).order_by(withdrawal_cases.c.id)
    ).scalar()
    return {
        "full_name": person["name"], "id_full": person["id_number"], "steps": step_rows, "balance": found.balance,
        "old_balance": old_balance, "new_balance": new_balance, "withdrawal_case_id": case_id,
        "turn": _turn(row, principal),
    }


@router.post(TRANSFERS + "/{transfer_id}/reason")
def give_reason(request: Request, transfer_id: TransferId, csrf: str = Form(""), reason_choice: str = Form(""),
                reason_other: str = Form(""), principal: Principal = Depends(Requires(Permission.TRANSFER_VIEW))) -> Response:
    check_form(request, csrf)
    with get_engine(request).connect() as conn:
        row = _transfer_in_scope(conn, transfer_id, principal)
    try:
        reason = stated_reason(reason_choice, reason_other)
    except InvalidInput as error:
        form = {"reason_choice": reason_choice, "reason_other": reason_other.strip()[:200]}
        return _transfer_page(request, principal, transfer_id, error=error, form=form, status_code=422)
    response = redirect(f"{TRANSFERS}/{transfer_id}")
    open_case(request, response, Case(row["person_id"], reason))
    return response


def _step_failed(request: Request, principal: Principal, transfer_id: int, error: YibaoError, form: dict) -> Response:
    """The page again with the message at the form; nothing was changed (the transaction rolled back)."""
    return _transfer_page(request, principal, transfer_id, error=error, form=form, status_code=error_status(error))


@router.post(TRANSFERS + "/{transfer_id}/review")
def review(request: Request, transfer_id: TransferId, csrf: str = Form(""), decision: str = Form(""), note: str = Form(""),
           principal: Principal = Depends(Requires(Permission.TRANSFER_REVIEW))) -> Response:
    check_form(request, csrf)
    form = {"decision": decision, "note": note.strip()[:MAX_NOTE]}
    try:
        if decision not in ("approve", "refuse"):
            raise InvalidInput("请选择审核结果：同意转出或不予办理", field="decision", code="decision_required")
        approve = decision == "approve"
        text = stated_note(note, "审核意见")
        with get_engine(request).begin() as conn:
            transfer.review(conn, transfer_id, staff_actor(principal), approve=approve, note=text, today=today(request))
            row = transfer.transfer_row(conn, transfer_id)
            audit_action(conn, request, principal, "staff.transfer.review", person_id=row["person_id"], reason=text,
                         detail={"transfer_id": transfer_id, "approve": approve})
    except NotFound:
        raise  # another region's step: "not found", never a hint that it exists
    except YibaoError as error:
        return _step_failed(request, principal, transfer_id, error, form)
    return redirect(f"{TRANSFERS}/{transfer_id}?notice={'approved' if approve else 'refused'}")


@router.post(TRANSFERS + "/{transfer_id}/out")
def transfer_out(request: Request, transfer_id: TransferId, csrf: str = Form(""), note: str = Form(""),
                 principal: Principal = Depends(Requires(Permission.TRANSFER_OUT))) -> Response:
    check_form(request, csrf)
    form = {"note": note.strip()[:MAX_NOTE]}
    try:
        text = stated_note(note)
        with get_engine(request).begin() as conn:
            amount = transfer.transfer_out(conn, policy_book(request), transfer_id, staff_actor(principal), today=today(request))
            row = transfer.transfer_row(conn, transfer_id)
            audit_action(conn, request, principal, "staff.transfer.out", person_id=row["person_id"], reason=text,
                         detail={"transfer_id": transfer_id, "amount_fen": amount})
    except NotFound:
        raise
    except YibaoError as error:
        return _step_failed(request, principal, transfer_id, error, form)
    return redirect(f"{TRANSFERS}/{transfer_id}?notice=out")


@router.post(TRANSFERS + "/{transfer_id}/in")
def transfer_in(request: Request, transfer_id: TransferId, csrf: str = Form(""), balance: str = Form(""),
                note: str = Form(""), principal: Principal = Depends(Requires(Permission.TRANSFER_IN))) -> Response:
    check_form(request, csrf)
    form = {"balance": balance, "note": note.strip()[:MAX_NOTE]}
    try:
        if balance not in ("accept", "refuse"):
            raise InvalidInput("请选择是否接收个人账户余额", field="balance", code="balance_choice_required")
        accept = balance == "accept"
        text = stated_note(note)
        with get_engine(request).begin() as conn:
            done = transfer.transfer_in(conn, policy_book(request), transfer_id, staff_actor(principal),
                                        accept_balance=accept, today=today(request), now=get_security(request).now())
            row = transfer.transfer_row(conn, transfer_id)
            audit_action(conn, request, principal, "staff.transfer.in", person_id=row["person_id"], reason=text,
                         detail={"transfer_id": transfer_id, "accept_balance": accept,
                                 "withdrawal_case_id": done.withdrawal_case_id})
    except NotFound:
        raise
    except YibaoError as error:
        return _step_failed(request, principal, transfer_id, error, form)
    if accept or not row["amount_fen"]:
        notice = "in"
    else:
        notice = "in_refused" if done.withdrawal_case_id is not None else "in_refused_kept"
    return redirect(f"{TRANSFERS}/{transfer_id}?notice={notice}")
