"""PostgreSQL's one-statement transfer: one round trip when it posts, nothing when it doesn't."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import event, func, select

from ledger_support import DAY, add_person_with_account, credit, debit, pool_and_pharmacy
from yibao.errors import AccountNotActive, InsufficientBalance, NotFound
from yibao.ledger.accounts import set_status
from yibao.ledger.check import check_ledger
from yibao.ledger.kinds import AccountStatus, TxKind
from yibao.ledger.ledger import Ledger
from yibao.store.models import idempotency_keys, ledger_transactions, postings

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)]


@pytest.fixture
def setup(engine):
    pool, pharmacy = pool_and_pharmacy(engine)
    return Ledger(engine), pool, pharmacy, add_person_with_account(engine, 1)


class StatementLog:
    """Every statement sent, through SQLAlchemy or straight through psycopg."""

    def __init__(self, engine, monkeypatch):
        self.statements: list[str] = []
        event.listen(engine, "before_cursor_execute", lambda _c, _cur, statement, *_: self._record(statement))
        original = psycopg.Connection.execute

        def execute(connection, query, *args, **kwargs):
            self._record(query)
            return original(connection, query, *args, **kwargs)

        monkeypatch.setattr(psycopg.Connection, "execute", execute)

    def _record(self, statement: str) -> None:
        self.statements.append(statement.split()[0].upper())


def rows(engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(
            conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (ledger_transactions, idempotency_keys, postings)
        )


def test_a_successful_transfer_is_one_statement(engine, setup, monkeypatch):
    ledger, pool, pharmacy, account = setup
    credit(ledger, pool, account, 1_000, "c")
    log = StatementLog(engine, monkeypatch)
    result = debit(ledger, account, pharmacy, 250, "d")
    assert log.statements == ["WITH"]
    assert result.balances == {account: 750}
    assert rows(engine) == (2, 2, 4)
    with engine.connect() as conn:
        assert check_ledger(conn).ok


def test_a_refused_debit_writes_nothing_and_the_general_path_names_the_reason(engine, setup, monkeypatch):
    ledger, pool, pharmacy, account = setup
    credit(ledger, pool, account, 100, "c")
    log = StatementLog(engine, monkeypatch)
    with pytest.raises(InsufficientBalance):
        debit(ledger, account, pharmacy, 101, "d")
    assert log.statements[0] == "WITH" and len(log.statements) > 1  # then the general path
    assert rows(engine) == (1, 1, 2) and ledger.balance(account) == 100


def test_a_closed_system_account_stops_the_personal_leg_too(engine, setup):
    ledger, pool, pharmacy, account = setup
    credit(ledger, pool, account, 500, "c")
    with engine.begin() as conn:
        set_status(conn, pharmacy, AccountStatus.CLOSED, DAY)
    with pytest.raises(AccountNotActive):
        debit(ledger, account, pharmacy, 100, "d")
    assert ledger.balance(account) == 500 and rows(engine) == (1, 1, 2)


def test_a_missing_account_is_not_found(engine, setup):
    ledger, pool, _, account = setup
    with pytest.raises(NotFound):
        credit(ledger, pool, account + 999, 100, "c")
    assert rows(engine) == (0, 0, 0)


def test_two_personal_accounts_take_the_general_path_in_lock_order(engine, setup):
    ledger, pool, _, account = setup
    relative = add_person_with_account(engine, 2)
    credit(ledger, pool, account, 900, "c")
    result = ledger.transfer(
        kind=TxKind.FAMILY_PAYMENT, from_account=account, to_account=relative,
        amount_fen=400, idempotency_key="family", business_date=DAY,
    )
    assert result.balances == {account: 500, relative: 400}
    with engine.connect() as conn:
        assert check_ledger(conn).ok


def test_a_repeat_is_replayed_from_the_key_and_moves_nothing(engine, setup):
    ledger, pool, _, account = setup
    first = credit(ledger, pool, account, 300, "same")
    again = credit(ledger, pool, account, 300, "same")
    assert again.replayed and again.transaction_id == first.transaction_id
    assert ledger.balance(account) == 300 and rows(engine) == (1, 1, 2)
