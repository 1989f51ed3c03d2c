"""Transfer between pooling regions and emergency refunds: the person's request, staff steps.

The person (own full session) asks to move and follows the steps. Staff of the old region
review and transfer out, staff of the new region transfer in; staff list every open step
with its due date and an ``overdue`` flag. An emergency refund is entered with its receipt by
one staff member and approved by another (a supervisor approves again above the threshold)
before it is paid. Every staff request states a reason (``note`` / ``reason`` in the body;
header ``X-Yibao-Reason`` for reads) and is audited.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from yibao import documents
from yibao.domain.money import Money
from yibao.security.permissions import Permission
from yibao.security.principal import Principal
from yibao.transfers import progress, refunds, steps, transfer
from yibao.transfers.refund_settings import RefundSettings, get_refund_settings
from yibao.transfers.transfer import TransferStatus
from yibao.web.api.reads import MAX_ID, region_name
from yibao.web.api.reason import Reason
from yibao.web.api.schemas import Fen, Flag, Id, IsoDate, error_responses
from yibao.web.api.withdrawals import (
    DecisionBody,
    DocumentUpload,
    DocumentView,
    document_view,
    audit_action,
    document_response,
    staff_actor,
    today_of,
)
from yibao.web.deps import StaffPermission, get_engine, get_security, own_session, policy_book

TAG = "关系转移接续与急诊费用返还 / transfers and emergency refunds"
person_router = APIRouter(prefix="/api/v1/me/transfers", tags=[TAG], responses=error_responses(401, 403, 404, 409, 422, 429))
staff_router = APIRouter(prefix="/api/v1/staff/transfers", tags=[TAG], responses=error_responses(401, 403, 404, 409, 422, 429))
TransferId = Annotated[int, Path(ge=1, le=MAX_ID)]
RefundId = Annotated[int, Path(ge=1, le=MAX_ID)]


class TransferRequest(BaseModel):
    to_region: str = Field(min_length=6, max_length=6, description="转入地行政区划代码（按其统筹区办理）")


class StepBody(BaseModel):
    note: str = Field(min_length=2, max_length=200, description="办理意见（记入审计日志）")


class ReviewBody(StepBody):
    approve: Flag


class TransferInBody(StepBody):
    accept_balance: Flag = Field(description="转入地是否接收个人账户余额；不接收时为参保人发起余额提取（原因 refused）")


class TransferView(BaseModel):
    id: int
    status: str
    status_label: str
    from_region: str
    from_region_name: str | None
    to_region: str
    to_region_name: str | None
    requested_on: date
    out_due: date
    reviewed_on: date | None
    out_on: date | None
    in_due: date | None
    in_on: date | None
    amount_fen: int | None
    amount: str | None
    balance_accepted: bool | None
    note: str | None


class StepProgressView(BaseModel):
    step: str = Field(description="review（转出地审核）、transfer_out（转出）或 transfer_in（转入）")
    label: str
    due_on: date | None = Field(description="到期日（按工作日计算）；上一步办结后才开始计算时为 null")
    done_on: date | None
    state: str = Field(description="done（已办结）、open（办理中）、waiting（未开始）或 refused（不予办理）")
    overdue: bool
    working_days_overdue: int
    due_provisional: bool


class BalancePlaceView(BaseModel):
    place: str = Field(description="old_account（原账户）、clearing（转移途中）、new_account（新账户）或 withdrawal（待提取）")
    label: str
    amount_fen: int | None


class PersonTransferView(TransferView):
    steps: list[StepProgressView]
    balance_place: BalancePlaceView


class TransferList(BaseModel):
    items: list[PersonTransferView]


class PersonRefundBody(BaseModel):
    amount_fen: Fen
    incurred_on: IsoDate
    receipt_number: str = Field(min_length=1, max_length=40)
    file_name: str = Field(min_length=1, max_length=200, description="急诊收费票据文件名")
    content_base64: str = Field(min_length=1, max_length=documents.MAX_BASE64_CHARS,
                                description="急诊收费票据（PDF 或图片，Base64），与返还一并存档")


class PersonRefundView(BaseModel):
    refund_id: int
    status: str = Field(description="entered（待审核）、approved_once（待复核）、approved（待返还）、paid（已返还）或 rejected（未通过）")
    status_label: str
    amount_fen: int
    amount: str
    incurred_on: date
    receipt_number: str
    entered_on: date
    applied_by_person: bool
    due_on: date
    refunded_on: date | None
    decision_note: str | None
    documents: list[DocumentView]


class PersonRefundList(BaseModel):
    items: list[PersonRefundView]


class TransferInAnswer(BaseModel):
    transfer: TransferView
    withdrawal_case_id: int | None = Field(description="转入地不接收余额时，为参保人发起的提取申请")


class RefundBody(PersonRefundBody):
    person_id: Id
    reason: str = Field(min_length=2, max_length=200, description="办理事由（记入审计日志）")


class RefundDocumentUpload(DocumentUpload):
    doc_type: str = Field(min_length=1, max_length=documents.MAX_DOC_TYPE, description=f"材料类型：{'、'.join(refunds.DOCUMENT_TYPES)}")
    reason: str = Field(min_length=2, max_length=200, description="办理事由（记入审计日志）")


class RefundView(PersonRefundView):
    person_id: int
    entered_by: int | None
    approved_by: int | None
    second_approved_by: int | None
    needs_second_approval: bool
    transaction_id: int | None


class StepView(BaseModel):
    kind: str = Field(description="transfer 或 emergency_refund")
    id: int
    person_id: int
    step: str
    step_label: str
    region_code: str
    opened_on: date
    due_on: date
    overdue: bool
    working_days_overdue: int
    due_provisional: bool = Field(description="到期日所在年份的法定节假日安排尚未公布，暂按周一至周五计算")


class StepList(BaseModel):
    items: list[StepView]
    overdue: int


def transfer_view(row) -> TransferView:
    status = TransferStatus(row["status"])
    return TransferView(
        id=row["id"], status=status.value, status_label=status.label, from_region=row["from_region"],
        from_region_name=region_name(row["from_region"]), to_region=row["to_region"],
        to_region_name=region_name(row["to_region"]), requested_on=row["requested_on"], out_due=row["out_due"],
        reviewed_on=row["reviewed_on"], out_on=row["out_on"], in_due=row["in_due"], in_on=row["in_on"],
        amount_fen=row["amount_fen"], amount=None if row["amount_fen"] is None else Money(row["amount_fen"]).format(),
        balance_accepted=row["balance_accepted"], note=row["note"],
    )


# ---------------------------------------------------------------------------- the person


@person_router.post("", summary="申请医保关系转移接续", response_model=TransferView, status_code=201)
def request_transfer(body: TransferRequest, request: Request, principal: Principal = Depends(own_session)) -> TransferView:
    with get_engine(request).begin() as conn:
        transfer_id = transfer.request(conn, policy_book(request), person_id=principal.person_id, to_region=body.to_region,
                                       today=today_of(request))
        audit_action(conn, request, principal, "transfer.request", person_id=principal.person_id, reason=None,
                     detail={"transfer_id": transfer_id})
        return transfer_view(transfer.transfer_row(conn, transfer_id))


@person_router.get("", summary="本人的转移申请、各步骤期限及余额所在", response_model=TransferList)
def my_transfers(request: Request, principal: Principal = Depends(own_session)) -> TransferList:
    with get_engine(request).connect() as conn:
        return TransferList(items=[person_transfer_view(conn, row, today_of(request))
                                   for row in transfer.transfers_of(conn, principal.person_id)])


def person_transfer_view(conn, row, today: date) -> PersonTransferView:
    found = progress.progress(conn, row, today)
    return PersonTransferView(
        **transfer_view(row).model_dump(), steps=[StepProgressView(**step.__dict__) for step in found.steps],
        balance_place=BalancePlaceView(**found.balance.__dict__),
    )


def person_refund_view(conn, row) -> PersonRefundView:
    status = refunds.RefundStatus(row["status"])
    return PersonRefundView(
        refund_id=row["id"], status=status.value, status_label=status.label, amount_fen=row["amount_fen"],
        amount=Money(row["amount_fen"]).format(), incurred_on=row["incurred_on"], receipt_number=row["receipt_number"],
        entered_on=row["entered_on"], applied_by_person=row["applied_by_person"], due_on=row["due_on"],
        refunded_on=row["refunded_on"], decision_note=row["decision_note"],
        documents=[document_view(stored) for stored in documents.of_refund(conn, row["id"])],
    )


@person_router.get("/emergency-refunds", summary="本人的急诊垫付费用返还", response_model=PersonRefundList)
def my_refunds(request: Request, principal: Principal = Depends(own_session)) -> PersonRefundList:
    with get_engine(request).connect() as conn:
        return PersonRefundList(items=[person_refund_view(conn, row) for row in refunds.refunds_of(conn, principal.person_id)])


@person_router.post("/emergency-refunds", summary="本人申请急诊垫付费用返还（附票据；由经办机构工作人员审批）",
                    response_model=PersonRefundView, status_code=201)
def apply_refund(body: PersonRefundBody, request: Request, principal: Principal = Depends(own_session)) -> PersonRefundView:
    content = documents.decode_base64(body.content_base64)
    claim = refunds.Claim(principal.person_id, body.amount_fen, body.incurred_on, body.receipt_number, body.file_name, content)
    with get_engine(request).begin() as conn:
        refund = refunds.apply(conn, policy_book(request), refund_settings(request), claim, today=today_of(request),
                               now=get_security(request).now())
        audit_action(conn, request, principal, "refund.apply", person_id=principal.person_id, reason=None,
                     detail={"refund_id": refund.id, "amount_fen": body.amount_fen})
        return person_refund_view(conn, refunds.refund_for_person(conn, refund.id, principal.person_id))


# ---------------------------------------------------------------------------- staff


@staff_router.get("/open-steps", summary="办理中的步骤及期限（含逾期标记）", response_model=StepList)
def open_steps(
    request: Request,
    principal: Principal = Depends(StaffPermission(Permission.TRANSFER_VIEW)),
    *,
    reason: Reason,
    overdue_only: bool = Query(False),
) -> StepList:
    with get_engine(request).begin() as conn:
        found = steps.open_steps(conn, today_of(request), principal.scope, overdue_only=overdue_only)
        audit_action(conn, request, principal, "staff.transfer.open_steps", person_id=None, reason=reason,
                     detail={"count": len(found)})
    items = [StepView(**step.__dict__) for step in found]
    return StepList(items=items, overdue=sum(item.overdue for item in items))


@staff_router.post("/{transfer_id}/review", summary="转出地审核", response_model=TransferView)
def review(transfer_id: TransferId, body: ReviewBody, request: Request, principal: Principal = Depends(StaffPermission(Permission.TRANSFER_REVIEW))) -> TransferView:
    with get_engine(request).begin() as conn:
        transfer.review(conn, transfer_id, staff_actor(principal), approve=body.approve, note=body.note, today=today_of(request))
        row = transfer.transfer_row(conn, transfer_id)
        audit_action(conn, request, principal, "staff.transfer.review", person_id=row["person_id"], reason=body.note,
                     detail={"transfer_id": transfer_id, "approve": body.approve})
        return transfer_view(row)


@staff_router.post("/{transfer_id}/transfer-out", summary="转出：余额转入清算账户，原账户注销", response_model=TransferView)
def transfer_out(transfer_id: TransferId, body: StepBody, request: Request, principal: Principal = Depends(StaffPermission(Permission.TRANSFER_OUT))) -> TransferView:
    with get_engine(request).begin() as conn:
        amount = transfer.transfer_out(conn, policy_book(request), transfer_id, staff_actor(principal), today=today_of(request))
        row = transfer.transfer_row(conn, transfer_id)
        audit_action(conn, request, principal, "staff.transfer.out", person_id=row["person_id"], reason=body.note,
                     detail={"transfer_id": transfer_id, "amount_fen": amount})
        return transfer_view(row)


@staff_router.post("/{transfer_id}/transfer-in", summary="转入：开立新账户，接收或不接收余额", response_model=TransferInAnswer)
def transfer_in(transfer_id: TransferId, body: TransferInBody, request: Request, principal: Principal = Depends(StaffPermission(Permission.TRANSFER_IN))) -> TransferInAnswer:
    with get_engine(request).begin() as conn:
        done = transfer.transfer_in(conn, policy_book(request), transfer_id, staff_actor(principal),
                                    accept_balance=body.accept_balance, today=today_of(request),
                                    now=get_security(request).now())
        row = transfer.transfer_row(conn, transfer_id)
        audit_action(conn, request, principal, "staff.transfer.in", person_id=row["person_id"], reason=body.note,
                     detail={"transfer_id": transfer_id, "accept_balance": body.accept_balance,
                       "withdrawal_case_id": done.withdrawal_case_id})
        return TransferInAnswer(transfer=transfer_view(row), withdrawal_case_id=done.withdrawal_case_id)


def refund_settings(request: Request) -> RefundSettings:
    return getattr(request.app.state, "refund_settings", None) or get_refund_settings()


def refund_view(conn, row, settings: RefundSettings) -> RefundView:
    return RefundView(
        **person_refund_view(conn, row).model_dump(), person_id=row["person_id"], entered_by=row["entered_by"],
        approved_by=row["approved_by"], second_approved_by=row["second_approved_by"],
        needs_second_approval=refunds.needs_second_approval(row, settings), transaction_id=row["transaction_id"],
    )


def _current(conn, refund_id: int, principal: Principal, request: Request) -> RefundView:
    row = refunds.refund_for_staff(conn, refund_id, staff_actor(principal))
    return refund_view(conn, row, refund_settings(request))


@staff_router.post("/emergency-refunds", summary="登记急诊垫付费用返还（附票据；须另一位工作人员审批）",
                   response_model=RefundView, status_code=201)
def enter_refund(body: RefundBody, request: Request, principal: Principal = Depends(StaffPermission(Permission.REFUND_ENTER))) -> RefundView:
    content = documents.decode_base64(body.content_base64)
    with get_engine(request).begin() as conn:
        refund = refunds.enter(
            conn, policy_book(request), refund_settings(request), person_id=body.person_id, amount_fen=body.amount_fen,
            incurred_on=body.incurred_on, receipt_number=body.receipt_number, file_name=body.file_name, content=content,
            staff=staff_actor(principal), today=today_of(request), now=get_security(request).now(),
        )
        audit_action(conn, request, principal, "staff.refund.enter", person_id=body.person_id, reason=body.reason,
                     detail={"refund_id": refund.id, "amount_fen": body.amount_fen})
        return _current(conn, refund.id, principal, request)


@staff_router.get("/emergency-refunds/{refund_id}", summary="急诊垫付费用返还详情", response_model=RefundView)
def view_refund(refund_id: RefundId, request: Request, reason: Reason, principal: Principal = Depends(StaffPermission(Permission.REFUND_VIEW))) -> RefundView:
    with get_engine(request).begin() as conn:
        view = _current(conn, refund_id, principal, request)
        audit_action(conn, request, principal, "staff.refund.view", person_id=view.person_id, reason=reason,
                     detail={"refund_id": refund_id})
        return view


@staff_router.get(
    "/emergency-refunds/{refund_id}/documents/{document_id}", summary="查看返还材料原件（票据等）", response_class=Response,
    responses={200: {"content": {media: {} for media in ("application/pdf", "image/png", "image/jpeg")},
                     "description": "材料原件 / the document"}},
)
def refund_document(refund_id: RefundId, request: Request, reason: Reason, document_id: int = Path(ge=1, le=MAX_ID),
                    principal: Principal = Depends(StaffPermission(Permission.REFUND_VIEW))) -> Response:
    with get_engine(request).begin() as conn:
        row = refunds.refund_for_staff(conn, refund_id, staff_actor(principal))
        stored, content = documents.content_of(conn, document_id, refund_id=refund_id)
        audit_action(conn, request, principal, "staff.refund.document", person_id=row["person_id"], reason=reason,
                     detail={"refund_id": refund_id, "document_id": document_id})
    return document_response(stored, content)


@staff_router.post("/emergency-refunds/{refund_id}/documents", summary="补充返还材料（审批前）", response_model=RefundView,
                   status_code=201)
def upload_refund_document(refund_id: RefundId, body: RefundDocumentUpload, request: Request,
                           principal: Principal = Depends(StaffPermission(Permission.REFUND_ENTER))) -> RefundView:
    content = documents.decode_base64(body.content_base64)
    with get_engine(request).begin() as conn:
        stored = refunds.add_document(conn, refund_id, staff_actor(principal), doc_type=body.doc_type,
                                      file_name=body.file_name, content=content, now=get_security(request).now())
        view = _current(conn, refund_id, principal, request)
        audit_action(conn, request, principal, "staff.refund.upload", person_id=view.person_id, reason=body.reason,
                     detail={"refund_id": refund_id, "document_id": stored.id, "sha256": stored.sha256})
        return view


@staff_router.post("/emergency-refunds/{refund_id}/decision",
                   summary="审批返还（登记人、上传材料人不能审批；超过限额须复核人员再次审批）", response_model=RefundView)
def decide_refund(refund_id: RefundId, body: DecisionBody, request: Request, principal: Principal = Depends(StaffPermission(Permission.REFUND_APPROVE))) -> RefundView:
    with get_engine(request).begin() as conn:
        status = refunds.decide(conn, refund_id, staff_actor(principal), approve=body.approve, note=body.note,
                                settings=refund_settings(request), today=today_of(request), now=get_security(request).now())
        view = _current(conn, refund_id, principal, request)
        audit_action(conn, request, principal, "staff.refund.decision", person_id=view.person_id, reason=body.note,
                     detail={"refund_id": refund_id, "approve": body.approve, "status": status.value})
        return view


@staff_router.post("/emergency-refunds/{refund_id}/pay", summary="返还急诊垫付费用至个人账户（审批通过后）",
                   response_model=RefundView)
def pay_refund(refund_id: RefundId, body: StepBody, request: Request, principal: Principal = Depends(StaffPermission(Permission.REFUND_PAY))) -> RefundView:
    with get_engine(request).begin() as conn:
        refund = refunds.pay(conn, refund_id, staff_actor(principal), today=today_of(request))
        audit_action(conn, request, principal, "staff.refund.pay", person_id=refund.person_id, reason=body.note,
                     detail={"refund_id": refund_id, "transaction_id": refund.transaction_id})
        return _current(conn, refund_id, principal, request)
