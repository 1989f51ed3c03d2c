"""One import job in a process of its own: ``python -m yibao.contributions.worker JOB_ID FILE``.

The web server starts it for each uploaded file (``runner.py``), in a fresh interpreter whose
address space is capped (``RLIMIT_AS``, ``YIBAO_IMPORT_MEMORY_LIMIT_MB``): a file that needs
more memory than that fails on its own, and the server's memory never holds a file's rows.
The import is the same as ``yibao import contributions``: whole or nothing, and idempotent.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

# Only the standard library above: the memory limit is set before anything large is loaded, so
# even a limit too small to load the importer ends as an out-of-memory exit the server reports.

PROGRESS_EVERY_ROWS = 10_000
OUT_OF_MEMORY_EXIT = 3  # the job could not even be marked failed after a MemoryError


def memory_message(limit_mb: int) -> str:
    return f"导入所需内存超过上限（{limit_mb} MB），文件未导入，未做任何更改。请拆分文件后分别上传。"


CRASH_MESSAGE = "导入进程意外终止，文件未导入，未做任何更改。请重新上传。"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one contribution import job.")
    parser.add_argument("job_id", type=int)
    parser.add_argument("file", type=Path)
    parser.add_argument("--memory-limit-mb", type=int, required=True)
    args = parser.parse_args(argv)
    limit_bytes = args.memory_limit_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
    try:
        from yibao.store.db import make_engine  # the database from YIBAO_DATABASE_URL, as the server's

        engine = make_engine()
        try:
            return run_job(engine, args.job_id, args.file, args.memory_limit_mb)
        finally:
            engine.dispose()
    except MemoryError:
        return OUT_OF_MEMORY_EXIT


def run_job(engine: Engine, job_id: int, path: Path, memory_limit_mb: int) -> int:
    from yibao.clock import SystemClock
    from yibao.contributions import jobs
    from yibao.contributions.importer import ImportOptions, import_contributions
    from yibao.errors import YibaoError

    _now = SystemClock().now
    job = jobs.claim(engine, job_id, os.getpid(), _now())
    if job is None:
        return 0  # not waiting any more: nothing to do
    progress = _Progress(engine, job_id, jobs.progress)
    options = ImportOptions(today=job.import_today, create_people_in=job.create_people_in, only_region=job.region_code)
    try:
        import_contributions(
            engine, path, options, on_row=progress.row, on_read=progress.read,
            on_result=lambda conn, report: jobs.finish(conn, job, report, _now()),
        )
    except YibaoError as error:
        try:
            jobs.refuse(engine, job, error, _now())
        except jobs.JobLost:
            return 0
    except MemoryError:
        # Raised where an allocation failed; what it held is free again, so the job can be marked.
        jobs.fail(engine, job_id, memory_message(memory_limit_mb), _now(), code="import_out_of_memory")
        return OUT_OF_MEMORY_EXIT
    except jobs.JobLost:
        return 0  # the server gave the job up while it ran: the import's transaction rolled back
    except _ServerGone:
        return 1
    except Exception:  # noqa: BLE001 - the job gets a Chinese message; the log gets the trace
        traceback.print_exc()
        jobs.fail(engine, job_id, CRASH_MESSAGE, _now())
        return 1
    return 0


class _ServerGone(Exception):
    """The server that started this worker has stopped."""


class _Progress:
    """Rows read, written to the job every few thousand rows (one short transaction each)."""

    def __init__(self, engine: Engine, job_id: int, write: Callable[..., None]) -> None:
        self.engine, self.job_id, self.write, self.parent = engine, job_id, write, os.getppid()

    def row(self, rows: int) -> None:
        if rows % PROGRESS_EVERY_ROWS == 0:
            if os.getppid() != self.parent:  # the server is gone: it marks the job when it starts again
                raise _ServerGone()
            self.write(self.engine, self.job_id, rows_done=rows)

    def read(self, rows: int) -> None:
        self.write(self.engine, self.job_id, rows_done=rows, rows_total=rows)


if __name__ == "__main__":
    sys.exit(main())
