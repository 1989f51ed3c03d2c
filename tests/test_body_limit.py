"""Request bodies are bounded before anything parses them: 413, and the rest is never read."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from yibao.store.db import make_engine
from yibao.store.migrate import upgrade
from yibao.web.app import create_app
from yibao.documents import MAX_DOCUMENT_BYTES
from yibao.web.body_limit import DOCUMENT_BODY_BYTES, JSON_BODY_BYTES, MULTIPART_OVERHEAD_BYTES, limits_by_route

CHUNK = 1024
PROBE_BYTES = 48 * 1024 * 1024  # the probe's body to the sign-in


class Body:
    """An ASGI ``receive`` that sends ``total`` bytes in chunks and counts how many were taken."""

    def __init__(self, total: int) -> None:
        self.total, self.taken = total, 0

    async def __call__(self) -> dict:
        chunk = min(CHUNK, self.total - self.taken)
        self.taken += chunk
        return {"type": "http.request", "body": b"x" * chunk, "more_body": self.taken < self.total}


def call(path: str, body: Body, *, declared: bool, content_type: bytes = b"application/json") -> tuple[int, dict, bytes]:
    """One POST straight into the ASGI app (no test client: it would read the whole body first)."""
    app = create_app(make_engine("sqlite://"))
    headers = [(b"content-type", content_type), (b"host", b"testserver")]
    if declared:
        headers.append((b"content-length", str(body.total).encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "https",
             "path": path, "raw_path": path.encode(), "query_string": b"", "headers": headers,
             "client": ("127.0.0.1", 5000), "server": ("testserver", 443), "root_path": "", "app": app}
    sent = []

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, body, send))
    start = next(message for message in sent if message["type"] == "http.response.start")
    content = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, content


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_48_mb_body_to_the_sign_in_is_refused_before_it_is_read(declared):
    body = Body(PROBE_BYTES)
    status, headers, content = call("/api/v1/auth/login", body, declared=declared)
    assert status == 413
    assert json.loads(content) == {"error": {"code": "body_too_large", "message": "请求内容过大，已拒绝", "field": None}}
    # Declared too large: not a byte read. Streamed: not a chunk past the limit.
    assert body.taken == (0 if declared else JSON_BODY_BYTES + CHUNK)


def test_each_route_has_its_own_limit():
    assert call("/api/v1/auth/login", Body(JSON_BODY_BYTES), declared=True)[0] == 422  # parsed: not JSON
    document_route = "/api/v1/me/withdrawals/1/documents"
    assert call(document_route, Body(JSON_BODY_BYTES * 4), declared=True)[0] != 413  # a document's size passes
    assert call(document_route, Body(DOCUMENT_BODY_BYTES + 1), declared=True)[0] == 413
    upload = "/api/v1/staff/imports/contributions"
    assert call(upload, Body(DOCUMENT_BODY_BYTES * 2), declared=False)[0] != 413  # files have their own limit
    limit_for = limits_by_route(1024)
    for page in ("/counter/deaths", "/counter/withdrawals/7/documents", "/portal/withdrawals/7/documents"):
        assert limit_for(page) == MAX_DOCUMENT_BYTES + MULTIPART_OVERHEAD_BYTES, page
    assert limit_for("/counter/withdrawals/7/decision") == limit_for("/counter/deaths/7/decision") == JSON_BODY_BYTES


def test_pages_answer_with_a_chinese_page():
    form = b"application/x-www-form-urlencoded"
    status, headers, content = call("/portal/login", Body(JSON_BODY_BYTES + 1), declared=False, content_type=form)
    assert status == 413 and headers["content-type"].startswith("text/html")
    assert "提交的内容过大" in content.decode()


def test_a_real_server_answers_413_and_does_not_grow(tmp_path):
    """The probe against a server process: a 48 MB body, declared and chunked, and its resident memory."""
    database = f"sqlite:///{tmp_path / 'yibao.sqlite3'}"
    engine = make_engine(database)
    upgrade(engine)
    engine.dispose()
    port = free_port()
    environment = os.environ | {"YIBAO_DATABASE_URL": database, "YIBAO_DATA_DIR": str(tmp_path), "YIBAO_SECRET_KEY": "k" * 40}
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "yibao.web.app:create_app", "--port", str(port),
                               "--log-level", "warning"], env=environment)
    try:
        wait_until_serving(port)
        before = resident_kib(server.pid)
        for chunked in (False, True):
            assert post_probe(port, chunked=chunked).startswith(b"HTTP/1.1 413")
        grown_mib = (resident_kib(server.pid) - before) / 1024
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert grown_mib < 16, f"the server grew by {grown_mib:.0f} MiB"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(port: int) -> None:
    for _ in range(600):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the server did not start")


def resident_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))


def post_probe(port: int, *, chunked: bool) -> bytes:
    """Send up to 48 MB as the body (the server may close early) and return its answer."""
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % PROBE_BYTES
    block = b"x" * (1024 * 1024)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                           + framing + b"\r\n\r\n")
        try:
            for _ in range(PROBE_BYTES // len(block)):
                connection.sendall(b"%x\r\n%s\r\n" % (len(block), block) if chunked else block)
        except OSError:
            pass  # the server answered and closed: the rest was never read
        answer = b""
        try:
            while chunk := connection.recv(65536):
                answer += chunk
                if b"\r\n\r\n" in answer:
                    break
        except OSError:
            pass
    return answer
