"""The demo as a newcomer meets it: the README's command, a real server, real answers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx

ROOT = Path(__file__).resolve().parent.parent
LOGIN_KEYS = {"id_number", "card_number", "password", "region_code", "status"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_demo_json_lists_logins_for_each_kind_of_member(database_url):
    env = os.environ | {"YIBAO_DATABASE_URL": database_url}
    result = subprocess.run(
        [sys.executable, "-m", "yibao.cli", "demo", "--people", "60", "--no-serve", "--json", "--today", "2025-06-15"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["people"] == 60
    statuses = {login["status"] for login in summary["logins"]}
    assert {"in_service", "retired", "resident"} <= statuses
    for login in summary["logins"]:
        assert LOGIN_KEYS <= login.keys()
    # The monthly credit run went over the history: nothing before the policy data starts
    # (2025-01), retirees credited from then on, this month included.
    runs = {run["month"]: run for run in summary["credit_runs"]}
    assert runs["2024-12"]["credited"] == 0 and runs["2025-06"]["credited"] > 0
    checked = subprocess.run(
        [sys.executable, "-m", "yibao.cli", "db", "check", "--json"], env=env, capture_output=True, text=True, timeout=300
    )
    assert checked.returncode == 0 and json.loads(checked.stdout)["ok"]


def test_readme_demo_command_serves_the_population(tmp_path):
    port = free_port()
    env = os.environ | {"YIBAO_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}", "COLUMNS": "200"}
    process = subprocess.Popen(
        ["bash", "scripts/demo", "--people", "40", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_until_healthy(base, process), "the demo server never answered"
        page = httpx.get(base + "/")
        assert page.status_code == 200 and "医保个人账户" in page.text and ">40<" in page.text
        assert httpx.get(base + "/ready").json()["status"] == "ready"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/" in output  # the addresses to open are printed
    assert "123456" in output  # and the demo logins, including the must-change one


def wait_until_healthy(base: str, process: subprocess.Popen, seconds: float = 240) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False
