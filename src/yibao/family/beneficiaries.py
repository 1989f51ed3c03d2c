"""Whom a transaction on a holder's account paid for: the link that puts it in both people's details."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select

from yibao.store.models import family_payments

MEDICAL, REFUND, PREMIUM = "medical", "refund", "premium"


def record(
    conn: Connection, *, transaction_id: int, binding_id: int, holder_person_id: int, member_person_id: int,
    account_id: int, purpose: str, premium_year: int | None = None,
) -> None:
    """Link once: a retry that finishes an interrupted payment finds the link already there."""
    exists = conn.execute(
        select(family_payments.c.transaction_id).where(family_payments.c.transaction_id == transaction_id)
    ).first()
    if exists is None:
        conn.execute(
            insert(family_payments).values(
                transaction_id=transaction_id, binding_id=binding_id, holder_person_id=holder_person_id,
                member_person_id=member_person_id, account_id=account_id, purpose=purpose, premium_year=premium_year,
            )
        )
