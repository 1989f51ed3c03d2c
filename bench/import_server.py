"""Contribution import through the API, with the web server's memory watched: the upload of a
1,000,000-row file and its import job, against the same server's own resident memory before.

    python bench/import_server.py [--rows 1000000]
        [--database-url postgresql://postgres@127.0.0.1:5432/postgres] [--write docs/benchmarks.md]

What it does:
1. a throw-away PostgreSQL database, migrated, with ⌈rows / 12⌉ insured people and one agent
   (as ``bench/import_contributions.py``), and the same contribution file (UTF-8 CSV);
2. starts the real server, ``yibao serve``, in a child process, signs the agent in and reads the
   server's resident memory (VmRSS) for a few seconds: the baseline;
3. uploads the file (``POST /api/v1/staff/imports/contributions``, streamed) and polls the job
   (``GET /api/v1/staff/imports/{job_id}``) to its end, sampling the server's VmRSS every 0.2 s
   and the peak (VmHWM) of the worker process the server started for the job;
4. prints the server's RSS before, at its peak and after, the ratio peak ÷ before, and the
   worker's peak. The job must be "applied" with every row added.

Memory and times are reported, never asserted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from import_contributions import ADMIN_URL, add_people, replace_section, throwaway_database, write_file  # noqa: E402

from yibao.security.staff import StaffRole, add_staff  # noqa: E402
from yibao.store.db import make_engine  # noqa: E402
from yibao.store.migrate import upgrade  # noqa: E402

SECTION = "## Contribution import through the API, server memory (bench/import_server.py)"
AGENT, PASSWORD = "bench_agent", "Bench2025import"
SAMPLE_SECONDS = 0.2
BOUNDARY = "yibao-bench-boundary"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=ADMIN_URL)
    parser.add_argument("--write", type=Path, help="replace this benchmark's section in the given Markdown file")
    args = parser.parse_args()
    with throwaway_database(args.database_url, "yibao_bench_server") as (url, server_version), \
            tempfile.TemporaryDirectory() as folder:
        result = measure(url, args.rows, Path(folder))
    result["server"] = f"PostgreSQL {server_version}"
    print(json.dumps(result, ensure_ascii=False))
    if args.write:
        replace_section(args.write, section(result, " ".join(sys.argv[1:])), SECTION)


def measure(url: str, rows: int, folder: Path) -> dict:
    engine = make_engine(url)
    upgrade(engine)
    people = add_people(engine, -(-rows // 12))
    with engine.begin() as conn:
        add_staff(conn, username=AGENT, name="基准测试", role=StaffRole.AGENT, password=PASSWORD)
    engine.dispose()
    path = write_file(folder / "jiaofei.csv", people, rows)
    port = _free_port()
    environment = dict(os.environ, YIBAO_DATABASE_URL=url, YIBAO_DATA_DIR=str(folder / "data"), YIBAO_SECRET_KEY="b" * 40,
                       YIBAO_RATE_LIMIT_PER_MINUTE="0")
    server = subprocess.Popen([sys.executable, "-m", "yibao.cli", "serve", "--port", str(port)], env=environment,
                              stdout=subprocess.DEVNULL)
    try:
        _wait_ready(port)
        token = _request(port, "POST", "/api/v1/staff/login", json.dumps({"username": AGENT, "password": PASSWORD}).encode(),
                         {"Content-Type": "application/json"})["access_token"]
        watch = Watch(server.pid)
        before = watch.steady_rss()
        watch.start()
        started = time.perf_counter()
        accepted = _upload(port, token, path)
        uploaded = time.perf_counter() - started
        job = _wait_for_job(port, token, accepted["job_id"])
        seconds = time.perf_counter() - started
        watch.stop()
        after = watch.steady_rss()
    finally:
        server.terminate()
        server.wait(timeout=60)
    report = job["report"] or {}
    if job["status"] != "applied" or report.get("added") != rows:
        sys.exit(f"the job did not apply every row: {job['status']}: {job['message']}")
    print(f"{rows:,} rows ({path.stat().st_size / 1e6:.0f} MB) uploaded in {uploaded:.1f} s, imported by the job in "
          f"{seconds:.1f} s; server RSS {before / 1024:.0f} → peak {watch.peak_rss / 1024:.0f} → {after / 1024:.0f} MiB "
          f"(peak ÷ before {watch.peak_rss / before:.2f}); worker peak {watch.worker_peak / 1024:.0f} MiB")
    return {
        "rows": rows, "file_mb": round(path.stat().st_size / 1e6, 1), "upload_seconds": round(uploaded, 1),
        "job_seconds": round(seconds, 1), "server_rss_before_mib": round(before / 1024),
        "server_rss_peak_mib": round(watch.peak_rss / 1024), "server_rss_after_mib": round(after / 1024),
        "ratio_peak_before": round(watch.peak_rss / before, 2), "worker_peak_mib": round(watch.worker_peak / 1024),
        "samples": watch.samples,
    }


class Watch(threading.Thread):
    """Samples the server's VmRSS, and the VmHWM of its child processes (the import worker)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_rss, self.worker_peak, self.samples = pid, 0, 0, 0
        self._done = threading.Event()

    def steady_rss(self) -> int:
        """The median of a few seconds of samples (KiB)."""
        values = []
        for _ in range(15):
            values.append(_status_kib(self.pid, "VmRSS"))
            time.sleep(SAMPLE_SECONDS)
        return int(statistics.median(values))

    def run(self) -> None:
        while not self._done.is_set():
            self.peak_rss = max(self.peak_rss, _status_kib(self.pid, "VmRSS"))
            for child in _children(self.pid):
                self.worker_peak = max(self.worker_peak, _status_kib(child, "VmHWM"))
            self.samples += 1
            time.sleep(SAMPLE_SECONDS)

    def stop(self) -> None:
        self._done.set()
        self.join()


def _status_kib(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            return next((int(line.split()[1]) for line in status if line.startswith(field + ":")), 0)
    except OSError:
        return 0  # the process just ended


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _upload(port: int, token: str, path: Path) -> dict:
    """A multipart upload streamed from the file, 1 MiB at a time."""
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"jiaofei.csv\"\r\n"
            "Content-Type: text/csv\r\n\r\n").encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.putrequest("POST", "/api/v1/staff/imports/contributions")
    for header, value in {"Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                          "Content-Length": str(len(head) + path.stat().st_size + len(tail))}.items():
        connection.putheader(header, value)
    connection.endheaders()
    connection.send(head)
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            connection.send(chunk)
    connection.send(tail)
    answer = connection.getresponse()
    body = json.loads(answer.read())
    if answer.status != 202:
        sys.exit(f"upload refused ({answer.status}): {body}")
    return body


def _wait_for_job(port: int, token: str, job_id: int) -> dict:
    while True:
        job = _request(port, "GET", f"/api/v1/staff/imports/{job_id}", None, {"Authorization": f"Bearer {token}"})
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(1)


def _request(port: int, method: str, path: str, body: bytes | None, headers: dict) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request(method, path, body=body, headers=headers)
    answer = connection.getresponse()
    data = json.loads(answer.read())
    connection.close()
    if answer.status >= 400:
        sys.exit(f"{method} {path}: {answer.status} {data}")
    return data


def _wait_ready(port: int) -> None:
    for _ in range(600):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/ready")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit("the server did not start")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def section(result: dict, arguments: str, when: str | None = None) -> str:
    when = when or datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    r = result
    return "\n".join([
        SECTION, "",
        "**What is measured.** The real server, `yibao serve`, in its own process on PostgreSQL. An agent uploads the "
        "contribution file of `bench/import_contributions.py` through the API (streamed multipart), the server answers "
        "202 with an import job, a worker process the server starts for the job imports it (whole file, three checking "
        "passes, one transaction), and the job is polled to its end. The web server's resident memory (VmRSS) is "
        f"sampled every {SAMPLE_SECONDS} s throughout, and the worker's peak (VmHWM). **Baseline: the same server's RSS "
        "before the upload (median of 3 s), in the same run. Ratio = server's peak RSS ÷ its RSS before.**", "",
        f"**Command.** `python bench/import_server.py {arguments}`", "",
        f"**Run.** {when}; {os.cpu_count()} CPUs; Python {platform.python_version()}; {r['server']}.", "",
        f"| measure | PostgreSQL, {r['rows']:,} rows |", "|---|---:|",
        f"| file size | {r['file_mb']} MB |",
        f"| upload (202 with the job) | {r['upload_seconds']} s |",
        f"| upload to job applied | {r['job_seconds']} s |",
        f"| web server RSS before | {r['server_rss_before_mib']} MiB |",
        f"| web server RSS, peak during upload and import ({r['samples']} samples) | {r['server_rss_peak_mib']} MiB |",
        f"| web server RSS after | {r['server_rss_after_mib']} MiB |",
        f"| **ratio: server peak ÷ before** | **{r['ratio_peak_before']:.2f}** |",
        f"| peak memory of the worker process (VmHWM) | {r['worker_peak_mib']} MiB |",
        "",
    ])


if __name__ == "__main__":
    main()
