"""Small builders for ledger tests: people with accounts, the pool, credits and debits."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, insert

from yibao.ledger.accounts import open_personal_account, system_account
from yibao.ledger.kinds import AccountKind, TxKind
from yibao.ledger.ledger import Ledger
from yibao.store.models import persons

REGION = "110000"
DAY = date(2025, 6, 15)


def add_person_with_account(engine: Engine, n: int) -> int:
    """Insert person number ``n`` (rows only, no validation) and open their account."""
    with engine.begin() as conn:
        person_id = conn.execute(
            insert(persons)
            .values(
                id_number=f"{n:018d}",
                name=f"测试{n}",
                sex="F",
                birth_date=date(1960, 1, 1),
                region_code=REGION,
                insurance_type="employee",
                employment="retired",
                enrolled_on=date(1990, 1, 1),
            )
            .returning(persons.c.id)
        ).scalar_one()
        return open_personal_account(conn, person_id, REGION, DAY)


def pool_and_pharmacy(engine: Engine) -> tuple[int, int]:
    with engine.begin() as conn:
        pool = system_account(conn, AccountKind.POOL, REGION, opened_on=DAY)
        pharmacy = system_account(conn, AccountKind.INSTITUTION, REGION, suffix="P001", opened_on=DAY)
    return pool, pharmacy


def credit(ledger: Ledger, pool: int, account: int, fen: int, key: str):
    return ledger.transfer(
        kind=TxKind.MONTHLY_CREDIT, from_account=pool, to_account=account,
        amount_fen=fen, idempotency_key=key, business_date=DAY,
    )


def debit(ledger: Ledger, account: int, pharmacy: int, fen: int, key: str):
    return ledger.transfer(
        kind=TxKind.SPENDING, from_account=account, to_account=pharmacy,
        amount_fen=fen, idempotency_key=key, business_date=DAY,
    )
