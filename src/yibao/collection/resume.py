"""Finishing what a crash or a lost notice left: paid orders posted, unpaid ones past their
deadline expired (after asking the gateway), trades that pay nothing refunded.

Run by the server at start (beside serving) and by ``yibao payments collect``; each step is
idempotent, so running it twice, or beside a serving server, changes nothing more.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass, field

from sqlalchemy import Engine

from yibao import notifications
from yibao.collection import orders, settle
from yibao.gateway.base import GatewayNotAllowed
from yibao.policy.parameters import PolicyBook
from yibao.security.context import Security

log = logging.getLogger("yibao.collection")


@dataclass
class CollectReport:
    posted: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    refunded: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def collect(engine: Engine, sec: Security, book: PolicyBook) -> CollectReport:
    report = CollectReport()
    outcome = settle.Outcome()
    with engine.connect() as conn:
        paid = orders.paid_not_posted(conn)
        past = orders.open_past(conn, sec.now())
    for order_no in paid:
        settle.finish(engine, sec, book, order_no, outcome)
    for order_no in past:
        with engine.connect() as conn:
            order = orders.find(conn, order_no)
        if settle.expire(engine, sec, book, order):
            report.expired.append(order_no)
    settle.refund_strays(engine, sec, outcome)
    report.posted, report.refunded = outcome.posted, outcome.refunded
    notifications.send(sec, outcome.outgoing)
    return report


def collect_in_background(engine: Engine, sec: Security, book: PolicyBook) -> threading.Thread:
    """At server start, in a thread (serving does not wait); a failure is logged, not raised."""

    def run() -> None:
        try:
            _wake_gateway(sec)
            report = collect(engine, sec, book)
        except Exception:  # noqa: BLE001 - the server serves on; `yibao payments collect` can be run by hand
            log.exception("finishing online contribution payments at start failed")
            return
        if report.posted or report.expired or report.refunded:
            log.warning("online contribution payments finished at start: %s", report.as_dict())

    thread = threading.Thread(target=run, name="yibao-collection-resume")
    thread.start()
    return thread


def _wake_gateway(sec: Security) -> None:
    """Load the gateway at start: the simulator then resumes sending the notices it never had
    acknowledged, as a real gateway keeps sending them. Without a configured gateway there is
    nothing to wake (and no order can have been paid online)."""
    try:
        sec.gateway
    except GatewayNotAllowed:
        pass
