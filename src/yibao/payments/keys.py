"""The ledger idempotency key of each payment and refund, derived from its row.

The service posts with it, and ``yibao db check`` and ``yibao payments resume`` find a row's
ledger transaction by it (a crash may have come between posting and marking the row).
"""

from __future__ import annotations

from sqlalchemy import String, cast, literal

PAYMENT_KEY_PREFIX = "institution-payment:"
REFUND_KEY_PREFIX = "institution-refund:"


def payment_key(payment_id: int) -> str:
    return f"{PAYMENT_KEY_PREFIX}{payment_id}"


def refund_key(refund_id: int) -> str:
    return f"{REFUND_KEY_PREFIX}{refund_id}"


def key_of(prefix: str, id_column):
    """The same key as a SQL expression of a row's id column."""
    return literal(prefix, String) + cast(id_column, String)
