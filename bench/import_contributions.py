"""Contribution import at scale: `yibao import contributions` on a 1,000,000-row CSV file,
against PostgreSQL's own COPY of the same file into an unindexed table, in the same run.

    python bench/import_contributions.py [--rows 1000000] [--sqlite-rows 100000]
        [--database-url postgresql://postgres@127.0.0.1:5432/postgres] [--write docs/benchmarks.md]

What it does, per backend:
1. a throw-away database (PostgreSQL: created on the server named by ``--database-url`` and
   dropped at the end; SQLite: a temporary file), migrated, with ⌈rows / 12⌉ insured people
   bulk-inserted (twelve months each, 2024-07 to 2025-06);
2. writes the contribution file as agencies send it (UTF-8 CSV with a BOM, the Chinese
   heading, one row per person and month);
3. runs the real command, ``yibao import contributions FILE --json``, in a child process:
   wall time, peak resident memory of that process, rows added — then the same file again,
   which must add nothing ("already imported");
4. PostgreSQL baseline: ``COPY … FROM STDIN (FORMAT csv, HEADER)`` of the same file into a
   new table of text columns without indexes, committed. Ratio = import ÷ COPY.

Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from yibao.domain.resident_id import ResidentId
from yibao.store.bulk import insert_rows
from yibao.store.db import make_engine
from yibao.store.migrate import upgrade

ADMIN_URL = os.environ.get("YIBAO_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
TODAY = date(2025, 7, 20)
MONTHS = [date(2024 + (6 + step) // 12, (6 + step) % 12 + 1, 1) for step in range(12)]  # 2024-07 … 2025-06
HEADING = "身份证号,缴费月份,缴费基数,单位缴费,个人缴费,险种,单位名称,缴费日期,补缴标志"
REGION, COUNTY = "110000", "110105"
SECTION = "## Contribution import (bench/import_contributions.py)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sqlite-rows", type=int, default=100_000, help="0 skips SQLite")
    parser.add_argument("--database-url", default=ADMIN_URL)
    parser.add_argument("--write", type=Path, help="replace this benchmark's section in the given Markdown file")
    args = parser.parse_args()
    results = [measure_postgres(args.database_url, args.rows)]
    if args.sqlite_rows:
        results.append(measure_sqlite(args.sqlite_rows))
    for result in results:
        print(json.dumps(result, ensure_ascii=False))
    if args.write:
        write_section(args.write, results, " ".join(sys.argv[1:]))


# ---------------------------------------------------------------------------- per backend


@contextmanager
def throwaway_database(admin_url: str, prefix: str) -> Iterator[tuple[str, str]]:
    """A new PostgreSQL database (its URL and the server's version), dropped afterwards."""
    admin = create_engine(admin_url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        server = conn.execute(text("SHOW server_version")).scalar_one()
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False), server
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def measure_postgres(admin_url: str, rows: int) -> dict:
    with throwaway_database(admin_url, "yibao_bench_import") as (url, server), tempfile.TemporaryDirectory() as folder:
        result = measure(url, rows, Path(folder))
        result["copy_seconds"] = baseline_copy(url, Path(folder) / "jiaofei.csv")
        result["ratio"] = result["import"]["seconds"] / result["copy_seconds"]
        result["server"] = f"PostgreSQL {server}"
        return result


def measure_sqlite(rows: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        result = measure(f"sqlite:///{Path(folder) / 'bench.sqlite3'}", rows, Path(folder))
        result["server"] = "SQLite (file)"
        return result


def measure(url: str, rows: int, folder: Path) -> dict:
    engine = make_engine(url)
    upgrade(engine)
    people = add_people(engine, -(-rows // 12))  # ceil: the last month may be short
    engine.dispose()
    path = write_file(folder / "jiaofei.csv", people, rows)
    first = run_import(url, path)
    again = run_import(url, path)
    if not first["report"]["applied"] or first["report"]["added"] != rows:
        sys.exit(f"the import did not apply every row: {first['report']['message']}")
    if not again["report"]["already_imported"]:
        sys.exit("importing the same file again changed something")
    size_mb = path.stat().st_size / 1e6
    print(f"{url.split(':')[0]}: {rows:,} rows ({size_mb:.0f} MB) imported in {first['seconds']:.1f} s, "
          f"again in {again['seconds']:.1f} s, peak {first['peak_mib']:.0f} MiB")
    return {"backend": url.split(":")[0].split("+")[0], "rows": rows, "file_mb": round(size_mb, 1), "import": first, "again": again}


def add_people(engine: Engine, count: int) -> list[str]:
    # 840 birth dates × 1,000 sequence numbers: distinct ID numbers for up to 840,000 people.
    ids = [ResidentId.build(COUNTY, date(1960 + n % 40, 1 + n % 12, 1 + n % 28), n // 840 % 1000, today=TODAY).full
           for n in range(count)]
    if len(set(ids)) != count:
        sys.exit("generated ID numbers collide; use fewer rows")
    columns = ("id_number", "name", "sex", "birth_date", "region_code", "insurance_type", "employment", "enrolled_on")
    with engine.begin() as conn:
        insert_rows(conn, "persons", columns, (
            (number, "参保人", "M" if int(number[16]) % 2 else "F", ResidentId(number).birth_date, REGION,
             "employee", "in_service", date(2010, 1, 1)) for number in ids
        ))
    return ids


def write_file(path: Path, people: list[str], rows: int) -> Path:
    with open(path, "w", encoding="utf-8-sig", newline="") as out:
        out.write(HEADING + "\r\n")
        written = 0
        for month in MONTHS:
            paid_on = f"{month:%Y-%m}-15"
            for n, number in enumerate(people):
                if written == rows:
                    return path
                base = 500_000 + (n % 200) * 5_000  # fen
                out.write(f"{number},{month:%Y-%m},{base / 100:.2f},{base * 6 // 100 / 100:.2f},"
                          f"{base * 2 // 100 / 100:.2f},职工医保,某某有限公司,{paid_on},否\r\n")
                written += 1
    return path


# The command in a child process that reports its own peak memory on exit.
_CHILD = """
import atexit, sys
from peak_memory import peak_kib
atexit.register(lambda: sys.stderr.write(f"\\nPEAK_KIB={peak_kib()}\\n"))
from yibao.cli import app
sys.argv[0] = "yibao"
app()
"""


def run_import(url: str, path: Path) -> dict:
    environment = dict(os.environ, YIBAO_DATABASE_URL=url, PYTHONPATH=str(Path(__file__).resolve().parent))
    command = [sys.executable, "-c", _CHILD, "import", "contributions", str(path), "--today", TODAY.isoformat(), "--json"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"import failed ({done.returncode}): {done.stderr[-2000:]}")
    peak_kib = int(re.findall(r"PEAK_KIB=(\d+)", done.stderr)[-1])
    return {"seconds": round(seconds, 2), "peak_mib": round(peak_kib / 1024), "report": json.loads(done.stdout)}


def baseline_copy(url: str, path: Path) -> float:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_copy_contributions (id_number text, month text, base text, employer text, "
                          "individual text, insurance text, employer_name text, paid_on text, makeup text)"))
    raw = engine.raw_connection()
    try:
        started = time.perf_counter()
        with raw.cursor() as cursor, cursor.copy("COPY bench_copy_contributions FROM STDIN (FORMAT csv, HEADER)") as copy:
            with open(path, "rb") as handle:
                handle.read(3)  # the UTF-8 BOM: COPY would keep it in the first heading cell
                while chunk := handle.read(1 << 20):
                    copy.write(chunk)
        raw.commit()
        seconds = time.perf_counter() - started
    finally:
        raw.close()
        engine.dispose()
    print(f"baseline COPY of the same file: {seconds:.2f} s")
    return seconds


# ---------------------------------------------------------------------------- report


def write_section(target: Path, results: list[dict], arguments: str) -> None:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        SECTION, "",
        "**What is measured.** The real command, `yibao import contributions FILE --json`, in its own process, on a "
        "UTF-8 CSV file as agencies send it (Chinese heading, one row per person and month; every person already "
        "insured, so every row is new), all three checking passes included; then the same file again, which adds "
        "nothing. The baseline, on the same PostgreSQL server in the same run: `COPY … (FORMAT csv, HEADER)` of the "
        "same file into a new table of text columns without indexes, committed. **Ratio = import ÷ COPY.**", "",
        f"**Command.** `python bench/import_contributions.py {arguments}`", "",
        f"**Run.** {when}; {os.cpu_count()} CPUs; Python {platform.python_version()}; "
        + "; ".join(result["server"] for result in results) + ".", "",
        "| measure | " + " | ".join(f"{r['server'].split(' ')[0]}, {r['rows']:,} rows" for r in results) + " |",
        "|---|" + "---:|" * len(results),
        "| file size | " + " | ".join(f"{r['file_mb']} MB" for r in results) + " |",
        "| import (three passes + one transaction) | " + " | ".join(f"{r['import']['seconds']} s ({r['rows'] / r['import']['seconds']:,.0f} rows/s)" for r in results) + " |",
        "| same file again (adds nothing) | " + " | ".join(f"{r['again']['seconds']} s" for r in results) + " |",
        "| peak memory of the import process | " + " | ".join(f"{r['import']['peak_mib']:.0f} MiB" for r in results) + " |",
        "| baseline: COPY of the same file, unindexed | " + " | ".join(f"{r['copy_seconds']:.2f} s" if "copy_seconds" in r else "—" for r in results) + " |",
        "| **ratio: import ÷ COPY** | " + " | ".join(f"**{r['ratio']:.1f}**" if "ratio" in r else "—" for r in results) + " |",
        "",
    ]
    replace_section(target, "\n".join(lines))


def replace_section(target: Path, body: str, title: str = SECTION) -> None:
    content = target.read_text(encoding="utf-8") if target.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(title) + r".*?(?=\n## |\Z)", re.S)
    content = pattern.sub(lambda _: body.rstrip("\n") + "\n", content) if pattern.search(content) else content.rstrip("\n") + "\n\n" + body
    target.write_text(content, encoding="utf-8")
    print(f"wrote {title[3:]} to {target}")


if __name__ == "__main__":
    main()
