"""Import jobs on their own: an outcome commits with the records or not at all; a restarted
server fails the jobs its worker left running and runs the ones still queued."""

from __future__ import annotations

import time
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import func, select

from api_support import START, TEST_DATA_DIR, add_insured, add_staff_user, client_for, security
from yibao.clock import FixedClock
from yibao.contributions import jobs
from yibao.contributions.importer import ImportOptions, import_contributions
from yibao.security.staff import StaffRole
from yibao.store.models import audit_log, contributions, staff_users

NOW = datetime(2025, 6, 15, 2, 0, tzinfo=timezone.utc)
HEADING = "身份证号,缴费月份,缴费基数,单位缴费,个人缴费,险种,单位名称,缴费日期,补缴标志"


@pytest.fixture
def agent(engine) -> None:
    add_staff_user(engine, "agent1", StaffRole.AGENT)


def new_job(engine, stored_as: str) -> int:
    with engine.begin() as conn:
        staff_id = conn.execute(select(staff_users.c.id)).scalar_one()
        return jobs.create(conn, jobs.NewJob(
            file_name="缴费.csv", stored_as=stored_as, size_bytes=10, sha256="a" * 64, uploaded_by=staff_id,
            region_code=None, create_people_in=None, import_today=date(2025, 6, 15),
        ), NOW)


def status(engine, job_id: int):
    with engine.connect() as conn:
        return jobs.get(conn, job_id)


def count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(contributions)).scalar_one()


@pytest.mark.usefixtures("agent")
def test_a_job_given_up_by_the_server_commits_none_of_its_records(engine, tmp_path):
    person = add_insured(engine, 1)
    path = tmp_path / "jiaofei.csv"
    path.write_text(f"{HEADING}\n{person.id_number},2025-05,8000,480,160,职工医保,某公司,2025-05-15,否\n", encoding="utf-8")
    job_id = new_job(engine, "x")
    job = jobs.claim(engine, job_id, pid=1, now=NOW)
    assert job is not None and jobs.claim(engine, job_id, pid=2, now=NOW) is None  # claimed once
    before = count(engine)
    assert jobs.fail(engine, job_id, "服务重启", NOW)  # the server gave it up meanwhile
    with pytest.raises(jobs.JobLost):
        import_contributions(engine, path, ImportOptions(today=date(2025, 6, 15)),
                             on_result=lambda conn, report: jobs.finish(conn, job, report, NOW))
    assert count(engine) == before and status(engine, job_id).status == "failed"
    # A job still running takes its outcome in the same transaction as its records.
    second = jobs.claim(engine, new_job(engine, "y"), pid=3, now=NOW)
    report = import_contributions(engine, path, ImportOptions(today=date(2025, 6, 15)),
                                  on_result=lambda conn, report: jobs.finish(conn, second, report, NOW))
    assert report.added == 1 and count(engine) == before + 1
    ended = status(engine, second.id)
    assert ended.status == "applied" and ended.report["added"] == 1 and ended.rows_total == 1
    with engine.connect() as conn:
        actions = list(conn.execute(select(audit_log.c.action).order_by(audit_log.c.id)).scalars())
    assert actions[-2:] == ["staff.import_contributions.failed", "staff.import_contributions.applied"]


@pytest.mark.usefixtures("agent")
def test_a_restarted_server_fails_the_jobs_left_running_and_runs_the_queued_ones(engine):
    person = add_insured(engine, 1)
    left_running = new_job(engine, stored_as="gone")
    jobs.claim(engine, left_running, pid=1, now=NOW)
    queued = new_job(engine, "y")
    folder = TEST_DATA_DIR / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "y").write_text(f"{HEADING}\n{person.id_number},2025-05,8000,480,160,职工医保,某公司,2025-05-15,否\n", encoding="utf-8")
    with client_for(engine, security(FixedClock(START))):  # the server starts
        for _ in range(1500):
            if status(engine, queued).status not in jobs.UNFINISHED:
                break
            time.sleep(0.2)
    interrupted = status(engine, left_running)
    assert interrupted.status == "failed" and interrupted.error["code"] == "import_interrupted"
    assert "未做任何更改" in interrupted.error["message"]
    assert status(engine, queued).status == "applied" and not (folder / "y").exists()
