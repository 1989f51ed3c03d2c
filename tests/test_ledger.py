"""The ledger's rules, example by example, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from ledger_support import DAY, add_person_with_account, credit, debit, pool_and_pharmacy
from yibao.errors import (
    AccountNotActive,
    IdempotencyConflict,
    InsufficientBalance,
    InvalidInput,
    LedgerInvariantBroken,
    NotFound,
)
from yibao.ledger.accounts import set_status
from yibao.ledger.check import check_ledger
from yibao.ledger.kinds import AccountStatus, TxKind
from yibao.ledger.ledger import Leg, Ledger, TransactionRequest, posted_balance
from yibao.store.models import accounts, ledger_transactions, postings


@pytest.fixture(params=[True, False], ids=["single-statement", "general-path"])
def setup(engine, request):
    # On PostgreSQL two-leg transfers normally take one statement; every rule must hold on
    # the general path too. On SQLite both parameters run the general path.
    ledger = Ledger(engine, single_statement_transfers=request.param)
    pool, pharmacy = pool_and_pharmacy(engine)
    account = add_person_with_account(engine, 1)
    return ledger, pool, pharmacy, account


def count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_credit_then_debit_moves_balances_both_ways(engine, setup):
    ledger, pool, pharmacy, account = setup
    result = credit(ledger, pool, account, 10_000, "c1")
    assert result.balances == {account: 10_000} and not result.replayed
    debit(ledger, account, pharmacy, 2_550, "d1")
    assert ledger.balance(account) == 7_450
    assert ledger.balance(pool) == -10_000  # the pool is the source: derived from postings
    assert ledger.balance(pharmacy) == 2_550
    with engine.connect() as conn:
        assert posted_balance(conn, account) == 7_450
        assert check_ledger(conn).ok


def test_repeat_with_same_key_and_content_posts_nothing(engine, setup):
    ledger, pool, _, account = setup
    first = credit(ledger, pool, account, 500, "same-key")
    again = credit(ledger, pool, account, 500, "same-key")
    assert again.replayed and again.transaction_id == first.transaction_id
    assert ledger.balance(account) == 500
    assert count(engine, ledger_transactions) == 1


def test_same_key_with_other_content_is_a_conflict_not_a_silent_replay(engine, setup):
    ledger, pool, _, account = setup
    credit(ledger, pool, account, 500, "k")
    with pytest.raises(IdempotencyConflict) as caught:
        credit(ledger, pool, account, 501, "k")
    assert caught.value.field == "idempotency_key"
    assert ledger.balance(account) == 500


def test_overdraft_is_refused_with_nothing_written(engine, setup):
    ledger, pool, pharmacy, account = setup
    credit(ledger, pool, account, 1_000, "c")
    with pytest.raises(InsufficientBalance) as caught:
        debit(ledger, account, pharmacy, 1_001, "d")
    assert caught.value.message == "余额不足" and caught.value.code == "insufficient_balance"
    assert ledger.balance(account) == 1_000
    assert count(engine, ledger_transactions) == 1 and count(engine, postings) == 2
    # A refused write leaves its key unused: the retry after a top-up goes through.
    credit(ledger, pool, account, 1, "c2")
    assert debit(ledger, account, pharmacy, 1_001, "d").balances == {account: 0}


def test_unbalanced_or_degenerate_requests_never_reach_the_database():
    with pytest.raises(LedgerInvariantBroken):
        TransactionRequest(TxKind.CORRECTION, "k", (Leg(1, 100), Leg(2, -99)), DAY)
    with pytest.raises(LedgerInvariantBroken):
        TransactionRequest(TxKind.CORRECTION, "k", (Leg(1, 100),), DAY)
    with pytest.raises(LedgerInvariantBroken):
        TransactionRequest(TxKind.CORRECTION, "k", (Leg(1, 100), Leg(1, -100)), DAY)
    with pytest.raises(InvalidInput) as caught:
        TransactionRequest(TxKind.CORRECTION, "k", (Leg(1, 1.5), Leg(2, -1.5)), DAY)
    assert caught.value.field == "amount"
    with pytest.raises(InvalidInput) as caught:
        TransactionRequest(TxKind.CORRECTION, " ", (Leg(1, 1), Leg(2, -1)), DAY)
    assert caught.value.field == "idempotency_key"


def test_unknown_account_is_not_found_and_nothing_is_written(engine, setup):
    ledger, pool, _, _ = setup
    with pytest.raises(NotFound):
        credit(ledger, pool, 999_999, 100, "x")
    assert count(engine, ledger_transactions) == 0


def test_frozen_account_takes_credits_but_refuses_debits(engine, setup):
    ledger, pool, pharmacy, account = setup
    credit(ledger, pool, account, 1_000, "c")
    with engine.begin() as conn:
        set_status(conn, account, AccountStatus.FROZEN, DAY)
    credit(ledger, pool, account, 1_000, "c2")
    with pytest.raises(AccountNotActive):
        debit(ledger, account, pharmacy, 100, "d")
    assert ledger.balance(account) == 2_000


def test_closed_account_takes_nothing_and_closing_needs_zero_balance(engine, setup):
    ledger, pool, pharmacy, account = setup
    credit(ledger, pool, account, 1_000, "c")
    with pytest.raises(InvalidInput) as caught, engine.begin() as conn:
        set_status(conn, account, AccountStatus.CLOSED, DAY)
    assert caught.value.code == "balance_not_zero"
    debit(ledger, account, pharmacy, 1_000, "pay-out")
    with engine.begin() as conn:
        set_status(conn, account, AccountStatus.CLOSED, DAY)
    with pytest.raises(AccountNotActive):
        credit(ledger, pool, account, 1, "late")


def test_correction_is_a_new_transaction_that_negates_the_original(engine, setup):
    ledger, pool, _, account = setup
    original = credit(ledger, pool, account, 1_200, "c")
    fix = ledger.reverse(original.transaction_id, idempotency_key="fix", business_date=DAY)
    assert ledger.balance(account) == 0
    assert ledger.reverse(original.transaction_id, idempotency_key="fix", business_date=DAY).replayed
    with engine.connect() as conn:
        row = conn.execute(select(ledger_transactions).where(ledger_transactions.c.id == fix.transaction_id)).one()
        assert row.kind == "correction" and row.corrects_id == original.transaction_id
        assert check_ledger(conn).ok


def test_correction_cannot_overdraw(engine, setup):
    ledger, pool, pharmacy, account = setup
    original = credit(ledger, pool, account, 1_000, "c")
    debit(ledger, account, pharmacy, 600, "d")
    with pytest.raises(InsufficientBalance):
        ledger.reverse(original.transaction_id, idempotency_key="fix", business_date=DAY)


def test_check_finds_a_tampered_cached_balance(engine, setup):
    ledger, pool, _, account = setup
    credit(ledger, pool, account, 1_000, "c")
    with engine.begin() as conn:
        conn.execute(update(accounts).where(accounts.c.id == account).values(balance_fen=999))
    with engine.connect() as conn:
        report = check_ledger(conn)
    assert not report.ok
    finding = report.findings[0]
    assert finding.code == "cached_balance_mismatch" and finding.count == 1
    assert finding.examples[0]["account_id"] == account and finding.examples[0]["posted_fen"] == 1_000


def test_check_finds_an_unbalanced_transaction_written_behind_the_ledgers_back(engine, setup):
    ledger, pool, _, account = setup
    result = credit(ledger, pool, account, 1_000, "c")
    with engine.begin() as conn:
        conn.execute(
            update(postings)
            .where(postings.c.transaction_id == result.transaction_id, postings.c.account_id == pool)
            .values(amount_fen=-900)
        )
    with engine.connect() as conn:
        codes = {finding.code for finding in check_ledger(conn).findings}
    assert "unbalanced_transaction" in codes


def test_check_finds_a_posting_whose_account_does_not_exist(engine, setup):
    ledger, pool, _, account = setup
    result = credit(ledger, pool, account, 1_000, "c")
    with engine.begin() as conn:
        conn.execute(
            update(postings)
            .where(postings.c.transaction_id == result.transaction_id, postings.c.account_id == pool)
            .values(account_id=pool + 10_000)
        )
    with engine.connect() as conn:
        findings = {finding.code: finding for finding in check_ledger(conn).findings}
    assert findings["posting_without_account"].examples[0]["account_id"] == pool + 10_000
