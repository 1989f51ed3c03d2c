"""Small builders for ledger tests: people with accounts, the pool, credits and debits."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test
from sqlalchemy import Engine, insert, text

from yibao.ledger.accounts import open_personal_account, system_account
from yibao.ledger.check import check_ledger
from yibao.ledger.kinds import AccountKind, TxKind
from yibao.ledger.ledger import Ledger
from yibao.store.db import is_sqlite, make_engine
from yibao.store.models import Base, persons

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


def run_machine_on_fresh_databases(database_url: str, machine_for: Callable[[Engine], type], *, examples: int, steps: int) -> None:
    """Run a Hypothesis state machine, each example on an emptied database of ``database_url``."""
    engines: list[Engine] = []

    def machine_factory():
        while engines:
            engines.pop().dispose()
        engine = make_engine(database_url)
        engines.append(engine)
        empty_all_tables(engine)
        return machine_for(engine)()

    try:
        run_state_machine_as_test(
            machine_factory,
            settings=settings(
                max_examples=examples, stateful_step_count=steps, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        while engines:
            engines.pop().dispose()


def empty_all_tables(engine: Engine) -> None:
    with engine.begin() as conn:
        if is_sqlite(engine):
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
        else:  # the audit log refuses DELETE on PostgreSQL (append-only); TRUNCATE empties it
            names = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


def ledger_clean(engine: Engine) -> None:
    """Every ledger invariant holds (``yibao db check``), or the findings in the failure."""
    with engine.connect() as conn:
        report = check_ledger(conn)
    assert report.ok, report.as_dict()
