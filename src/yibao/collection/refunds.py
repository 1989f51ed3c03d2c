"""A paid premium given back before its coverage starts (paid by mistake, insured elsewhere).

The gateway refunds first (idempotent by the refund number, derived from the order number),
then one transaction takes the money back out of the pool, marks the order refunded and frees
the year for a new order. A crash between the two is finished by asking again: the gateway
answers the same refund, the ledger key is the order's.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, update

from yibao import notifications
from yibao.collection import orders
from yibao.collection.orders import PREMIUM, Order, Status
from yibao.collection.posting import gateway_account
from yibao.domain.money import Money
from yibao.errors import InvalidInput
from yibao.ledger.accounts import system_account
from yibao.ledger.kinds import AccountKind, TxKind
from yibao.ledger.ledger import Leg, TransactionRequest, post_within
from yibao.security import audit
from yibao.security.context import Security
from yibao.security.errors import Forbidden
from yibao.security.principal import Principal
from yibao.store.models import contribution_orders

REFUNDED = "collection.refunded"


def refund_no(order: Order) -> str:
    return "R" + order.order_no


def check_refundable(order: Order, today: date) -> None:
    if order.status is not Status.POSTED:
        raise InvalidInput("只有缴费成功的订单可以申请退费", field="order_no", code="order_not_refundable")
    if order.purpose != PREMIUM:
        raise InvalidInput("灵活就业缴费已记入缴费记录，如需退费请到当地医保经办机构窗口办理", field="order_no",
                           code="flexible_refund_at_counter")
    if order.benefit_starts_on is None or order.benefit_starts_on <= today:
        raise InvalidInput("该年度待遇已开始享受，不能在网上退费；如有疑问请到当地医保经办机构窗口咨询", field="order_no",
                           code="coverage_started")


def refund_order(engine: Engine, sec: Security, order: Order, *, actor: Principal, reason: str, client: str | None) -> Order:
    today = sec.clock.today()
    reason = audit.written_reason(reason, what="退费原因")  # 2 to 200 characters, as the column holds
    check_refundable(order, today)
    number = refund_no(order)
    sec.gateway.refund(order_no=order.order_no, trade_no=order.trade_no, refund_no=number, amount_fen=order.amount_fen,
                       reason=reason)
    now = sec.now()
    with engine.begin() as conn:
        current = orders.find(conn, order.order_no, lock=True)
        if current.status is Status.REFUNDED:
            return current
        check_refundable(current, today)
        pool = system_account(conn, AccountKind.POOL, current.region_code, opened_on=today)
        back = post_within(conn, TransactionRequest(
            kind=TxKind.CONTRIBUTION_REFUND, idempotency_key=f"collection-refund:{current.order_no}",
            legs=(Leg(pool, -current.amount_fen), Leg(gateway_account(conn, current.gateway, current.region_code, today),
                                                      current.amount_fen)),
            business_date=today, memo=f"{current.purpose_label}退款（{current.what}）", reference=current.order_no,
        ))
        conn.execute(update(contribution_orders).where(contribution_orders.c.id == current.id).values(
            status=Status.REFUNDED.value, live_key=None, refund_no=number, refund_reason=reason, refunded_at=now,
            refund_transaction_id=back.transaction_id,
        ))
        audit.record(conn, actor=actor, action=REFUNDED, at=now, subject_person_id=current.person_id, reason=reason,
                     client=client, detail={"order_no": current.order_no, "amount_fen": current.amount_fen})
        outgoing = [notifications.notify(
            conn, person_id, kind=REFUNDED, now=now,
            text=f"{current.what}城乡居民医保个人缴费{Money(current.amount_fen).format()}已退款，将原路退回支付账户；"
                 f"该年度如需参保，请重新缴费。") for person_id in {current.person_id, current.payer_person_id}]
        refunded = orders.find(conn, current.order_no)
    notifications.send(sec, outgoing)
    return refunded


def not_payer() -> Forbidden:
    return Forbidden("退费只能由缴费人本人申请，款项原路退回缴费人", code="payer_only")
