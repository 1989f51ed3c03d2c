"""What the gateway says, turned into the order's state: notices, queries, expiry, refunds.

Every paid trade is recorded once in ``gateway_notices`` before anything else (a repeated
notice finds it and changes nothing). A trade that pays an open order marks it paid and the
order is posted in the next transaction; a crash between the two leaves a paid order that
``resume`` or the gateway's next notice posts. A trade that pays nothing live (a second
payment, a payment after the order expired) is refunded through the gateway.
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass, field

from sqlalchemy import Engine, select, update

from yibao import notifications
from yibao.collection import orders
from yibao.collection.orders import Order, Status
from yibao.collection.posting import post_paid
from yibao.domain.money import Money
from yibao.gateway.base import PaidTrade
from yibao.policy.parameters import PolicyBook
from yibao.security import audit
from yibao.security.context import Security
from yibao.store.db import insert_or_skip
from yibao.store.models import gateway_notices

log = logging.getLogger("yibao.collection")

# Test-only: the serving process kills itself (SIGKILL) right after a notice is recorded and
# before the order is posted, as a crash there would (tests/test_collection_crash.py).
KILL_AFTER_NOTICE_ENV = "YIBAO_TEST_KILL_AFTER_GATEWAY_NOTICE"
ACCEPTED, REFUNDING, REFUNDED = "accepted", "refunding", "refunded"
STRAY_REFUNDED = "collection.stray_refunded"


@dataclass
class Outcome:
    posted: list[str] = field(default_factory=list)
    refunded: list[str] = field(default_factory=list)  # trades given back
    outgoing: list = field(default_factory=list)


def take_trade(engine: Engine, sec: Security, book: PolicyBook, trade: PaidTrade) -> Outcome:
    """Record a paid trade (from a notice or a query) and act on it; safe to repeat."""
    now = sec.now()
    with engine.begin() as conn:
        order = orders.find(conn, trade.order_no, lock=True)
        fresh = insert_or_skip(conn, gateway_notices, {
            "gateway": sec.gateway.name, "trade_no": trade.trade_no, "order_no": trade.order_no,
            "amount_fen": trade.amount_fen, "paid_at": trade.paid_at, "received_at": now, "outcome": ACCEPTED,
        }) is not None
        if fresh and not _pays(order, trade, now):
            conn.execute(update(gateway_notices).where(
                gateway_notices.c.gateway == sec.gateway.name, gateway_notices.c.trade_no == trade.trade_no,
            ).values(outcome=REFUNDING))
        elif fresh:
            orders.mark_paid(conn, order, trade_no=trade.trade_no, paid_at=trade.paid_at)
    if fresh and os.environ.get(KILL_AFTER_NOTICE_ENV):
        os.kill(os.getpid(), signal.SIGKILL)
    outcome = Outcome()
    finish(engine, sec, book, trade.order_no, outcome)
    refund_strays(engine, sec, outcome, order_no=trade.order_no)
    notifications.send(sec, outcome.outgoing)
    return outcome


def _pays(order: Order | None, trade: PaidTrade, now) -> bool:
    # An open order is paid even a little after its deadline when the gateway still took the money
    # (the expiry had not reached the gateway yet): refunding it would only make the person pay again.
    return order is not None and order.status is Status.OPEN and trade.amount_fen == order.amount_fen


def finish(engine: Engine, sec: Security, book: PolicyBook, order_no: str, outcome: Outcome) -> None:
    with engine.begin() as conn:
        posted = post_paid(conn, book, order_no, now=sec.now())
    if posted is not None:
        outcome.posted.append(order_no)
        outcome.outgoing.extend(posted.outgoing)


def refund_strays(engine: Engine, sec: Security, outcome: Outcome, *, order_no: str | None = None) -> None:
    """Give back every recorded trade that pays nothing (once; the refund number is the trade's)."""
    query = select(gateway_notices).where(gateway_notices.c.outcome == REFUNDING)
    if order_no is not None:
        query = query.where(gateway_notices.c.order_no == order_no)
    with engine.connect() as conn:
        strays = conn.execute(query).mappings().all()
    for stray in strays:
        refund_no = f"RT{stray['id']:012d}"
        sec.gateway.refund(order_no=stray["order_no"], trade_no=stray["trade_no"], refund_no=refund_no,
                           amount_fen=stray["amount_fen"], reason="重复支付或订单已失效，原路退回")
        with engine.begin() as conn:
            conn.execute(update(gateway_notices).where(gateway_notices.c.id == stray["id"])
                         .values(outcome=REFUNDED, refund_no=refund_no))
            order = orders.find(conn, stray["order_no"])
            audit.record(conn, actor=None, action=STRAY_REFUNDED, at=sec.now(),
                         subject_person_id=order.person_id if order else None,
                         detail={"order_no": stray["order_no"], "amount_fen": stray["amount_fen"]})
            if order is not None:
                outcome.outgoing.append(notifications.notify(
                    conn, order.payer_person_id, kind=STRAY_REFUNDED, now=sec.now(),
                    text=f"订单{order.order_no}收到一笔多余的支付{Money(stray['amount_fen']).format()}"
                         f"（重复支付或订单已失效），已原路退回，请留意支付账户的退款。"))
        outcome.refunded.append(stray["trade_no"])


def check_with_gateway(engine: Engine, sec: Security, book: PolicyBook, order: Order) -> Outcome:
    """Ask the gateway about an order (the person says they paid; a notice may be late or lost).

    Only an order still waiting for its money is asked about; a posted, expired or refunded one
    is what it is."""
    outcome = Outcome()
    if order.status is Status.PAID:
        finish(engine, sec, book, order.order_no, outcome)
    if order.status is not Status.OPEN:
        return outcome
    for trade in sec.gateway.query(order.order_no):
        taken = take_trade(engine, sec, book, trade)
        outcome.posted += taken.posted
        outcome.refunded += taken.refunded
    return outcome


def expire(engine: Engine, sec: Security, book: PolicyBook, order: Order) -> bool:
    """An unpaid order past its deadline: closed at the gateway, then marked expired.

    The gateway is asked first: a payment it took before closing is accepted, not lost.
    """
    if not order.expired_by(sec.now()):
        return False
    sec.gateway.close(order.order_no)
    if check_with_gateway(engine, sec, book, order).posted:
        return False
    with engine.begin() as conn:
        return orders.mark_expired(conn, order)
