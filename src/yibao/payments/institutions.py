"""Institutions as payees: the designated flag and the settlement account in the ledger."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, select, update

from yibao.errors import NotFound
from yibao.ledger.accounts import system_account
from yibao.ledger.kinds import AccountKind
from yibao.payments.errors import NotDesignated
from yibao.store.models import institutions


def set_designated(conn: Connection, code: str, designated: bool = True) -> None:
    """Mark an institution designated (定点) or not; only designated ones take payments."""
    changed = conn.execute(
        update(institutions).where(institutions.c.code == code).values(designated=designated)
    ).rowcount
    if changed != 1:
        raise NotFound("未找到该机构", field="code", code="institution_not_found")


def institution_row(conn: Connection, institution_id: int):
    row = conn.execute(
        select(
            institutions.c.id, institutions.c.code, institutions.c.name, institutions.c.kind,
            institutions.c.region_code, institutions.c.designated,
        ).where(institutions.c.id == institution_id)
    ).one_or_none()
    if row is None:
        raise NotFound("未找到该机构", field="institution", code="institution_not_found")
    return row


def require_designated(institution, message: str | None = None) -> None:
    """Only designated institutions (定点) take payments or see balances; ``message`` says which was asked."""
    if not institution.designated:
        raise NotDesignated(message, field="institution")


def settlement_account(conn: Connection, institution, opened_on: date) -> int:
    """The institution's account in the ledger: ``institution:<region>:<code>``, created on first use."""
    return system_account(
        conn, AccountKind.INSTITUTION, institution.region_code, suffix=institution.code, opened_on=opened_on
    )
