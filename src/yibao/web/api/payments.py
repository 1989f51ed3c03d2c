"""``/api/v1/institution/payments|refunds|settlement``: paying at a designated pharmacy or hospital.

The institution identifies the person with the e-voucher QR payload or with the card number
and its 6-digit service PIN, and sends an idempotency key (header ``Idempotency-Key`` or
body field ``idempotency_key``) with a receipt number unique within the institution. The
same key and body answer the first result again (header ``Idempotent-Replayed: true``); the
same key with another body is refused (409 ``idempotency_conflict``).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel, Field

from yibao.domain.money import Money
from yibao.domain.resident_id import ResidentId
from yibao.errors import InvalidInput
from yibao.payments.identify import Credential
from yibao.payments.orders import MAX_KEY_LENGTH, MAX_RECEIPT_LENGTH, Payer, PaymentOrder, RefundOrder
from yibao.payments.service import Payments, PaymentResult
from yibao.payments.settlement import daily_settlement
from yibao.security import evoucher
from yibao.security.principal import Principal
from yibao.web.api import reads
from yibao.web.api.schemas import Fen, Flag, IsoDate, error_responses
from yibao.web.deps import client_address, get_engine, get_security, institution, policy_book

router = APIRouter(
    prefix="/api/v1/institution", tags=["定点机构 / designated institutions"],
    responses=error_responses(401, 403, 422, 429),
)

REPLAYED_HEADER = "Idempotent-Replayed"


KEY_HEADER = Header(None, alias="Idempotency-Key", max_length=MAX_KEY_LENGTH, description="幂等键（也可放在请求体 idempotency_key）")


class PaymentBody(BaseModel):
    receipt_no: str = Field(min_length=1, max_length=MAX_RECEIPT_LENGTH, description="收据号（本机构内唯一）")
    amount_fen: Fen = Field(description="应付金额（分）")
    payload: str | None = Field(None, max_length=evoucher.MAX_PAYLOAD_LENGTH, description="医保电子凭证二维码内容")
    card_number: str | None = Field(None, max_length=20, description="社保卡号（与 pin 同用，代替电子凭证）")
    pin: str | None = Field(None, max_length=6, description="社保卡服务密码（6位数字）")
    allow_partial: Flag = Field(False, description="余额不足时由账户支付现有余额，差额以现金支付")
    payer: Payer = Field(Payer.SELF, description="self 本人账户；family 本人已绑定的家庭共济账户")
    idempotency_key: str | None = Field(None, max_length=MAX_KEY_LENGTH, description="幂等键（或请求头 Idempotency-Key）")


class PaymentAnswer(BaseModel):
    payment_id: int
    receipt_no: str
    payer: str
    payer_label: str
    name_masked: str = Field(description="就医、购药的参保人（脱敏）")
    id_number_masked: str
    amount_fen: int
    paid_fen: int = Field(description="个人账户（或家庭共济账户）支付 / paid from the account")
    paid: str
    cash_due_fen: int = Field(description="应以现金支付的差额 / due in cash")
    cash_due: str
    business_date: date
    transaction_id: int


class RefundBody(BaseModel):
    receipt_no: str = Field(min_length=1, max_length=MAX_RECEIPT_LENGTH, description="原支付的收据号")
    amount_fen: Fen = Field(description="退费金额（分）")
    idempotency_key: str | None = Field(None, max_length=MAX_KEY_LENGTH, description="幂等键（或请求头 Idempotency-Key）")


class RefundAnswer(BaseModel):
    refund_id: int
    receipt_no: str
    amount_fen: int
    amount: str
    paid_fen: int = Field(description="原支付金额")
    refunded_total_fen: int = Field(description="截至本笔的退费合计")
    refundable_fen: int = Field(description="截至本笔尚可退的金额")
    business_date: date
    transaction_id: int


class SettlementAnswer(BaseModel):
    business_date: date
    institution_code: str
    payments_count: int
    paid_fen: int
    paid: str
    refunds_count: int
    refunded_fen: int
    refunded: str
    net_fen: int
    net: str
    ledger_net_fen: int = Field(description="当日账本中本机构结算账户的分录合计")
    reconciled: bool = Field(description="净额与账本一致")


def _idempotency_key(header: str | None, body: str | None) -> str:
    if header and body and header != body:
        raise InvalidInput("请求头与请求体中的幂等键不一致", field="idempotency_key", code="idempotency_key_mismatch")
    key = header or body
    if not key:
        raise InvalidInput("缺少幂等键（请求头 Idempotency-Key 或 idempotency_key）", field="idempotency_key", code="idempotency_key_missing")
    return key


def _payments(request: Request) -> Payments:
    return Payments(get_engine(request), get_security(request), policy_book(request))


def _mark_replayed(response: Response, replayed: bool) -> None:
    if replayed:
        response.headers[REPLAYED_HEADER] = "true"


@router.post(
    "/payments", summary="个人账户支付（扫医保电子凭证或社保卡号加服务密码）", response_model=PaymentAnswer,
    responses=error_responses(404, 409, 423),
)
def pay(
    body: PaymentBody, request: Request, response: Response, principal: Principal = Depends(institution),
    key: str | None = KEY_HEADER,
) -> PaymentAnswer:
    order = PaymentOrder(
        receipt_no=body.receipt_no, amount_fen=body.amount_fen, idempotency_key=_idempotency_key(key, body.idempotency_key),
        credential=Credential.parse(payload=body.payload, card_number=body.card_number, pin=body.pin),
        allow_partial=body.allow_partial, payer=body.payer,
    )
    result = _payments(request).pay(principal, order, client=client_address(request))
    _mark_replayed(response, result.replayed)
    return _payment_answer(request, result)


def _payment_answer(request: Request, result: PaymentResult) -> PaymentAnswer:
    with get_engine(request).connect() as conn:
        person = reads.person_row(conn, result.person_id)
    return PaymentAnswer(
        payment_id=result.payment_id, receipt_no=result.receipt_no, payer=result.payer.value,
        payer_label=result.payer.label, name_masked=reads.mask_name(person["name"]),
        id_number_masked=ResidentId(person["id_number"]).masked, amount_fen=result.amount_fen,
        paid_fen=result.paid_fen, paid=Money(result.paid_fen).format(), cash_due_fen=result.cash_due_fen,
        cash_due=Money(result.cash_due_fen).format(), business_date=result.business_date,
        transaction_id=result.transaction_id,
    )


@router.post(
    "/refunds", summary="退费（按原收据号，退回原支付账户）", response_model=RefundAnswer,
    responses=error_responses(404, 409),
)
def refund(
    body: RefundBody, request: Request, response: Response, principal: Principal = Depends(institution),
    key: str | None = KEY_HEADER,
) -> RefundAnswer:
    order = RefundOrder(
        receipt_no=body.receipt_no, amount_fen=body.amount_fen, idempotency_key=_idempotency_key(key, body.idempotency_key)
    )
    result = _payments(request).refund(principal, order, client=client_address(request))
    _mark_replayed(response, result.replayed)
    return RefundAnswer(
        refund_id=result.refund_id, receipt_no=result.receipt_no, amount_fen=result.amount_fen,
        amount=Money(result.amount_fen).format(), paid_fen=result.paid_fen, refunded_total_fen=result.refunded_total_fen,
        refundable_fen=result.refundable_fen, business_date=result.business_date, transaction_id=result.transaction_id,
    )


@router.get("/settlement", summary="本机构日结对账", response_model=SettlementAnswer, responses=error_responses(404))
def settlement(
    request: Request, day: Annotated[IsoDate, Query(alias="date", description="对账日期 YYYY-MM-DD")],
    principal: Principal = Depends(institution),
) -> SettlementAnswer:
    with get_engine(request).connect() as conn:
        report = daily_settlement(conn, principal.subject_id, day)
    return SettlementAnswer(
        business_date=report.day, institution_code=principal.client_id, payments_count=report.payments_count,
        paid_fen=report.paid_fen, paid=Money(report.paid_fen).format(), refunds_count=report.refunds_count,
        refunded_fen=report.refunded_fen, refunded=Money(report.refunded_fen).format(), net_fen=report.net_fen,
        net=Money(report.net_fen).format(), ledger_net_fen=report.ledger_net_fen, reconciled=report.reconciled,
    )
