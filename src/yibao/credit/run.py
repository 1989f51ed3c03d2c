"""One month's credit run: chunk by chunk, each chunk one committed database transaction.

Exactly once per account and month: a chunk reads only accounts without a
``monthly_credits`` row for the month and writes those rows in the same transaction as
the postings and balances. A second run finds nothing left to credit; a run killed at any
point leaves whole chunks, and the next run credits exactly the accounts still missing.

On PostgreSQL several connections (:data:`POSTGRES_CONNECTIONS`) work at once, each
reading, evaluating and writing whole chunks: PostgreSQL runs each connection in its own
process, so one chunk's read overlaps another's writes and two chunks' writes use two
CPUs. Chunks never share a row: each updates its own accounts' balances and inserts its
own ``monthly_credits`` keys, and the pool accounts keep no cached balance (their legs are
inserted, never updated), so no two chunks wait for each other's locks and no lock order
is needed. Chunks still commit in id order (:class:`_CommitOrder`): whatever stops a run,
what is committed is the first chunks of the month and nothing after them, exactly as on
one connection. SQLite has a single writer and stays on one connection.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Connection, Engine, func, insert, update

from yibao.credit.evaluation import ChunkPlan, Evaluator
from yibao.credit.report import RunReport
from yibao.credit.selection import (
    ChunkReader,
    count_already_credited,
    count_closed_accounts,
    count_open_accounts,
    personal_id_span,
    pooling_regions,
)
from yibao.credit.writing import write_chunk
from yibao.ledger.accounts import system_account
from yibao.ledger.kinds import AccountKind
from yibao.policy.loading import load_book
from yibao.policy.parameters import PolicyBook
from yibao.store.db import is_sqlite
from yibao.domain.contribution import add_months
from yibao.store.partitions import MONTHS_AHEAD, ensure_partitions
from yibao.store.models import credit_runs

DEFAULT_CHUNK = 50_000
POSTGRES_CONNECTIONS = 2  # chunks in flight at once on PostgreSQL (SQLite: always 1)
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
    connections: int | None = None,
    on_start: Callable[[int], None] = lambda accounts: None,
    on_chunk: Callable[[int], None] = lambda accounts: None,
) -> RunReport:
    """Credit every open personal account for ``month`` (its first day) that still lacks it.

    Chunks are ranges of ``chunk_size`` account ids, worked on ``connections`` at a time
    (default: :data:`POSTGRES_CONNECTIONS` on PostgreSQL, 1 on SQLite). ``on_start`` gets
    the number of accounts to look at, ``on_chunk`` the size of each chunk that had any,
    in chunk order (from a worker thread when there are several connections).
    A dry run reads and evaluates the same way and writes nothing.
    """
    started = time.perf_counter()
    evaluator = Evaluator(book or load_book(), month)
    report = RunReport(month, dry_run, evaluator.rule_names)
    with engine.connect() as conn:
        if not dry_run:  # PostgreSQL: the month's postings go into a partition of their own
            ensure_partitions(conn, month, add_months(month, MONTHS_AHEAD), monthly_from=month)
        with conn.begin():
            report.already_credited = count_already_credited(conn, month)
            report.add_closed(count_closed_accounts(conn))
            to_read = max(count_open_accounts(conn) - report.already_credited, 0)
            pools = {} if dry_run else _pool_accounts(conn, month)
            report.run_id = None if dry_run else _start_run(conn, month)
            first, last = personal_id_span(conn)
        on_start(to_read)

        def committed(plan: ChunkPlan) -> None:
            report.add(plan)
            on_chunk(len(plan.all_reasons))

        chunks = _Chunks(
            month, evaluator, pools, dry_run, ranges=[(after, after + chunk_size) for after in range(first - 1, last, chunk_size)],
            order=_CommitOrder(_TestKill.from_environment(), committed),
        )
        connections = 1 if is_sqlite(engine) else (connections or POSTGRES_CONNECTIONS)
        if connections == 1:
            chunks.work(conn)
        else:
            _in_parallel(engine, chunks, connections)
        report.seconds = time.perf_counter() - started
        if not dry_run:
            _finish_run(conn, report)
    return report


@dataclass
class _Chunks:
    """The month's chunks, handed out in id order to whichever connection asks next."""

    month: date
    evaluator: Evaluator
    pools: dict[int, int]
    dry_run: bool
    ranges: list[tuple[int, int]]
    order: _CommitOrder
    _next: int = field(default=0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def _take(self) -> int | None:
        with self._lock:
            if self._next >= len(self.ranges) or self.order.failed:
                return None
            self._next += 1
            return self._next - 1

    def work(self, conn: Connection) -> None:
        """Credit chunks on ``conn`` until none is left (or one failed)."""
        reader = ChunkReader(conn)
        while (index := self._take()) is not None:
            self._credit(conn, reader, index)

    def _credit(self, conn: Connection, reader: ChunkReader, index: int) -> None:
        after, upto = self.ranges[index]
        transaction = conn.begin()
        try:
            rows = reader.read(self.month, after, upto)
            plan = None if rows is None else self.evaluator.plan(rows)
            writes = plan is not None and not self.dry_run
            if writes:
                write_chunk(conn, self.month, plan, self.pools, self.evaluator.rule_names)
            self.order.wait_for_turn(index, writes)
            transaction.commit()
        except BaseException as error:
            transaction.rollback()
            self.order.fail(index, error)
            raise
        self.order.committed(index, plan)


class _ChunkAbandoned(Exception):
    """An earlier chunk failed: this one rolls back, as it never ran in a sequential run."""


class _CommitOrder:
    """Chunk N commits only after chunks 0…N-1 have: the committed state is always a prefix.

    A failed chunk stops every later one (they roll back), whichever connection holds it;
    :attr:`error` is then the failure of the earliest chunk. ``on_commit`` sees each
    committed chunk that had accounts, in order.
    """

    def __init__(self, kill: _TestKill, on_commit: Callable[[ChunkPlan], None]):
        self._kill = kill
        self._on_commit = on_commit
        self._turn = 0
        self._failed_at: int | None = None
        self.error: BaseException | None = None
        self._committed_chunks = 0  # chunks that had accounts
        self._changed = threading.Condition()

    @property
    def failed(self) -> bool:
        return self._failed_at is not None

    def wait_for_turn(self, index: int, writes: bool) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._turn == index or self._stopped_before(index))
            if self._stopped_before(index):
                raise _ChunkAbandoned()
        if writes:
            self._kill.inside_chunk(self._committed_chunks + 1)

    def _stopped_before(self, index: int) -> bool:
        return self._failed_at is not None and self._failed_at < index

    def committed(self, index: int, plan: ChunkPlan | None) -> None:
        with self._changed:
            try:
                if plan is not None:
                    self._committed_chunks += 1
                    self._on_commit(plan)
                    self._kill.after_commit(self._committed_chunks)
            except BaseException as error:  # the chunk is committed; the later ones stop
                self._record(index, error)
                raise
            finally:
                self._turn = index + 1
                self._changed.notify_all()

    def fail(self, index: int, error: BaseException) -> None:
        """Chunk ``index`` failed (-1: the run itself): later chunks roll back instead of committing."""
        with self._changed:
            if not isinstance(error, _ChunkAbandoned):
                self._record(index, error)

    def stop(self, error: BaseException) -> None:
        """The run failed outside any chunk: no chunk commits any more, unless one failed first."""
        with self._changed:
            if not self.failed and not isinstance(error, _ChunkAbandoned):
                self._record(-1, error)

    def _record(self, index: int, error: BaseException) -> None:
        if self._failed_at is None or index < self._failed_at:
            self._failed_at, self.error = index, error
        self._changed.notify_all()


def _in_parallel(engine: Engine, chunks: _Chunks, connections: int) -> None:
    """``chunks.work`` on ``connections`` connections at once; raises the earliest chunk's failure."""

    def work() -> None:
        try:
            with engine.connect() as conn:
                chunks.work(conn)
        except BaseException as error:  # a chunk's failure is recorded already; this adds e.g. no connection
            chunks.order.stop(error)

    with ThreadPoolExecutor(max_workers=connections, thread_name_prefix="credit-run") as pool:
        futures = [pool.submit(work) for _ in range(connections)]
        try:
            wait(futures)
        except BaseException as error:  # Ctrl-C: chunks not yet committing roll back, no new ones start
            chunks.order.fail(-1, error)
            raise
    if chunks.order.error is not None:
        raise chunks.order.error


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
