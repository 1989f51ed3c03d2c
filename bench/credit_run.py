"""The monthly credit run on a demo population vs PostgreSQL's own COPY of the postings.

    python bench/credit_run.py [--people 1000000] [--sqlite-people 100000] [--chunk-size 50000]
                               [--connections N] [--repeat N] [--reuse] [--check-ledger]
                               [--postings-like]

1. builds the demo population (``yibao demo``'s generator, today 2025-06-20: history up to
   2025-05) in a throw-away PostgreSQL database ``yibao_bench_credit_<people>`` (``--reuse``
   keeps it between runs: it is migrated to the current schema and the previous run's June
   credits are undone);
2. records June contributions for everyone in service or flexibly employed who paid in May
   (what a contribution import would do), then VACUUM ANALYZE and CHECKPOINT;
3. the baseline: PostgreSQL's COPY of 1,000,000 posting rows (the payload built before
   timing) into a new table without indexes or keys, committed; the median of three;
   ``--postings-like`` also times the same COPY into a table with what ``postings`` keeps per
   row (id sequence, check, primary key and the two indexes), for comparison only;
4. the credit run for 2025-06 (``run_month``, the code of ``yibao credit run``) in a fresh
   process, timed inside that process, with its peak resident memory;
5. checks: one ``monthly_credits`` row and one credit posting per credited account, the
   run's transactions sum to zero (``--check-ledger``: the whole ``check_ledger``);
6. ``--repeat N``: undoes the run and measures steps 2–5 again, N times in all (the machine
   may be shared: the spread shows how much);
7. the same on SQLite with ``--sqlite-people`` people (0 skips it).

``--connections`` sets how many connections the run works on (default: ``run_month``'s).
Prints the ratio credit run ÷ COPY (goal ≤ 5). Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from sqlalchemy import create_engine, inspect, text

from yibao.demo.build import build_demo
from yibao.store.db import make_engine
from yibao.store.migrate import upgrade

MONTH = date(2025, 6, 1)
TODAY = date(2025, 6, 20)
BASELINE_ROWS = 1_000_000
COPY_TIMES = 3  # the baseline COPY's median of this many
ADMIN_URL = os.environ.get("YIBAO_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")

# Runs in a fresh process so that its peak memory is the credit run's alone.
_CHILD = """
import json, sys, time
from datetime import date
from peak_memory import peak_kib
from yibao.credit.run import run_month
from yibao.store.db import make_engine
engine = make_engine(sys.argv[1])
options = {"connections": int(sys.argv[3])} if len(sys.argv) > 3 else {}
started = time.perf_counter()
report = run_month(engine, date(2025, 6, 1), chunk_size=int(sys.argv[2]), **options)
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "max_rss_kib": peak_kib(),
                  "report": report.as_dict()}, ensure_ascii=False))
"""

_JUNE_CONTRIBUTIONS = """
INSERT INTO contributions (person_id, month, insurance_type, base_fen, employer_rate_bp, individual_rate_bp,
                           employer_fen, individual_fen, account_fen, employer_name, flexible, paid_on, is_makeup)
SELECT c.person_id, :june, c.insurance_type, c.base_fen, c.employer_rate_bp, c.individual_rate_bp,
       c.employer_fen, c.individual_fen, c.account_fen, c.employer_name, c.flexible, :paid_on, :no
FROM contributions c JOIN persons p ON p.id = c.person_id
WHERE c.month = :may AND p.employment IN ('in_service', 'flexible')
  AND NOT EXISTS (SELECT 1 FROM contributions j WHERE j.person_id = c.person_id AND j.month = :june)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--sqlite-people", type=int, default=100_000)
    parser.add_argument("--chunk-size", type=int, default=50_000)
    parser.add_argument("--connections", type=int, help="connections the run works on (default: run_month's)")
    parser.add_argument("--repeat", type=int, default=1, help="measure the PostgreSQL run this many times")
    parser.add_argument("--reuse", action="store_true", help="keep the PostgreSQL database and reuse it next time")
    parser.add_argument("--check-ledger", action="store_true", help="run the whole check_ledger afterwards (slow at 1M)")
    parser.add_argument("--postings-like", action="store_true",
                        help="also time the COPY into a table indexed like postings, for comparison")
    args = parser.parse_args()

    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} CPUs; load average "
          f"{os.getloadavg()[0]:.1f}; Python {platform.python_version()}")
    url = postgres_database(args.people, args.reuse)
    engine = make_engine(url)
    print(f"PostgreSQL: {server_facts(engine)}")
    runs = []
    for attempt in range(args.repeat):
        if attempt:
            undo_month(engine)
        prepare_month(engine)
        copy_seconds = baseline_copy(engine)
        indexed_seconds = postings_like_copy(engine) if args.postings_like else None
        run = credit_run(url, args.chunk_size, args.connections)
        verify(engine, run["report"], args.check_ledger)
        show("PostgreSQL", args.people, run, copy_seconds, indexed_seconds)
        runs.append((run["seconds"], copy_seconds))
    engine.dispose()
    if not args.reuse:
        drop_database(url)
    if len(runs) > 1:
        summarize(runs)
    if args.sqlite_people:
        with tempfile.TemporaryDirectory() as directory:
            sqlite_url = f"sqlite:///{Path(directory) / 'bench.sqlite3'}"
            sqlite = make_engine(sqlite_url)
            build(sqlite, args.sqlite_people)
            prepare_month(sqlite)
            run = credit_run(sqlite_url, args.chunk_size, None)
            verify(sqlite, run["report"], args.check_ledger)
            sqlite.dispose()
            show("SQLite", args.sqlite_people, run, None)


# ---------------------------------------------------------------------------- databases


def postgres_database(people: int, reuse: bool) -> str:
    name = f"yibao_bench_credit_{people}"
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}).first()
        if exists and not reuse:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        if not exists or not reuse:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    engine = make_engine(url)
    if reuse and exists and inspect(engine).has_table("persons") and count(engine, "persons") == people:
        upgrade(engine)
        undo_month(engine)
        print(f"reusing {name} ({people:,} people); undid the previous run's credits for {MONTH:%Y-%m}")
    else:
        build(engine, people)
    engine.dispose()
    return url


def build(engine, people: int) -> None:
    started = time.perf_counter()
    build_demo(engine, people=people, today=TODAY, reset=True, progress=False)
    print(f"built {people:,} demo people on {engine.url.get_backend_name()} in {time.perf_counter() - started:.0f} s")


def drop_database(url: str) -> None:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def undo_month(engine) -> None:
    """Bench only: take the month's credits back out so that the run can be measured again."""
    with engine.begin() as conn:
        conn.execute(text(
            "UPDATE accounts a SET balance_fen = a.balance_fen - m.amount_fen "
            "FROM monthly_credits m WHERE m.month = :m AND m.account_id = a.id"
        ), {"m": MONTH})
        conn.execute(text(
            "CREATE TEMP TABLE undo_tx ON COMMIT DROP AS SELECT DISTINCT transaction_id AS id FROM monthly_credits WHERE month = :m"
        ), {"m": MONTH})
        conn.execute(text("DELETE FROM postings WHERE transaction_id IN (SELECT id FROM undo_tx)"))
        conn.execute(text("DELETE FROM ledger_transactions WHERE id IN (SELECT id FROM undo_tx)"))
        conn.execute(text("DELETE FROM monthly_credits WHERE month = :m"), {"m": MONTH})
        conn.execute(text("DELETE FROM credit_runs"))


def prepare_month(engine) -> None:
    with engine.begin() as conn:
        added = conn.execute(text(_JUNE_CONTRIBUTIONS), {
            "june": MONTH, "may": date(2025, 5, 1), "paid_on": date(2025, 6, 10), "no": False,
        }).rowcount
    print(f"June contributions recorded: {added:,}")
    if engine.url.get_backend_name() == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
            conn.execute(text("CHECKPOINT"))


def server_facts(engine) -> str:
    with engine.connect() as conn:
        version = conn.execute(text("SHOW server_version")).scalar_one()
        settings = {name: conn.execute(text(f"SHOW {name}")).scalar_one() for name in ("shared_buffers", "synchronous_commit", "fsync")}
    return f"{version}, " + ", ".join(f"{name}={value}" for name, value in settings.items())


def count(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()


# ---------------------------------------------------------------------------- measurements


# The baseline's table: posting-shaped, no id, no keys, no indexes (the goal's yardstick).
_PLAIN_TABLE = "CREATE TABLE {name} (transaction_id bigint, account_id bigint, amount_fen bigint, business_date date)"
# For comparison: shaped like one month's partition of ``postings`` (id sequence, check, the same three indexes).
_POSTINGS_LIKE_TABLE = [
    "CREATE TABLE {name} (id bigserial, transaction_id bigint, account_id bigint, amount_fen bigint, "
    "business_date date, CHECK (amount_fen != 0), PRIMARY KEY (id, business_date))",
    "CREATE INDEX ON {name} (transaction_id)",
    "CREATE INDEX ON {name} (account_id, business_date, id)",
]


def baseline_copy(engine, times: int = COPY_TIMES) -> float:
    """PostgreSQL's COPY of BASELINE_ROWS posting-shaped rows into an unindexed table, committed.

    Measured ``times`` times, the median returned: one COPY varied from 0.45 to 0.82 s within an
    hour on a quiet machine, and the ratio is only as steady as its baseline.
    """
    return _median_copy(engine, "an unindexed table", [_PLAIN_TABLE], times)


def postings_like_copy(engine, times: int = COPY_TIMES) -> float:
    """The same COPY into a table with what ``postings`` keeps per row: what writing the rows alone costs."""
    return _median_copy(engine, "a postings-like table", _POSTINGS_LIKE_TABLE, times)


def _median_copy(engine, label: str, ddl: list[str], times: int) -> float:
    day = MONTH.isoformat()
    payload = "".join(f"{1 + row // 50_000}\t{row + 1}\t{10_000 + row % 5_000}\t{day}\n" for row in range(BASELINE_ROWS)).encode()
    seconds = sorted(_one_copy(engine, payload, ddl) for _ in range(times))
    median = statistics.median(seconds)
    print(f"COPY of {BASELINE_ROWS:,} rows into {label}: median {median:.3f} s of {times} "
          f"({', '.join(f'{value:.3f}' for value in seconds)})")
    return median


def _one_copy(engine, payload: bytes, ddl: list[str]) -> float:
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_copy_postings"))
        for statement in ddl:
            conn.execute(text(statement.format(name="bench_copy_postings")))
    raw_engine = engine.raw_connection()
    try:
        started = time.perf_counter()
        columns = "(transaction_id, account_id, amount_fen, business_date)"
        with raw_engine.cursor() as cursor, cursor.copy(f"COPY bench_copy_postings {columns} FROM STDIN") as copy:
            copy.write(payload)
        raw_engine.commit()
        seconds = time.perf_counter() - started
    finally:
        raw_engine.close()
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE bench_copy_postings"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("CHECKPOINT"))
    return seconds


def credit_run(url: str, chunk_size: int, connections: int | None) -> dict:
    arguments = [url, str(chunk_size)] + ([str(connections)] if connections else [])
    result = subprocess.run([sys.executable, "-c", _CHILD, *arguments], capture_output=True, text=True, check=False,
                            env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent)))
    if result.returncode != 0:
        sys.exit(result.stderr)
    return json.loads(result.stdout)


def verify(engine, report: dict, whole_ledger: bool) -> None:
    with engine.connect() as conn:
        recorded = conn.execute(text("SELECT COUNT(*) FROM monthly_credits WHERE month = :m"), {"m": MONTH}).scalar_one()
        transactions = "SELECT DISTINCT transaction_id FROM monthly_credits WHERE month = :m"
        twice = conn.execute(text(
            f"SELECT COUNT(*) FROM (SELECT p.account_id FROM postings p WHERE p.transaction_id IN ({transactions}) "
            "GROUP BY p.account_id HAVING COUNT(*) > 1 AND MIN(p.amount_fen) > 0) t"
        ), {"m": MONTH}).scalar_one()
        unbalanced = conn.execute(text(
            f"SELECT COALESCE(SUM(amount_fen), 0) FROM postings WHERE transaction_id IN ({transactions})"
        ), {"m": MONTH}).scalar_one()
        assert recorded == report["credited"], (recorded, report["credited"])
        assert twice == 0 and unbalanced == 0, (twice, unbalanced)
        if whole_ledger:
            from yibao.ledger.check import check_ledger

            assert check_ledger(conn).ok
    print(f"verified: {recorded:,} accounts credited once each; the run's transactions sum to zero"
          + ("; check_ledger ok" if whole_ledger else ""))


def show(backend: str, people: int, run: dict, copy_seconds: float | None, indexed_seconds: float | None = None) -> None:
    report = run["report"]
    print(f"\n{backend}: {people:,} people, {report['accounts_read']:,} accounts read, {report['credited']:,} credited "
          f"({report['amount_fen'] / 100:,.2f} yuan), {report['chunks']} chunks")
    print(f"  credit run: {run['seconds']:.2f} s = {report['accounts_read'] / run['seconds']:,.0f} accounts/s; "
          f"peak memory {run['max_rss_kib'] / 1024:.0f} MiB")
    if copy_seconds is not None:
        print(f"  baseline COPY of {BASELINE_ROWS:,} postings: {copy_seconds:.2f} s")
        print(f"  ratio credit run ÷ COPY: {run['seconds'] / copy_seconds:.1f} (goal ≤ 5)")
    if indexed_seconds is not None:
        print(f"  for comparison, COPY of {BASELINE_ROWS:,} postings into a postings-like table: {indexed_seconds:.2f} s; "
              f"ratio credit run ÷ that COPY: {run['seconds'] / indexed_seconds:.1f}")
    print(f"  skipped: {json.dumps(report['skipped'], ensure_ascii=False)}")


def summarize(runs: list[tuple[float, float]]) -> None:
    seconds = sorted(run for run, _ in runs)
    ratios = sorted(run / copy for run, copy in runs)
    print(f"\n{len(runs)} runs: credit run median {statistics.median(seconds):.2f} s (min {seconds[0]:.2f}, "
          f"max {seconds[-1]:.2f}); ratio median {statistics.median(ratios):.1f} (min {ratios[0]:.1f}, max {ratios[-1]:.1f})")


if __name__ == "__main__":
    main()
