"""kill -9 at any point of ``yibao credit run``, then run again: every account credited exactly once.

The command runs in a real process with a small chunk size; a test-only environment
variable makes it SIGKILL itself after N committed chunks or inside a chunk (rows written,
not yet committed). Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import date

import pytest
from sqlalchemy import select

from credit_support import Someone, add_people, balances, month_credit_postings
from yibao.credit.run import KILL_AFTER_CHUNKS_ENV, KILL_IN_CHUNK_ENV
from yibao.ledger.check import check_ledger
from yibao.store.models import credit_runs, monthly_credits

CHUNK = "3"


def population() -> list[Someone]:
    people = []
    for n in range(24):
        if n % 4 == 0:
            people.append(Someone(f"退休{n}", employment="retired", expected_fen=10_000))
        elif n % 4 == 1:
            people.append(Someone(f"居民{n}", insurance="resident", employment="none"))
        else:
            people.append(Someone(f"在职{n}", contribution_fen=1_000 + n, expected_fen=1_000 + n))
    return people


def credit_run(database_url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = os.environ | {"YIBAO_DATABASE_URL": database_url, "COLUMNS": "200"} | (env or {})
    for name in (KILL_AFTER_CHUNKS_ENV, KILL_IN_CHUNK_ENV):
        if env is None or name not in env:
            environment.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "yibao.cli", "credit", "run", "--month", "2025-06", "--chunk-size", CHUNK, *args],
        env=environment, capture_output=True, text=True, timeout=300,
    )


def recorded(engine) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(monthly_credits.c.account_id)).all())


@pytest.mark.parametrize(
    ("hook", "chunks", "committed_credits"),
    [
        # After 2 committed chunks of 3 accounts: 2 retirees + 4 employees.
        (KILL_AFTER_CHUNKS_ENV, "2", 4),
        # Inside chunk 2: chunk 1 (1 retiree + 1 employee) stays, chunk 2 is rolled back.
        (KILL_IN_CHUNK_ENV, "2", 2),
    ],
)
def test_killed_run_started_again_credits_every_account_exactly_once(engine, database_url, hook, chunks, committed_credits):
    people = population()
    ids = add_people(engine, people)
    before = balances(engine)
    expected = {ids[p.name]: p.expected_fen for p in people if p.expected_fen}

    killed = credit_run(database_url, "--json", env={hook: chunks})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert recorded(engine) == committed_credits
    with engine.connect() as conn:
        assert check_ledger(conn).ok  # whole chunks only: every committed state is consistent

    again = credit_run(database_url, "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["credited"] == len(expected) - committed_credits
    assert report["already_credited"] == committed_credits

    assert month_credit_postings(engine) == {account: [fen] for account, fen in expected.items()}
    after = balances(engine)
    assert {account: after[account] - before[account] for account in after if after[account] != before[account]} == expected
    with engine.connect() as conn:
        assert check_ledger(conn).ok
        runs = conn.execute(select(credit_runs.c.finished_at).order_by(credit_runs.c.id)).scalars().all()
    assert runs[0] is None and runs[1] is not None  # the killed run never finished

    repeat = json.loads(credit_run(database_url, "--json").stdout)
    assert repeat["credited"] == 0 and repeat["amount_fen"] == 0
    assert month_credit_postings(engine) == {account: [fen] for account, fen in expected.items()}


def test_the_command_prints_a_summary_and_a_dry_run_writes_nothing(engine, database_url):
    add_people(engine, population())
    dry = credit_run(database_url, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "试运行" in dry.stdout and "城乡居民医保参保人" in dry.stdout
    assert recorded(engine) == 0
    real = credit_run(database_url)
    assert real.returncode == 0 and "已划入 18 个账户" in real.stdout
    assert recorded(engine) == 18


def test_a_month_in_the_future_is_refused_with_exit_code_2(database_url):
    next_year = date.today().year + 1
    result = subprocess.run(
        [sys.executable, "-m", "yibao.cli", "credit", "run", "--month", f"{next_year}-01"],
        env=os.environ | {"YIBAO_DATABASE_URL": database_url}, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2 and "尚未到来" in result.stderr
