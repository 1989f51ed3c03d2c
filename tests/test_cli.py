"""The command line as a person runs it: a real process, settings from the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date

from sqlalchemy import update

from yibao.store.db import is_sqlite, make_engine
from yibao.store.models import accounts


def yibao(*args: str, database_url: str) -> subprocess.CompletedProcess:
    env = os.environ | {"YIBAO_DATABASE_URL": database_url, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "yibao.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_help_is_chinese_and_english():
    result = subprocess.run([sys.executable, "-m", "yibao.cli", "--help"], capture_output=True, text=True, env=os.environ | {"COLUMNS": "200"})
    assert result.returncode == 0
    assert "医保个人账户" in result.stdout and "medical-insurance" in result.stdout
    for command in ("demo", "serve", "db"):
        assert command in result.stdout


def test_db_upgrade_then_check_on_a_new_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    upgraded = yibao("db", "upgrade", database_url=url)
    assert upgraded.returncode == 0, upgraded.stderr
    checked = yibao("db", "check", "--json", database_url=url)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert json.loads(checked.stdout)["ok"] is True


def test_db_check_reports_a_difference_and_fails(database_url):
    from ledger_support import add_person_with_account, credit, pool_and_pharmacy
    from yibao.ledger.ledger import Ledger

    engine = make_engine(database_url)
    pool, _ = pool_and_pharmacy(engine)
    account = add_person_with_account(engine, 7)
    credit(Ledger(engine), pool, account, 1_234, "c")
    with engine.begin() as conn:
        conn.execute(update(accounts).where(accounts.c.id == account).values(balance_fen=1_000))
    engine.dispose()
    checked = yibao("db", "check", "--json", database_url=database_url)
    assert checked.returncode == 1
    report = json.loads(checked.stdout)
    assert report["findings"][0]["code"] == "cached_balance_mismatch"
    assert report["findings"][0]["examples"][0]["posted_fen"] == 1_234
    readable = yibao("db", "check", database_url=database_url)
    assert "个人账户余额与分录合计不一致" in readable.stdout


def test_db_check_tells_of_postings_waiting_in_the_default_partition(database_url):
    from ledger_support import pool_and_pharmacy
    from yibao.ledger.kinds import TxKind
    from yibao.ledger.ledger import Ledger

    engine = make_engine(database_url)
    pool, pharmacy = pool_and_pharmacy(engine)
    far = date(2091, 5, 17)  # no partition is made this far ahead
    Ledger(engine).transfer(kind=TxKind.CORRECTION, from_account=pool, to_account=pharmacy,
                            amount_fen=500, idempotency_key="far", business_date=far)
    sqlite = is_sqlite(engine)
    engine.dispose()
    checked = yibao("db", "check", "--json", database_url=database_url)
    assert checked.returncode == 0, checked.stdout + checked.stderr  # a warning, not a finding
    assert json.loads(checked.stdout)["postings_in_default_partition"] == (0 if sqlite else 2)
    readable = yibao("db", "check", database_url=database_url)
    assert ("yibao db partitions" in readable.stdout) is not sqlite


def test_serve_refuses_a_database_that_was_never_migrated(tmp_path):
    result = yibao("serve", "--port", "1", database_url=f"sqlite:///{tmp_path / 'none.sqlite3'}")
    assert result.returncode == 2 and "yibao db upgrade" in result.stderr
