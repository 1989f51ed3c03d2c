"""Emergency refunds (急诊垫付费用返还) at the workbench.

The list shows the refunds of the staff member's regions not yet paid, with the due date (the
working-day deadline from the policy data, counted from entry) and an overdue mark, those the
person applied for on the portal among them, and the refunds paid or rejected lately. An agent
enters a refund with its receipt; another staff member approves it, a supervisor who took no
part approves it again above the threshold, and it is paid into the account. Each step goes
through ``transfers.refunds`` exactly as the staff API does (``web.api.transfers``): the same
limits, the same four-eyes rule, the same audit action names.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from fastapi import Depends, File, Form, Path, Request, Response, UploadFile
from sqlalchemy import Connection, select

from yibao import documents
from yibao.clock import CHINA
from yibao.domain.money import Money
from yibao.errors import InvalidInput, NotFound, YibaoError
from yibao.security.permissions import Permission
from yibao.security.principal import Principal
from yibao.security.signin import parse_id_number
from yibao.store.models import accounts, audit_log, emergency_refunds, persons
from yibao.transfers import refunds, steps
from yibao.transfers.refunds import RefundStatus
from yibao.web.api import reads
from yibao.web.api.transfers import refund_settings, refund_view
from yibao.web.api.withdrawals import document_response, staff_actor
from yibao.web.counter.case import Case, open_case, reason_for, stated_reason
from yibao.web.counter.transfer_tools import (
    MAX_NOTE,
    error_status,
    masked_person,
    persons_by_id,
    reason_context,
    stated_note,
)
from yibao.web.counter.workbench import HOME, Requires, audit_action, check_form, page, staff_names, workbench_router
from yibao.web.deps import get_engine, get_security, policy_book
from yibao.web.page_tools import redirect, today
from yibao.web.portal.forms import parse_day
from yibao.web.portal.pages import field_errors
from yibao.web.portal.withdrawals import ACCEPT, read_upload
from yibao.withdrawals.cases import CaseConflict

router = workbench_router()
RefundId = Annotated[int, Path(ge=1, le=reads.MAX_ID)]
DocumentId = Annotated[int, Path(ge=1, le=reads.MAX_ID)]
REFUNDS = f"{HOME}/refunds"
RECENT = 20
OPEN = (RefundStatus.ENTERED, RefundStatus.APPROVED_ONCE, RefundStatus.APPROVED)
FINISHED = (RefundStatus.PAID, RefundStatus.REJECTED)
NEW_FIELDS = ("id_number", "amount", "incurred_on", "receipt_number", "file", "reason")
EMPTY_NEW = {"id_number": "", "amount": "", "incurred_on": "", "receipt_number": "", "reason": ""}
NOTICES = {
    "entered": "返还已登记，须由另一位工作人员审批。",
    "uploaded": "材料已补充。",
    "approved": "已审批同意，可以返还到个人账户。",
    "approved_once": "已审批同意。金额超过复核限额，须由复核人员复核。",
    "second": "已复核同意，可以返还到个人账户。",
    "rejected": "已审批不予返还。",
    "paid": "已返还到参保人个人账户。",
}
# The audit actions that change a refund, shown as its history (views are left out).
HISTORY = {"refund.apply": "参保人网上申请", "staff.refund.enter": "登记返还", "staff.refund.upload": "补充材料",
           "staff.refund.decision": "审批", "staff.refund.pay": "返还到个人账户"}
CHANNELS = {"counter": "经办工作台"}


def _money_field(field: str | None) -> str | None:
    """The page's field for a field the domain names."""
    return {"amount_fen": "amount", "person_id": "id_number", "content_base64": "file", "file_name": "file"}.get(field or "", field)


def _errors_at(error: InvalidInput, shown: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for field, message in field_errors(error).items():
        field = _money_field(field)
        found.setdefault(field if field in shown else "_form", message)
    return found


# ---------------------------------------------------------------------------- the list


@router.get(REFUNDS)
def refund_list(request: Request, status: str = "",
                principal: Principal = Depends(Requires(Permission.REFUND_VIEW))) -> Response:
    chosen = status if status in {each.value for each in OPEN} else ""
    day = today(request)
    with get_engine(request).connect() as conn:
        found = [each for each in steps.open_steps(conn, day, principal.scope) if each.kind == "emergency_refund"]
        rows = {row["id"]: row for row in conn.execute(
            select(emergency_refunds).where(emergency_refunds.c.id.in_([each.id for each in found] or [0]))).mappings()}
        if chosen:
            found = [each for each in found if rows[each.id]["status"] == chosen]
        recent = list(conn.execute(
            select(emergency_refunds).join(accounts, accounts.c.id == emergency_refunds.c.account_id).where(
                emergency_refunds.c.status.in_([each.value for each in FINISHED]), principal.scope.limit(accounts.c.region_code),
            ).order_by(emergency_refunds.c.id.desc()).limit(RECENT)
        ).mappings())
        people = persons_by_id(conn, [row["person_id"] for row in (*rows.values(), *recent)])
    open_items = [{
        "id": each.id, "status": RefundStatus(rows[each.id]["status"]).label, "step": each.step_label,
        "person": masked_person(people[each.person_id]), "amount_fen": rows[each.id]["amount_fen"],
        "by_person": rows[each.id]["applied_by_person"], "entered_on": each.opened_on, "due_on": each.due_on,
        "overdue": each.overdue, "days_overdue": each.working_days_overdue, "provisional": each.due_provisional,
    } for each in found]
    done_items = [{
        "id": row["id"], "status": RefundStatus(row["status"]).label, "person": masked_person(people[row["person_id"]]),
        "amount_fen": row["amount_fen"], "by_person": row["applied_by_person"], "entered_on": row["entered_on"],
        "refunded_on": row["refunded_on"],
    } for row in recent]
    context = {"items": open_items, "done": done_items, "status": chosen,
               "statuses": [(each.value, each.label) for each in OPEN],
               "overdue_count": sum(item["overdue"] for item in open_items)}
    return page(request, "counter/transfers/refunds.html", principal, context, nav="refunds")


# ---------------------------------------------------------------------------- entering a refund


@router.get(REFUNDS + "/new")
def new_refund(request: Request, principal: Principal = Depends(Requires(Permission.REFUND_ENTER))) -> Response:
    return _new_page(request, principal, typed=EMPTY_NEW)


def _new_page(request: Request, principal: Principal, *, typed: dict, errors: dict | None = None,
              status_code: int = 200) -> Response:
    errors = errors or {}
    first = next((field for field in NEW_FIELDS if field in errors), None)  # the cursor goes there
    context = {"typed": typed, "errors": errors, "first_error": first, "accept": ACCEPT, "today": today(request),
               "max_mb": documents.MAX_DOCUMENT_BYTES // (1024 * 1024)}
    return page(request, "counter/transfers/refund_new.html", principal, context, nav="refunds", status_code=status_code)


@router.post(REFUNDS + "/new")
def enter_refund(
    request: Request, csrf: str = Form(""), id_number: str = Form(""), amount: str = Form(""),
    incurred_on: str = Form(""), receipt_number: str = Form(""), reason: str = Form(""),
    file: UploadFile | None = File(None), principal: Principal = Depends(Requires(Permission.REFUND_ENTER)),
) -> Response:
    check_form(request, csrf)
    typed = {"id_number": id_number.strip()[:18], "amount": amount.strip()[:20], "incurred_on": incurred_on.strip()[:10],
             "receipt_number": receipt_number.strip()[:40], "reason": reason.strip()[:MAX_NOTE]}
    errors: dict[str, str] = {}

    def checked(parse, field: str):
        try:
            return parse()
        except InvalidInput as error:
            errors.setdefault(field, error.message)
            return None

    sec = get_security(request)
    resident = checked(lambda: parse_id_number(sec, id_number), "id_number")
    fen = checked(lambda: Money.parse(amount, field="amount").fen, "amount")
    day = checked(lambda: parse_day(incurred_on.strip(), "incurred_on"), "incurred_on") if incurred_on.strip() else None
    if day is None:
        errors.setdefault("incurred_on", "请选择费用发生日期")
    elif day > today(request):
        errors["incurred_on"] = "费用发生日期不能晚于今天"  # as the domain says; checked here to show every mistake at once
    note = checked(lambda: stated_note(reason, "办理事由"), "reason")
    upload = checked(lambda: read_upload(file), "file")
    if errors:
        return _new_page(request, principal, typed=typed, errors=errors, status_code=422)
    try:
        with get_engine(request).begin() as conn:
            person = conn.execute(select(persons.c.id, persons.c.region_code).where(persons.c.id_number == resident.full)).first()
            if person is None or not principal.scope.covers(person.region_code):
                raise InvalidInput("未找到该参保人（仅限本人负责地区的参保人）", field="id_number", code="person_not_found")
            name, content = upload
            refund = refunds.enter(
                conn, policy_book(request), refund_settings(request), person_id=person.id, amount_fen=fen,
                incurred_on=day, receipt_number=receipt_number, file_name=name, content=content,
                staff=staff_actor(principal), today=today(request), now=sec.now(),
            )
            audit_action(conn, request, principal, "staff.refund.enter", person_id=person.id, reason=note,
                         detail={"refund_id": refund.id, "amount_fen": fen})
    except (InvalidInput, NotFound) as error:
        return _new_page(request, principal, typed=typed, errors=_errors_at(error, NEW_FIELDS), status_code=422)
    except YibaoError as error:  # a receipt refunded before: shown at its field
        return _new_page(request, principal, typed=typed, errors=_errors_at(error, NEW_FIELDS),
                         status_code=error_status(error))
    response = redirect(f"{REFUNDS}/{refund.id}?notice=entered")
    open_case(request, response, Case(person.id, note))
    return response


# ---------------------------------------------------------------------------- one refund


@router.get(REFUNDS + "/{refund_id}")
def refund_page(request: Request, refund_id: RefundId, notice: str = "",
                principal: Principal = Depends(Requires(Permission.REFUND_VIEW))) -> Response:
    return _refund_page(request, principal, refund_id, notice=NOTICES.get(notice))


def _refund_page(request: Request, principal: Principal, refund_id: int, *, notice: str | None = None,
                 error: YibaoError | None = None, form: dict | None = None, status_code: int = 200) -> Response:
    with get_engine(request).begin() as conn:
        row = refunds.refund_for_staff(conn, refund_id, staff_actor(principal))
        person = reads.person_row(conn, row["person_id"])
        reason = reason_for(request, row["person_id"])
        audit_action(conn, request, principal, "staff.refund.view" if reason else "staff.refund.masked", reason=reason,
                     person_id=row["person_id"], detail={"refund_id": refund_id})
        status = RefundStatus(row["status"])
        context = {
            "refund_id": refund_id, "person": masked_person(person), "reason": reason, "status_label": status.label,
            "notice": notice, "error": error.message if error else None,
            "error_field": _money_field(getattr(error, "field", None)) if error else None,
            "typed": form or {}, **reason_context(form if form and "reason_choice" in form else None),
            "amount_fen": row["amount_fen"], "entered_on": row["entered_on"], "due_on": row["due_on"],
            "overdue": status in OPEN and today(request) > row["due_on"],
        }
        if reason:
            view = refund_view(conn, row, refund_settings(request))
            who = staff_names(conn, (row["entered_by"], row["approved_by"], row["second_approved_by"], row["rejected_by"]))
            context.update({
                "entered_by": "参保人本人（网上申请）" if row["applied_by_person"] else who.get(row["entered_by"], "未填写"),
                "approved_by": who.get(row["approved_by"]), "approved_on": row["approved_on"],
                "second_by": who.get(row["second_approved_by"]), "second_on": row["second_approved_on"],
                "rejected_by": who.get(row["rejected_by"]),
                "refund": view, "full_name": person["name"], "id_full": person["id_number"], "status": status.value,
                "history": _history(conn, refund_id, row["person_id"]), "doc_types": refunds.DOCUMENT_TYPES,
                "accept": ACCEPT, "max_mb": documents.MAX_DOCUMENT_BYTES // (1024 * 1024),
                "threshold_fen": refund_settings(request).refund_second_approval_above_fen,
            })
    template = "counter/transfers/refund_case.html" if reason else "counter/transfers/refund_reason.html"
    return page(request, template, principal, context, nav="refunds", status_code=status_code)


def _history(conn: Connection, refund_id: int, person_id: int) -> list[dict]:
    """Every change of the refund from the audit log: when, who, what, on which channel, why."""
    rows = [row for row in conn.execute(
        select(audit_log).where(audit_log.c.subject_person_id == person_id, audit_log.c.action.in_(list(HISTORY)))
        .order_by(audit_log.c.id)
    ).mappings() if (row["detail"] or {}).get("refund_id") == refund_id]
    names = staff_names(conn, [int(row["actor_id"]) for row in rows if row["actor_kind"] == "staff"])
    history, approved_once = [], False
    for row in rows:
        detail = row["detail"] or {}
        what = HISTORY[row["action"]]
        if row["action"] == "staff.refund.decision":
            if not detail.get("approve"):
                what = "审批不予返还"
            elif detail.get("status") == RefundStatus.APPROVED_ONCE.value:
                what, approved_once = "审批同意（超过限额，待复核）", True
            else:
                what = "复核同意" if approved_once else "审批同意"
        who = names.get(int(row["actor_id"])) if row["actor_kind"] == "staff" else "参保人本人"
        channel = CHANNELS.get(detail.get("channel"), "业务接口" if row["actor_kind"] == "staff" else "网上服务")
        history.append({"at": _local(row["at"]), "what": what, "who": who or "未知人员", "channel": channel,
                        "reason": row["reason"] or "未填写"})
    return history


def _local(at: datetime) -> str:
    moment = at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


@router.post(REFUNDS + "/{refund_id}/reason")
def give_reason(request: Request, refund_id: RefundId, csrf: str = Form(""), reason_choice: str = Form(""),
                reason_other: str = Form(""), principal: Principal = Depends(Requires(Permission.REFUND_VIEW))) -> Response:
    check_form(request, csrf)
    with get_engine(request).connect() as conn:
        row = refunds.refund_for_staff(conn, refund_id, staff_actor(principal))
    try:
        reason = stated_reason(reason_choice, reason_other)
    except InvalidInput as error:
        form = {"reason_choice": reason_choice, "reason_other": reason_other.strip()[:200]}
        return _refund_page(request, principal, refund_id, error=error, form=form, status_code=422)
    response = redirect(f"{REFUNDS}/{refund_id}")
    open_case(request, response, Case(row["person_id"], reason))
    return response


@router.get(REFUNDS + "/{refund_id}/documents/{document_id}")
def refund_document(request: Request, refund_id: RefundId, document_id: DocumentId,
                    principal: Principal = Depends(Requires(Permission.REFUND_VIEW))) -> Response:
    with get_engine(request).begin() as conn:
        row = refunds.refund_for_staff(conn, refund_id, staff_actor(principal))
        reason = reason_for(request, row["person_id"])
        if reason is None:
            return redirect(f"{REFUNDS}/{refund_id}")
        stored, content = documents.content_of(conn, document_id, refund_id=refund_id)
        audit_action(conn, request, principal, "staff.refund.document", person_id=row["person_id"], reason=reason,
                     detail={"refund_id": refund_id, "document_id": document_id})
    return document_response(stored, content)


def _failed(request: Request, principal: Principal, refund_id: int, error: YibaoError, form: dict) -> Response:
    """The page again with the message at the form that was sent; nothing was changed."""
    return _refund_page(request, principal, refund_id, error=error, form=form, status_code=error_status(error))


@router.post(REFUNDS + "/{refund_id}/documents")
def add_document(request: Request, refund_id: RefundId, csrf: str = Form(""), doc_type: str = Form(""),
                 reason: str = Form(""), file: UploadFile | None = File(None),
                 principal: Principal = Depends(Requires(Permission.REFUND_ENTER))) -> Response:
    check_form(request, csrf)
    form = {"form": "document", "doc_type": doc_type, "reason": reason.strip()[:MAX_NOTE]}
    try:
        note = stated_note(reason, "办理事由")
        name, content = read_upload(file)
        with get_engine(request).begin() as conn:
            stored = refunds.add_document(conn, refund_id, staff_actor(principal), doc_type=doc_type, file_name=name,
                                          content=content, now=get_security(request).now())
            person_id = refunds.refund_for_staff(conn, refund_id, staff_actor(principal))["person_id"]
            audit_action(conn, request, principal, "staff.refund.upload", person_id=person_id, reason=note,
                         detail={"refund_id": refund_id, "document_id": stored.id, "sha256": stored.sha256})
    except NotFound:
        raise
    except YibaoError as error:
        return _failed(request, principal, refund_id, error, form)
    return redirect(f"{REFUNDS}/{refund_id}?notice=uploaded")


def _decide(request: Request, principal: Principal, refund_id: int, decision: str, note: str, *, second: bool) -> Response:
    form = {"form": "second" if second else "decision", "decision": decision, "note": note.strip()[:MAX_NOTE]}
    try:
        if decision not in ("approve", "reject"):
            raise InvalidInput("请选择审批结果：同意返还或不予返还", field="decision", code="decision_required")
        approve = decision == "approve"
        text = stated_note(note, "审批意见")
        with get_engine(request).begin() as conn:
            row = refunds.refund_for_staff(conn, refund_id, staff_actor(principal), lock=True)
            waiting = RefundStatus.APPROVED_ONCE if second else RefundStatus.ENTERED
            if row["status"] != waiting.value:
                raise CaseConflict(
                    f"该返还当前状态为“{RefundStatus(row['status']).label}”，不能{'复核' if second else '审批'}",
                    field="refund_id", code="refund_wrong_status")
            status = refunds.decide(conn, refund_id, staff_actor(principal), approve=approve, note=text,
                                    settings=refund_settings(request), today=today(request), now=get_security(request).now())
            audit_action(conn, request, principal, "staff.refund.decision", person_id=row["person_id"], reason=text,
                         detail={"refund_id": refund_id, "approve": approve, "status": status.value})
    except NotFound:
        raise
    except YibaoError as error:
        return _failed(request, principal, refund_id, error, form)
    notice = "rejected" if not approve else ("second" if second else status.value)
    return redirect(f"{REFUNDS}/{refund_id}?notice={notice}")


@router.post(REFUNDS + "/{refund_id}/decision")
def decide(request: Request, refund_id: RefundId, csrf: str = Form(""), decision: str = Form(""), note: str = Form(""),
           principal: Principal = Depends(Requires(Permission.REFUND_APPROVE))) -> Response:
    check_form(request, csrf)
    return _decide(request, principal, refund_id, decision, note, second=False)


@router.post(REFUNDS + "/{refund_id}/second-approval")
def second_approval(request: Request, refund_id: RefundId, csrf: str = Form(""), decision: str = Form(""),
                    note: str = Form(""), principal: Principal = Depends(Requires(Permission.REFUND_SECOND_APPROVE))) -> Response:
    check_form(request, csrf)
    return _decide(request, principal, refund_id, decision, note, second=True)


@router.post(REFUNDS + "/{refund_id}/pay")
def pay(request: Request, refund_id: RefundId, csrf: str = Form(""), note: str = Form(""),
        principal: Principal = Depends(Requires(Permission.REFUND_PAY))) -> Response:
    check_form(request, csrf)
    form = {"form": "pay", "note": note.strip()[:MAX_NOTE]}
    try:
        text = stated_note(note)
        with get_engine(request).begin() as conn:
            refund = refunds.pay(conn, refund_id, staff_actor(principal), today=today(request))
            audit_action(conn, request, principal, "staff.refund.pay", person_id=refund.person_id, reason=text,
                         detail={"refund_id": refund_id, "transaction_id": refund.transaction_id})
    except NotFound:
        raise
    except YibaoError as error:
        return _failed(request, principal, refund_id, error, form)
    return redirect(f"{REFUNDS}/{refund_id}?notice=paid")
