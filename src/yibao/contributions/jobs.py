"""Import jobs: an uploaded contribution file from upload to report.

queued (the upload stored it) → running (a worker process claimed it) → applied, rejected
(the importer's row-by-row report, or a file-level refusal) or failed (the worker ran out of
memory or stopped, or the server stopped first). ``finish`` writes the outcome in the import's
own transaction, so a job reads "applied" exactly when its records are committed; it refuses
unless the job is still running, so a worker the server has given up on commits nothing.
Every outcome is written to the audit log with the uploader as the actor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, Engine, Row, insert, select, update

from yibao.contributions.importer import ImportReport
from yibao.errors import YibaoError
from yibao.security import audit
from yibao.store.models import import_jobs

QUEUED, RUNNING, APPLIED, REJECTED, FAILED = "queued", "running", "applied", "rejected", "failed"
FINISHED = (APPLIED, REJECTED, FAILED)
UNFINISHED = (QUEUED, RUNNING)
AUDIT_ACTION = "staff.import_contributions"


class JobLost(Exception):
    """The job is no longer this worker's (the server marked it failed): the import rolls back."""


@dataclass(frozen=True)
class NewJob:
    file_name: str
    stored_as: str
    size_bytes: int
    sha256: str
    uploaded_by: int
    region_code: str | None
    create_people_in: str | None
    import_today: date


def create(conn: Connection, job: NewJob, now: datetime) -> int:
    return conn.execute(
        insert(import_jobs).values(status=QUEUED, created_at=now, rows_done=0, **job.__dict__).returning(import_jobs.c.id)
    ).scalar_one()


def get(conn: Connection, job_id: int) -> Row | None:
    return conn.execute(select(import_jobs).where(import_jobs.c.id == job_id)).first()


def next_queued(engine: Engine) -> Row | None:
    with engine.connect() as conn:
        return conn.execute(
            select(import_jobs).where(import_jobs.c.status == QUEUED).order_by(import_jobs.c.id).limit(1)
        ).first()


def claim(engine: Engine, job_id: int, pid: int, now: datetime) -> Row | None:
    """The job, now running in process ``pid``; None when it is not waiting (any more)."""
    with engine.begin() as conn:
        claimed = conn.execute(
            update(import_jobs).where(import_jobs.c.id == job_id, import_jobs.c.status == QUEUED)
            .values(status=RUNNING, worker_pid=pid, started_at=now)
        ).rowcount
        return get(conn, job_id) if claimed else None


def progress(engine: Engine, job_id: int, *, rows_done: int, rows_total: int | None = None) -> None:
    values = {"rows_done": rows_done} | ({"rows_total": rows_total} if rows_total is not None else {})
    with engine.begin() as conn:
        conn.execute(update(import_jobs).where(import_jobs.c.id == job_id, import_jobs.c.status == RUNNING).values(**values))


def finish(conn: Connection, job: Row, report: ImportReport, now: datetime) -> None:
    """In the import's transaction: applied or rejected with the report."""
    report.file = job.file_name
    status = APPLIED if report.applied else REJECTED
    error = None if report.applied else {"code": "import_rejected", "message": report.summary(), "field": "file"}
    _end(conn, job, status, now, report=report.as_dict(), error=error, rows=report.rows)
    _audit(conn, job, status, now, {"rows": report.rows, "added": report.added, "applied": report.applied,
                                    "errors": report.error_count})


def refuse(engine: Engine, job: Row, error: YibaoError, now: datetime) -> None:
    """A file refused as a whole (a missing column, an .xlsx over a limit): rejected with the reason."""
    with engine.begin() as conn:
        _end(conn, job, REJECTED, now, error=error.as_dict())
        _audit(conn, job, REJECTED, now, {"error": error.code})


def fail(engine: Engine, job_id: int, message: str, now: datetime, *, code: str = "import_failed") -> bool:
    """Mark an unfinished job failed; False when it had already ended."""
    try:
        with engine.begin() as conn:
            job = get(conn, job_id)
            if job is None or job.status in FINISHED:
                return False
            _end(conn, job, FAILED, now, error={"code": code, "message": message, "field": None}, expect=job.status)
            _audit(conn, job, FAILED, now, {"error": code})
    except JobLost:  # it ended in the meantime
        return False
    return True


def interrupted(engine: Engine) -> list[Row]:
    """Jobs that were running when the server stopped: their worker is gone with it."""
    with engine.connect() as conn:
        return conn.execute(select(import_jobs.c.id, import_jobs.c.stored_as).where(import_jobs.c.status == RUNNING)).all()


def _end(conn: Connection, job: Row, status: str, now: datetime, *, report: dict | None = None,
         error: dict | None = None, rows: int | None = None, expect: str = RUNNING) -> None:
    values = {"status": status, "finished_at": now, "report": report, "error": error}
    if rows is not None:
        values |= {"rows_done": rows, "rows_total": rows}
    ended = conn.execute(
        update(import_jobs).where(import_jobs.c.id == job.id, import_jobs.c.status == expect).values(**values)
    ).rowcount
    if ended != 1:
        raise JobLost(job.id)


def _audit(conn: Connection, job: Row, status: str, now: datetime, detail: dict) -> None:
    audit.record(
        conn, actor=None, actor_kind="staff", actor_id=str(job.uploaded_by), action=f"{AUDIT_ACTION}.{status}", at=now,
        detail={"job_id": job.id, "file": job.file_name, "sha256": job.sha256} | detail,
    )
