"""Withdrawal and inheritance: the person's own applications, and the counter staff's work.

The person (own full session only, never an app) applies, uploads documents and submits.
Staff (agents and supervisors) review, decide, record deaths (confirmed or rejected by a
second person), list heirs with their bank accounts and upload the documents heirs bring to
the counter; nobody approves what they prepared (``security.four_eyes``). Every staff request
states a reason (reads in header ``X-Yibao-Reason``, writes in the body) and is audited;
staff limited to a region see only that region's cases (others are "not found").
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from yibao import documents, notifications
from yibao.clock import CHINA
from yibao.domain import bank_account
from yibao.domain.money import Money
from yibao.domain.resident_id import ResidentId
from yibao.policy.parameters import Confidence
from yibao.policy.withdrawal import REASONS
from yibao.security import audit
from yibao.security.principal import Principal
from yibao.security.permissions import Permission
from yibao.web.api.reads import MAX_ID, region_name
from yibao.web.api.reason import Reason
from yibao.web.api.schemas import Flag, Id, IsoDate, error_responses
from yibao.web.deps import StaffPermission, client_address, get_engine, get_security, own_session, policy_book
from yibao.withdrawals import approval, cases, inheritance
from yibao.withdrawals.cases import Actor, CaseStatus
from yibao.withdrawals.settings import WithdrawalSettings, get_withdrawal_settings

TAG = "余额提取与继承 / withdrawal and inheritance"
person_router = APIRouter(
    prefix="/api/v1/me/withdrawals", tags=[TAG], responses=error_responses(401, 403, 404, 409, 422, 429)
)
staff_router = APIRouter(
    prefix="/api/v1/staff/withdrawals", tags=[TAG], responses=error_responses(401, 403, 404, 409, 422, 429)
)
CaseId = Annotated[int, Path(ge=1, le=MAX_ID)]
PersonId = Annotated[int, Path(ge=1, le=MAX_ID)]
REASON_TEXT = "、".join(f"{key}（{label}）" for key, label in REASONS.items())


def staff_actor(principal: Principal) -> Actor:
    return Actor("staff", principal.subject_id, principal.scope, principal.role)


def person_actor(principal: Principal) -> Actor:
    return Actor("person", principal.person_id)


def today_of(request: Request) -> date:
    return get_security(request).now().astimezone(CHINA).date()


def withdrawal_settings(request: Request) -> WithdrawalSettings:
    return getattr(request.app.state, "withdrawal_settings", None) or get_withdrawal_settings()


# ---------------------------------------------------------------------------- shapes


class PayeeBody(BaseModel):
    bank_name: str = Field(min_length=1, max_length=60, description="收款开户银行")
    bank_account: str = Field(min_length=1, max_length=40, description="收款银行账号（12-30位数字；16-19位银行卡号须通过校验位）")
    account_holder: str = Field(min_length=1, max_length=40, description="开户人姓名（须与参保人姓名一致）")

    def payee(self) -> cases.PayeeInput:
        return cases.PayeeInput(self.bank_name, self.bank_account, self.account_holder)


class Application(PayeeBody):
    reason: str = Field(min_length=1, max_length=16, description=f"提取原因：{REASON_TEXT}（death 由继承人到窗口办理）")


class DocumentUpload(BaseModel):
    doc_type: str = Field(min_length=1, max_length=documents.MAX_DOC_TYPE, description="材料类型，取自申请的 allowed_document_types")
    file_name: str = Field(min_length=1, max_length=200)
    content_base64: str = Field(
        min_length=1, max_length=documents.MAX_BASE64_CHARS,
        description=f"文件内容（Base64）：PDF、JPEG 或 PNG，不超过{documents.MAX_DOCUMENT_BYTES // (1024 * 1024)}MB",
    )


class StaffDocumentUpload(DocumentUpload):
    reason: str = Field(min_length=2, max_length=200, description="办理事由（记入审计日志）")


class StaffNote(BaseModel):
    reason: str = Field(min_length=2, max_length=200, description="办理事由（记入审计日志）")


class DocumentsRequest(BaseModel):
    note: str = Field(min_length=2, max_length=200, description="需要补充的材料（参保人可见；记入审计日志）")


class DecisionBody(BaseModel):
    approve: Flag
    note: str = Field(min_length=2, max_length=200, description="审批意见（不同意时写明理由；记入审计日志）")
    policy_flag_acknowledged: Flag = Field(False, description="政策说法矛盾或未说明时，确认已核实当地规定")


class DeathBody(BaseModel):
    person_id: Id
    died_on: IsoDate
    certificate_number: str = Field(min_length=1, max_length=40, description="死亡证明编号")
    file_name: str = Field(min_length=1, max_length=200, description="死亡证明文件名")
    content_base64: str = Field(min_length=1, max_length=documents.MAX_BASE64_CHARS, description="死亡证明（PDF 或图片，Base64）")
    reason: str = Field(min_length=2, max_length=200, description="办理事由（记入审计日志）")


class HeirItem(BaseModel):
    name: str = Field(min_length=1, max_length=40)
    id_number: str = Field(min_length=1, max_length=40)
    share: str = Field(min_length=1, max_length=12, description="份额（分数或最多三位的小数），如 1/2、1/3、0.5、1")
    bank_name: str = Field(min_length=1, max_length=60, description="收款开户银行")
    bank_account: str = Field(min_length=1, max_length=40, description="收款银行账号（12-30位数字；16-19位银行卡号须通过校验位）")
    account_holder: str = Field(min_length=1, max_length=40, description="开户人姓名（须与继承人姓名一致）")


class HeirsBody(BaseModel):
    heirs: list[HeirItem] = Field(min_length=1, max_length=inheritance.MAX_HEIRS)
    reason: str = Field(min_length=2, max_length=200, description="办理事由（记入审计日志）")


class DocumentView(BaseModel):
    id: int
    doc_type: str
    file_name: str
    media_type: str
    size_bytes: int
    sha256: str


class HeirView(BaseModel):
    name: str
    id_number_masked: str
    share: str
    insured_here: bool = Field(description="继承人是否在本系统参保（供工作人员参考，不影响继承）")
    bank_name: str | None
    bank_account_masked: str | None
    paid_fen: int | None
    paid: str | None


class PolicyView(BaseModel):
    allowed: bool | None = Field(description="null：资料说法矛盾或未说明，由工作人员核实")
    confidence: str
    confidence_label: str
    flagged: bool = Field(description="为真时须由工作人员核实当地规定 / staff must check local rules")
    required_documents: list[str]
    allowed_document_types: list[str]
    rule_ids: list[str]


class CaseView(BaseModel):
    id: int
    reason: str
    reason_label: str
    applicant: str = Field(description="person（本人）或 heir（继承人）")
    status: str
    status_label: str
    region_code: str
    region_name: str | None
    applied_on: date
    submitted_on: date | None
    policy: PolicyView
    documents: list[DocumentView]
    missing_documents: list[str]
    heirs: list[HeirView]
    transfer_id: int | None
    paid_fen: int | None
    paid: str | None
    paid_on: date | None
    decision_note: str | None
    bank_name: str | None = Field(description="本人申请的收款开户银行（继承申请见 heirs）")
    bank_account_masked: str | None


class StaffCaseView(CaseView):
    person_id: int
    account_id: int
    payable_fen: int = Field(description="现在审批将支付的金额 / what approval would pay now")
    payable: str
    needs_second_approval: bool
    first_approver_id: int | None
    second_approver_id: int | None


class CaseList(BaseModel):
    items: list[CaseView]


class StaffCaseList(BaseModel):
    items: list[StaffCaseView]


class DecisionAnswer(BaseModel):
    status: str
    status_label: str
    paid_fen: int | None
    case: StaffCaseView


class DeathAnswer(BaseModel):
    person_id: int
    died_on: date
    document_id: int
    status: str = Field(description="pending（待复核，账户已临时冻结）、confirmed（已确认）或 rejected（已驳回）")
    status_label: str
    case: StaffCaseView | None = Field(description="确认后开立的继承申请；未确认、没有未注销账户或当地不允许继承时为 null")
    refusal: str | None = Field(description="当地政策不允许继承提取时的依据")


class DeathView(BaseModel):
    person_id: int
    died_on: date
    certificate_number: str
    status: str
    status_label: str
    recorded_by: int
    recorded_at: datetime
    confirmed_by: int | None
    rejected_by: int | None
    decision_note: str | None
    certificate: DocumentView


class DeathList(BaseModel):
    items: list[DeathView]


# ---------------------------------------------------------------------------- views


def _money(fen: int | None) -> str | None:
    return None if fen is None else Money(fen).format()


def case_view(conn, row) -> CaseView:
    return CaseView(**_view_fields(conn, row))


def staff_case_view(conn, row, settings: WithdrawalSettings) -> StaffCaseView:
    payable = approval.payable_fen(conn, row)
    return StaffCaseView(
        **_view_fields(conn, row), person_id=row["person_id"], account_id=row["account_id"],
        payable_fen=payable, payable=Money(payable).format(),
        needs_second_approval=payable > settings.withdrawal_second_approval_above_fen,
        first_approver_id=row["first_approver_id"], second_approver_id=row["second_approver_id"],
    )


def document_view(stored: documents.StoredDocument) -> DocumentView:
    return DocumentView(id=stored.id, doc_type=stored.doc_type, file_name=stored.file_name, media_type=stored.media_type,
                        size_bytes=stored.size_bytes, sha256=stored.sha256)


def document_response(stored: documents.StoredDocument, content: bytes) -> Response:
    """A stored document's original, as a download that no browser renders in place."""
    return Response(content, media_type=stored.media_type, headers={
        "Content-Disposition": f"attachment; filename=\"document-{stored.id}\"",
        "X-Content-Type-Options": "nosniff",
        "X-Checksum-SHA256": stored.sha256,
    })


def _view_fields(conn, row) -> dict:
    confidence = Confidence(row["policy_confidence"])
    status = CaseStatus(row["status"])
    return {
        "id": row["id"], "reason": row["reason"], "reason_label": cases.reason_label(row["reason"]),
        "applicant": row["applicant"], "status": status.value, "status_label": status.label,
        "region_code": row["region_code"], "region_name": region_name(row["region_code"]),
        "applied_on": row["applied_on"], "submitted_on": row["submitted_on"],
        "policy": PolicyView(
            allowed=row["policy_allowed"], confidence=confidence.value, confidence_label=confidence.label,
            flagged=row["policy_allowed"] is None, required_documents=row["required_documents"],
            allowed_document_types=cases.allowed_document_types(row), rule_ids=row["rule_ids"],
        ),
        "documents": [document_view(d) for d in documents.of_case(conn, row["id"])],
        "missing_documents": cases.missing_documents(conn, row),
        "heirs": [
            HeirView(name=heir["name"], id_number_masked=ResidentId(heir["id_number"]).masked,
                     share=f"{heir['share_numerator']}/{heir['share_denominator']}", insured_here=heir["insured_here"],
                     bank_name=heir["bank_name"],
                     bank_account_masked=None if heir["bank_account"] is None else bank_account.mask(heir["bank_account"]),
                     paid_fen=heir["paid_fen"], paid=_money(heir["paid_fen"]))
            for heir in cases.heirs_of(conn, row["id"])
        ],
        "transfer_id": row["transfer_id"], "paid_fen": row["paid_fen"], "paid": _money(row["paid_fen"]),
        "paid_on": row["paid_on"], "decision_note": row["decision_note"],
        "bank_name": row["bank_name"],
        "bank_account_masked": None if row["bank_account"] is None else bank_account.mask(row["bank_account"]),
    }


def audit_action(conn, request: Request, principal: Principal, action: str, *, person_id: int | None, reason: str | None,
           detail: dict | None = None) -> None:
    audit.record(
        conn, actor=principal, action=action, at=get_security(request).now(), subject_person_id=person_id,
        reason=reason, client=client_address(request), detail=detail,
    )


# ---------------------------------------------------------------------------- the person


@person_router.post("", summary="申请提取个人账户余额", response_model=CaseView, status_code=201)
def apply(body: Application, request: Request, principal: Principal = Depends(own_session)) -> CaseView:
    with get_engine(request).begin() as conn:
        case_id = cases.apply(conn, policy_book(request), person_id=principal.person_id, reason=body.reason,
                              on=today_of(request), payee=body.payee())
        audit_action(conn, request, principal, "withdrawal.apply", person_id=principal.person_id, reason=None,
                     detail={"case_id": case_id, "reason": body.reason})
        return case_view(conn, cases.case_row(conn, case_id))


@person_router.get("", summary="本人的提取申请", response_model=CaseList)
def my_cases(request: Request, principal: Principal = Depends(own_session)) -> CaseList:
    with get_engine(request).connect() as conn:
        return CaseList(items=[case_view(conn, row) for row in cases.cases_of(conn, principal.person_id)])


@person_router.post("/{case_id}/documents", summary="上传证明材料（PDF 或图片）", response_model=CaseView, status_code=201)
def upload(case_id: CaseId, body: DocumentUpload, request: Request, principal: Principal = Depends(own_session)) -> CaseView:
    content = documents.decode_base64(body.content_base64)
    with get_engine(request).begin() as conn:
        case = cases.visible_case(conn, case_id, person_actor(principal), lock=True)
        stored = cases.add_document(conn, case, doc_type=body.doc_type, file_name=body.file_name, content=content,
                                    actor=person_actor(principal), at=get_security(request).now())
        audit_action(conn, request, principal, "withdrawal.document", person_id=principal.person_id, reason=None,
                     detail={"case_id": case_id, "document_id": stored.id, "sha256": stored.sha256})
        return case_view(conn, cases.case_row(conn, case_id))


@person_router.put("/{case_id}/bank-account", summary="填写或更正收款银行账户（提交前）", response_model=CaseView)
def set_payee(case_id: CaseId, body: PayeeBody, request: Request, principal: Principal = Depends(own_session)) -> CaseView:
    with get_engine(request).begin() as conn:
        case = cases.visible_case(conn, case_id, person_actor(principal), lock=True)
        cases.set_payee(conn, case, body.payee())
        audit_action(conn, request, principal, "withdrawal.bank_account", person_id=principal.person_id, reason=None,
                     detail={"case_id": case_id})
        return case_view(conn, cases.case_row(conn, case_id))


@person_router.post("/{case_id}/submit", summary="材料齐全后提交审核", response_model=CaseView)
def submit(case_id: CaseId, request: Request, principal: Principal = Depends(own_session)) -> CaseView:
    with get_engine(request).begin() as conn:
        case = cases.visible_case(conn, case_id, person_actor(principal), lock=True)
        cases.submit(conn, case, today_of(request))
        audit_action(conn, request, principal, "withdrawal.submit", person_id=principal.person_id, reason=None,
                     detail={"case_id": case_id})
        return case_view(conn, cases.case_row(conn, case_id))


# ---------------------------------------------------------------------------- staff


@staff_router.get("", summary="待办的提取申请（按地区）", response_model=StaffCaseList)
def staff_queue(
    request: Request,
    principal: Principal = Depends(StaffPermission(Permission.WITHDRAWAL_VIEW)),
    *,
    reason: Reason,
    status: CaseStatus | None = Query(None, description="默认：待审核和待复核"),
) -> StaffCaseList:
    statuses = [status.value] if status else [CaseStatus.SUBMITTED.value, CaseStatus.APPROVED_ONCE.value]
    settings = withdrawal_settings(request)
    with get_engine(request).begin() as conn:
        rows = cases.queue(conn, staff_actor(principal), statuses)
        audit_action(conn, request, principal, "staff.withdrawal.queue", person_id=None, reason=reason,
                     detail={"statuses": statuses, "count": len(rows)})
        return StaffCaseList(items=[staff_case_view(conn, row, settings) for row in rows])


# Before "/{case_id}": the first route whose path matches answers, and "deaths" is not a case id.
@staff_router.get("/deaths", summary="待复核的死亡登记（按地区）", response_model=DeathList)
def staff_pending_deaths(request: Request, reason: Reason, principal: Principal = Depends(StaffPermission(Permission.WITHDRAWAL_VIEW))) -> DeathList:
    with get_engine(request).begin() as conn:
        rows = inheritance.pending_deaths(conn, staff_actor(principal))
        audit_action(conn, request, principal, "staff.withdrawal.deaths", person_id=None, reason=reason,
                     detail={"count": len(rows)})
        return DeathList(items=[death_view(conn, row) for row in rows])


@staff_router.get("/{case_id}", summary="提取申请详情", response_model=StaffCaseView)
def staff_case(case_id: CaseId, request: Request, principal: Principal = Depends(StaffPermission(Permission.WITHDRAWAL_VIEW)), *, reason: Reason) -> StaffCaseView:
    with get_engine(request).begin() as conn:
        row = cases.visible_case(conn, case_id, staff_actor(principal))
        audit_action(conn, request, principal, "staff.withdrawal.view", person_id=row["person_id"], reason=reason,
                     detail={"case_id": case_id})
        return staff_case_view(conn, row, withdrawal_settings(request))


@staff_router.get(
    "/{case_id}/documents/{document_id}", summary="查看申请材料原件", response_class=Response,
    responses={200: {"content": {media: {} for media in ("application/pdf", "image/png", "image/jpeg")},
                     "description": "材料原件 / the document"}},
)
def staff_document(
    case_id: CaseId, request: Request,
    document_id: int = Path(ge=1, le=MAX_ID), principal: Principal = Depends(StaffPermission(Permission.WITHDRAWAL_VIEW)), *, reason: Reason,
) -> Response:
    with get_engine(request).begin() as conn:
        row = cases.visible_case(conn, case_id, staff_actor(principal))
        stored, content = documents.content_of(conn, document_id, case_id=case_id)
        audit_action(conn, request, principal, "staff.withdrawal.document", person_id=row["person_id"], reason=reason,
                     detail={"case_id": case_id, "document_id": document_id})
    return document_response(stored, content)


@staff_router.post("/{case_id}/decision", summary="审批（同意或不同意）；超过限额须两人审批", response_model=DecisionAnswer)
def staff_decision(case_id: CaseId, body: DecisionBody, request: Request, principal: Principal = Depends(StaffPermission(Permission.WITHDRAWAL_APPROVE))) -> DecisionAnswer:
    settings = withdrawal_settings(request)
    with get_engine(request).begin() as conn:
        outcome = approval.decide(
            conn, case_id, staff_actor(principal),
            approval.Decision(body.approve, body.note, body.policy_flag_acknowledged),
            threshold_fen=settings.withdrawal_second_approval_above_fen, today=today_of(request),
            now=get_security(request).now(),
        )
        row = cases.case_row(conn, case_id)
        audit_action(conn, request, principal, "staff.withdrawal.decision", person_id=row["person_id"], reason=body.note,
                     detail={"case_id": case_id, "approve": body.approve, "status": outcome.status.value, "paid_fen": outcome.paid_fen})
        return DecisionAnswer(status=outcome.status.value, status_label=outcome.status.label, paid_fen=outcome.paid_fen,
                              case=staff_case_view(conn, row, settings))


@staff_router.post("/{case_id}/request-documents", summary="要求补充材料（待审核→待补充材料，通知参保人）",
                   response_model=StaffCaseView)
def staff_request_documents(case_id: CaseId, body: DocumentsRequest, request: Request,
                            principal: Principal = Depends(StaffPermission(Permission.WITHDRAWAL_PREPARE))) -> StaffCaseView:
    with get_engine(request).begin() as conn:
        case = cases.visible_case(conn, case_id, staff_actor(principal), lock=True)
        outgoing = cases.request_documents(conn, case, body.note, now=get_security(request).now())
        audit_action(conn, request, principal, "staff.withdrawal.request_documents", person_id=case["person_id"],
                     reason=body.note, detail={"case_id": case_id})
        view = staff_case_view(conn, cases.case_row(conn, case_id), withdrawal_settings(request))
    notifications.send(get_security(request), [outgoing])
    return view


def death_answer(conn, request: Request, person_id: int, died_on: date, recorded: inheritance.DeathRecorded) -> DeathAnswer:
    case = None
    if recorded.case_id is not None:
        case = staff_case_view(conn, cases.case_row(conn, recorded.case_id), withdrawal_settings(request))
    return DeathAnswer(person_id=person_id, died_on=died_on, document_id=recorded.document_id, status=recorded.status.value,
                       status_label=recorded.status.label, case=case, refusal=recorded.refusal)


@staff_router.post("/deaths", summary="登记参保人死亡（临时冻结账户，待另一位工作人员复核）", response_model=DeathAnswer,
                   status_code=201)
def staff_death(body: DeathBody, request: Request, principal: Principal = Depends(StaffPermission(Permission.DEATH_RECORD))) -> DeathAnswer:
    content = documents.decode_base64(body.content_base64)
    with get_engine(request).begin() as conn:
        recorded = inheritance.record_death(
            conn, policy_book(request), person_id=body.person_id, died_on=body.died_on, certificate_number=body.certificate_number,
            file_name=body.file_name, content=content, staff=staff_actor(principal), today=today_of(request),
            now=get_security(request).now(),
        )
        audit_action(conn, request, principal, "staff.withdrawal.death", person_id=body.person_id, reason=body.reason,
                     detail={"status": recorded.status.value, "document_id": recorded.document_id})
        return death_answer(conn, request, body.person_id, body.died_on, recorded)


def death_view(conn, row) -> DeathView:
    certificate = documents.by_id(conn, row["document_id"])
    status = inheritance.DeathStatus(row["status"])
    return DeathView(
        person_id=row["person_id"], died_on=row["died_on"], certificate_number=row["certificate_number"],
        status=status.value, status_label=status.label, recorded_by=row["recorded_by"], recorded_at=row["recorded_at"],
        confirmed_by=row["confirmed_by"], rejected_by=row["rejected_by"], decision_note=row["decision_note"],
        certificate=document_view(certificate),
    )


@staff_router.get("/deaths/{person_id}", summary="死亡登记详情（复核前核对）", response_model=DeathView)
def staff_death_view(person_id: PersonId, request: Request, reason: Reason, principal: Principal = Depends(StaffPermission(Permission.WITHDRAWAL_VIEW))) -> DeathView:
    with get_engine(request).begin() as conn:
        row = inheritance.death_record(conn, person_id, staff_actor(principal))
        audit_action(conn, request, principal, "staff.withdrawal.death.view", person_id=person_id, reason=reason, detail=None)
        return death_view(conn, row)


@staff_router.get(
    "/deaths/{person_id}/certificate", summary="查看死亡证明原件", response_class=Response,
    responses={200: {"content": {media: {} for media in ("application/pdf", "image/png", "image/jpeg")},
                     "description": "死亡证明原件 / the certificate"}},
)
def staff_death_certificate(person_id: PersonId, request: Request, reason: Reason,
                            principal: Principal = Depends(StaffPermission(Permission.WITHDRAWAL_VIEW))) -> Response:
    with get_engine(request).begin() as conn:
        row = inheritance.death_record(conn, person_id, staff_actor(principal))
        stored, content = documents.content_of(conn, row["document_id"], person_id=person_id)
        audit_action(conn, request, principal, "staff.withdrawal.death.certificate", person_id=person_id, reason=reason,
                     detail={"document_id": stored.id})
    return document_response(stored, content)


@staff_router.post("/deaths/{person_id}/confirm", summary="复核确认死亡登记（须由登记人以外的工作人员办理）",
                   response_model=DeathAnswer)
def staff_death_confirm(person_id: PersonId, body: StaffNote, request: Request,
                        principal: Principal = Depends(StaffPermission(Permission.DEATH_CONFIRM))) -> DeathAnswer:
    with get_engine(request).begin() as conn:
        decided = inheritance.confirm_death(conn, policy_book(request), person_id, staff_actor(principal), note=body.reason,
                                            today=today_of(request), now=get_security(request).now())
        audit_action(conn, request, principal, "staff.withdrawal.death.confirm", person_id=person_id, reason=body.reason,
                     detail={"case_id": decided.case_id})
        died_on = inheritance.death_record(conn, person_id, staff_actor(principal))["died_on"]
        return death_answer(conn, request, person_id, died_on, decided)


@staff_router.post("/deaths/{person_id}/reject", summary="复核驳回死亡登记（账户恢复正常）", response_model=DeathAnswer)
def staff_death_reject(person_id: PersonId, body: StaffNote, request: Request,
                       principal: Principal = Depends(StaffPermission(Permission.DEATH_CONFIRM))) -> DeathAnswer:
    with get_engine(request).begin() as conn:
        decided = inheritance.reject_death(conn, person_id, staff_actor(principal), note=body.reason,
                                           today=today_of(request), now=get_security(request).now())
        audit_action(conn, request, principal, "staff.withdrawal.death.reject", person_id=person_id, reason=body.reason,
                     detail=None)
        died_on = inheritance.death_record(conn, person_id, staff_actor(principal))["died_on"]
        return death_answer(conn, request, person_id, died_on, decided)


@staff_router.post("/{case_id}/documents", summary="窗口代传申请材料", response_model=StaffCaseView, status_code=201)
def staff_upload(case_id: CaseId, body: StaffDocumentUpload, request: Request, principal: Principal = Depends(StaffPermission(Permission.WITHDRAWAL_PREPARE))) -> StaffCaseView:
    content = documents.decode_base64(body.content_base64)
    with get_engine(request).begin() as conn:
        case = cases.visible_case(conn, case_id, staff_actor(principal), lock=True)
        stored = cases.add_document(conn, case, doc_type=body.doc_type, file_name=body.file_name, content=content,
                                    actor=staff_actor(principal), at=get_security(request).now())
        audit_action(conn, request, principal, "staff.withdrawal.upload", person_id=case["person_id"], reason=body.reason,
                     detail={"case_id": case_id, "document_id": stored.id, "sha256": stored.sha256})
        return staff_case_view(conn, cases.case_row(conn, case_id), withdrawal_settings(request))


@staff_router.put("/{case_id}/heirs", summary="登记继承人及份额（份额之和须为1）", response_model=StaffCaseView)
def staff_heirs(case_id: CaseId, body: HeirsBody, request: Request, principal: Principal = Depends(StaffPermission(Permission.WITHDRAWAL_PREPARE))) -> StaffCaseView:
    listed = [inheritance.HeirInput(heir.name, heir.id_number, heir.share, heir.bank_name, heir.bank_account,
                                    heir.account_holder) for heir in body.heirs]
    with get_engine(request).begin() as conn:
        case = cases.visible_case(conn, case_id, staff_actor(principal), lock=True)
        inheritance.set_heirs(conn, case, listed, staff=staff_actor(principal), today=today_of(request),
                              now=get_security(request).now())
        audit_action(conn, request, principal, "staff.withdrawal.heirs", person_id=case["person_id"], reason=body.reason,
                     detail={"case_id": case_id, "heirs": len(listed)})
        return staff_case_view(conn, cases.case_row(conn, case_id), withdrawal_settings(request))


@staff_router.post("/{case_id}/submit", summary="继承申请材料齐全后提交审批", response_model=StaffCaseView)
def staff_submit(case_id: CaseId, body: StaffNote, request: Request, principal: Principal = Depends(StaffPermission(Permission.WITHDRAWAL_PREPARE))) -> StaffCaseView:
    with get_engine(request).begin() as conn:
        case = cases.visible_case(conn, case_id, staff_actor(principal), lock=True)
        cases.submit(conn, case, today_of(request), actor=staff_actor(principal), at=get_security(request).now())
        audit_action(conn, request, principal, "staff.withdrawal.submit", person_id=case["person_id"], reason=body.reason,
                     detail={"case_id": case_id})
        return staff_case_view(conn, cases.case_row(conn, case_id), withdrawal_settings(request))
