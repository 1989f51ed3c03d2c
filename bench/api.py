"""The balance query over HTTP under load, against a bare endpoint of the same app in the same run.

    python bench/api.py [--people 1000000] [--sessions 10000] [--connections 32] [--threads 2]
                        [--seconds 15] [--rounds 3] [--workers 2] [--reuse] [--profile]
                        [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
                        [--write docs/benchmarks.md]

What it does:

1. creates a throw-away database on the server named by ``--database-url`` (that URL is only
   used to connect; ``--reuse`` keeps ``yibao_bench_api_<people>`` for the next run instead),
   migrates it and loads ``--people`` insured people, each with an open personal account with
   a random but plausible balance, in bulk (COPY): persons, accounts, one pool account per
   region and opening-balance transactions whose postings add up to every cached balance, so
   ``check_ledger`` is ok;
2. opens ``--sessions`` full sign-in sessions of random people as sign-in does (an opaque
   ``ybs_`` token, only its SHA-256 hash stored) and writes the tokens to a private file;
3. starts ``uvicorn --workers 2`` serving the real app (``bench/api_app.py``: ``create_app()``
   plus two bare routes returning a constant) with rate limiting off
   (``YIBAO_RATE_LIMIT_PER_MINUTE=0``), and checks a sample of the answers against the database;
4. runs ``wrk`` on loopback with a Lua script that sends each request with a random token, the
   same threads, connections and duration for each endpoint, ``--rounds`` times in turn:
   ``GET /bench/constant`` (a plain ``def`` route: thread pool, like the API's routes),
   ``GET /bench/constant-async`` (no thread pool) and ``GET /api/v1/me/accounts``;
5. prints requests/s, latency percentiles (wrk ``--latency``), failed responses, where the CPU
   went, and the ratio balance ÷ constant (goal ≥ 0.5), medians over rounds.

``--profile`` adds an in-process breakdown of one balance request (no server, no network):
time per request of each route, the database round trips of one balance request (from a libpq
trace) and a cProfile summary by package. Timings are reported, never asserted.

Needs ``wrk`` (Debian package ``wrk``; installed with apt-get when missing and running as root).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import platform
import pstats
import re
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from importlib.resources import files
from pathlib import Path

import numpy as np
import psycopg
import sqlalchemy
from psycopg import pq
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, func, select, text
from stdnum.iso7064 import mod_11_2

from ledger import (
    DOC_INTRO,
    TRACE_END,
    TRACE_START,
    admin_engine,
    busy_share,
    cpu_model,
    cpu_times,
    drop_database,
    median,
    parse_trace,
    percent,
    postgres_cpu_seconds,
    server_settings,
    server_url,
)
from yibao.ledger.accounts import system_account_code
from yibao.ledger.check import check_ledger
from yibao.ledger.kinds import AccountKind, AccountStatus, TxKind
from yibao.security import sessions
from yibao.security.principal import Kind
from yibao.security.tokens import SESSION_PREFIX, new_token, token_hash
from yibao.store.bulk import insert_rows
from yibao.store.db import make_engine
from yibao.store.migrate import is_current, upgrade
from yibao.store.models import accounts, persons
from yibao.store.partitions import ensure_partitions

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_URL = os.environ.get(
    "YIBAO_BENCH_POSTGRES_URL",
    os.environ.get("YIBAO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
)
SEED = 20250615
DAY = date(2025, 6, 15)  # opening day of the accounts and business date of the opening balances
CHUNK_ACCOUNTS = 10_000  # personal accounts per opening-balance transaction
BIRTH_DAYS = 24_000  # birth dates spread over about 66 years from 1942-01-01
FIRST_BIRTH = date(1942, 1, 1)
RETIRED_BEFORE = date(1965, 1, 1)
BALANCE_MEDIAN_FEN = 300_000  # 3,000 yuan; retired people's accounts get twice as much
BALANCE_CAP_FEN = 50_000_000  # 500,000 yuan
BALANCE_ZERO_SHARE = 0.02
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国红梅玉兰志强海燕春梅晓东"

CONSTANT, CONSTANT_ASYNC, BALANCE = "/bench/constant", "/bench/constant-async", "/api/v1/me/accounts"
ENDPOINTS = {
    CONSTANT: "bare route, `def` (thread pool)",
    CONSTANT_ASYNC: "bare route, `async def`",
    BALANCE: "balance query (`GET /api/v1/me/accounts`)",
}
PERCENTILES = (50, 75, 90, 99)
PRECHECK_SAMPLE = 50
PROFILE_REQUESTS = 2_000
SECTION_START = "<!-- bench:api:start -->"
SECTION_END = "<!-- bench:api:end -->"

WRK_SCRIPT = r"""
-- Written by bench/api.py: every request carries a random session token from the file named
-- after "--"; done() prints the results as one JSON line.
local tokens = {}
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then tokens[#tokens + 1] = line end
  end
  if #tokens == 0 then error("no tokens in " .. args[1]) end
  math.randomseed(os.time() * 1000 + (thread_number or 0))
end

function request()
  return wrk.format(nil, nil, {["Authorization"] = "Bearer " .. tokens[math.random(#tokens)]})
end

function done(summary, latency, requests)
  local percentiles = {}
  for _, p in ipairs({50, 75, 90, 99, 99.9}) do
    percentiles[#percentiles + 1] = string.format('"%s": %d', p, latency:percentile(p))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "mean_us": %d, "max_us": %d, "percentiles_us": {%s}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max, table.concat(percentiles, ", ")))
end
"""


# --------------------------------------------------------------------------- population


def pooling_regions() -> list[str]:
    """The regions that have their own policy file: where the demo people live too."""
    names = sorted(entry.name for entry in (files("yibao.data") / "policy").iterdir())
    return [name.removesuffix(".yaml") for name in names if re.fullmatch(r"\d{6}\.yaml", name)]


@dataclass
class LoadReport:
    people: int
    seconds: float
    reused: bool
    transactions: int = 0
    total_balance_fen: int = 0


def plausible_balances(people: int, retired: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Log-normal balances around a few thousand yuan, retirees higher, a few empty accounts."""
    balances = rng.lognormal(np.log(BALANCE_MEDIAN_FEN), 1.0, people) * np.where(retired, 2.0, 1.0)
    balances = np.minimum(balances, BALANCE_CAP_FEN).astype(np.int64)
    balances[rng.random(people) < BALANCE_ZERO_SHARE] = 0
    return balances


def person_rows(people: int, regions: list[str], retired: np.ndarray, rng: np.random.Generator):
    """Persons with valid ID numbers (GB 11643 check character), unique by (birth date, sequence)."""
    surname = rng.integers(0, len(SURNAMES), people)
    given = rng.integers(0, len(GIVEN), (people, 2))
    two_chars = rng.random(people) < 0.7
    flexible = rng.random(people) < 0.08
    for index in range(people):
        birth, sequence = birth_of(index), index // BIRTH_DAYS
        region = regions[index % len(regions)]
        body = f"{region}{birth:%Y%m%d}{sequence:03d}"
        name = SURNAMES[surname[index]] + GIVEN[given[index, 0]] + (GIVEN[given[index, 1]] if two_chars[index] else "")
        is_retired = bool(retired[index])
        employment = "retired" if is_retired else ("flexible" if flexible[index] else "in_service")
        enrolled = date(max(1999, birth.year + 22), 1 + index % 12, 1)
        retired_on = date(birth.year + 60, birth.month, 1) if is_retired else None
        yield (
            index + 1, body + mod_11_2.calc_check_digit(body), name, "M" if sequence % 2 else "F", birth, region,
            "employee", employment, min(enrolled, DAY), retired_on,
        )


def birth_of(index: int) -> date:
    # A bijection on each block of BIRTH_DAYS people: birth dates look random, and with the
    # block number as the sequence code every (birth date, sequence) and so every ID is unique.
    return FIRST_BIRTH + timedelta(days=(index * 7919) % BIRTH_DAYS)


def load_population(engine: Engine, people: int, console: Console) -> LoadReport:
    """Persons, personal accounts, pool accounts and opening balances, all by COPY."""
    started = time.perf_counter()
    upgrade(engine)
    with engine.connect() as conn:  # the opening balances' month gets its postings partition, as in a deployment
        ensure_partitions(conn, DAY, DAY, monthly_from=DAY)
    rng = np.random.default_rng(SEED)
    regions = pooling_regions()
    retired = np.fromiter((birth_of(i) < RETIRED_BEFORE for i in range(people)), dtype=bool, count=people)
    balances = plausible_balances(people, retired, rng)
    pool_ids = {region: people + 1 + n for n, region in enumerate(regions)}
    with engine.begin() as conn:
        insert_rows(
            conn, "persons",
            ("id", "id_number", "name", "sex", "birth_date", "region_code", "insurance_type", "employment",
             "enrolled_on", "retired_on"),
            person_rows(people, regions, retired, rng),
        )
    console.print(f"  persons: {people:,} in {time.perf_counter() - started:.0f} s")
    with engine.begin() as conn:
        columns = ("id", "kind", "person_id", "code", "region_code", "status", "balance_fen", "opened_on")
        personal = (
            (i + 1, AccountKind.PERSONAL.value, i + 1, None, regions[i % len(regions)], AccountStatus.ACTIVE.value,
             int(balances[i]), DAY)
            for i in range(people)
        )
        pools = (
            (account_id, AccountKind.POOL.value, None, system_account_code(AccountKind.POOL, region), region,
             AccountStatus.ACTIVE.value, 0, DAY)
            for region, account_id in pool_ids.items()
        )
        insert_rows(conn, "accounts", columns, personal)
        insert_rows(conn, "accounts", columns, pools)
    console.print(f"  accounts: {people + len(pool_ids):,} after {time.perf_counter() - started:.0f} s")
    transactions = opening_balances(engine, balances, regions, pool_ids)
    with engine.begin() as conn:
        for table in ("persons", "accounts", "ledger_transactions", "postings"):
            conn.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) "
                f"FROM {table}"
            ))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
        conn.execute(text("CHECKPOINT"))
    return LoadReport(people, time.perf_counter() - started, False, transactions, int(balances.sum()))


def opening_balances(engine: Engine, balances: np.ndarray, regions: list[str], pool_ids: dict[str, int]) -> int:
    """One opening-balance transaction per region and chunk: the pool pays every account's balance."""
    people = len(balances)
    transactions, postings_rows, keys = [], [], []
    next_posting = 1
    for r, region in enumerate(regions):
        indexes = np.arange(r, people, len(regions))
        for start in range(0, len(indexes), CHUNK_ACCOUNTS):
            chunk = indexes[start : start + CHUNK_ACCOUNTS]
            chunk = chunk[balances[chunk] > 0]
            if not len(chunk):
                continue
            tx = len(transactions) + 1
            transactions.append((tx, TxKind.OPENING_BALANCE.value, DAY, "压测期初余额", f"bench-{region}-{start}"))
            keys.append(("bench", f"opening-{region}-{start}", token_hash(f"opening-{region}-{start}"), tx))
            for index in chunk:
                postings_rows.append((next_posting, tx, int(index) + 1, int(balances[index]), DAY))
                next_posting += 1
            postings_rows.append((next_posting, tx, pool_ids[region], -int(balances[chunk].sum()), DAY))
            next_posting += 1
    with engine.begin() as conn:
        insert_rows(conn, "ledger_transactions", ("id", "kind", "business_date", "memo", "reference"), transactions)
        insert_rows(conn, "idempotency_keys", ("scope", "key", "request_hash", "transaction_id"), keys)
        insert_rows(conn, "postings", ("id", "transaction_id", "account_id", "amount_fen", "business_date"), postings_rows)
    return len(transactions)


def bench_database(args, admin: Engine, console: Console) -> tuple[str, str, LoadReport]:
    """(database name, URL, load report): a populated database, new or (``--reuse``) kept from before."""
    name = f"yibao_bench_api_{args.people}" if args.reuse else f"yibao_bench_api_{uuid.uuid4().hex[:8]}"
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is not None
    if exists and args.reuse:
        engine = make_engine(url)
        try:
            if is_current(engine) and count_rows(engine, persons) == args.people:
                console.print(f"reusing {name} ({args.people:,} people)")
                return name, url, LoadReport(args.people, 0.0, True)
        finally:
            engine.dispose()
    if exists:
        drop_database(admin, name)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    console.print(f"loading {args.people:,} people into {name} …")
    engine = make_engine(url)
    try:
        report = load_population(engine, args.people, console)
    finally:
        engine.dispose()
    console.print(f"  loaded in {report.seconds:.0f} s ({args.people / report.seconds:,.0f} people/s)")
    return name, url, report


def count_rows(engine: Engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


# --------------------------------------------------------------------------- sessions


def open_sessions(engine: Engine, count: int, people: int, ttl: timedelta, token_file: Path) -> list[tuple[str, int]]:
    """``count`` full sessions of distinct random people, stored as sign-in stores them (hash only).

    Earlier benchmark sessions in this database are deleted first. The tokens go to
    ``token_file`` (mode 0600) for the load generator; (token, person id) pairs are returned.
    """
    rng = np.random.default_rng()
    chosen = rng.choice(people, size=min(count, people), replace=False) + 1
    now = datetime.now(timezone.utc)
    tokens = [(new_token(SESSION_PREFIX), int(person_id)) for person_id in chosen]
    rows = (
        (token_hash(token), Kind.PERSON.value, person_id, sessions.FULL, "password", sessions.WEB, "127.0.0.1", now, now + ttl)
        for token, person_id in tokens
    )
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM auth_sessions"))
        insert_rows(
            conn, "auth_sessions",
            ("token_hash", "subject_kind", "subject_id", "purpose", "method", "channel", "client", "created_at", "expires_at"),
            rows,
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE auth_sessions"))
    descriptor = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.writelines(f"{token}\n" for token, _ in tokens)
    return tokens


# --------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_environment(url: str, data_dir: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("YIBAO_")}
    env.update({
        "YIBAO_DATABASE_URL": url,
        "YIBAO_RATE_LIMIT_PER_MINUTE": "0",  # the benchmark measures the request path, not the limiter
        "YIBAO_DATA_DIR": data_dir,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(BENCH_DIR), os.environ.get("PYTHONPATH")])),
    })
    return env


class Server:
    """``uvicorn --workers N`` serving ``api_app:create`` on a free loopback port."""

    def __init__(self, url: str, workers: int, data_dir: str):
        self.port = free_port()
        self.command = [
            sys.executable, "-m", "uvicorn", "--factory", "api_app:create", "--app-dir", str(BENCH_DIR),
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers),
            "--no-access-log", "--log-level", "warning",
        ]
        self.log = tempfile.TemporaryFile("w+")
        self.process = subprocess.Popen(
            self.command, env=server_environment(url, data_dir), stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {self.process.returncode}:\n{self.output()}")
            with contextlib.suppress(OSError):
                if get(f"{self.base}/ready")[0] == 200:
                    return
            time.sleep(0.5)
        raise RuntimeError(f"uvicorn not ready after {timeout:.0f} s:\n{self.output()}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()[-4000:]

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown, workers included
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # our own process group only
                self.process.wait()
        self.log.close()


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds (user + system, reaped children included) of ``root`` and its descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents, times = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:
            continue
        fields = raw[raw.rfind(")") + 2 :].split()
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        times[pid] = sum(int(value) for value in fields[11:15])
    tree, changed = {root}, True
    while changed:
        grown = tree | {pid for pid, parent in parents.items() if parent in tree}
        changed, tree = grown != tree, grown
    return sum(times.get(pid, 0) for pid in tree) / ticks


def get(url: str, token: str | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def precheck(server: Server, engine: Engine, tokens: list[tuple[str, int]]) -> int:
    """The routes answer what they should before anything is timed: constants, balances, a bad token."""
    for path in (CONSTANT, CONSTANT_ASYNC):
        status, body = get(server.base + path)
        if status != 200 or json.loads(body) != {"ok": True}:
            raise RuntimeError(f"{path} answered {status} {body[:200]!r}")
    sample = tokens[:PRECHECK_SAMPLE]
    with engine.connect() as conn:
        expected = dict(conn.execute(
            select(accounts.c.person_id, accounts.c.balance_fen).where(
                accounts.c.person_id.in_([person_id for _, person_id in sample])
            )
        ).all())
    for token, person_id in sample:
        status, body = get(server.base + BALANCE, token)
        if status != 200 or json.loads(body)["total_balance_fen"] != expected[person_id]:
            raise RuntimeError(f"balance of person {person_id}: {status} {body[:200]!r}, expected {expected[person_id]}")
    status, _ = get(server.base + BALANCE, new_token(SESSION_PREFIX))
    if status != 401:
        raise RuntimeError(f"an unknown token got {status}, not 401")
    return len(sample)


# --------------------------------------------------------------------------- wrk


def ensure_wrk(console: Console) -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        sys.exit("wrk is missing: install the Debian package wrk (apt-get install wrk) or put wrk on PATH")
    console.print("installing wrk with apt-get …")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    quiet = {"env": env, "capture_output": True, "text": True}
    if subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], **quiet).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], check=True, **quiet)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, **quiet)
    return shutil.which("wrk") or sys.exit("wrk is still not on PATH after apt-get install wrk")


def wrk_version(wrk: str) -> str:
    done = subprocess.run([wrk, "-v"], capture_output=True, text=True)
    first = (done.stdout or done.stderr).splitlines()
    return first[0].split(" Copyright")[0] if first else "wrk"


@dataclass
class CpuShares:
    """Where the machine's CPU went during one run, as shares of all cores."""

    busy: float | None
    wrk: float
    server: float
    postgres: float | None
    irq: float | None

    @property
    def other(self) -> float | None:
        if self.busy is None or self.postgres is None:
            return None
        return max(0.0, self.busy - self.wrk - self.server - self.postgres - (self.irq or 0.0))


@dataclass
class WrkRun:
    path: str
    requests: int
    seconds: float
    percentiles_ms: dict[float, float]
    mean_ms: float
    max_ms: float
    failed_status: int  # responses with status >= 400 (wrk's "Non-2xx or 3xx responses")
    socket_errors: int  # connect, read, write errors and timeouts
    cpu: CpuShares
    new_connections: int | None  # database connections the server opened during the run

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def p99_ms(self) -> float:
        return self.percentiles_ms[99.0]

    @property
    def clean(self) -> bool:
        return self.failed_status == 0 and self.socket_errors == 0


def database_sessions(engine: Engine) -> int | None:
    """Connections ever opened to the bench database (PostgreSQL ≥ 14 counts them), or None."""
    with engine.connect() as conn:
        if conn.dialect.server_version_info < (14,):
            return None
        query = text("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return conn.execute(query).scalar_one_or_none()


def run_wrk(wrk: str, script: Path, token_file: Path, server: Server, path: str, args, engine: Engine) -> WrkRun:
    command = [
        wrk, "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.seconds}s", "--timeout", "10s",
        "--latency", "-s", str(script), server.base + path, "--", str(token_file),
    ]
    opened = database_sessions(engine)  # this lookup's own connection is pooled: it opens none
    machine, postgres, served = cpu_times(), postgres_cpu_seconds(), server.cpu_seconds()
    before, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed, after = time.perf_counter() - wall, resource.getrusage(resource.RUSAGE_CHILDREN)
    capacity = elapsed * (os.cpu_count() or 1)
    machine_after, postgres_after = cpu_times(), postgres_cpu_seconds()
    cpu = CpuShares(
        busy=busy_share(machine, machine_after),
        wrk=((after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)) / capacity,
        server=(server.cpu_seconds() - served) / capacity,
        postgres=None if postgres is None or postgres_after is None else (postgres_after - postgres) / capacity,
        irq=busy_share(machine, machine_after, index=2),
    )
    match = re.search(r"^BENCH_RESULT (\{.*\})$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or not match:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n{server.output()}")
    result = json.loads(match.group(1))
    time.sleep(1)  # PostgreSQL publishes a backend's statistics within a second
    opened_after = database_sessions(engine)
    return WrkRun(
        path=path,
        requests=result["requests"],
        seconds=result["duration_us"] / 1e6,
        percentiles_ms={float(p): us / 1000 for p, us in result["percentiles_us"].items()},
        mean_ms=result["mean_us"] / 1000,
        max_ms=result["max_us"] / 1000,
        failed_status=result["status"],
        socket_errors=result["connect"] + result["read"] + result["write"] + result["timeout"],
        cpu=cpu,
        new_connections=None if opened is None or opened_after is None else opened_after - opened,
    )


# --------------------------------------------------------------------------- profile


@dataclass
class Timing:
    """Per request, in µs: wall time, CPU of this process (all threads), CPU of its database backend."""

    wall: float
    cpu: float
    database_cpu: float | None


@dataclass
class ProfileResult:
    requests: int
    timings: dict[str, Timing]  # by row label, in-process, one request at a time
    round_trips: list[str]  # the database round trips of one balance request, in order
    packages: list[tuple[str, float]]  # cProfile own-time share per package


GENERAL = "balance query, general path (token and accounts through SQLAlchemy in the thread pool)"
INLINED = "balance query, general path, thread-pool hops run inline"
FLOOR = "no route: one trivial prepared statement (`SELECT 1`) on the direct pool, the floor of any read"


def asgi_get(app, path: str, token: str) -> dict:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {},
    }
    answer: dict = {}

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]

    return scope, receive, send, answer


async def call_many(app, path: str, tokens: list[str]) -> None:
    for token in tokens:
        scope, receive, send, answer = asgi_get(app, path, token)
        await app(scope, receive, send)
        if answer.get("status") != 200:
            raise RuntimeError(f"{path} answered {answer.get('status')} in the profile")


@contextlib.contextmanager
def inline_thread_pool():
    """Run sync routes and dependencies on the event loop's thread, where cProfile sees them."""
    import fastapi.dependencies.utils as dependency_utils
    import fastapi.routing as routing

    async def inline(function, /, *args, **kwargs):
        return function(*args, **kwargs)

    import yibao.web.deps as deps

    modules = (routing, dependency_utils, deps)
    saved = [module.run_in_threadpool for module in modules]
    for module in modules:
        module.run_in_threadpool = inline
    try:
        yield
    finally:
        for module, function in zip(modules, saved):
            module.run_in_threadpool = function


@contextlib.contextmanager
def general_path(app):
    """Without the direct-read pool the balance takes the general path, as on SQLite."""
    pool, app.state.direct_pool = app.state.direct_pool, None
    try:
        yield
    finally:
        app.state.direct_pool = pool


class InProcess:
    """The app in this process on one event loop, with one connection in each of its pools.

    One connection each for the engine and the direct reads: one backend each to measure and
    to trace. The event loop stays the same for every call, as the direct pool needs.
    """

    def __init__(self, app, url: str):
        from yibao.web import direct

        self.app = app
        self.runner = asyncio.Runner()
        app.state.engine.dispose()
        app.state.engine = make_engine(url, pool_size=1, max_overflow=0)
        app.state.direct_pool = self.runner.run(_open(direct.new_pool(app.state.engine, min_size=1, max_size=1)))
        self.backends = (backend_pid(app.state.engine), self.runner.run(_pool_backend_pid(app.state.direct_pool)))

    def call_many(self, path: str, tokens: list[str]) -> None:
        self.runner.run(call_many(self.app, path, tokens))

    def statements(self, count: int) -> None:
        self.runner.run(_trivial_statements(self.app.state.direct_pool, count))

    def close(self) -> None:
        self.runner.run(self.app.state.direct_pool.close())
        self.runner.close()
        self.app.state.engine.dispose()


async def _open(pool):
    await pool.open()
    return pool


async def _trivial_statements(pool, count: int) -> None:
    """As a direct read runs its statement (web/direct.py), with nothing to read."""
    for _ in range(count):
        async with pool.connection() as conn:
            cursor = conn.cursor()
            await cursor.execute("SELECT 1", prepare=True)
            await cursor.fetchall()


async def _pool_backend_pid(pool) -> int:
    async with pool.connection() as conn:
        return conn.info.backend_pid


def profile_request(url: str, tokens: list[tuple[str, int]], console: Console) -> ProfileResult:
    """One request at a time, in this process: no server, no network, no load generator."""
    with tempfile.TemporaryDirectory() as data_dir:
        for key, value in server_environment(url, data_dir).items():
            if key.startswith("YIBAO_"):
                os.environ[key] = value
        from yibao.config import get_settings

        get_settings.cache_clear()
        import api_app

        app = api_app.create()
        process = InProcess(app, url)
        n = PROFILE_REQUESTS
        picks = [tokens[i % len(tokens)][0] for i in range(n)]
        timings = {}
        for path in (CONSTANT, CONSTANT_ASYNC, BALANCE):
            process.call_many(path, picks[:200])  # warm-up: connections, statement caches, prepared statements
            timings[ENDPOINTS[path]] = timed(process, path, picks)
        with general_path(app):
            process.call_many(BALANCE, picks[:200])
            timings[GENERAL] = timed(process, BALANCE, picks)
            with inline_thread_pool():
                timings[INLINED] = timed(process, BALANCE, picks)
        process.statements(200)
        timings[FLOOR] = _timed(process, lambda: process.statements(n), n)
        profiler = cProfile.Profile(time.process_time)  # CPU, not waiting: shares of CPU
        profiler.enable()
        process.call_many(BALANCE, picks)
        profiler.disable()
        trips = traced_round_trips(process, picks[:1])
        process.close()
    stats = pstats.Stats(profiler)
    console.print("Top functions of the balance request by own time (cProfile):")
    stats.sort_stats("tottime").print_stats(25)
    return ProfileResult(n, timings, trips, package_shares(stats))


def backend_pid(engine: Engine) -> int:
    raw = engine.raw_connection()
    try:
        return raw.driver_connection.info.backend_pid
    finally:
        raw.close()


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of one process (a local PostgreSQL backend); None if not readable."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backends_cpu_seconds(pids: tuple[int, ...]) -> float | None:
    seconds = [process_cpu_seconds(pid) for pid in pids]
    return None if None in seconds else sum(seconds)


def timed(process: InProcess, path: str, picks: list[str]) -> Timing:
    return _timed(process, lambda: process.call_many(path, picks), len(picks))


def _timed(process: InProcess, work, n: int) -> Timing:
    """CPU times as well as wall time: on a shared machine the wall time includes waiting for a core."""
    database, cpu, wall = backends_cpu_seconds(process.backends), time.process_time(), time.perf_counter()
    work()
    wall, cpu, database_after = time.perf_counter() - wall, time.process_time() - cpu, backends_cpu_seconds(process.backends)
    database_cpu = None if database is None or database_after is None else 1e6 * (database_after - database) / n
    return Timing(1e6 * wall / n, 1e6 * cpu / n, database_cpu)


def traced_round_trips(process: InProcess, picks: list[str]) -> list[str]:
    """The round trips of one balance request, from libpq traces of the app's two connections."""
    with tempfile.NamedTemporaryFile("w+", suffix=".trace") as engine_trace, \
            tempfile.NamedTemporaryFile("w+", suffix=".trace") as direct_trace:
        raw = process.app.state.engine.raw_connection()
        _trace(raw.driver_connection.pgconn, engine_trace.fileno())
        raw.close()
        process.runner.run(_trace_pool(process.app.state.direct_pool, direct_trace.fileno()))
        process.call_many(BALANCE, picks)
        raw = process.app.state.engine.raw_connection()
        _untrace(raw.driver_connection.pgconn)
        raw.close()
        process.runner.run(_trace_pool(process.app.state.direct_pool, None))
        engine_trace.seek(0)
        direct_trace.seek(0)
        engine_trips = [f"{trip.label} (engine)" for trip in parse_trace(engine_trace.read())]
        direct_trips = [_prepared_label(trip.label) for trip in parse_trace(direct_trace.read())]
        return direct_trips + engine_trips


def _prepared_label(label: str) -> str:
    # psycopg prepares a statement after a few executions and names it _pg3_<n>; the warm-up did.
    return f"{label} (the direct statement, prepared)" if re.fullmatch(r"_pg3_\d+", label) else label


def _trace(pgconn, fd: int) -> None:
    pgconn.trace(fd)
    pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
    pgconn.exec_(TRACE_START.encode())


def _untrace(pgconn) -> None:
    pgconn.exec_(TRACE_END.encode())
    pgconn.untrace()


async def _trace_pool(pool, fd: int | None) -> None:
    """Starts (``fd``) or ends (None) the trace of the one-connection direct pool."""
    async with pool.connection() as conn:
        if fd is None:
            _untrace(conn.pgconn)
        else:
            _trace(conn.pgconn, fd)


def package_shares(stats: pstats.Stats) -> list[tuple[str, float]]:
    buckets: Counter[str] = Counter()
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        if filename == "~" and re.search(r"wait|poll|select|recv|send", name):
            bucket = "waiting for the server (socket)"
        else:
            parts = Path(filename).parts
            bucket = next(
                (package for package in ("yibao", "fastapi", "starlette", "pydantic", "pydantic_core", "sqlalchemy",
                                         "psycopg", "anyio", "asyncio") if package in parts),
                "stdlib / builtins",
            )
            bucket = {"pydantic_core": "pydantic"}.get(bucket, bucket)
        buckets[bucket] += tottime
    total = sum(buckets.values()) or 1.0
    return [(bucket, seconds / total) for bucket, seconds in buckets.most_common()]


# --------------------------------------------------------------------------- report


@dataclass
class Report:
    command: str
    when: str
    cores: int
    cpu_model: str
    load_before: float
    settings: dict[str, str]
    versions: str
    wrk: str
    args: argparse.Namespace
    load: LoadReport
    checked_answers: int
    check_ledger_ok: bool | None
    pool: str  # each worker's database pool, as make_engine builds it
    thread_limit: int  # Starlette's thread pool per worker
    rounds: list[dict[str, WrkRun]] = field(default_factory=list)
    profile: ProfileResult | None = None

    def runs(self, path: str) -> list[WrkRun]:
        return [round_[path] for round_ in self.rounds]

    def rps(self, path: str) -> float:
        return median([run.rps for run in self.runs(path)])

    def p(self, path: str, percentile: float) -> float:
        return median([run.percentiles_ms[float(percentile)] for run in self.runs(path)])

    def ratio(self, baseline: str = CONSTANT) -> float:
        """Median over rounds of (balance rps ÷ baseline rps): each round's runs ran back to back."""
        return median([round_[BALANCE].rps / round_[baseline].rps for round_ in self.rounds])

    def new_connections(self, path: str) -> str:
        counts = [run.new_connections for run in self.runs(path)]
        return "n/a" if None in counts else f"{median(counts) / self.args.seconds:,.0f}"

    def failed(self, path: str) -> tuple[int, int]:
        runs = self.runs(path)
        return sum(run.failed_status for run in runs), sum(run.socket_errors for run in runs)

    @property
    def clean(self) -> bool:
        return all(run.clean for round_ in self.rounds for run in round_.values())

    def cpu(self, path: str) -> CpuShares:
        shares = [run.cpu for run in self.runs(path)]

        def mean(values):
            known = [v for v in values if v is not None]
            return sum(known) / len(known) if known else None

        return CpuShares(
            mean([s.busy for s in shares]), mean([s.wrk for s in shares]) or 0.0, mean([s.server for s in shares]) or 0.0,
            mean([s.postgres for s in shares]), mean([s.irq for s in shares]),
        )

    def spread(self, values: list[float], digits: int = 0) -> str:
        if len(values) < 2:
            return ""
        return f" ({min(values):,.{digits}f}–{max(values):,.{digits}f})"


def cpu_cells(shares: CpuShares) -> str:
    values = (shares.busy, shares.server, shares.postgres, shares.wrk, shares.irq, shares.other)
    return " / ".join(percent(value) for value in values)


CPU_HEADING = "CPU: machine / uvicorn / PostgreSQL / wrk / irq / other"
CONNECTIONS_HEADING = "new DB connections/s"


def result_rows(report: Report) -> list[tuple[str, ...]]:
    rows = []
    for path, label in ENDPOINTS.items():
        runs = report.runs(path)
        failed, socket_errors = report.failed(path)
        rows.append((
            label,
            f"{report.rps(path):,.0f}{report.spread([run.rps for run in runs])}",
            *(f"{report.p(path, p):.1f}" for p in PERCENTILES),
            f"{failed} / {socket_errors}",
            report.new_connections(path),
            cpu_cells(report.cpu(path)),
        ))
    return rows


def print_report(report: Report, console: Console) -> None:
    a = report.args
    table = Table(title=(
        f"{a.connections} connections, {a.threads} wrk threads, {a.seconds} s per run, uvicorn {a.workers} workers, "
        f"{report.load.people:,} people, median of {len(report.rounds)} round(s) (range)"
    ))
    headings = ("route", "requests/s", *(f"p{p} ms" for p in PERCENTILES), "≥400 / socket errors", CONNECTIONS_HEADING,
                CPU_HEADING)
    for heading in headings:
        table.add_column(heading, justify="left" if heading == "route" else "right")
    for row in result_rows(report):
        table.add_row(*row)
    console.print(table)
    verdict = "counts" if report.clean else "[red]does not count: failed requests[/red]"
    console.print(
        f"[b]ratio balance ÷ constant (def): {report.ratio():.2f}[/b] (goal ≥ 0.5; {verdict}); "
        f"balance ÷ constant (async def): {report.ratio(CONSTANT_ASYNC):.2f}; "
        f"p99 balance {report.p(BALANCE, 99):.1f} ms, constant {report.p(CONSTANT, 99):.1f} ms"
    )
    if report.profile:
        print_profile(report.profile, console)


def print_profile(result: ProfileResult, console: Console) -> None:
    table = Table(title=f"In-process, one request at a time ({result.requests} requests per route), µs per request")
    for heading in ("route", "wall", "CPU, app process", "CPU, PostgreSQL backend"):
        table.add_column(heading, justify="left" if heading == "route" else "right")
    for label, timing in result.timings.items():
        table.add_row(label, *timing_cells(timing))
    console.print(table)
    console.print(f"Round trips of one balance request ({len(result.round_trips)}): {', '.join(result.round_trips)}")
    console.print("cProfile own time by package: " + shares_text(result.packages))


def timing_cells(timing: Timing) -> tuple[str, str, str]:
    database = "n/a" if timing.database_cpu is None else f"{timing.database_cpu:.0f}"
    return f"{timing.wall:.0f}", f"{timing.cpu:.0f}", database


def shares_text(packages: list[tuple[str, float]]) -> str:
    return ", ".join(f"{bucket} {100 * share:.0f} %" for bucket, share in packages if share >= 0.005)


def profile_markdown(result: ProfileResult) -> str:
    rows = "\n".join(f"| {label} | " + " | ".join(timing_cells(timing)) + " |" for label, timing in result.timings.items())
    return f"""
**Where a balance request's time goes** (`--profile`: the same app in the benchmark's process, the
ASGI application called directly, one request at a time, no server, network or load generator;
{result.requests} requests per route; CPU of the app's process over all its threads, and of its one
PostgreSQL backend, from /proc):

| route, µs per request | wall | CPU, app process | CPU, PostgreSQL backend |
|---|---:|---:|---:|
{rows}

Database round trips of one balance request ({len(result.round_trips)}, from a libpq trace):
{", ".join(result.round_trips)}. cProfile own time of the balance request by package
(cProfile inflates Python time, so only the shares mean something): {shares_text(result.packages)}.
"""


def limits_paragraph(report: Report) -> str:
    balance, constant, constant_async = report.cpu(BALANCE), report.cpu(CONSTANT), report.cpu(CONSTANT_ASYNC)
    cores = report.cores

    def ms_per_request(share: float | None, path: str) -> float:
        return 1000 * (share or 0.0) * cores / max(1.0, report.rps(path))

    parts = []
    if balance.busy is not None and balance.busy > 0.85:
        parts.append(
            f"The {cores} cores were {percent(balance.busy)} busy during the balance runs (uvicorn workers "
            f"{percent(balance.server)}, PostgreSQL {percent(balance.postgres)}, wrk {percent(balance.wrk)}): about "
            f"{ms_per_request(balance.server, BALANCE):.2f} ms of worker CPU per balance request against "
            f"{ms_per_request(constant.server, CONSTANT):.2f} ms per constant request, plus "
            f"{ms_per_request(balance.postgres, BALANCE):.2f} ms of PostgreSQL CPU (all of the server's processes, "
            "other databases' included). With the load generator, the server and the database on the same cores, "
            "the ratio is roughly the ratio of CPU per request."
        )
    else:
        parts.append(
            f"The machine was only {percent(balance.busy)} busy during the balance runs, so latency "
            "(round trips, waiting for connections) limits the rate, not CPU."
        )
    if report.profile:
        t = report.profile.timings
        served, general, inlined = t[ENDPOINTS[BALANCE]], t[GENERAL], t[INLINED]
        parts.append(
            f"In-process, a balance request as served (one statement on the direct pool) costs {served.cpu:.0f} µs "
            f"of the app's CPU against {t[ENDPOINTS[CONSTANT]].cpu:.0f} µs for the constant `def` route and "
            f"{t[ENDPOINTS[CONSTANT_ASYNC]].cpu:.0f} µs for the `async def` one, plus {served.database_cpu or 0:.0f} µs "
            f"of the PostgreSQL backend's; the general path (token and accounts through SQLAlchemy in the thread "
            f"pool, as on SQLite) costs {general.cpu:.0f} µs, {general.cpu - inlined.cpu:.0f} µs of it the hand-offs "
            "to and from the thread pool."
        )
        parts.append(_async_bound(report, constant_async))
    parts.append(
        f"The thread pool also makes the tail: at the same load, p99 is {report.p(CONSTANT, 99):.0f} ms for the "
        f"constant `def` route and {report.p(CONSTANT_ASYNC, 99):.0f} ms for the `async def` one."
    )
    churn = [run.new_connections for run in report.runs(BALANCE)]
    if None not in churn and median(churn) > 0:
        parts.append(
            f"During the balance runs the workers opened {median(churn) / report.args.seconds:,.0f} new database "
            f"connections per second, each a new PostgreSQL backend: each worker's pool {report.pool} while Starlette "
            f"runs up to {report.thread_limit} requests at once in its thread pool."
        )
    noisy = max((s.other for s in (balance, constant, constant_async) if s.other is not None), default=None)
    if noisy is not None and noisy > 0.05:
        parts.append(
            f"Other processes on this shared machine took up to {percent(noisy)} of the cores during the runs; "
            "that lowers every rate, and the ratio, from back-to-back runs, less than the absolute numbers."
        )
    return " ".join(parts)


def _async_bound(report: Report, constant_async) -> str:
    """What a request with a statement of its own can reach against the bare ``async def`` route."""
    floor = report.profile.timings[FLOOR]
    bare = 1e6 * report.cores * (constant_async.busy or 1.0) / max(1.0, report.rps(CONSTANT_ASYNC))
    statement = floor.cpu + (floor.database_cpu or 0.0)
    return (
        f"A request with a database statement of its own costs at least what the bare `async def` route "
        f"costs under this load ({bare:.0f} µs of the machine's CPU per request) plus one statement through "
        f"the driver ({floor.cpu:.0f} µs of the app's CPU and {floor.database_cpu or 0:.0f} µs of its backend's "
        f"for a trivial `SELECT 1`, row above): at most {bare / (bare + statement):.2f} of the `async def` "
        "route's rate on this machine, before any routing, authorization, query or answer. The direct reads "
        "get past that only by sharing statements among the requests that wait for a connection."
    )


NEXT_STEPS = """
**Next steps, not done.** What is left of a balance request beyond the bare route is FastAPI's
dependency solving and response validation, psycopg's asyncio execution and the answer's model
(see the profile above); answering with prebuilt JSON and fewer dependency layers would cut it further.
Against the bare `async def` route, see the bound above: one statement through the driver costs
about as much as that whole route.
"""


def markdown_section(report: Report) -> str:
    a, s, load = report.args, report.settings, report.load
    rows = "\n".join("| " + " | ".join(row) + " |" for row in result_rows(report))
    loaded = (
        "reused from an earlier run (`--reuse`)" if load.reused
        else f"loaded by COPY in {load.seconds:.0f} s ({load.people / load.seconds:,.0f} people/s), "
             f"{load.transactions:,} opening-balance transactions"
    )
    ledger_line = {True: "`check_ledger` after loading: ok. ", False: "`check_ledger` after loading: FAILED. ", None: ""}
    verdict = "" if report.clean else " **This run does not count: some requests failed.**"
    goal = "meets" if report.ratio() >= 0.5 else "misses"
    goal_async = "meets" if report.ratio(CONSTANT_ASYNC) >= 0.5 else "misses"
    return f"""{SECTION_START}
## API balance query (bench/api.py)

**What is measured.** `GET /api/v1/me/accounts` (a signed-in person's personal accounts and balance:
bearer-token lookup, authorization, one query of the person's accounts, the JSON answer) served by
`uvicorn --workers {a.workers}` from the real application (`create_app()`) on a PostgreSQL database of
{load.people:,} insured people, each with an open personal account with a random balance (log-normal
around 3,000 yuan, retirees twice that, 2 % empty), {a.sessions:,} live sign-in sessions of random people
stored as sign-in stores them (token hash only). The load generator is `wrk` on loopback: {a.threads}
threads, {a.connections} connections, {a.seconds} s per run, each request with a random one of the
sessions' tokens (Lua script). The baseline, in the same run, same server process, same middleware:
bare routes of the same app (`bench/api_app.py`) returning a constant, hit with the same script and
settings. `GET /bench/constant` is a plain `def`, run in Starlette's thread pool like most API routes
of the app, and is the baseline of the goal; `GET /bench/constant-async` (`async def`, no thread pool)
is shown for comparison. **Ratio = balance requests/s ÷ constant requests/s** (goal ≥ 0.5), the median
of the rounds' ratios; {len(report.rounds)} round(s), each the three routes back to back. Rate limiting is
off for the benchmark (`YIBAO_RATE_LIMIT_PER_MINUTE=0`; the limit is 600 per minute per address and per
account otherwise, and every request here comes from one address), so no Redis is used. Before timing,
{report.checked_answers} balance answers are checked against the database and an unknown token must get
401. wrk's latencies are from a closed loop (a slow answer delays the next request on its connection).

**Command.** `{report.command}`

**Run.** {report.when}; {report.cores} CPUs ({report.cpu_model}), shared by the load generator, the
server and PostgreSQL; load average {report.load_before:.1f} before the run (the machine is shared with
other work, so absolute numbers are noisy); PostgreSQL {s['server_version']} on the same machine
(fsync={s['fsync']}, synchronous_commit={s['synchronous_commit']}, shared_buffers={s['shared_buffers']},
max_connections={s['max_connections']}); {report.versions}; {report.wrk}. Database {loaded}.
{ledger_line[report.check_ledger_ok]}

| route | requests/s | p50 ms | p75 ms | p90 ms | p99 ms | responses ≥ 400 / socket errors | {CONNECTIONS_HEADING} | {CPU_HEADING} |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
{rows}

**Ratio balance ÷ constant (`def`): {report.ratio():.2f}** (goal ≥ 0.5 against the baseline chosen when the
benchmark was written: {goal} it); **balance ÷ constant (`async def`): {report.ratio(CONSTANT_ASYNC):.2f}**, the
like-for-like baseline now that the balance route is an `async def` ({goal_async} the goal). p99 latency: balance {report.p(BALANCE, 99):.1f} ms,
constant {report.p(CONSTANT, 99):.1f} ms.{verdict} "New DB connections/s" counts the connections the
server opened to the bench database during a run (`pg_stat_database.sessions`), per second.

**The request path.** On PostgreSQL a balance request never leaves the event loop: the route
(`async def`) hands the bearer token's SHA-256 hash to the worker's direct reads (`yibao/web/direct.py`),
which run prepared statements on an asyncio pool of psycopg connections (up to
`YIBAO_DIRECT_POOL_SIZE`, default 4, per worker). Requests that arrive while the pool's connections are
busy share one statement (up to 64 tokens): the live sessions of the hashes (expiry and revocation in
the same WHERE clause as sign-in's `find_session`), each joined laterally to its person's personal
accounts; each request takes only the rows of its own hash. Under load there are several requests per
statement and round trip, on an idle server one. Then the checks (a person's full session, the `balance:read` scope) and the `Accounts` answer, built
and validated as a Pydantic model and written as JSON by Pydantic (not validated again by FastAPI). App tokens and other callers take the general path (SQLAlchemy
in the thread pool, their reads audited).
{profile_markdown(report.profile) if report.profile else ""}
**What limits the result.** {limits_paragraph(report)}
{NEXT_STEPS if report.ratio() < 0.5 else ""}{SECTION_END}"""


def write_section(path: Path, section: str) -> None:
    """Replace this benchmark's section between its markers, or append it; the rest of the file stays."""
    current = path.read_text(encoding="utf-8") if path.exists() else DOC_INTRO
    if SECTION_START in current and SECTION_END in current:
        before, rest = current.split(SECTION_START, 1)
        after = rest.split(SECTION_END, 1)[1]
        updated = before + section + after
    else:
        updated = current.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(updated, encoding="utf-8")


def versions() -> str:
    import fastapi
    import starlette
    import uvicorn

    loop = "uvloop" if importlib_available("uvloop") else "asyncio"
    http = "httptools" if importlib_available("httptools") else "h11"
    return (
        f"Python {platform.python_version()}, uvicorn {uvicorn.__version__} ({loop}, {http}), FastAPI "
        f"{fastapi.__version__}, Starlette {starlette.__version__}, SQLAlchemy {sqlalchemy.__version__}, "
        f"psycopg {psycopg.__version__}"
    )


def pool_description(url: str) -> str:
    engine = make_engine(url)  # as the app builds its engine; never connects
    try:
        pool = engine.pool
        overflow = getattr(pool, "_max_overflow", 0)
        more = f" and opens up to {overflow} more, closing them again when they come back" if overflow else ""
        return f"keeps {pool.size()} connections{more},"
    finally:
        engine.dispose()


def thread_limit() -> int:
    """The number of threads Starlette's run_in_threadpool may use at once (anyio's default limiter)."""
    import anyio
    import anyio.to_thread

    async def limit() -> int:
        return int(anyio.to_thread.current_default_thread_limiter().total_tokens)

    return anyio.run(limit)


def importlib_available(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


# --------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=10_000, help="signed-in people whose tokens wrk uses")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--seconds", type=int, default=15, help="duration of each wrk run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of unmeasured load per route first")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--reuse", action="store_true", help="keep yibao_bench_api_<people> and reuse it next time")
    parser.add_argument("--check-ledger", action="store_true", help="run check_ledger after loading")
    parser.add_argument("--profile", action="store_true", help="add an in-process breakdown of one balance request")
    parser.add_argument("--write", type=Path, help="replace this benchmark's section of that markdown file")
    args = parser.parse_args()
    if min(args.people, args.sessions, args.connections, args.threads, args.seconds, args.rounds, args.workers) < 1:
        parser.error("every count must be at least 1")
    return args


def main() -> None:
    args = parse_args()
    console = Console(width=None if sys.stdout.isatty() else 200)
    wrk = ensure_wrk(console)
    admin = admin_engine(server_url(args.database_url))
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = os.getloadavg()[0]
    name = None
    try:
        settings = server_settings(admin)
        name, url, load = bench_database(args, admin, console)
        engine = make_engine(url)
        check_ok = None
        if args.check_ledger and not load.reused:
            with engine.connect() as conn:
                check_ok = check_ledger(conn).ok
            console.print(f"check_ledger: {'ok' if check_ok else 'FAILED'}")
        planned = args.rounds * len(ENDPOINTS) * (args.seconds + 2) + len(ENDPOINTS) * args.warmup
        ttl = timedelta(seconds=max(1800, 2 * planned + 600))  # sessions outlive the run
        with tempfile.TemporaryDirectory() as work:
            token_file, script = Path(work) / "tokens", Path(work) / "random_token.lua"
            script.write_text(WRK_SCRIPT)
            tokens = open_sessions(engine, args.sessions, args.people, ttl, token_file)
            console.print(f"{len(tokens):,} sessions opened; starting uvicorn with {args.workers} workers")
            server = Server(url, args.workers, work)
            try:
                server.wait_ready()
                checked = precheck(server, engine, tokens)
                console.print(f"checked {checked} balance answers against the database; measuring …")
                report = Report(
                    command="python " + shlex.join(["bench/api.py", *sys.argv[1:]]), when=when,
                    cores=os.cpu_count() or 1, cpu_model=cpu_model(), load_before=load_before, settings=settings,
                    versions=versions(), wrk=wrk_version(wrk), args=args, load=load, checked_answers=checked,
                    check_ledger_ok=check_ok, pool=pool_description(url), thread_limit=thread_limit(),
                )
                warm = argparse.Namespace(**{**vars(args), "seconds": args.warmup})
                for path in ENDPOINTS:
                    run_wrk(wrk, script, token_file, server, path, warm, engine)
                for number in range(1, args.rounds + 1):
                    runs = {path: run_wrk(wrk, script, token_file, server, path, args, engine) for path in ENDPOINTS}
                    report.rounds.append(runs)
                    console.print(
                        f"round {number}: " + ", ".join(f"{path} {run.rps:,.0f}/s p99 {run.p99_ms:.1f} ms"
                                                        for path, run in runs.items())
                    )
            finally:
                server.stop()
            if args.profile:
                report.profile = profile_request(url, tokens, console)
        engine.dispose()
    finally:
        if name and not args.reuse:
            drop_database(admin, name)
        admin.dispose()
    print_report(report, console)
    if args.write:
        write_section(args.write, markdown_section(report))
        console.print(f"wrote the API section of {args.write}")


if __name__ == "__main__":
    main()
