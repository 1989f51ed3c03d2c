"""One month's credit run: chunk by chunk, each chunk one committed database transaction.

Exactly once per account and month: a chunk reads only accounts without a
``monthly_credits`` row for the month and writes those rows in the same transaction as
the postings and balances. A second run finds nothing left to credit; a run killed at any
point leaves whole chunks, and the next run credits exactly the accounts still missing.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, Engine, func, insert, update

from yibao.credit.evaluation import Evaluator
from yibao.credit.report import RunReport
from yibao.credit.selection import (
    chunk_query,
    count_already_credited,
    count_closed_accounts,
    count_open_accounts,
    personal_id_span,
    pooling_regions,
    read_chunk,
)
from yibao.credit.writing import write_chunk
from yibao.ledger.accounts import system_account
from yibao.ledger.kinds import AccountKind
from yibao.policy.loading import load_book
from yibao.policy.parameters import PolicyBook
from yibao.store.models import credit_runs

DEFAULT_CHUNK = 50_000
# Test hooks (the kill -9 tests): SIGKILL this process after N committed chunks, or inside
# chunk N after its rows are written and before its commit.
KILL_AFTER_CHUNKS_ENV = "YIBAO_CREDIT_TEST_KILL_AFTER_CHUNKS"
KILL_IN_CHUNK_ENV = "YIBAO_CREDIT_TEST_KILL_IN_CHUNK"


def run_month(
    engine: Engine,
    month: date,
    *,
    book: PolicyBook | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    dry_run: bool = False,
    on_start: Callable[[int], None] = lambda accounts: None,
    on_chunk: Callable[[int], None] = lambda accounts: None,
) -> RunReport:
    """Credit every open personal account for ``month`` (its first day) that still lacks it.

    Chunks are ranges of ``chunk_size`` account ids. ``on_start`` gets the number of
    accounts to look at, ``on_chunk`` the size of each chunk that had any.
    A dry run reads and evaluates the same way and writes nothing.
    """
    started = time.perf_counter()
    evaluator = Evaluator(book or load_book(), month)
    report = RunReport(month, dry_run, evaluator.rule_names)
    kill = _TestKill.from_environment()
    with engine.connect() as conn:
        with conn.begin():
            report.already_credited = count_already_credited(conn, month)
            report.add_closed(count_closed_accounts(conn))
            to_read = max(count_open_accounts(conn) - report.already_credited, 0)
            pools = {} if dry_run else _pool_accounts(conn, month)
            report.run_id = None if dry_run else _start_run(conn, month)
            first, last = personal_id_span(conn)
        on_start(to_read)
        query = chunk_query(conn)
        for after in range(first - 1, last, chunk_size):
            with conn.begin():
                rows = read_chunk(conn, query, month, after, after + chunk_size)
                if rows is None:
                    continue
                plan = evaluator.plan(rows)
                if not dry_run:
                    write_chunk(conn, month, plan, pools, evaluator.rule_names)
                    kill.inside_chunk(report.chunks + 1)
            report.add(plan)
            kill.after_commit(report.chunks)
            on_chunk(len(rows))
        report.seconds = time.perf_counter() - started
        if not dry_run:
            _finish_run(conn, report)
    return report


def _pool_accounts(conn: Connection, month: date) -> dict[int, int]:
    """Region code (as an int) → the region's pool account id, created when missing."""
    return {
        int(code): system_account(conn, AccountKind.POOL, code, opened_on=month)
        for code in pooling_regions(conn)
    }


def _start_run(conn: Connection, month: date) -> int:
    return conn.execute(insert(credit_runs).values(month=month).returning(credit_runs.c.id)).scalar_one()


def _finish_run(conn: Connection, report: RunReport) -> None:
    with conn.begin():
        conn.execute(
            update(credit_runs)
            .where(credit_runs.c.id == report.run_id)
            .values(
                finished_at=func.now(),
                credited=report.credited,
                amount_fen=report.amount_fen,
                summary=report.as_dict(),
            )
        )


@dataclass(frozen=True)
class _TestKill:
    after_chunks: int | None
    in_chunk: int | None

    @classmethod
    def from_environment(cls) -> _TestKill:
        def number(name: str) -> int | None:
            value = os.environ.get(name)
            return int(value) if value else None

        return cls(number(KILL_AFTER_CHUNKS_ENV), number(KILL_IN_CHUNK_ENV))

    def after_commit(self, committed_chunks: int) -> None:
        if self.after_chunks is not None and committed_chunks >= self.after_chunks:
            os.kill(os.getpid(), signal.SIGKILL)

    def inside_chunk(self, chunk_number: int) -> None:
        if self.in_chunk is not None and chunk_number == self.in_chunk:
            os.kill(os.getpid(), signal.SIGKILL)
