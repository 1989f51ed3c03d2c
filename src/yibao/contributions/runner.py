"""The web server's side of import jobs: each job's worker process started and watched here.

One job runs at a time, in upload order, each in a fresh interpreter (``worker.py``) with
its own memory limit; the server only streams the upload to the data directory and reads the
job's row. When a worker ends without marking its job (killed, or out of memory before it
could), the job is marked failed here. Jobs still running when the server stopped are marked
failed at the next start (their worker stopped with it, before committing anything); jobs
still queued run then. A stopping server stops its worker and marks the job failed.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from sqlalchemy import Engine, Row

from yibao.clock import SystemClock
from yibao.contributions import jobs
from yibao.contributions.worker import CRASH_MESSAGE, OUT_OF_MEMORY_EXIT, memory_message

log = logging.getLogger(__name__)
_now = SystemClock().now

RESTARTED_MESSAGE = "服务重启时导入尚未完成，文件未导入，未做任何更改。请重新上传。"
STOPPED_MESSAGE = "服务停止，导入已中断，未做任何更改。请重新上传。"
MISSING_FILE_MESSAGE = "上传的文件已不在服务器上，未做任何更改。请重新上传。"
RETRY_SECONDS = 5  # after the database could not be reached
STOP_SECONDS = 30  # how long a stopping server waits for its runner


class ImportRunner:
    def __init__(self, engine: Engine, data_dir: Path, memory_limit_mb: int) -> None:
        self.engine = engine
        self.folder = Path(data_dir) / "imports"
        self.memory_limit_mb = memory_limit_mb
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._worker: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Mark the jobs a stopped server left running as failed; run what is queued."""
        with self._lock:
            if self._thread is not None:
                return
            self.folder.mkdir(parents=True, exist_ok=True)
            self._stopping.clear()
            self._thread = threading.Thread(target=self._loop, name="yibao-imports", daemon=True)
            self._thread.start()

    def submit(self) -> None:
        """A job was queued: run it (starting the runner if the app was not started with it)."""
        self.start()
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        worker = self._worker
        if worker is not None and worker.poll() is None:
            worker.terminate()
        with self._lock:
            if self._thread is not None:
                self._thread.join(timeout=STOP_SECONDS)
            self._thread = None

    def _loop(self) -> None:
        recovered = False
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                if not recovered:
                    self._recover()
                    recovered = True
                job = jobs.next_queued(self.engine)
                if job is None:
                    self._wake.wait()
                else:
                    self._run(job)
            except Exception:  # noqa: BLE001 - the database may be away for a moment; the runner stays
                log.exception("import runner: retrying in %s s", RETRY_SECONDS)
                self._stopping.wait(RETRY_SECONDS)

    def _recover(self) -> None:
        for job in jobs.interrupted(self.engine):
            jobs.fail(self.engine, job.id, RESTARTED_MESSAGE, _now(), code="import_interrupted")
            (self.folder / job.stored_as).unlink(missing_ok=True)

    def _run(self, job: Row) -> None:
        path = self.folder / job.stored_as
        if not path.exists():
            jobs.fail(self.engine, job.id, MISSING_FILE_MESSAGE, _now(), code="import_file_missing")
            return
        try:
            code = self._work(job.id, path)
            if self._stopping.is_set():
                jobs.fail(self.engine, job.id, STOPPED_MESSAGE, _now(), code="import_interrupted")
            elif code in (OUT_OF_MEMORY_EXIT, -signal.SIGKILL):  # SIGKILL: the kernel's OOM killer
                jobs.fail(self.engine, job.id, memory_message(self.memory_limit_mb), _now(), code="import_out_of_memory")
            else:
                jobs.fail(self.engine, job.id, CRASH_MESSAGE, _now())  # only if the worker left it unfinished
        finally:
            path.unlink(missing_ok=True)

    def _work(self, job_id: int, path: Path) -> int:
        command = [sys.executable, "-m", "yibao.contributions.worker", str(job_id), str(path),
                   "--memory-limit-mb", str(self.memory_limit_mb)]
        environment = os.environ | {
            "YIBAO_DATABASE_URL": self.engine.url.render_as_string(hide_password=False),
            # One thread for NumPy's BLAS: its per-thread buffers would count against the memory limit.
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
        }
        self._worker = subprocess.Popen(command, env=environment, stdin=subprocess.DEVNULL)
        if self._stopping.is_set():  # stop() came while the worker was being started
            self._worker.terminate()
        try:
            return self._worker.wait()
        finally:
            self._worker = None
