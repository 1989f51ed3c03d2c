"""Ledger throughput on PostgreSQL, measured against pgbench on the same server in the same run.

    python bench/ledger.py [--clients 8] [--seconds 20] [--accounts 1000] [--rounds 1]
                           [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
                           [--write docs/benchmarks.md] [--profile]

What it does:

1. creates two throw-away databases on the server named by ``--database-url`` (that URL is
   only used to connect; nothing is written to its database);
2. baseline: ``pgbench -i -s <scale>`` in one of them, then
   ``pgbench -b simple-update -c <clients> -j 2 -T <seconds> -n``;
3. yibao: migrates the other one, opens ``--accounts`` funded personal accounts and lets
   ``--clients`` *processes* (not threads: the GIL would make threads measure the
   interpreter) each run full ``Ledger.transfer`` debits of 1 fen from a random account to
   one institution account, with a unique idempotency key each, for the same duration;
4. prints debits/s, postings/s and the ratios to pgbench's tps, counts the round trips of
   one debit, runs ``check_ledger`` (must be ok) and drops both databases.

``--rounds N`` alternates steps 2 and 3 N times and reports medians (a shared machine is
noisy).

``--profile`` adds a single-client breakdown of where a debit's time goes (per round trip,
from a libpq trace) and a cProfile summary. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import multiprocessing as mp
import os
import platform
import pstats
import random
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import psycopg
import sqlalchemy
from psycopg import pq
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, create_engine, event, func, insert, select, text
from sqlalchemy.engine import URL, make_url

from yibao.config import normalise_database_url
from yibao.ledger.accounts import system_account
from yibao.ledger.check import check_ledger
from yibao.ledger.kinds import AccountKind, TxKind
from yibao.ledger.ledger import Leg, Ledger, TransactionRequest
from yibao.store.db import make_engine
from yibao.store.migrate import upgrade
from yibao.store.models import accounts, ledger_transactions, persons

DEFAULT_URL = os.environ.get(
    "YIBAO_BENCH_POSTGRES_URL",
    os.environ.get("YIBAO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
)
REGION = "110000"
DAY = date(2025, 6, 15)
BALANCE_FEN = 10**9  # 1,000 万元 per account: never runs out during a run
FUNDING_CHUNK = 500  # accounts funded per opening transaction (keeps each leg under MAX_FEN)
PGBENCH_JOBS = 2
# psycopg prepares a statement on its 5th use, with one extra round trip; the traced
# debits start after that so they show the steady state.
TRACE_WARMUP_DEBITS = 6
PROFILE_DEBITS = 2000
SECTION_START = "<!-- bench:ledger:start -->"
SECTION_END = "<!-- bench:ledger:end -->"
DOC_INTRO = """# Benchmarks

Every benchmark here runs a well-known baseline on the same machine and the same server
in the same run, and prints the result as a ratio to that baseline: absolute numbers
depend on the machine, the ratio much less. Tests never assert timings; these scripts
are run by hand (or on a schedule) and their output is copied here with `--write`.
"""


# --------------------------------------------------------------------------- databases


def server_url(raw: str) -> URL:
    return make_url(normalise_database_url(raw))


def admin_engine(url: URL) -> Engine:
    return create_engine(url, isolation_level="AUTOCOMMIT")


def create_database(admin: Engine, name: str) -> None:
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))


def drop_database(admin: Engine, name: str) -> None:
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def checkpoint(admin: Engine) -> None:
    """Start each measurement with no dirty buffers left over from setup or the other run."""
    try:
        with admin.connect() as conn:
            conn.execute(text("CHECKPOINT"))
    except sqlalchemy.exc.DBAPIError:
        pass  # not a superuser: measure anyway


def server_settings(admin: Engine) -> dict[str, str]:
    names = ["server_version", "fsync", "synchronous_commit", "shared_buffers", "max_connections"]
    with admin.connect() as conn:
        return {name: conn.execute(text(f"SHOW {name}")).scalar_one() for name in names}


def setup_ledger(url: str, n_accounts: int) -> tuple[int, list[int]]:
    """Migrate, open the pool, one institution and ``n_accounts`` funded personal accounts."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            pool = system_account(conn, AccountKind.POOL, REGION, opened_on=DAY)
            institution = system_account(conn, AccountKind.INSTITUTION, REGION, suffix="BENCH", opened_on=DAY)
            person_ids = conn.execute(
                insert(persons).returning(persons.c.id, sort_by_parameter_order=True),
                [
                    {
                        "id_number": f"{n:018d}",
                        "name": f"压测{n}",
                        "sex": "F",
                        "birth_date": date(1960, 1, 1),
                        "region_code": REGION,
                        "insurance_type": "employee",
                        "employment": "retired",
                        "enrolled_on": date(1990, 1, 1),
                    }
                    for n in range(1, n_accounts + 1)
                ],
            ).scalars().all()
            account_ids = conn.execute(
                insert(accounts).returning(accounts.c.id, sort_by_parameter_order=True),
                [
                    {"kind": AccountKind.PERSONAL.value, "person_id": person_id, "region_code": REGION, "opened_on": DAY}
                    for person_id in person_ids
                ],
            ).scalars().all()
        # Funding goes through the real ledger (a few many-legged transactions), so the
        # database is consistent by construction and check_ledger has something to check.
        ledger = Ledger(engine)
        for start in range(0, len(account_ids), FUNDING_CHUNK):
            chunk = account_ids[start : start + FUNDING_CHUNK]
            legs = (Leg(pool, -BALANCE_FEN * len(chunk)),) + tuple(Leg(a, BALANCE_FEN) for a in chunk)
            ledger.post(TransactionRequest(TxKind.OPENING_BALANCE, f"bench-funding-{start}", legs, DAY, "压测资金"))
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        return institution, list(account_ids)
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- CPU accounting


def cpu_times() -> tuple[float, float, float] | None:
    """(busy, total, irq) jiffies of the whole machine, from /proc/stat; None off Linux.

    irq is hard and soft interrupt time (loopback networking shows up there): the kernel
    does not charge it to any process.
    """
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    values = [float(v) for v in fields] + [0.0] * 8
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return total - idle, total, values[5] + values[6]


def busy_share(before, after, index: int = 0) -> float | None:
    if before is None or after is None or after[1] == before[1]:
        return None
    return (after[index] - before[index]) / (after[1] - before[1])


def postgres_cpu_seconds() -> float | None:
    """CPU seconds of the local PostgreSQL processes, from /proc; None if there are none.

    Backends that exit (pgbench's, at the end of its run) are reaped by the postmaster,
    so their time moves into its cutime/cstime and is still counted.
    """
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total, found = 0, False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:
            continue  # exited meanwhile, or not ours to read
        comm_end = raw.rfind(")")
        if raw[raw.find("(") + 1 : comm_end] != "postgres":
            continue
        fields = raw[comm_end + 2 :].split()
        # fields[0] is field 3 (state): utime, stime, cutime, cstime are fields 14-17.
        total += sum(int(value) for value in fields[11:15])
        found = True
    return total / ticks if found else None


@dataclass
class CpuWindow:
    """Where the machine's CPU went during one measured run, as shares of all cores."""

    busy: float | None = None  # the whole machine
    clients: float = 0.0  # pgbench, or the Python client processes
    server: float | None = None  # the local PostgreSQL processes
    irq: float | None = None  # kernel interrupt time, charged to no process

    @property
    def other(self) -> float | None:
        """Everything else: other processes on the machine."""
        if self.busy is None or self.server is None:
            return None
        return max(0.0, self.busy - self.clients - self.server - (self.irq or 0.0))


class CpuMeter:
    def __init__(self) -> None:
        self.machine, self.postgres, self.wall = cpu_times(), postgres_cpu_seconds(), time.perf_counter()

    def window(self, client_seconds: float) -> CpuWindow:
        machine, postgres = cpu_times(), postgres_cpu_seconds()
        capacity = (time.perf_counter() - self.wall) * (os.cpu_count() or 1)
        server = None
        if postgres is not None and self.postgres is not None and capacity > 0:
            server = (postgres - self.postgres) / capacity
        return CpuWindow(
            busy_share(self.machine, machine), client_seconds / capacity if capacity else 0.0, server,
            busy_share(self.machine, machine, index=2),
        )


# --------------------------------------------------------------------------- pgbench


@dataclass
class PgbenchResult:
    tps: float
    command: str
    cpu: CpuWindow


def pgbench_env(url: URL) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"PGHOST": url.host or "127.0.0.1", "PGPORT": str(url.port or 5432), "PGUSER": url.username or "postgres"})
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return env


def init_pgbench(url: URL, database: str, *, scale: int) -> None:
    init = ["pgbench", "-i", "-q", "-s", str(scale), database]
    done = subprocess.run(init, env=pgbench_env(url), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"pgbench -i failed:\n{done.stdout}{done.stderr}")


def run_pgbench(url: URL, database: str, *, clients: int, seconds: int, jobs: int = PGBENCH_JOBS) -> PgbenchResult:
    env = pgbench_env(url)
    command = ["pgbench", "-b", "simple-update", "-c", str(clients), "-j", str(min(jobs, clients)), "-T", str(seconds), "-n", database]
    usage_before, meter = resource.getrusage(resource.RUSAGE_CHILDREN), CpuMeter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = (usage_after.ru_utime + usage_after.ru_stime) - (usage_before.ru_utime + usage_before.ru_stime)
    if done.returncode != 0:
        raise RuntimeError(f"pgbench failed:\n{done.stdout}{done.stderr}")
    # PostgreSQL >= 14 says "without initial connection time", older ones "excluding connections establishing".
    match = re.search(r"tps = ([0-9.]+) \((?:without initial connection time|excluding connections establishing)\)", done.stdout)
    if not match:
        raise RuntimeError(f"could not find tps in pgbench output:\n{done.stdout}")
    return PgbenchResult(float(match.group(1)), shlex.join(command[:-1] + ["<db>"]), meter.window(client_cpu))


# --------------------------------------------------------------------------- yibao clients


@dataclass
class ClientResult:
    worker: int
    debits: int = 0
    failures: int = 0
    elapsed: float = 0.0
    cpu_seconds: float = 0.0
    error: str | None = None


def client(url, account_ids, institution, seconds, key_prefix, worker, barrier, results) -> None:
    """One client process: its own engine and connection, debits until the time is up."""
    result = ClientResult(worker)
    try:
        engine = make_engine(url, pool_size=1, max_overflow=0)
        ledger = Ledger(engine)
        rng = random.Random(f"{key_prefix}-{worker}")

        def debit(key: str) -> None:
            ledger.transfer(
                kind=TxKind.SPENDING,
                from_account=rng.choice(account_ids),
                to_account=institution,
                amount_fen=1,
                idempotency_key=key,
                business_date=DAY,
            )

        # Connect and warm SQLAlchemy's statement cache before the clock starts, as pgbench
        # reports tps without connection time. The warm-up debit is real and stays posted.
        debit(f"{key_prefix}-{worker}-warmup")
    except BaseException:
        barrier.abort()
        result.error = traceback.format_exc()
        results.put(result)
        return

    try:
        barrier.wait()
        start = time.perf_counter()
        cpu_start = time.process_time()
        deadline = start + seconds
        n = 0
        while time.perf_counter() < deadline:
            n += 1
            try:
                debit(f"{key_prefix}-{worker}-{n}")
                result.debits += 1
            except Exception:  # noqa: BLE001 - counted; none are expected
                result.failures += 1
                if result.error is None:
                    result.error = traceback.format_exc()
        result.elapsed = time.perf_counter() - start
        result.cpu_seconds = time.process_time() - cpu_start
    except BaseException:
        result.error = traceback.format_exc()
    finally:
        engine.dispose()
        results.put(result)


@dataclass
class LedgerRunResult:
    debits_per_s: float
    debits: int
    failures: int
    client_cpu_per_debit_ms: float
    cpu: CpuWindow
    errors: list[str] = field(default_factory=list)


def run_clients(
    url: str, account_ids: list[int], institution: int, *, clients: int, seconds: int, key_prefix: str,
    start_method: str = "spawn",
) -> LedgerRunResult:
    ctx = mp.get_context(start_method)
    barrier = ctx.Barrier(clients + 1)
    results = ctx.Queue()
    processes = [
        ctx.Process(target=client, args=(url, account_ids, institution, seconds, key_prefix, worker, barrier, results))
        for worker in range(clients)
    ]
    for process in processes:
        process.start()
    try:
        barrier.wait(timeout=180)  # every client connected and warmed up
        meter = CpuMeter()
        collected = [results.get(timeout=seconds + 180) for _ in processes]
    except Exception:
        for process in processes:
            if process.is_alive():
                process.terminate()
        # Report what the clients said before giving up.
        while not results.empty():
            item = results.get_nowait()
            if item.error:
                print(item.error, file=sys.stderr)
        raise
    finally:
        for process in processes:
            process.join(timeout=30)
    errors = [r.error for r in collected if r.error]
    debits = sum(r.debits for r in collected)
    rate = sum(r.debits / r.elapsed for r in collected if r.elapsed > 0)
    cpu = sum(r.cpu_seconds for r in collected)
    return LedgerRunResult(
        debits_per_s=rate,
        debits=debits,
        failures=sum(r.failures for r in collected),
        client_cpu_per_debit_ms=1000 * cpu / debits if debits else float("nan"),
        cpu=meter.window(cpu),
        errors=errors,
    )


# --------------------------------------------------------------------------- round trips


@dataclass
class RoundTrip:
    label: str
    server_us: float = 0.0  # from the first message sent to ReadyForQuery


TRACE_START = "/* bench: trace start */"
TRACE_END = "/* bench: trace end */"
TRACE_RECORD = re.compile(r"^(?:(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\t)?([FB])\t\d+\t(\w+)\t?(.*)$")


def statement_label(sql: str) -> str:
    sql = " ".join(sql.split())
    for pattern, template in (
        (r"^INSERT INTO (\w+)", "INSERT {}"),
        (r"^UPDATE (\w+)", "UPDATE {}"),
        (r"^SELECT .*? FROM (\w+)", "SELECT {}"),
        (r"^DELETE FROM (\w+)", "DELETE {}"),
        (r"^WITH ", "WITH … (one statement)"),
    ):
        match = re.match(pattern, sql, re.IGNORECASE)
        if match:
            return template.format(*match.groups())
    if sql in (";", "SELECT 1", "select 1"):
        return "pool pre-ping"
    return sql[:40]


def trace_records(trace: str) -> list[list]:
    """[timestamp or None, direction, message, rest] per message; SQL may span lines."""
    records: list[list] = []
    for line in trace.splitlines():
        match = TRACE_RECORD.match(line)
        if match:
            stamp = match.group(1)
            when = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp() if stamp else None
            records.append([when, match.group(2), match.group(3), match.group(4)])
        elif records:
            records[-1][3] += "\n" + line
    return records


def parse_trace(trace: str) -> list[RoundTrip]:
    """The round trips between the start and end markers: everything up to each ReadyForQuery."""
    trips: list[RoundTrip] = []
    named: dict[str, str] = {}  # prepared statement name -> SQL, over the whole trace
    current: RoundTrip | None = None
    started: float | None = None
    for when, direction, message, rest in trace_records(trace):
        if direction == "F":
            strings = re.findall(r'"((?:[^"\\]|\\.)*)"', rest, re.DOTALL)
            sql = None
            if message == "Query" and strings:
                sql = strings[0]
            elif message == "Parse" and len(strings) >= 2:
                if strings[0]:
                    named[strings[0]] = strings[1]
                sql = strings[1]
            elif message == "Bind" and len(strings) >= 2:
                sql = named.get(strings[1], strings[1]) if strings[1] else None
            if current is None:
                current, started = RoundTrip(label=message), when
            if sql is not None and current.label in ("Parse", "Bind", "Query"):
                current.label = statement_label(sql)
        elif message == "ReadyForQuery" and current is not None:
            if when is not None and started is not None:
                current.server_us = (when - started) * 1e6
            trips.append(current)
            current = None
    labels = [trip.label for trip in trips]
    if TRACE_START not in labels or TRACE_END not in labels:
        raise RuntimeError("trace markers not found")
    return trips[labels.index(TRACE_START) + 1 : labels.index(TRACE_END)]


NOT_STATEMENTS = {"BEGIN", "COMMIT", "ROLLBACK", "pool pre-ping"}


def traced_debits(url: str, account_ids: list[int], institution: int, key_prefix: str, n: int, *, timestamps: bool):
    """Run ``n`` sequential debits on one connection under a libpq trace.

    Returns (SQL statements per debit, round trips, wall seconds). Statements are counted
    from the trace, not from SQLAlchemy's events: the PostgreSQL fast path sends its one
    statement straight through psycopg.
    The trace covers the connection's whole life (so statements prepared during the
    warm-up can be named); markers sent when the warm-up debit's connection goes back to
    the pool and when the last debit's does delimit the part that is counted, so the
    pool's pre-ping on checkout is included.
    """
    engine = make_engine(url, pool_size=1, max_overflow=0)
    ledger = Ledger(engine)
    rng = random.Random(key_prefix)
    state = {"phase": "warmup", "warmups": TRACE_WARMUP_DEBITS, "left": n}
    trace_file = tempfile.NamedTemporaryFile("w+", suffix=".trace")

    @event.listens_for(engine.pool, "connect")
    def _start_trace(dbapi_connection, record):
        dbapi_connection.pgconn.trace(trace_file.fileno())
        if not timestamps:
            dbapi_connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)

    @event.listens_for(engine.pool, "checkin")
    def _mark(dbapi_connection, record):
        if dbapi_connection is None:
            return
        if state["phase"] == "warmup":
            state["warmups"] -= 1
            if state["warmups"] == 0:
                dbapi_connection.pgconn.exec_(TRACE_START.encode())  # an empty query: no transaction
                state["phase"] = "tracing"
        elif state["phase"] == "tracing":
            state["left"] -= 1
            if state["left"] == 0:
                dbapi_connection.pgconn.exec_(TRACE_END.encode())
                dbapi_connection.pgconn.untrace()
                state["phase"] = "done"

    def debit(key: str) -> None:
        ledger.transfer(
            kind=TxKind.SPENDING, from_account=rng.choice(account_ids), to_account=institution,
            amount_fen=1, idempotency_key=key, business_date=DAY,
        )

    try:
        for i in range(TRACE_WARMUP_DEBITS):
            debit(f"{key_prefix}-warmup-{i}")
        start = time.perf_counter()
        for i in range(n):
            debit(f"{key_prefix}-{i}")
        wall = time.perf_counter() - start
        trace_file.seek(0)
        trips = parse_trace(trace_file.read())
    finally:
        engine.dispose()
        trace_file.close()
    statements = [trip for trip in trips if trip.label not in NOT_STATEMENTS]
    return len(statements) / n, trips, wall


@dataclass
class RoundTripReport:
    statements_per_debit: float
    round_trips_per_debit: float
    sequence: list[str]  # the round trips of one debit, in order


def count_round_trips(url: str, account_ids: list[int], institution: int, key_prefix: str) -> RoundTripReport:
    statements, trips, _ = traced_debits(url, account_ids, institution, key_prefix, 1, timestamps=False)
    return RoundTripReport(statements, len(trips), [trip.label for trip in trips])


# --------------------------------------------------------------------------- profile


@dataclass
class ProfileResult:
    debits: int
    trips: list[tuple[str, float, float]]  # label, per debit, mean wait in µs
    server_us: float  # per debit, waiting for the server
    total_us: float  # per debit, wall time
    cpu_us: float  # per debit, client CPU
    packages: list[tuple[str, float]]  # cProfile own-time share per package
    pgbench_latency_ms: float | None


def profile(url: str, admin_url: URL, pgbench_db: str, account_ids, institution, key_prefix: str) -> ProfileResult:
    """Single client, no concurrency: where does one debit's time go?"""
    n = PROFILE_DEBITS
    _, trips, _ = traced_debits(url, account_ids, institution, f"{key_prefix}-trace", n, timestamps=True)
    per_kind: dict[str, list[float]] = defaultdict(list)
    for trip in trips:
        per_kind[trip.label].append(trip.server_us)
    rows = [(label, len(waits) / n, sum(waits) / len(waits)) for label, waits in per_kind.items()]

    # Latency and CPU without the trace (writing it costs the client time), then
    # Python-side hot spots (cProfile slows Python down, so only the shares matter).
    engine = make_engine(url, pool_size=1, max_overflow=0)
    ledger = Ledger(engine)
    rng = random.Random(key_prefix)
    ledger.transfer(kind=TxKind.SPENDING, from_account=account_ids[0], to_account=institution,
                    amount_fen=1, idempotency_key=f"{key_prefix}-prof-warmup", business_date=DAY)
    start, cpu_start = time.perf_counter(), time.process_time()
    for i in range(n):
        ledger.transfer(kind=TxKind.SPENDING, from_account=rng.choice(account_ids), to_account=institution,
                        amount_fen=1, idempotency_key=f"{key_prefix}-plain-{i}", business_date=DAY)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(n):
        ledger.transfer(kind=TxKind.SPENDING, from_account=rng.choice(account_ids), to_account=institution,
                        amount_fen=1, idempotency_key=f"{key_prefix}-prof-{i}", business_date=DAY)
    profiler.disable()
    engine.dispose()
    stats = pstats.Stats(profiler, stream=sys.stdout)
    buckets: Counter[str] = Counter()
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        if (filename == "~" and re.search(r"wait|poll|select|recv", name)) or (
            filename.endswith(os.path.join("psycopg", "connection.py")) and name == "wait"
        ):
            # psycopg's C wait function is not seen by cProfile: its time lands in Connection.wait.
            bucket = "waiting for the server (socket)"
        elif "sqlalchemy" in filename:
            bucket = "SQLAlchemy"
        elif "psycopg" in filename:
            bucket = "psycopg (Python part)"
        elif "yibao" in filename:
            bucket = "yibao"
        else:
            bucket = "stdlib / builtins"
        buckets[bucket] += tottime
    total = sum(buckets.values())
    print("Top functions by own time (cProfile):")
    stats.sort_stats("tottime").print_stats(12)

    # pgbench with one client, for a latency comparison.
    done = subprocess.run(
        ["pgbench", "-b", "simple-update", "-c", "1", "-j", "1", "-T", "5", "-n", pgbench_db],
        env=pgbench_env(admin_url), capture_output=True, text=True,
    )
    latency = re.search(r"latency average = ([0-9.]+) ms", done.stdout)
    return ProfileResult(
        debits=n,
        trips=rows,
        server_us=sum(trip.server_us for trip in trips) / n,
        total_us=1e6 * wall / n,
        cpu_us=1e6 * cpu / n,
        packages=[(bucket, seconds / total) for bucket, seconds in buckets.most_common()],
        pgbench_latency_ms=float(latency.group(1)) if latency else None,
    )


def print_profile(result: ProfileResult, console: Console) -> None:
    table = Table(title=f"One debit, single client ({result.debits} sequential debits, libpq trace)")
    table.add_column("round trip")
    table.add_column("per debit", justify="right")
    table.add_column("mean wait µs", justify="right")
    for label, per_debit, wait in result.trips:
        table.add_row(label, f"{per_debit:.2f}", f"{wait:.0f}")
    table.add_row("[b]waiting for the server[/b]", "", f"{result.server_us:.0f}")
    table.add_row("[b]the rest: client, network stack[/b]", "", f"{result.total_us - result.server_us:.0f}")
    table.add_row("[b]total per debit[/b]", "", f"{result.total_us:.0f}")
    table.add_row("client CPU per debit", "", f"{result.cpu_us:.0f}")
    if result.pgbench_latency_ms is not None:
        table.add_row("pgbench simple-update, 1 client, per transaction", "", f"{1000 * result.pgbench_latency_ms:.0f}")
    console.print(table)
    table = Table(title="cProfile: own time by package (shares; cProfile inflates Python time)")
    table.add_column("package")
    table.add_column("share", justify="right")
    for bucket, share in result.packages:
        table.add_row(bucket, f"{100 * share:.0f} %")
    console.print(table)


def profile_markdown(result: ProfileResult) -> str:
    rows = "\n".join(f"| {label} | {per_debit:.2f} | {wait:.0f} |" for label, per_debit, wait in result.trips)
    shares = ", ".join(f"{bucket} {100 * share:.0f} %" for bucket, share in result.packages)
    pgbench = (
        f" pgbench simple-update with one client: {1000 * result.pgbench_latency_ms:.0f} µs per transaction."
        if result.pgbench_latency_ms is not None
        else ""
    )
    return f"""
**Where one debit's time goes** (`--profile`: one client, {result.debits} sequential debits,
timed per round trip from a libpq trace; "wait" is from sending a statement to the
server's ReadyForQuery):

| round trip | per debit | mean wait µs |
|---|---:|---:|
{rows}

Per debit, one client, untraced: {result.total_us:.0f} µs in all, of which about {result.server_us:.0f} µs
waiting for the server (traced) and the rest in the client; client CPU {result.cpu_us:.0f} µs.{pgbench}
cProfile own time by package: {shares}.
"""


# --------------------------------------------------------------------------- report


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


@dataclass
class Report:
    command: str
    when: str
    cores: int
    cpu_model: str
    settings: dict[str, str]
    load_before: float | None  # 1-minute load average before the run: other work on the machine
    clients: int
    seconds: int
    n_accounts: int
    scale: int
    start_method: str
    pgbench_runs: list[PgbenchResult]
    ledger_runs: list[LedgerRunResult]  # round i of each ran back to back
    trips: RoundTripReport
    check_ok: bool
    transactions_checked: int
    profile: ProfileResult | None = None

    @property
    def tps(self) -> float:
        return median([run.tps for run in self.pgbench_runs])

    @property
    def debits_per_s(self) -> float:
        return median([run.debits_per_s for run in self.ledger_runs])

    @property
    def ratio(self) -> float:
        """Median over rounds of (debits/s ÷ tps): each round's pair ran back to back."""
        return median([y.debits_per_s / p.tps for p, y in zip(self.pgbench_runs, self.ledger_runs)])

    @property
    def postings_ratio(self) -> float:
        return 2 * self.ratio

    @property
    def failures(self) -> int:
        return sum(run.failures for run in self.ledger_runs)

    def mean(self, values: list[float | None]) -> float | None:
        known = [value for value in values if value is not None]
        return sum(known) / len(known) if known else None

    @property
    def client_cpu_per_debit_ms(self) -> float:
        return self.mean([run.client_cpu_per_debit_ms for run in self.ledger_runs])

    def cpu(self, runs) -> CpuWindow:
        """The mean CPU shares over rounds."""
        windows = [run.cpu for run in runs]
        return CpuWindow(
            self.mean([w.busy for w in windows]),
            self.mean([w.clients for w in windows]) or 0.0,
            self.mean([w.server for w in windows]),
            self.mean([w.irq for w in windows]),
        )

    @property
    def cpu_pgbench(self) -> CpuWindow:
        return self.cpu(self.pgbench_runs)

    @property
    def cpu_ledger(self) -> CpuWindow:
        return self.cpu(self.ledger_runs)

    def spread(self, values: list[float]) -> str:
        return "" if len(values) < 2 else f" ({min(values):,.0f}–{max(values):,.0f})"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f} %"


def cpu_cells(window: CpuWindow) -> str:
    """Shares of all cores: the whole machine, the clients, PostgreSQL, kernel interrupts, other processes."""
    values = (window.busy, window.clients, window.server, window.irq, window.other)
    return " / ".join(percent(value) for value in values)


def print_report(report: Report, console: Console) -> None:
    rounds = len(report.ledger_runs)
    title = f"Ledger vs pgbench, {report.clients} clients, {report.seconds} s"
    title += f", median of {rounds} rounds (range)" if rounds > 1 else ""
    table = Table(title=title + ", same server")
    table.add_column("measure")
    table.add_column("value", justify="right")
    tps = [run.tps for run in report.pgbench_runs]
    debits = [run.debits_per_s for run in report.ledger_runs]
    table.add_row("pgbench simple-update tps (1 transaction = UPDATE + SELECT + INSERT)", f"{report.tps:,.0f}{report.spread(tps)}")
    table.add_row("yibao debits/s (= database transactions/s)", f"{report.debits_per_s:,.0f}{report.spread(debits)}")
    table.add_row("yibao postings/s (2 per debit)", f"{2 * report.debits_per_s:,.0f}")
    table.add_row(
        "[b]ratio: yibao debits/s ÷ pgbench tps[/b] (transactions vs transactions, goal ≥ 0.5)",
        f"[b]{report.ratio:.2f}[/b]",
    )
    table.add_row("ratio: yibao postings/s ÷ pgbench tps", f"{report.postings_ratio:.2f}")
    table.add_row("round trips per debit (SQL statements)", f"{report.trips.round_trips_per_debit:.0f} ({report.trips.statements_per_debit:.0f})")
    table.add_row("client CPU per debit (Python processes)", f"{report.client_cpu_per_debit_ms:.2f} ms")
    for name, window in (("pgbench", report.cpu_pgbench), ("yibao", report.cpu_ledger)):
        table.add_row(f"CPU during {name} runs: machine / clients / PostgreSQL / kernel irq / other processes", cpu_cells(window))
    table.add_row("failed debits", str(report.failures))
    table.add_row("check_ledger", "ok" if report.check_ok else "[red]FAILED[/red]")
    console.print(table)


def limiting_sentence(report: Report) -> str:
    others = [label for label in report.trips.sequence if label in ("pool pre-ping", "BEGIN", "COMMIT")]
    parts = [
        f"Each debit is {report.trips.round_trips_per_debit:.0f} round trips to the server "
        f"({report.trips.statements_per_debit:.0f} SQL statements plus {', '.join(others) or 'nothing else'}) "
        "against pgbench's 5 (BEGIN, UPDATE, SELECT, INSERT, END), and each is a separate wait."
    ]
    cpu, base = report.cpu_ledger, report.cpu_pgbench
    busy = cpu.busy
    if busy is not None and busy > 0.85:
        where = ""
        if report.profile:
            shares = dict(report.profile.packages)
            python_total = sum(share for bucket, share in shares.items() if not bucket.startswith("waiting"))
            if python_total:
                where = (
                    f"; in the profile, {100 * shares.get('yibao', 0.0) / python_total:.0f} % of the client's "
                    f"Python time is yibao's own code, {100 * shares.get('SQLAlchemy', 0.0) / python_total:.0f} % "
                    f"SQLAlchemy and {100 * shares.get('psycopg (Python part)', 0.0) / python_total:.0f} % psycopg"
                )
        parts.append(
            f"The {report.cores} cores were {percent(busy)} busy during the yibao runs and the "
            f"Python client processes took {percent(cpu.clients)} of them and PostgreSQL {percent(cpu.server)} "
            f"({report.client_cpu_per_debit_ms:.2f} ms client CPU per debit{where}); during pgbench its C client "
            f"took {percent(base.clients)} and PostgreSQL {percent(base.server)}. So on this machine the clients take "
            "the CPU PostgreSQL would need: the ratio is limited by client-side CPU per debit and by round trips, "
            "not by row locks (accounts are random) or commit latency."
        )
    else:
        parts.append(
            f"The machine was only {percent(busy)} busy, so the limit is latency: "
            "round trips per debit times the time of each, not CPU."
        )
    noisy = max((w.other for w in (cpu, base) if w.other is not None), default=None)
    if noisy is not None and noisy > 0.1:
        parts.append(
            f"Other processes on this shared machine took up to {percent(noisy)} of the cores during the runs, "
            "which lowers both numbers; the ratio, from back-to-back pairs, is less affected than the absolute rates."
        )
    return " ".join(parts)


def markdown_section(report: Report) -> str:
    s = report.settings
    trips = ", ".join(report.trips.sequence)
    return f"""{SECTION_START}
## Ledger: concurrent debits vs pgbench simple-update

**What is measured.** {report.clients} client processes (multiprocessing, {report.start_method}) each call `Ledger.transfer` (kind
`spending`, 1 fen, a random one of {report.n_accounts:,} funded personal accounts to one
institution account, a unique idempotency key per call) as fast as they can for
{report.seconds} s; every call is one complete, committed database transaction with two
postings. The baseline, on the same PostgreSQL server in the same run, is
`pgbench -b simple-update` (one UPDATE of a random account, one SELECT, one INSERT into a
history table per transaction) with the same number of clients and the same duration
(scale {report.scale}, tps without connection time). The ratio compares transactions with
transactions: **yibao debits per second ÷ pgbench transactions per second** (goal ≥ 0.5).
Postings per second ÷ pgbench tps is shown as well. {rounds_note(report)}

**Command.** `{report.command}`

**Run.** {report.when}; {report.cores} CPUs ({report.cpu_model}), load average
{"n/a" if report.load_before is None else f"{report.load_before:.1f}"} before the run; PostgreSQL {s['server_version']}
on the same machine (fsync={s['fsync']}, synchronous_commit={s['synchronous_commit']},
shared_buffers={s['shared_buffers']}); Python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, psycopg {psycopg.__version__}.

| measure | value |
|---|---:|
| pgbench simple-update, transactions/s | {report.tps:,.0f}{report.spread([run.tps for run in report.pgbench_runs])} |
| yibao debits/s (= transactions/s) | {report.debits_per_s:,.0f}{report.spread([run.debits_per_s for run in report.ledger_runs])} |
| yibao postings/s | {2 * report.debits_per_s:,.0f} |
| **ratio: yibao debits/s ÷ pgbench tps** | **{report.ratio:.2f}** |
| ratio: yibao postings/s ÷ pgbench tps | {report.postings_ratio:.2f} |
| round trips per debit (SQL statements) | {report.trips.round_trips_per_debit:.0f} ({report.trips.statements_per_debit:.0f}) |
| client CPU per debit (Python processes) | {report.client_cpu_per_debit_ms:.2f} ms |
| CPU during pgbench runs: machine / clients / PostgreSQL / kernel irq / other processes | {cpu_cells(report.cpu_pgbench)} |
| CPU during yibao runs: machine / clients / PostgreSQL / kernel irq / other processes | {cpu_cells(report.cpu_ledger)} |
| failed debits | {report.failures} |

The round trips of one debit, in order: {trips}.
`check_ledger` after the run: {"ok" if report.check_ok else "FAILED"} ({report.transactions_checked:,} transactions checked).
{profile_markdown(report.profile) if report.profile else ""}
**What limits the result.** {limiting_sentence(report)}
{SECTION_END}
"""


def rounds_note(report: Report) -> str:
    rounds = len(report.ledger_runs)
    if rounds == 1:
        return "One round: pgbench, then yibao."
    return (
        f"{rounds} rounds, each pgbench then yibao back to back; throughputs are medians "
        "(range in brackets) and the ratio is the median of the rounds' ratios."
    )


def write_section(path: Path, section: str) -> None:
    current = path.read_text() if path.exists() else DOC_INTRO
    if SECTION_START in current and SECTION_END in current:
        head, rest = current.split(SECTION_START, 1)
        tail = rest.split(SECTION_END, 1)[1].lstrip("\n")
        updated = head + section + ("\n" + tail if tail else "")
    else:
        updated = current.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(updated)


def display_command(args: argparse.Namespace) -> str:
    parts = ["python", "bench/ledger.py", "--clients", str(args.clients), "--seconds", str(args.seconds),
             "--accounts", str(args.accounts)]
    if args.database_url != DEFAULT_URL:
        parts += ["--database-url", server_url(args.database_url).render_as_string(hide_password=True)]
    if args.rounds != 1:
        parts += ["--rounds", str(args.rounds)]
    if args.start_method != "spawn":
        parts += ["--start-method", args.start_method]
    if args.pgbench_scale != 1:
        parts += ["--pgbench-scale", str(args.pgbench_scale)]
    if args.profile:
        parts += ["--profile"]
    if args.write:
        parts += ["--write", str(args.write)]
    return shlex.join(parts)


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--database-url", default=DEFAULT_URL, help="any database on the server; used to create and drop the throw-away ones")
    parser.add_argument("--rounds", type=int, default=1, help="alternate pgbench and yibao this many times; report medians")
    parser.add_argument("--pgbench-scale", type=int, default=1)
    parser.add_argument("--start-method", choices=["spawn", "fork", "forkserver"], default="spawn",
                        help="how the client processes are started (multiprocessing)")
    parser.add_argument("--write", type=Path, help="write/replace the ledger section of this Markdown file")
    parser.add_argument("--profile", action="store_true", help="also show where a single debit's time goes")
    args = parser.parse_args()
    if min(args.clients, args.seconds, args.accounts, args.rounds, args.pgbench_scale) < 1:
        parser.error("--clients, --seconds, --accounts, --rounds and --pgbench-scale must be positive")

    console = Console()
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    base = server_url(args.database_url)
    run_id = uuid.uuid4().hex[:10]
    ledger_db, pgbench_db = f"yibao_bench_{run_id}", f"yibao_bench_pgbench_{run_id}"
    ledger_url = base.set(database=ledger_db).render_as_string(hide_password=False)
    admin = admin_engine(base)
    created: list[str] = []
    try:
        settings = server_settings(admin)
        for name in (ledger_db, pgbench_db):
            create_database(admin, name)
            created.append(name)

        console.print(f"Setting up {args.accounts:,} funded accounts in {ledger_db} …")
        institution, account_ids = setup_ledger(ledger_url, args.accounts)

        init_pgbench(base, pgbench_db, scale=args.pgbench_scale)
        baselines: list[PgbenchResult] = []
        measured: list[LedgerRunResult] = []
        for round_ in range(1, args.rounds + 1):
            label = f"[round {round_}/{args.rounds}] " if args.rounds > 1 else ""
            checkpoint(admin)
            console.print(f"{label}pgbench simple-update, {args.clients} clients, {args.seconds} s …")
            baselines.append(run_pgbench(base, pgbench_db, clients=args.clients, seconds=args.seconds))
            checkpoint(admin)
            console.print(f"{label}yibao debits, {args.clients} client processes, {args.seconds} s …")
            measured.append(
                run_clients(ledger_url, account_ids, institution, clients=args.clients, seconds=args.seconds,
                            key_prefix=f"{run_id}-r{round_}", start_method=args.start_method)
            )
            console.print(f"{label}pgbench {baselines[-1].tps:,.0f} tps, yibao {measured[-1].debits_per_s:,.0f} debits/s")
            for error in measured[-1].errors[:3]:
                console.print(f"[red]client error:[/red]\n{error}")

        trips = count_round_trips(ledger_url, account_ids, institution, f"{run_id}-trips")
        profiled = None
        if args.profile:
            console.print("Profiling a single client …")
            profiled = profile(ledger_url, base, pgbench_db, account_ids, institution, f"{run_id}-profile")
            print_profile(profiled, console)

        engine = make_engine(ledger_url)
        try:
            with engine.connect() as conn:
                check = check_ledger(conn)
                spending = conn.execute(
                    select(func.count()).select_from(ledger_transactions).where(ledger_transactions.c.kind == TxKind.SPENDING.value)
                ).scalar_one()
        finally:
            engine.dispose()

        report = Report(
            command=display_command(args),
            when=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            cores=os.cpu_count() or 1,
            cpu_model=cpu_model(),
            settings=settings,
            load_before=load_before,
            clients=args.clients,
            seconds=args.seconds,
            n_accounts=args.accounts,
            scale=args.pgbench_scale,
            start_method=args.start_method,
            pgbench_runs=baselines,
            ledger_runs=measured,
            trips=trips,
            check_ok=check.ok,
            transactions_checked=check.transactions_checked,
            profile=profiled,
        )
        print_report(report, console)
        # Every measured debit (plus one warm-up per client and the round-trip probe) must be in the database.
        expected = sum(run.debits for run in measured) + args.rounds * args.clients + TRACE_WARMUP_DEBITS + 1
        if args.profile:
            expected += (TRACE_WARMUP_DEBITS + PROFILE_DEBITS) + (1 + 2 * PROFILE_DEBITS)
        if spending != expected:
            console.print(f"[red]counted {expected} debits but the database holds {spending}[/red]")
            return 1
        if not check.ok:
            console.print(check.as_dict())
            return 1
        if any(run.errors for run in measured):
            return 1
        if args.write:
            write_section(args.write, markdown_section(report))
            console.print(f"Wrote the ledger section of {args.write}")
        return 0
    finally:
        for name in created:
            drop_database(admin, name)
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
