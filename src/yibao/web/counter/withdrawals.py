"""Withdrawal and inheritance cases and deaths at the agency workbench (``/counter/withdrawals``,
``/counter/deaths``).

The pages are the staff API's workflow (``yibao.web.api.withdrawals``) in a browser: the same
domain functions (``withdrawals.cases``, ``approval``, ``inheritance``) make the same checks
(region scope, four eyes, shares adding up to one, the policy flag) and every step writes the
same audit action as the API, with the reason typed into the form and the channel. A case or a
death record outside the staff member's regions is "not found". A person's name and ID number
stay masked until the clerk states a reason for that person (the counter's reason cookie).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from fractions import Fraction
from typing import Annotated

from fastapi import Depends, File, Form, Path, Request, Response, UploadFile
from sqlalchemy import Connection, func, select

from yibao import documents, notifications
from yibao.security.audit import written_reason
from yibao.clock import CHINA
from yibao.domain import bank_account
from yibao.domain.resident_id import ResidentId
from yibao.errors import InvalidInput, NotFound, YibaoError
from yibao.policy.render import render as answer_lines
from yibao.policy.withdrawal import REASONS, WithdrawalRequest, withdrawal_answer
from yibao.security.four_eyes import Part
from yibao.security.permissions import Permission
from yibao.security.principal import Principal
from yibao.security.staff import StaffRole
from yibao.store.models import audit_log, case_participants, persons, withdrawal_cases
from yibao.store.models import documents as document_rows
from yibao.web.api import reads
from yibao.web.api.staff import find_person
from yibao.web.api.withdrawals import staff_actor, staff_case_view, withdrawal_settings
from yibao.web.counter.case import COMMON_REASONS, OTHER, Case, open_case, reason_for, stated_reason
from yibao.web.counter.workbench import CHANNEL_DETAIL, HOME, Requires, audit_action, check_form, page, workbench_router
from yibao.web.counter.workbench import staff_names as workbench_staff_names
from yibao.web.deps import client_address, get_engine, get_security, policy_book
from yibao.web.page_tools import redirect, status_of, today
from yibao.withdrawals import approval, cases, inheritance, shares
from yibao.withdrawals.cases import Applicant, CaseStatus
from yibao.workdays import is_provisional

router = workbench_router()
BASE = f"{HOME}/withdrawals"
DEATHS = f"{HOME}/deaths"
CaseId = Annotated[int, Path(ge=1, le=reads.MAX_ID)]
PersonId = Annotated[int, Path(ge=1, le=reads.MAX_ID)]
DocumentId = Annotated[int, Path(ge=1, le=reads.MAX_ID)]

viewer = Requires(Permission.WITHDRAWAL_VIEW)
preparer = Requires(Permission.WITHDRAWAL_PREPARE)
approver = Requires(Permission.WITHDRAWAL_APPROVE)
death_recorder = Requires(Permission.DEATH_RECORD)
death_confirmer = Requires(Permission.DEATH_CONFIRM)

OPEN_STATUSES = (CaseStatus.COLLECTING, CaseStatus.SUBMITTED, CaseStatus.APPROVED_ONCE)
APPLICANTS = {Applicant.PERSON.value: "本人", Applicant.HEIR.value: "继承人"}
QUEUE_LIMIT = 300
HEIR_ROWS = 6  # empty rows of the heirs form (it works without JavaScript)
HEIR_FIELDS = ("name", "id_number", "share", "bank_name", "bank_account", "account_holder")
NOTICES = {
    "requested": "已退回参保人补充材料，参保人将收到通知。", "uploaded": "材料已上传。", "heirs": "继承人及份额已登记。",
    "submitted": "申请已提交审批。", "approved_once": "已审批通过。金额超过限额，须由另一位复核人员复核后支付。",
    "paid": "审批通过，款项已支付，账户已注销。", "rejected": "已作出不予通过的决定。",
    "recorded": "死亡信息已登记，账户已临时冻结，待另一位工作人员复核。",
    "confirmed": "死亡信息已确认。", "death_rejected": "死亡登记已驳回，账户已恢复正常。",
}
# The steps of a case in the audit log, as the history shows them.
STEP_LABELS = {
    "withdrawal.apply": "参保人提出申请", "withdrawal.document": "参保人上传材料",
    "withdrawal.bank_account": "参保人填写收款账户", "withdrawal.submit": "参保人提交审核",
    "staff.withdrawal.upload": "窗口代传材料", "staff.withdrawal.request_documents": "要求补充材料",
    "staff.withdrawal.heirs": "登记继承人及份额", "staff.withdrawal.submit": "提交审批",
    "staff.withdrawal.death": "登记死亡信息", "staff.withdrawal.death.confirm": "复核确认死亡信息",
    "staff.withdrawal.death.reject": "驳回死亡登记", "staff.withdrawal.decision": "审批",
}
DEATH_STEPS = ("staff.withdrawal.death", "staff.withdrawal.death.confirm", "staff.withdrawal.death.reject")
SIDES = {"prepare": "经办", "approve": "审批"}


# ---------------------------------------------------------------------------- small helpers


def action_reason(text: str, field: str = "reason") -> str:
    """The reason or opinion typed into an action's form (it goes into the audit row)."""
    return written_reason(text, field=field, what="办理事由或意见")


def china_time(moment: datetime | None) -> str:
    if moment is None:
        return "暂无"
    if moment.tzinfo is None:  # SQLite gives back the UTC moment without its zone
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def file_size(size: int) -> str:
    if size < 1024:
        return f"{size}字节"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def staff_names(conn: Connection, ids) -> dict[int, str]:
    """Staff members as a case's history names them: name and role."""
    return workbench_staff_names(conn, ids, lambda row: f"{row.name}（{StaffRole(row.role).label}）")


def who(label: str, names: dict[int, str]) -> str:
    """``staff:3`` or ``person:5`` (documents' uploader, the case's creator) in words."""
    kind, _, number = (label or "").partition(":")
    if kind == "staff" and number.isdigit():
        return names.get(int(number), "工作人员")
    return "参保人本人" if kind == "person" else "系统"


def error_fields(error: YibaoError, shown: tuple[str, ...]) -> dict[str, str]:
    """The message at the field the check named when the form shows that field, else above the form."""
    field = error.field if error.field in shown else "_form"
    return {field: error.message}


def read_upload(file: UploadFile | None) -> tuple[str, bytes]:
    if file is None or not file.filename:
        raise InvalidInput("请选择要上传的文件", field="file", code="file_required")
    return file.filename, file.file.read(documents.MAX_DOCUMENT_BYTES + 1)


def document_answer(stored: documents.StoredDocument, content: bytes) -> Response:
    """A document shown in the browser (an image in the page, a PDF in its own tab), never cached."""
    return Response(content, media_type=stored.media_type, headers={
        "Content-Disposition": f"inline; filename=\"document-{stored.id}\"",
        "X-Checksum-SHA256": stored.sha256,
    })


# ---------------------------------------------------------------------------- the queue


@dataclass(frozen=True)
class QueueFilter:
    status: str = ""
    reason: str = ""
    applicant: str = ""
    overdue: bool = False

    @classmethod
    def of(cls, status: str, reason: str, applicant: str, overdue: str) -> QueueFilter:
        return cls(
            status if status in {s.value for s in OPEN_STATUSES} else "",
            reason if reason in REASONS else "",
            applicant if applicant in APPLICANTS else "",
            overdue in ("1", "on", "true"),
        )


def queue_rows(conn: Connection, principal: Principal, chosen: QueueFilter, day: date, working_days: int) -> list[dict]:
    statuses = [chosen.status] if chosen.status else [status.value for status in OPEN_STATUSES]
    query = (
        select(withdrawal_cases, persons.c.name, persons.c.id_number)
        .join(persons, persons.c.id == withdrawal_cases.c.person_id)
        .where(withdrawal_cases.c.status.in_(statuses), principal.scope.limit(withdrawal_cases.c.region_code))
        .order_by(func.coalesce(withdrawal_cases.c.submitted_on, withdrawal_cases.c.applied_on), withdrawal_cases.c.id)
        .limit(QUEUE_LIMIT)
    )
    if chosen.reason:
        query = query.where(withdrawal_cases.c.reason == chosen.reason)
    if chosen.applicant:
        query = query.where(withdrawal_cases.c.applicant == chosen.applicant)
    found = []
    for row in conn.execute(query).mappings():
        due = cases.due_on(row, working_days)
        overdue = due is not None and due < day
        if chosen.overdue and not overdue:
            continue
        found.append({
            "id": row["id"], "name": reads.mask_name(row["name"]), "id_number": ResidentId(row["id_number"]).masked,
            "region": reads.region_name(row["region_code"]) or "未知地区", "reason": cases.reason_label(row["reason"]),
            "applicant": APPLICANTS[row["applicant"]], "status": CaseStatus(row["status"]).label,
            "amount": approval.payable_fen(conn, row), "submitted_on": row["submitted_on"], "applied_on": row["applied_on"],
            "due_on": due, "provisional": due is not None and is_provisional(due), "overdue": overdue,
        })
    return found


@router.get(BASE)
def queue_page(request: Request, status: str = "", reason: str = "", applicant: str = "", overdue: str = "",
               principal: Principal = Depends(viewer)) -> Response:
    chosen = QueueFilter.of(status, reason, applicant, overdue)
    settings = withdrawal_settings(request)
    with get_engine(request).begin() as conn:
        rows = queue_rows(conn, principal, chosen, today(request), settings.withdrawal_review_working_days)
        audit_action(conn, request, principal, "staff.withdrawal.queue", reason=None,
                     detail={"statuses": [chosen.status] if chosen.status else [s.value for s in OPEN_STATUSES],
                             "count": len(rows)})
    context = {
        "rows": rows, "chosen": chosen, "statuses": OPEN_STATUSES, "reasons": REASONS, "applicants": APPLICANTS,
        "working_days": settings.withdrawal_review_working_days, "limit": QUEUE_LIMIT, "tab": "cases",
    }
    return page(request, "counter/withdrawals/queue.html", principal, context, nav="withdrawals")


# ---------------------------------------------------------------------------- one case


def history(conn: Connection, case) -> list[dict]:
    """Who did what when on this case, with their reasons: the audit rows of its steps."""
    rows = conn.execute(
        select(audit_log).where(audit_log.c.subject_person_id == case["person_id"], audit_log.c.action.in_(list(STEP_LABELS)))
        .order_by(audit_log.c.id)
    ).mappings().all()
    mine = [row for row in rows if (row["detail"] or {}).get("case_id") == case["id"]
            or (case["applicant"] == Applicant.HEIR.value and row["action"] in DEATH_STEPS)]
    names = staff_names(conn, [int(row["actor_id"]) for row in mine if row["actor_kind"] == "staff" and row["actor_id"].isdigit()])
    return [{
        "at": china_time(row["at"]), "step": step_label(row["action"], row["detail"] or {}),
        "who": names.get(int(row["actor_id"]), "工作人员") if row["actor_kind"] == "staff" and row["actor_id"].isdigit()
        else "参保人本人",
        "reason": row["reason"] or ("参保人本人办理" if row["actor_kind"] == "person" else "未填写"), "channel": "经办工作台" if (row["detail"] or {}).get("channel") == "counter"
        else ("网上服务" if row["actor_kind"] == "person" else "接口"),
    } for row in mine]


def step_label(action: str, detail: dict) -> str:
    if action != "staff.withdrawal.decision":
        return STEP_LABELS[action]
    if not detail.get("approve"):
        return "审批：不予通过"
    return {"approved_once": "审批通过，待复核", "paid": "审批通过并支付"}.get(detail.get("status"), "审批")


def participants(conn: Connection, case_id: int) -> list[dict]:
    rows = conn.execute(
        select(case_participants).where(case_participants.c.case_kind == "withdrawal", case_participants.c.case_id == case_id)
        .order_by(case_participants.c.first_at)
    ).mappings().all()
    names = staff_names(conn, [row["staff_id"] for row in rows])
    return [{"staff_id": row["staff_id"], "prepared": row["side"] == "prepare",
             "who": names.get(row["staff_id"], "工作人员"), "side": SIDES.get(row["side"], "经办"),
             "parts": "、".join(Part(part).label for part in row["parts"]), "at": china_time(row["first_at"])} for row in rows]


def documents_listed(conn: Connection, case_id: int) -> list[dict]:
    uploaders = dict(conn.execute(
        select(document_rows.c.id, document_rows.c.uploaded_by).where(document_rows.c.withdrawal_case_id == case_id)
    ).all())
    names = staff_names(conn, [int(label.split(":")[1]) for label in uploaders.values()
                               if label.startswith("staff:") and label.split(":")[1].isdigit()])
    return [{"stored": stored, "size": file_size(stored.size_bytes), "at": china_time(stored.uploaded_at),
             "by": who(uploaders.get(stored.id, ""), names), "image": stored.media_type.startswith("image/")}
            for stored in documents.of_case(conn, case_id)]


def heir_rows(conn: Connection, case, payable: int) -> list[dict]:
    listed = cases.heirs_of(conn, case["id"])
    if not listed:
        return []
    expected = shares.split(payable, [Fraction(h["share_numerator"], h["share_denominator"]) for h in listed])
    return [{"heir": heir, "id_masked": ResidentId(heir["id_number"]).masked,
             "share": f"{heir['share_numerator']}/{heir['share_denominator']}", "expected": part,
             "account": f"{heir['bank_name']} {bank_account.mask(heir['bank_account'])}" if heir["bank_account"] else "未填写"}
            for heir, part in zip(listed, expected)]


def heirs_typed(conn: Connection, case) -> list[dict]:
    """The heirs form's rows: the heirs listed so far, then empty rows (``HEIR_ROWS`` in all, at least two empty)."""
    listed = [{"name": h["name"], "id_number": h["id_number"], "share": f"{h['share_numerator']}/{h['share_denominator']}",
               "bank_name": h["bank_name"] or "", "bank_account": h["bank_account"] or "", "account_holder": h["name"]}
              for h in cases.heirs_of(conn, case["id"])]
    # At least two empty rows: more heirs than rows are entered by saving and adding more.
    empty = min(max(HEIR_ROWS - len(listed), 2), inheritance.MAX_HEIRS - len(listed))
    return listed + [dict.fromkeys(HEIR_FIELDS, "") for _ in range(empty)]


def _case_page(request: Request, principal: Principal, case_id: int, *, notice: str | None = None, failed: str | None = None,
               errors: dict | None = None, typed: dict | None = None, status_code: int = 200) -> Response:
    with get_engine(request).begin() as conn:
        row = cases.visible_case(conn, case_id, staff_actor(principal))
        person = reads.person_row(conn, row["person_id"])
        reason = reason_for(request, row["person_id"])
        if reason is None:
            audit_action(conn, request, principal, "staff.withdrawal.masked", reason=None, person_id=row["person_id"],
                         detail={"case_id": case_id})
            context = {"case_id": case_id, "name_masked": reads.mask_name(person["name"]),
                       "id_masked": ResidentId(person["id_number"]).masked, "reasons": COMMON_REASONS, "other": OTHER,
                       "action": f"{BASE}/{case_id}/reason", "error": (errors or {}).get("reason"),
                       "form": typed or {"reason_choice": "", "reason_other": ""}, "what": "提取申请",
                       "refusal": next((text for field, text in (errors or {}).items() if field != "reason"), None)}
            template = "counter/withdrawals/reason.html"
        else:
            template, context = "counter/withdrawals/case.html", _case_context(
                request, principal, conn, row, person, reason, notice=notice, failed=failed, errors=errors, typed=typed)
    return page(request, template, principal, context, nav="withdrawals", status_code=status_code)


def _case_context(request: Request, principal: Principal, conn: Connection, row, person, reason: str, *, notice, failed,
                  errors, typed) -> dict:
    settings = withdrawal_settings(request)
    case_id = row["id"]
    audit_action(conn, request, principal, "staff.withdrawal.view", reason=reason, person_id=row["person_id"],
                 detail={"case_id": case_id})
    view = staff_case_view(conn, row, settings)
    book = policy_book(request)
    try:  # the policy answer in words (rule, confidence, sources), as on the day the case was opened
        answer = withdrawal_answer(book, WithdrawalRequest(book.regions.get(row["region_code"]), row["reason"], row["applied_on"]))
        rule = [line for line in answer_lines(answer, technical=False)
                if line != answer.get("disclaimer") and not line.startswith("地区：")]
    except InvalidInput:
        rule = []
    due = cases.due_on(row, settings.withdrawal_review_working_days)
    taking_part = participants(conn, case_id)
    context = {
        "case": view, "row": row, "person": person, "reason": reason, "notice": notice, "failed": failed,
        "errors": errors or {}, "typed": typed or {}, "rule": rule,
        "due_on": due, "overdue": due is not None and due < today(request), "provisional": due is not None and is_provisional(due),
        "documents": documents_listed(conn, case_id), "heirs": heir_rows(conn, row, view.payable_fen),
        "heirs_form": (typed or {}).get("heirs") or heirs_typed(conn, row),
        "history": history(conn, row), "participants": taking_part,
        "prepared_by_me": any(item["prepared"] and item["staff_id"] == principal.subject_id for item in taking_part),
        "approvers": staff_names(conn, [row["first_approver_id"], row["second_approver_id"]]),
        "threshold": settings.withdrawal_second_approval_above_fen, "applicants": APPLICANTS,
        "is_heir": row["applicant"] == Applicant.HEIR.value, "me": principal.subject_id,
        "max_mb": documents.MAX_DOCUMENT_BYTES // (1024 * 1024),
    }
    return context


@router.get(BASE + "/{case_id}")
def case_page(request: Request, case_id: CaseId, notice: str = "", principal: Principal = Depends(viewer)) -> Response:
    return _case_page(request, principal, case_id, notice=NOTICES.get(notice))


@router.post(BASE + "/{case_id}/reason")
def case_reason(request: Request, case_id: CaseId, principal: Principal = Depends(viewer), csrf: str = Form(""),
                reason_choice: str = Form(""), reason_other: str = Form("")) -> Response:
    check_form(request, csrf)
    with get_engine(request).connect() as conn:
        row = cases.visible_case(conn, case_id, staff_actor(principal))
    try:
        reason = stated_reason(reason_choice, reason_other)
    except InvalidInput as error:
        typed = {"reason_choice": reason_choice, "reason_other": reason_other.strip()[:200]}
        return _case_page(request, principal, case_id, errors={"reason": error.message}, typed=typed, status_code=422)
    response = redirect(f"{BASE}/{case_id}")
    open_case(request, response, Case(row["person_id"], reason))
    return response


@router.get(BASE + "/{case_id}/documents/{document_id}")
def case_document(request: Request, case_id: CaseId, document_id: DocumentId, principal: Principal = Depends(viewer)) -> Response:
    with get_engine(request).begin() as conn:
        row = cases.visible_case(conn, case_id, staff_actor(principal))
        reason = reason_for(request, row["person_id"])
        if reason is None:
            return redirect(f"{BASE}/{case_id}")
        stored, content = documents.content_of(conn, document_id, case_id=case_id)
        audit_action(conn, request, principal, "staff.withdrawal.document", reason=reason, person_id=row["person_id"],
                     detail={"case_id": case_id, "document_id": document_id})
    return document_answer(stored, content)


def _after(request: Request, principal: Principal, case_id: int, form: str, error: YibaoError, shown: tuple[str, ...],
           typed: dict | None = None) -> Response:
    """A refused action: the case page again with the message at the form, nothing changed."""
    if isinstance(error, NotFound) and error.field in ("case_id", "person_id"):
        raise error
    return _case_page(request, principal, case_id, failed=form, errors=error_fields(error, shown), typed=typed,
                      status_code=status_of(error))


@router.post(BASE + "/{case_id}/request-documents")
def request_documents(request: Request, case_id: CaseId, principal: Principal = Depends(preparer), csrf: str = Form(""),
                      note: str = Form("")) -> Response:
    check_form(request, csrf)
    try:
        with get_engine(request).begin() as conn:
            case = cases.visible_case(conn, case_id, staff_actor(principal), lock=True)
            outgoing = cases.request_documents(conn, case, note, now=get_security(request).now())
            audit_action(conn, request, principal, "staff.withdrawal.request_documents", reason=note.strip(),
                         person_id=case["person_id"], detail={"case_id": case_id})
    except YibaoError as error:
        return _after(request, principal, case_id, "request", error, ("note",), {"note": note.strip()[:200]})
    notifications.send(get_security(request), [outgoing])
    return redirect(f"{BASE}/{case_id}?notice=requested")


@router.post(BASE + "/{case_id}/documents")
def upload_document(request: Request, case_id: CaseId, principal: Principal = Depends(preparer), csrf: str = Form(""),
                    doc_type: str = Form(""), reason: str = Form(""), file: UploadFile | None = File(None)) -> Response:
    check_form(request, csrf)
    typed = {"doc_type": doc_type, "reason": reason.strip()[:200]}
    try:
        stated = action_reason(reason)
        name, content = read_upload(file)
        with get_engine(request).begin() as conn:
            case = cases.visible_case(conn, case_id, staff_actor(principal), lock=True)
            stored = cases.add_document(conn, case, doc_type=doc_type, file_name=name, content=content,
                                        actor=staff_actor(principal), at=get_security(request).now())
            audit_action(conn, request, principal, "staff.withdrawal.upload", reason=stated, person_id=case["person_id"],
                         detail={"case_id": case_id, "document_id": stored.id, "sha256": stored.sha256})
    except YibaoError as error:
        if error.field in ("content_base64", "file_name"):
            error.field = "file"
        return _after(request, principal, case_id, "upload", error, ("doc_type", "file", "reason"), typed)
    return redirect(f"{BASE}/{case_id}?notice=uploaded")


@router.post(BASE + "/{case_id}/decision")
def decide(request: Request, case_id: CaseId, principal: Principal = Depends(approver), csrf: str = Form(""),
           decision: str = Form(""), note: str = Form(""), policy_flag_acknowledged: str = Form("")) -> Response:
    check_form(request, csrf)
    settings = withdrawal_settings(request)
    typed = {"note": note.strip()[:200], "ack": bool(policy_flag_acknowledged)}
    try:
        if decision not in ("approve", "reject"):
            raise InvalidInput("请选择同意或不同意", field="decision", code="decision_required")
        stated = action_reason(note, "note")
        with get_engine(request).begin() as conn:
            outcome = approval.decide(
                conn, case_id, staff_actor(principal),
                approval.Decision(decision == "approve", stated, bool(policy_flag_acknowledged)),
                threshold_fen=settings.withdrawal_second_approval_above_fen, today=today(request),
                now=get_security(request).now(),
            )
            row = cases.case_row(conn, case_id)
            audit_action(conn, request, principal, "staff.withdrawal.decision", reason=stated, person_id=row["person_id"],
                         detail={"case_id": case_id, "approve": decision == "approve", "status": outcome.status.value,
                                 "paid_fen": outcome.paid_fen})
    except YibaoError as error:
        return _after(request, principal, case_id, "decision", error, ("note", "policy_flag_acknowledged"), typed)
    return redirect(f"{BASE}/{case_id}?notice={outcome.status.value}")


@router.post(BASE + "/{case_id}/heirs")
def set_heirs(
    request: Request, case_id: CaseId, principal: Principal = Depends(preparer), csrf: str = Form(""),
    reason: str = Form(""), heir_name: list[str] = Form([]), heir_id_number: list[str] = Form([]),
    heir_share: list[str] = Form([]), heir_bank_name: list[str] = Form([]), heir_bank_account: list[str] = Form([]),
    heir_account_holder: list[str] = Form([]),
) -> Response:
    """The heirs form: one row per heir (the same field names repeated), empty rows left out."""
    check_form(request, csrf)
    columns = (heir_name, heir_id_number, heir_share, heir_bank_name, heir_bank_account, heir_account_holder)
    count = min(max(len(column) for column in columns), inheritance.MAX_HEIRS + HEIR_ROWS)
    rows = [{field: (column[index] if index < len(column) else "").strip()[:60] for field, column in zip(HEIR_FIELDS, columns)}
            for index in range(count)]
    filled = [index for index, row in enumerate(rows) if any(row.values())]
    typed = {"heirs": rows + [dict.fromkeys(HEIR_FIELDS, "") for _ in range(max(HEIR_ROWS - count, 0))],
             "reason": reason.strip()[:200]}
    shown = ("heirs", "reason", *(f"heirs.{index}.{field}" for index in range(count) for field in HEIR_FIELDS))
    listed = [inheritance.HeirInput(**rows[index]) for index in filled]
    try:
        stated = action_reason(reason)
        with get_engine(request).begin() as conn:
            case = cases.visible_case(conn, case_id, staff_actor(principal), lock=True)
            inheritance.set_heirs(conn, case, listed, staff=staff_actor(principal), today=today(request),
                                  now=get_security(request).now())
            audit_action(conn, request, principal, "staff.withdrawal.heirs", reason=stated, person_id=case["person_id"],
                         detail={"case_id": case_id, "heirs": len(listed)})
    except YibaoError as error:
        if error.field and error.field.startswith("heirs.") and error.field.count(".") >= 2:
            _, index, rest = error.field.split(".", 2)  # the domain counts filled rows; the form counts all rows
            error.field = f"heirs.{filled[int(index)]}.{rest}"
        return _after(request, principal, case_id, "heirs", error, shown, typed)
    return redirect(f"{BASE}/{case_id}?notice=heirs")


@router.post(BASE + "/{case_id}/submit")
def submit(request: Request, case_id: CaseId, principal: Principal = Depends(preparer), csrf: str = Form(""),
           reason: str = Form("")) -> Response:
    check_form(request, csrf)
    try:
        stated = action_reason(reason)
        with get_engine(request).begin() as conn:
            case = cases.visible_case(conn, case_id, staff_actor(principal), lock=True)
            cases.submit(conn, case, today(request), actor=staff_actor(principal), at=get_security(request).now())
            audit_action(conn, request, principal, "staff.withdrawal.submit", reason=stated, person_id=case["person_id"],
                         detail={"case_id": case_id})
    except YibaoError as error:
        return _after(request, principal, case_id, "submit", error, ("reason",), {"submit_reason": reason.strip()[:200]})
    return redirect(f"{BASE}/{case_id}?notice=submitted")


# ---------------------------------------------------------------------------- deaths


def pending_rows(conn: Connection, principal: Principal) -> list[dict]:
    rows = inheritance.pending_deaths(conn, staff_actor(principal))
    people = {row["id"]: row for row in conn.execute(
        select(persons.c.id, persons.c.name, persons.c.id_number).where(persons.c.id.in_([r["person_id"] for r in rows] or [0]))
    ).mappings()}
    names = staff_names(conn, [row["recorded_by"] for row in rows])
    return [{"person_id": row["person_id"], "name": reads.mask_name(people[row["person_id"]]["name"]),
             "id_number": ResidentId(people[row["person_id"]]["id_number"]).masked,
             "region": reads.region_name(row["region_code"]) or "未知地区", "died_on": row["died_on"],
             "recorded_by": names.get(row["recorded_by"], "工作人员"), "recorded_at": china_time(row["recorded_at"])}
            for row in rows]


def _deaths_page(request: Request, principal: Principal, *, errors: dict | None = None, typed: dict | None = None,
                 status_code: int = 200) -> Response:
    with get_engine(request).begin() as conn:
        rows = pending_rows(conn, principal)
        audit_action(conn, request, principal, "staff.withdrawal.deaths", reason=None, detail={"count": len(rows)})
    context = {"rows": rows, "errors": errors or {}, "typed": typed or {}, "tab": "deaths", "today": today(request),
               "max_mb": documents.MAX_DOCUMENT_BYTES // (1024 * 1024)}
    return page(request, "counter/withdrawals/deaths.html", principal, context, nav="withdrawals", status_code=status_code)


@router.get(DEATHS)
def deaths_page(request: Request, principal: Principal = Depends(viewer)) -> Response:
    return _deaths_page(request, principal)


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat((text or "").strip())
    except ValueError:
        raise InvalidInput("请填写日期，格式如 2025-06-15", field=field, code="invalid_date") from None


@router.post(DEATHS)
def record_death(request: Request, principal: Principal = Depends(death_recorder), csrf: str = Form(""),
                 id_number: str = Form(""), died_on: str = Form(""), certificate_number: str = Form(""),
                 reason: str = Form(""), file: UploadFile | None = File(None)) -> Response:
    check_form(request, csrf)
    typed = {"id_number": id_number.strip()[:40], "died_on": died_on.strip()[:10],
             "certificate_number": certificate_number.strip()[:40], "reason": reason.strip()[:200]}
    shown = ("id_number", "died_on", "certificate_number", "reason", "file")
    try:
        stated = action_reason(reason)
        day = _day(died_on, "died_on")
        name, content = read_upload(file)
        person = find_person(get_engine(request), get_security(request), principal, id_number=id_number.strip(),
                             card_number=None, reason=stated, client=client_address(request), detail=CHANNEL_DETAIL)
        with get_engine(request).begin() as conn:
            recorded = inheritance.record_death(
                conn, policy_book(request), person_id=person["id"], died_on=day, certificate_number=certificate_number,
                file_name=name, content=content, staff=staff_actor(principal), today=today(request),
                now=get_security(request).now(),
            )
            audit_action(conn, request, principal, "staff.withdrawal.death", reason=stated, person_id=person["id"],
                         detail={"status": recorded.status.value, "document_id": recorded.document_id})
    except YibaoError as error:
        if error.field in ("content_base64", "file_name"):
            error.field = "file"
        if error.field == "person_id":
            error.field = "id_number"
        return _deaths_page(request, principal, errors=error_fields(error, shown), typed=typed, status_code=status_of(error))
    response = redirect(f"{DEATHS}/{person['id']}?notice=recorded")
    open_case(request, response, Case(person["id"], stated))
    return response


def heirs_case_of(conn: Connection, person_id: int):
    return conn.execute(
        select(withdrawal_cases.c.id, withdrawal_cases.c.status).where(
            withdrawal_cases.c.person_id == person_id, withdrawal_cases.c.applicant == Applicant.HEIR.value
        ).order_by(withdrawal_cases.c.id.desc())
    ).first()


def _death_page(request: Request, principal: Principal, person_id: int, *, notice: str | None = None,
                errors: dict | None = None, typed: dict | None = None, status_code: int = 200) -> Response:
    with get_engine(request).begin() as conn:
        record = inheritance.death_record(conn, person_id, staff_actor(principal))
        person = reads.person_row(conn, person_id)
        reason = reason_for(request, person_id)
        if reason is None:
            audit_action(conn, request, principal, "staff.withdrawal.death.masked", reason=None, person_id=person_id)
            context = {"name_masked": reads.mask_name(person["name"]), "id_masked": ResidentId(person["id_number"]).masked,
                       "reasons": COMMON_REASONS, "other": OTHER, "action": f"{DEATHS}/{person_id}/reason",
                       "error": (errors or {}).get("reason"), "form": typed or {"reason_choice": "", "reason_other": ""},
                       "what": "死亡登记",
                       "refusal": next((text for field, text in (errors or {}).items() if field != "reason"), None)}
            return_to = "counter/withdrawals/reason.html"
        else:
            return_to = "counter/withdrawals/death.html"
            context = _death_context(request, principal, conn, record, person, reason, notice=notice, errors=errors,
                                     typed=typed)
    return page(request, return_to, principal, context, nav="withdrawals", status_code=status_code)


def _death_context(request: Request, principal: Principal, conn: Connection, record, person, reason: str, *, notice,
                   errors, typed) -> dict:
    person_id = person["id"]
    audit_action(conn, request, principal, "staff.withdrawal.death.view", reason=reason, person_id=person_id)
    certificate = documents.by_id(conn, record["document_id"])
    names = staff_names(conn, [record["recorded_by"], record["confirmed_by"], record["rejected_by"]])
    heirs_case = heirs_case_of(conn, person_id) if record["status"] == inheritance.DeathStatus.CONFIRMED.value else None
    context = {
        "record": record, "person": person, "reason": reason, "notice": notice, "errors": errors or {},
        "typed": typed or {}, "status_label": inheritance.DeathStatus(record["status"]).label,
        "certificate": certificate, "certificate_size": file_size(certificate.size_bytes),
        "image": certificate.media_type.startswith("image/"), "names": names,
        "recorded_at": china_time(record["recorded_at"]),
        "decided_at": china_time(record["confirmed_at"] or record["rejected_at"]),
        "pending": record["status"] == inheritance.DeathStatus.PENDING.value, "heirs_case": heirs_case,
        "case_status": CaseStatus(heirs_case.status).label if heirs_case else None, "me": principal.subject_id,
    }
    return context


@router.get(DEATHS + "/{person_id}")
def death_page(request: Request, person_id: PersonId, notice: str = "", principal: Principal = Depends(viewer)) -> Response:
    return _death_page(request, principal, person_id, notice=NOTICES.get(notice))


@router.post(DEATHS + "/{person_id}/reason")
def death_reason(request: Request, person_id: PersonId, principal: Principal = Depends(viewer), csrf: str = Form(""),
                 reason_choice: str = Form(""), reason_other: str = Form("")) -> Response:
    check_form(request, csrf)
    with get_engine(request).connect() as conn:
        inheritance.death_record(conn, person_id, staff_actor(principal))
    try:
        reason = stated_reason(reason_choice, reason_other)
    except InvalidInput as error:
        typed = {"reason_choice": reason_choice, "reason_other": reason_other.strip()[:200]}
        return _death_page(request, principal, person_id, errors={"reason": error.message}, typed=typed, status_code=422)
    response = redirect(f"{DEATHS}/{person_id}")
    open_case(request, response, Case(person_id, reason))
    return response


@router.get(DEATHS + "/{person_id}/certificate")
def death_certificate(request: Request, person_id: PersonId, principal: Principal = Depends(viewer)) -> Response:
    with get_engine(request).begin() as conn:
        record = inheritance.death_record(conn, person_id, staff_actor(principal))
        reason = reason_for(request, person_id)
        if reason is None:
            return redirect(f"{DEATHS}/{person_id}")
        stored, content = documents.content_of(conn, record["document_id"], person_id=person_id)
        audit_action(conn, request, principal, "staff.withdrawal.death.certificate", reason=reason, person_id=person_id,
                     detail={"document_id": stored.id})
    return document_answer(stored, content)


@router.post(DEATHS + "/{person_id}/decision")
def death_decision(request: Request, person_id: PersonId, principal: Principal = Depends(death_confirmer),
                   csrf: str = Form(""), decision: str = Form(""), note: str = Form("")) -> Response:
    check_form(request, csrf)
    try:
        if decision not in ("confirm", "reject"):
            raise InvalidInput("请选择确认或驳回", field="decision", code="decision_required")
        stated = action_reason(note, "note")
        actor, now = staff_actor(principal), get_security(request).now()
        with get_engine(request).begin() as conn:
            if decision == "confirm":
                decided = inheritance.confirm_death(conn, policy_book(request), person_id, actor, note=stated,
                                                    today=today(request), now=now)
                audit_action(conn, request, principal, "staff.withdrawal.death.confirm", reason=stated, person_id=person_id,
                             detail={"case_id": decided.case_id})
            else:
                inheritance.reject_death(conn, person_id, actor, note=stated, today=today(request), now=now)
                audit_action(conn, request, principal, "staff.withdrawal.death.reject", reason=stated, person_id=person_id)
    except YibaoError as error:
        if isinstance(error, NotFound):
            raise
        return _death_page(request, principal, person_id, errors=error_fields(error, ("note", "decision")),
                           typed={"note": note.strip()[:200]}, status_code=status_of(error))
    return redirect(f"{DEATHS}/{person_id}?notice={'confirmed' if decision == 'confirm' else 'death_rejected'}")
