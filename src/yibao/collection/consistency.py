"""What ``yibao db check`` asks of contributions paid online.

A posted order's transaction takes exactly its amount in from the gateway; a refunded one's
refund gives exactly that back; every trade accepted from a gateway is the trade of its order.
A paid order not posted, or a trade waiting for its refund, past the cut-off is a warning:
``yibao payments collect`` (or the server's start) finishes both.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, cast, func, or_, select

from yibao.store.models import contribution_orders, gateway_notices, postings

o = contribution_orders.c


def findings() -> list[tuple]:
    moved = (
        select(postings.c.transaction_id, cast(func.sum(postings.c.amount_fen), BigInteger).label("moved_fen"))
        .where(postings.c.amount_fen > 0).group_by(postings.c.transaction_id).subquery()
    )
    paid, back = moved.alias("paid"), moved.alias("back")
    not_posted = (
        select(o.order_no, o.status, o.amount_fen, paid.c.moved_fen)
        .outerjoin(paid, paid.c.transaction_id == o.transaction_id)
        .where(o.status.in_(["posted", "refunded"]), or_(paid.c.moved_fen.is_(None), paid.c.moved_fen != o.amount_fen))
    )
    not_refunded = (
        select(o.order_no, o.amount_fen, back.c.moved_fen)
        .outerjoin(back, back.c.transaction_id == o.refund_transaction_id)
        .where(o.status == "refunded", or_(back.c.moved_fen.is_(None), back.c.moved_fen != o.amount_fen))
    )
    stray_accepted = (
        select(gateway_notices.c.trade_no, gateway_notices.c.order_no, o.status, o.trade_no.label("order_trade_no"))
        .outerjoin(contribution_orders, o.order_no == gateway_notices.c.order_no)
        .where(gateway_notices.c.outcome == "accepted",
               or_(o.id.is_(None), o.trade_no.is_(None), o.trade_no != gateway_notices.c.trade_no))
    )
    return [
        ("collection_order_not_posted", "网上缴费订单已缴费，但记账金额与订单金额不一致", not_posted),
        ("collection_refund_not_posted", "网上缴费订单已退款，但退款记账与订单金额不一致", not_refunded),
        ("collection_trade_unmatched", "支付渠道的收款已受理，却不是其订单的支付（应退回而未退回）", stray_accepted),
    ]


def warnings(cutoff: datetime) -> list[tuple]:
    unposted = select(o.order_no, o.paid_at).where(o.status == "paid", o.paid_at < cutoff)
    refunding = select(gateway_notices.c.trade_no, gateway_notices.c.order_no, gateway_notices.c.received_at).where(
        gateway_notices.c.outcome == "refunding", gateway_notices.c.received_at < cutoff)
    return [
        ("collection_paid_not_posted", "网上缴费已支付但长时间未入账：请运行 yibao payments collect", unposted),
        ("collection_refund_waiting", "多余的支付长时间未退回：请运行 yibao payments collect", refunding),
    ]
