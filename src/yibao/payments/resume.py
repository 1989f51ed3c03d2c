"""Payments and refunds a crash left pending: finished when the ledger has their transaction,
dropped when it does not and they are stale (``yibao payments resume``, and the server at start).

A row is written "pending", posted through the ledger with a key derived from it
(payments.keys), then marked "posted". A crash between posting and marking leaves a person
charged while the row stays pending and the day's settlement does not reconcile: such a row
is *half-written* and is finished here exactly as the service would have (marked with its
transaction, the family beneficiary linked, the payment audited). A pending row without a
transaction that is older than ``older_than_seconds`` belongs to a request that died before
posting: it is dropped (deleted, so its idempotency key and receipt number are free again),
its e-voucher given back, and the drop audited. Younger pending rows may still be in flight
and are left alone; so running this any time, twice, or beside a serving server is safe.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine, select

from yibao.payments.keys import PAYMENT_KEY_PREFIX, REFUND_KEY_PREFIX, pending_with_transactions, stale_cutoff
from yibao.payments.service import (
    drop_payment,
    drop_refund,
    finish_payment,
    finish_refund,
    institution_actor,
)
from yibao.security import audit
from yibao.security.context import Security, as_utc
from yibao.store.models import institution_payments, institution_refunds

log = logging.getLogger("yibao.payments")


@dataclass(frozen=True)
class Resumed:
    kind: str  # payment | refund
    id: int
    institution_id: int
    receipt_no: str
    transaction_id: int | None = None


@dataclass
class ResumeReport:
    finished: list[Resumed] = field(default_factory=list)
    dropped: list[Resumed] = field(default_factory=list)
    waiting: int = 0  # pending, not posted, younger than the cut-off: possibly still in flight

    def as_dict(self) -> dict:
        return {
            "finished": [asdict(row) for row in self.finished],
            "dropped": [asdict(row) for row in self.dropped],
            "waiting": self.waiting,
        }


def resume_pending(engine: Engine, *, now: datetime, older_than_seconds: int) -> ResumeReport:
    report = ResumeReport()
    cutoff = stale_cutoff(older_than_seconds)
    with engine.connect() as conn:
        payments = conn.execute(pending_with_transactions(institution_payments, PAYMENT_KEY_PREFIX)).all()
        refunds = conn.execute(pending_with_transactions(institution_refunds, REFUND_KEY_PREFIX)).all()
    for row in payments:
        with engine.begin() as conn:
            _resume_payment(conn, row, as_utc(row.created_at) < cutoff, now, report)
    for refund in refunds:
        with engine.begin() as conn:
            _resume_refund(conn, refund, as_utc(refund.created_at) < cutoff, now, report)
    return report


def _resume_payment(conn: Connection, row, stale: bool, now: datetime, report: ResumeReport) -> None:
    institution = institution_actor(conn, row.institution_id)
    done = Resumed("payment", row.id, row.institution_id, row.receipt_no, row.ledger_transaction_id)
    if row.ledger_transaction_id is not None:
        if finish_payment(conn, row, row.ledger_transaction_id, institution, now, None, resumed=True):
            report.finished.append(done)
    elif not stale:
        report.waiting += 1
    elif drop_payment(conn, row):
        for subject in dict.fromkeys([row.person_id, row.payer_person_id]):
            audit.record(
                conn, actor=institution, action="institution.payment_dropped", at=now, subject_person_id=subject,
                detail={"payment_id": row.id, "receipt_no": row.receipt_no, "paid_fen": row.paid_fen, "code": "stale_pending"},
            )
        report.dropped.append(done)


def _resume_refund(conn: Connection, refund, stale: bool, now: datetime, report: ResumeReport) -> None:
    institution = institution_actor(conn, refund.institution_id)
    payment = conn.execute(select(institution_payments).where(institution_payments.c.id == refund.payment_id)).one()
    done = Resumed("refund", refund.id, refund.institution_id, payment.receipt_no, refund.ledger_transaction_id)
    if refund.ledger_transaction_id is not None:
        if finish_refund(conn, refund, payment, refund.ledger_transaction_id, institution, now, None, resumed=True):
            report.finished.append(done)
    elif not stale:
        report.waiting += 1
    elif drop_refund(conn, refund, payment):
        for subject in dict.fromkeys([payment.person_id, payment.payer_person_id]):
            audit.record(
                conn, actor=institution, action="institution.refund_dropped", at=now, subject_person_id=subject,
                detail={"refund_id": refund.id, "receipt_no": payment.receipt_no, "amount_fen": refund.amount_fen,
                        "code": "stale_pending"},
            )
        report.dropped.append(done)


def resume_in_background(engine: Engine, sec: Security) -> threading.Thread:
    """The server's start: resume in a thread, so that serving does not wait for it; the caller
    joins it at shutdown. A failure (say, a database not migrated yet) is logged, not raised."""

    def run() -> None:
        try:
            report = resume_pending(engine, now=sec.now(), older_than_seconds=sec.settings.payments_resume_after_seconds)
        except Exception:  # noqa: BLE001 - the server serves on; `yibao payments resume` can be run by hand
            log.exception("resuming pending payments at start failed")
            return
        if report.finished or report.dropped:
            log.warning("pending payments resumed at start: %s", report.as_dict())

    thread = threading.Thread(target=run, name="yibao-payments-resume")
    thread.start()
    return thread
