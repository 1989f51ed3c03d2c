"""Paying contributions online: ``/api/v1/me/pay`` for the signed-in person (their own session
only: no third-party app creates orders) and the gateway's notify address.

The person sees what they (and whoever they may pay for) may pay, creates an order, pays at
the gateway's ``pay_url``, and reads the order back; the gateway tells yibao at
``/api/v1/gateway/notify/{gateway}`` (signed; answered in the gateway's own format).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from yibao.collection import orders, payers, quotes, receipt, refunds, service, settle
from yibao.collection.orders import Order
from yibao.domain.money import Money
from yibao.errors import InvalidInput, NotFound
from yibao.gateway.base import BadNotice, GatewayNotAllowed
from yibao.security.principal import Principal
from yibao.web.api.schemas import error_responses
from yibao.web.deps import client_address, get_engine, get_security, own_session, policy_book

router = APIRouter(prefix="/api/v1/me/pay", tags=["网上缴费 / paying contributions"],
                   responses=error_responses(401, 403, 422, 429))
gateway_router = APIRouter(prefix="/api/v1/gateway", tags=["支付渠道 / payment gateway"])

ORDER_NO = Path(min_length=8, max_length=32, pattern=r"^[A-Z0-9]+$", description="缴费订单号")


class FigureView(BaseModel):
    amount_fen: int | None = Field(description="金额（分）；资料未给出时为空")
    amount: str = Field(description="金额（元），未知时说明")
    confidence: str
    sources: list[str]
    note: str


class PremiumYear(BaseModel):
    year: int
    state: str = Field(description="paid | paid_by_relative | registered | waiting | unpaid")
    state_label: str
    premium: FigureView
    window_opens: date | None
    window_closes: date | None
    window_state: str = Field(description="before | open | closed | unknown")
    benefit_text: str = Field(description="如果今天缴费，何时开始享受待遇")
    benefit_starts_on: date | None
    waiting_months: int | None
    continuous_years: int
    critical_illness: str
    payable: bool
    order_no: str | None


class TierView(BaseModel):
    key: str
    label: str
    base_fen: int
    monthly_fen: int
    account_fen: int


class FlexibleView(BaseModel):
    tiers: list[TierView]
    tiers_confidence: str
    tiers_note: str
    makeup_months: list[str]
    ahead_months: list[str]
    months_note: str
    resumption: str
    order_no: str | None


class PayablePerson(BaseModel):
    person_id: int
    name: str
    relation: str
    role: str
    premium_years: list[PremiumYear]
    flexible: FlexibleView | None


class OrderRequest(BaseModel):
    purpose: Literal["resident_premium", "flexible"]
    person_id: int | None = Field(None, ge=1, le=2**62, description="为谁缴费；默认本人（城乡居民医保）")
    year: int | None = Field(None, ge=2000, le=2100, strict=True, description="缴费年度（城乡居民医保）")
    tier: str | None = Field(None, max_length=16, description="缴费档次（灵活就业）")
    months: list[Annotated[str, Field(max_length=7)]] = Field(default_factory=list, max_length=60,
                                                              description="缴费月份 YYYY-MM（灵活就业）")


class OrderView(BaseModel):
    order_no: str
    purpose: str
    purpose_label: str
    what: str
    person_id: int
    payer_role: str
    amount_fen: int
    amount: str
    status: str
    status_label: str
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    benefit_starts_on: date | None
    waiting_months: int | None
    refunded_at: datetime | None
    pay_url: str | None = Field(description="去支付（仅待支付订单）")


class RefundRequest(BaseModel):
    reason: str = Field(min_length=2, max_length=200, description="退费原因")


@router.get("", summary="可以缴费的人与年度、档次", response_model=list[PayablePerson])
def payable(request: Request, principal: Principal = Depends(own_session)) -> list[PayablePerson]:
    book, day = policy_book(request), get_security(request).clock.today()
    with get_engine(request).connect() as conn:
        people = payers.payable_people(conn, principal.person_id)
        return [PayablePerson(
            person_id=person.person_id, name=person.name, relation=person.relation, role=person.role,
            premium_years=[_year_view(quote) for quote in quotes.premium_quotes(conn, book, person, day)],
            flexible=_flexible_view(quotes.flexible_quote(conn, book, person, day)) if person.role == payers.SELF else None,
        ) for person in people]


@router.post("/orders", summary="创建缴费订单（同一人同一年度只有一笔）", response_model=OrderView, status_code=201,
             responses=error_responses(404, 409))
def create_order(body: OrderRequest, request: Request, principal: Principal = Depends(own_session)) -> OrderView:
    engine, sec, book = get_engine(request), get_security(request), policy_book(request)
    acting = service.Acting.person(principal, client_address(request), "api")
    if body.purpose == orders.PREMIUM:
        order = service.premium_order(engine, sec, book, acting, person_id=body.person_id or principal.person_id,
                                      year=_required(body.year, "year", "请选择缴费年度"))
    else:
        order = service.flexible_order(engine, sec, book, acting, tier_key=_required(body.tier, "tier", "请选择缴费档次"),
                                       months=body.months)
    return _order_view(order, service.checkout(sec, order, str(request.base_url)).pay_url)


@router.get("/orders", summary="我的缴费订单（本人缴的和为本人缴的）", response_model=list[OrderView])
def my_orders(request: Request, principal: Principal = Depends(own_session)) -> list[OrderView]:
    with get_engine(request).connect() as conn:
        return [_order_view(order) for order in orders.of_person(conn, principal.person_id)]


@router.get("/orders/{order_no}", summary="缴费订单", response_model=OrderView, responses=error_responses(404, 409))
def one_order(request: Request, order_no: str = ORDER_NO, principal: Principal = Depends(own_session)) -> OrderView:
    order = _current(request, order_no, principal)
    pay_url = service.checkout(get_security(request), order, str(request.base_url)).pay_url if order.status is orders.Status.OPEN else None
    return _order_view(order, pay_url)


@router.post("/orders/{order_no}/check", summary="向支付渠道查询支付结果", response_model=OrderView,
             responses=error_responses(404, 409))
def check(request: Request, order_no: str = ORDER_NO, principal: Principal = Depends(own_session)) -> OrderView:
    order = _current(request, order_no, principal)
    settle.check_with_gateway(get_engine(request), get_security(request), policy_book(request), order)
    return _order_view(_current(request, order_no, principal))


@router.post("/orders/{order_no}/refund", summary="申请退费（待遇开始前，原路退回）", response_model=OrderView,
             responses=error_responses(404, 409))
def refund(body: RefundRequest, request: Request, order_no: str = ORDER_NO,
           principal: Principal = Depends(own_session)) -> OrderView:
    order = _current(request, order_no, principal)
    if order.payer_person_id != principal.person_id:
        raise refunds.not_payer()
    refunded = refunds.refund_order(get_engine(request), get_security(request), order, actor=principal,
                                    reason=body.reason, client=client_address(request))
    return _order_view(refunded)


@router.get("/orders/{order_no}/receipt.pdf", summary="缴费凭证（PDF）", response_class=Response,
            responses=error_responses(404, 409))
def receipt_pdf(request: Request, order_no: str = ORDER_NO, principal: Principal = Depends(own_session)) -> Response:
    order = _current(request, order_no, principal)
    return receipt.pdf_response(get_engine(request), get_security(request), order, principal, client_address(request))


@gateway_router.post("/notify/{gateway}", summary="支付渠道异步通知（验签；验签失败 401）",
                     responses=error_responses(401, 404))
async def notify(request: Request, gateway: str = Path(max_length=32, pattern=r"^[a-z0-9_-]+$")) -> Response:
    sec = get_security(request)
    try:
        configured = sec.gateway.name
    except GatewayNotAllowed:
        configured = None  # no gateway here: no notify address either
    if gateway != configured:
        raise NotFound("未找到该支付渠道", field="gateway", code="gateway_not_found")
    body = await request.body()
    try:
        trade = sec.gateway.read_notice(request.headers, body)
    except BadNotice:
        answer = sec.gateway.notice_answer(False)  # the gateway's own "fail", as an unauthenticated call
        return Response(answer.body, status_code=401, media_type=answer.media_type)
    await run_in_threadpool(settle.take_trade, get_engine(request), sec, policy_book(request), trade)
    answer = sec.gateway.notice_answer(True)
    return Response(answer.body, status_code=answer.status_code, media_type=answer.media_type)


# ---------------------------------------------------------------------------- helpers


def _current(request: Request, order_no: str, principal: Principal) -> Order:
    return service.visible_now(get_engine(request), get_security(request), policy_book(request), order_no,
                               principal.person_id)


def _required(value, field: str, message: str):
    if value is None:
        raise InvalidInput(message, field=field, code=f"{field}_missing")
    return value


def _figure(figure) -> FigureView:
    amount = Money(figure.amount_fen).format() if figure.amount_fen is not None else "暂无资料"
    return FigureView(amount_fen=figure.amount_fen, amount=amount, confidence=figure.confidence,
                      sources=list(figure.sources), note=figure.note)


def _year_view(quote: quotes.PremiumQuote) -> PremiumYear:
    return PremiumYear(
        year=quote.year, state=quote.state, state_label=quote.state_label, premium=_figure(quote.premium),
        window_opens=quote.window.opens, window_closes=quote.window.closes, window_state=quote.window_state,
        benefit_text=quote.benefit.text, benefit_starts_on=quote.benefit.starts_on,
        waiting_months=quote.benefit.waiting_months, continuous_years=quote.continuous,
        critical_illness=quote.critical_illness["text"], payable=quote.payable,
        order_no=quote.order.order_no if quote.order is not None else None,
    )


def _flexible_view(quote: quotes.FlexibleQuote | None) -> FlexibleView | None:
    if quote is None:
        return None
    return FlexibleView(
        tiers=[TierView(key=tier.key, label=tier.label, base_fen=tier.base_fen, monthly_fen=tier.monthly_fen,
                        account_fen=tier.account_fen) for tier in quote.tiers.tiers],
        tiers_confidence=quote.tiers.confidence, tiers_note=quote.tiers.note,
        makeup_months=[month.strftime("%Y-%m") for month in quote.months.makeup],
        ahead_months=[month.strftime("%Y-%m") for month in quote.months.ahead],
        months_note=quote.months.note, resumption=quote.resumption["text"],
        order_no=quote.order.order_no if quote.order is not None else None,
    )


def _order_view(order: Order, pay_url: str | None = None) -> OrderView:
    return OrderView(
        order_no=order.order_no, purpose=order.purpose, purpose_label=order.purpose_label, what=order.what,
        person_id=order.person_id, payer_role=order.payer_role, amount_fen=order.amount_fen,
        amount=Money(order.amount_fen).format(), status=order.status.value, status_label=order.status.label,
        created_at=order.created_at, expires_at=order.expires_at, paid_at=order.paid_at,
        benefit_starts_on=order.benefit_starts_on, waiting_months=order.waiting_months, refunded_at=order.refunded_at,
        pay_url=pay_url,
    )
