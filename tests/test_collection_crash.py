"""kill -9 between the gateway's notice and the posting, on the real server (``yibao serve`` in a
subprocess), on SQLite and PostgreSQL.

A resident orders the year's premium through the API and pays at the simulator's cashier. The
simulator (inside the server) sends its signed notice; a test-only environment variable makes
the server SIGKILL itself right after the notice is recorded and before the order is posted.
Restarted without it, the server posts the paid order at start, the simulator sends its notice
again (it was never acknowledged) and that changes nothing: one posting, ``yibao db check`` clean.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2 as httpx
import pytest
from sqlalchemy import func, select

from api_support import TEST_KEY, add_resident
from collection_support import DEMO_OVERLAY
from test_national_flow import free_port, wait_until_healthy
from yibao.collection.settle import KILL_AFTER_NOTICE_ENV
from yibao.store.models import contribution_orders, gateway_notices, ledger_transactions

pytestmark = pytest.mark.slow


class Server:
    def __init__(self, database_url: str, data_dir: Path):
        self.env = {name: value for name, value in os.environ.items() if not name.startswith("YIBAO_")} | {
            "YIBAO_DATABASE_URL": database_url, "YIBAO_SECRET_KEY": TEST_KEY, "YIBAO_DATA_DIR": str(data_dir),
            "YIBAO_RATE_LIMIT_PER_MINUTE": "0", "YIBAO_ENV": "development", "YIBAO_POLICY_OVERLAYS": DEMO_OVERLAY,
        }
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log = tempfile.TemporaryFile("w+")

    def start(self, **extra_env: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "yibao.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env | extra_env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        wait_until_healthy(self.base, self.process, self.log)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def db_check(self) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "yibao.cli", "db", "check", "--json"], env=self.env,
                              capture_output=True, text=True, timeout=300)


def wait_for(condition, seconds: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def acknowledged(data_dir: Path) -> bool:
    with sqlite3.connect(data_dir / "gateway-simulator.sqlite3") as books:
        return books.execute("SELECT count(*) FROM sim_trades WHERE acknowledged").fetchone()[0] == 1


def test_kill_after_the_notice_then_restart_posts_once(engine, database_url, tmp_path):
    resident = add_resident(engine, 1)
    server = Server(database_url, tmp_path)
    server.start(**{KILL_AFTER_NOTICE_ENV: "1"})
    try:
        with httpx.Client(base_url=server.base, timeout=30) as client:
            token = client.post("/api/v1/auth/login", json={
                "id_number": resident.id_number, "card_number": resident.card_number, "password": resident.password,
            }).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            year = next(year for year in client.get("/api/v1/me/pay", headers=headers).json()[0]["premium_years"]
                        if year["payable"])
            created = client.post("/api/v1/me/pay/orders", headers=headers,
                                  json={"purpose": "resident_premium", "year": year["year"]})
            assert created.status_code == 201, created.text
            order_no, pay_url = created.json()["order_no"], created.json()["pay_url"]
            assert client.post(pay_url, data={"action": "pay"}).status_code == 303  # the payer confirms at the cashier

        server.process.wait(timeout=60)  # the notice arrives; the server dies right after recording it
        assert server.process.returncode == -signal.SIGKILL
        with engine.connect() as conn:
            assert conn.execute(select(contribution_orders.c.status)).scalar_one() == "paid"
            assert conn.execute(select(func.count()).select_from(gateway_notices)).scalar_one() == 1
            assert conn.execute(select(func.count()).select_from(ledger_transactions).where(
                ledger_transactions.c.kind == "resident_premium")).scalar_one() == 0

        server.start()  # no kill this time
        with engine.connect() as conn:
            wait_for(lambda: conn.execute(select(contribution_orders.c.status)).scalar_one() == "posted", what="posting")
        wait_for(lambda: acknowledged(tmp_path), what="the gateway's repeated notice")
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(ledger_transactions).where(
                ledger_transactions.c.kind == "resident_premium")).scalar_one() == 1
            assert conn.execute(select(func.count()).select_from(gateway_notices)).scalar_one() == 1
        done = server.db_check()
        assert done.returncode == 0, done.stdout + done.stderr
        with httpx.Client(base_url=server.base, timeout=30) as client:
            order = client.get(f"/api/v1/me/pay/orders/{order_no}", headers=headers).json()
        assert order["status"] == "posted" and order["amount_fen"] == year["premium"]["amount_fen"]
    finally:
        server.stop()
        server.log.close()
