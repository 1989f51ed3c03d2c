"""Transfer between pooling regions and emergency refunds: the person's request, staff steps.

The person (own full session) asks to move and follows the steps. Staff of the old region
review and transfer out, staff of the new region transfer in; staff list every open step
with its due date and an ``overdue`` flag. Every staff request states a reason (``note`` /
``reason`` in the body; header ``X-Yibao-Reason`` for the list of steps) and is audited.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from yibao.domain.money import Money
from yibao.security.principal import Principal
from yibao.transfers import refunds, steps, transfer
from yibao.transfers.transfer import TransferStatus
from yibao.web.api.reads import MAX_ID, region_name
from yibao.web.api.reason import Reason
from yibao.web.api.schemas import Fen, Flag, Id, IsoDate, error_responses
from yibao.web.api.withdrawals import audit_action, case_worker, policy_book, staff_actor, today_of
from yibao.web.deps import get_engine, own_session

TAG = "关系转移接续与急诊费用返还 / transfers and emergency refunds"
person_router = APIRouter(prefix="/api/v1/me/transfers", tags=[TAG], responses=error_responses(401, 403, 404, 409, 422, 429))
staff_router = APIRouter(prefix="/api/v1/staff/transfers", tags=[TAG], responses=error_responses(401, 403, 404, 409, 422, 429))
TransferId = Annotated[int, Path(ge=1, le=MAX_ID)]


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


class TransferList(BaseModel):
    items: list[TransferView]


class TransferInAnswer(BaseModel):
    transfer: TransferView
    withdrawal_case_id: int | None = Field(description="转入地不接收余额时，为参保人发起的提取申请")


class RefundBody(BaseModel):
    person_id: Id
    amount_fen: Fen
    incurred_on: IsoDate
    receipt_number: str = Field(min_length=1, max_length=40)
    reason: str = Field(min_length=2, max_length=200, description="办理事由（记入审计日志）")


class RefundAnswer(BaseModel):
    refund_id: int
    due_on: date | None = None
    transaction_id: int | None = None


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


@person_router.get("", summary="本人的转移申请及各步骤期限", response_model=TransferList)
def my_transfers(request: Request, principal: Principal = Depends(own_session)) -> TransferList:
    with get_engine(request).connect() as conn:
        return TransferList(items=[transfer_view(row) for row in transfer.transfers_of(conn, principal.person_id)])


# ---------------------------------------------------------------------------- staff


@staff_router.get("/open-steps", summary="办理中的步骤及期限（含逾期标记）", response_model=StepList)
def open_steps(
    request: Request,
    principal: Principal = Depends(case_worker),
    *,
    reason: Reason,
    overdue_only: bool = Query(False),
) -> StepList:
    with get_engine(request).begin() as conn:
        found = steps.open_steps(conn, today_of(request), principal.region_code, overdue_only=overdue_only)
        audit_action(conn, request, principal, "staff.transfer.open_steps", person_id=None, reason=reason,
                     detail={"count": len(found)})
    items = [StepView(**step.__dict__) for step in found]
    return StepList(items=items, overdue=sum(item.overdue for item in items))


@staff_router.post("/{transfer_id}/review", summary="转出地审核", response_model=TransferView)
def review(transfer_id: TransferId, body: ReviewBody, request: Request, principal: Principal = Depends(case_worker)) -> TransferView:
    with get_engine(request).begin() as conn:
        transfer.review(conn, transfer_id, staff_actor(principal), approve=body.approve, note=body.note, today=today_of(request))
        row = transfer.transfer_row(conn, transfer_id)
        audit_action(conn, request, principal, "staff.transfer.review", person_id=row["person_id"], reason=body.note,
                     detail={"transfer_id": transfer_id, "approve": body.approve})
        return transfer_view(row)


@staff_router.post("/{transfer_id}/transfer-out", summary="转出：余额转入清算账户，原账户注销", response_model=TransferView)
def transfer_out(transfer_id: TransferId, body: StepBody, request: Request, principal: Principal = Depends(case_worker)) -> TransferView:
    with get_engine(request).begin() as conn:
        amount = transfer.transfer_out(conn, policy_book(request), transfer_id, staff_actor(principal), today=today_of(request))
        row = transfer.transfer_row(conn, transfer_id)
        audit_action(conn, request, principal, "staff.transfer.out", person_id=row["person_id"], reason=body.note,
                     detail={"transfer_id": transfer_id, "amount_fen": amount})
        return transfer_view(row)


@staff_router.post("/{transfer_id}/transfer-in", summary="转入：开立新账户，接收或不接收余额", response_model=TransferInAnswer)
def transfer_in(transfer_id: TransferId, body: TransferInBody, request: Request, principal: Principal = Depends(case_worker)) -> TransferInAnswer:
    with get_engine(request).begin() as conn:
        done = transfer.transfer_in(conn, policy_book(request), transfer_id, staff_actor(principal),
                                    accept_balance=body.accept_balance, today=today_of(request))
        row = transfer.transfer_row(conn, transfer_id)
        audit_action(conn, request, principal, "staff.transfer.in", person_id=row["person_id"], reason=body.note,
                     detail={"transfer_id": transfer_id, "accept_balance": body.accept_balance,
                       "withdrawal_case_id": done.withdrawal_case_id})
        return TransferInAnswer(transfer=transfer_view(row), withdrawal_case_id=done.withdrawal_case_id)


@staff_router.post("/emergency-refunds", summary="登记审核同意的急诊垫付费用返还", response_model=RefundAnswer, status_code=201)
def approve_refund(body: RefundBody, request: Request, principal: Principal = Depends(case_worker)) -> RefundAnswer:
    with get_engine(request).begin() as conn:
        refund = refunds.approve(
            conn, policy_book(request), person_id=body.person_id, amount_fen=body.amount_fen, incurred_on=body.incurred_on,
            receipt_number=body.receipt_number, staff=staff_actor(principal), today=today_of(request),
        )
        audit_action(conn, request, principal, "staff.refund.approve", person_id=body.person_id, reason=body.reason,
                     detail={"refund_id": refund.id, "amount_fen": body.amount_fen})
        return RefundAnswer(refund_id=refund.id, due_on=refund.due_on)


@staff_router.post("/emergency-refunds/{refund_id}/pay", summary="返还急诊垫付费用至个人账户", response_model=RefundAnswer)
def pay_refund(
    body: StepBody, request: Request, refund_id: int = Path(ge=1, le=MAX_ID), principal: Principal = Depends(case_worker)
) -> RefundAnswer:
    with get_engine(request).begin() as conn:
        refund = refunds.pay(conn, refund_id, staff_actor(principal), today=today_of(request))
        audit_action(conn, request, principal, "staff.refund.pay", person_id=refund.person_id, reason=body.note,
                     detail={"refund_id": refund_id, "transaction_id": refund.transaction_id})
        return RefundAnswer(refund_id=refund_id, due_on=refund.due_on, transaction_id=refund.transaction_id)
