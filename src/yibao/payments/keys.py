"""The ledger idempotency key of each payment and refund, derived from its row.

The service posts with it, and ``yibao db check`` and ``yibao payments resume`` find a row's
ledger transaction by it (a crash may have come between posting and marking the row).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import String, and_, cast, literal, select

from yibao.ledger.ledger import LEDGER_SCOPE
from yibao.store.models import idempotency_keys

PENDING = "pending"  # a row's status from its reservation until it is marked posted
POSTED = "posted"  # its ledger transaction is written and recorded on the row
PAYMENT_KEY_PREFIX = "institution-payment:"
REFUND_KEY_PREFIX = "institution-refund:"


def payment_key(payment_id: int) -> str:
    return f"{PAYMENT_KEY_PREFIX}{payment_id}"


def refund_key(refund_id: int) -> str:
    return f"{REFUND_KEY_PREFIX}{refund_id}"


def key_of(prefix: str, id_column):
    """The same key as a SQL expression of a row's id column."""
    return literal(prefix, String) + cast(id_column, String)


def pending_with_transactions(table, prefix: str):
    """Pending rows of ``table`` (payments or refunds) with the id of their ledger transaction
    as ``ledger_transaction_id`` (NULL: never posted)."""
    key = idempotency_keys.alias("ledger_key")
    return (
        select(table, key.c.transaction_id.label("ledger_transaction_id"))
        .outerjoin(key, and_(key.c.scope == LEDGER_SCOPE, key.c.key == key_of(prefix, table.c.id)))
        .where(table.c.status == PENDING)
        .order_by(table.c.id)
    )


def stale_cutoff(older_than_seconds: int) -> datetime:
    """Rows are stamped with the database server's time (``created_at``), so the cut-off is wall-clock time."""
    return datetime.now(timezone.utc) - timedelta(seconds=older_than_seconds)
