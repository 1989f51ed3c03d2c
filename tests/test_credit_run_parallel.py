"""The credit run on several connections: chunks commit in order, a failure keeps a prefix.

On PostgreSQL ``run_month`` works on several connections at once; on SQLite it stays on
one whatever is asked. Either way the committed state after any chunk, or after a failed
run, is the month's first chunks and nothing after them.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

import yibao.credit.run as credit_run
from credit_support import MONTH, Someone, add_people, balances, month_credit_postings
from yibao.credit.run import run_month
from yibao.errors import LedgerInvariantBroken
from yibao.ledger.check import check_ledger
from yibao.store.models import ledger_transactions, monthly_credits

CHUNK = 2
PEOPLE = [Someone(f"在职{n}", contribution_fen=1_000 + n, expected_fen=1_000 + n) for n in range(12)]


@pytest.fixture
def people(engine) -> dict[str, int]:
    return add_people(engine, PEOPLE)


def chunks_of(ids: dict[str, int]) -> list[set[int]]:
    """The accounts of each chunk, in order (chunks are ranges of CHUNK ids from the smallest)."""
    first = min(ids.values())
    found: dict[int, set[int]] = {}
    for account in ids.values():
        found.setdefault((account - first) // CHUNK, set()).add(account)
    return [found[index] for index in sorted(found)]


def credited_accounts(engine) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(select(monthly_credits.c.account_id).where(monthly_credits.c.month == MONTH)).scalars())


def slow_write(chunk_accounts: set[int], seconds: float, error: Exception | None = None):
    """write_chunk, delayed (then failing with ``error``) for the chunk holding ``chunk_accounts``."""
    write = credit_run.write_chunk

    def write_chunk(conn, month, plan, pools, rule_names):
        write(conn, month, plan, pools, rule_names)
        if set(plan.account_id.tolist()) == chunk_accounts:
            time.sleep(seconds)
            if error is not None:
                raise error

    return write_chunk


def test_several_connections_credit_each_account_once_with_pool_legs_per_chunk(engine, people):
    before = balances(engine)
    report = run_month(engine, MONTH, chunk_size=CHUNK, connections=3).as_dict()

    expected = {people[p.name]: p.expected_fen for p in PEOPLE}
    assert month_credit_postings(engine) == {account: [fen] for account, fen in expected.items()}
    after = balances(engine)
    assert {account: after[account] - before[account] for account in after} == expected
    assert report["credited"] == len(PEOPLE) and report["chunks"] == len(chunks_of(people))
    assert report["amount_fen"] == sum(expected.values())
    with engine.connect() as conn:
        assert check_ledger(conn).ok
        transactions = conn.execute(select(ledger_transactions.c.id)).scalars().all()
    assert len(transactions) == len(chunks_of(people))  # one per chunk, each with its own pool leg


def test_a_chunk_written_first_still_commits_after_the_chunks_before_it(engine, people, monkeypatch):
    chunks = chunks_of(people)
    # The first chunk takes longest, so the other connections write later chunks meanwhile.
    monkeypatch.setattr(credit_run, "write_chunk", slow_write(chunks[0], 0.5))
    seen: list[set[int]] = []
    lock = threading.Lock()

    def on_chunk(_accounts: int) -> None:  # right after each commit, in chunk order
        with lock:
            seen.append(credited_accounts(engine))

    run_month(engine, MONTH, chunk_size=CHUNK, connections=3, on_chunk=on_chunk)
    assert seen == [set().union(*chunks[: n + 1]) for n in range(len(chunks))]


def test_a_failed_chunk_keeps_the_chunks_before_it_and_nothing_after(engine, people, monkeypatch):
    chunks = chunks_of(people)
    failing = 2
    broken = LedgerInvariantBroken("测试：本批次写入失败")
    monkeypatch.setattr(credit_run, "write_chunk", slow_write(chunks[failing], 0.5, broken))

    with pytest.raises(LedgerInvariantBroken) as raised:
        run_month(engine, MONTH, chunk_size=CHUNK, connections=3)
    assert raised.value is broken
    assert credited_accounts(engine) == set().union(*chunks[:failing])
    with engine.connect() as conn:
        assert check_ledger(conn).ok

    monkeypatch.undo()
    again = run_month(engine, MONTH, chunk_size=CHUNK, connections=3)
    assert again.credited == len(PEOPLE) - 2 * failing and again.already_credited == 2 * failing
    assert month_credit_postings(engine) == {people[p.name]: [p.expected_fen] for p in PEOPLE}


def test_a_failing_progress_callback_stops_the_run_after_the_chunk_it_reports(engine, people):
    chunks = chunks_of(people)

    def on_chunk(_accounts: int) -> None:
        on_chunk.calls += 1
        if on_chunk.calls == 2:
            raise RuntimeError("progress display failed")

    on_chunk.calls = 0
    with pytest.raises(RuntimeError, match="progress display failed"):
        run_month(engine, MONTH, chunk_size=CHUNK, connections=3, on_chunk=on_chunk)
    assert credited_accounts(engine) == chunks[0] | chunks[1]  # reported after its commit; nothing later
