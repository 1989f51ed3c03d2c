"""32 simultaneous debits of 1.00 against 10.00: exactly ten may succeed.

Next to the real debit sits a deliberately naive read-check-write debit. The same test
catches it overdrawing, which shows the test can fail.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import insert, select, update

from ledger_support import DAY, add_person_with_account, credit, debit, pool_and_pharmacy
from yibao.errors import InsufficientBalance
from yibao.ledger.check import check_ledger
from yibao.ledger.ledger import Ledger
from yibao.store.db import make_engine
from yibao.store.models import accounts, ledger_transactions, postings

CLIENTS = 32
BALANCE_FEN = 1_000
DEBIT_FEN = 100


def run_concurrently(debit_once) -> list[str]:
    """Start CLIENTS debits at the same instant; return 'ok' or the error message of each."""
    barrier = threading.Barrier(CLIENTS)

    def one(n: int) -> str:
        barrier.wait()
        try:
            debit_once(n)
            return "ok"
        except InsufficientBalance as error:
            return error.message

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(one, range(CLIENTS)))


@pytest.fixture
def busy_engine(database_url):
    engine = make_engine(database_url, pool_size=CLIENTS, max_overflow=0)
    yield engine
    engine.dispose()


@pytest.fixture(params=[True, False], ids=["single-statement", "general-path"])
def funded(busy_engine, request):
    ledger = Ledger(busy_engine, single_statement_transfers=request.param)
    pool, pharmacy = pool_and_pharmacy(busy_engine)
    account = add_person_with_account(busy_engine, 1)
    credit(ledger, pool, account, BALANCE_FEN, "fund")
    return ledger, account, pharmacy


def test_concurrent_debits_never_overdraw(busy_engine, funded):
    ledger, account, pharmacy = funded
    outcomes = run_concurrently(lambda n: debit(ledger, account, pharmacy, DEBIT_FEN, f"debit-{n}"))
    assert outcomes.count("ok") == BALANCE_FEN // DEBIT_FEN
    assert outcomes.count("余额不足") == CLIENTS - BALANCE_FEN // DEBIT_FEN
    assert ledger.balance(account) == 0
    with busy_engine.connect() as conn:
        assert check_ledger(conn).ok


def naive_debit(engine, account: int, pharmacy: int, key: str) -> None:
    """WRONG ON PURPOSE: reads the balance, checks it in Python, writes the result back.

    Between the read and the write another client can do the same; both see 10.00 and
    both pay. The sleep stands for the network round trip a real client has there.
    """
    with engine.connect() as conn:
        seen = conn.execute(select(accounts.c.balance_fen).where(accounts.c.id == account)).scalar_one()
    if seen < DEBIT_FEN:
        raise InsufficientBalance("余额不足", field="amount")
    time.sleep(0.02)
    with engine.begin() as conn:
        conn.execute(update(accounts).where(accounts.c.id == account).values(balance_fen=seen - DEBIT_FEN))
        tx = conn.execute(
            insert(ledger_transactions).values(kind="spending", business_date=DAY, memo=key).returning(ledger_transactions.c.id)
        ).scalar_one()
        conn.execute(insert(postings), [
            {"transaction_id": tx, "account_id": account, "amount_fen": -DEBIT_FEN, "business_date": DAY},
            {"transaction_id": tx, "account_id": pharmacy, "amount_fen": DEBIT_FEN, "business_date": DAY},
        ])


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_concurrency_test_catches_a_naive_debit(busy_engine, funded):
    _, account, pharmacy = funded
    outcomes = run_concurrently(lambda n: naive_debit(busy_engine, account, pharmacy, f"naive-{n}"))
    paid = outcomes.count("ok") * DEBIT_FEN
    assert paid > BALANCE_FEN, "the naive debit should overdraw under concurrency"
    with busy_engine.connect() as conn:
        codes = {finding.code for finding in check_ledger(conn).findings}
    assert "cached_balance_mismatch" in codes or "negative_balance" in codes
