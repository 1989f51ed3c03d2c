"""Staff upload contribution files through the API: a job imported by a worker process,
whole or nothing, audited, region-scoped."""

from __future__ import annotations

import os
import time
from datetime import date

from sqlalchemy import func, select

from api_support import START, add_insured, add_staff_user, bearer, client_for, security, staff_token
from yibao.clock import FixedClock
from yibao.domain.resident_id import ResidentId, Sex
from yibao.security.staff import StaffRole
from yibao.store.models import audit_log, contributions, import_jobs, persons

HEADING = "身份证号,缴费月份,缴费基数,单位缴费,个人缴费,险种,单位名称,缴费日期,补缴标志,姓名"
NEWCOMER = ResidentId.build("110108", date(1990, 1, 2), 5, sex=Sex.MALE).full
# About the address space of a worker before it reads anything (interpreter, SQLAlchemy, driver).
WORKER_BASELINE_MB = 100


def csv_bytes(lines: list[str], encoding: str = "utf-8-sig") -> bytes:
    return ("\r\n".join([HEADING, *lines]) + "\r\n").encode(encoding)


def lines_for(id_number: str) -> list[str]:
    return [
        f"{id_number},2025-05,8000.00,480.00,160.00,职工医保,北京某科技有限公司,2025-05-15,否,",
        f"{id_number},2025-03,8000.00,480.00,160.00,职工医保,北京某科技有限公司,2025-05-15,是,",
    ]


def upload(client, token: str, content: bytes, name: str = "缴费.csv", **form):
    return client.post(
        "/api/v1/staff/imports/contributions", headers=bearer(token), files={"file": (name, content, "text/csv")},
        data=form,
    )


def wait_for(client, token: str, job_id: int) -> dict:
    """Poll the job until it ends (the worker process imports it meanwhile)."""
    for _ in range(1500):
        answer = client.get(f"/api/v1/staff/imports/{job_id}", headers=bearer(token))
        assert answer.status_code == 200, answer.text
        if answer.json()["status"] not in ("queued", "running"):
            return answer.json()
        time.sleep(0.2)
    raise AssertionError(f"import job {job_id} did not end: {answer.json()}")


def import_file(client, token: str, content: bytes, **form) -> dict:
    """Upload (202 with a job), then the job's view once it ended."""
    answer = upload(client, token, content, **form)
    assert answer.status_code == 202, answer.text
    assert answer.headers["location"] == answer.json()["status_url"] == f"/api/v1/staff/imports/{answer.json()['job_id']}"
    return wait_for(client, token, answer.json()["job_id"])


def count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_a_good_file_is_applied_once_and_audited_with_its_checksum(engine):
    person = add_insured(engine, 1)
    add_staff_user(engine, "agent1", StaffRole.AGENT)
    with client_for(engine, security(FixedClock(START))) as client:
        token = staff_token(client, "agent1")
        before = count(engine, contributions)
        first = import_file(client, token, csv_bytes(lines_for(person.id_number), "gb18030"))
        assert first["status"] == "applied" and first["error"] is None, first
        assert first["report"]["added"] == 2 and first["report"]["format"] == "csv-gb18030"
        assert first["report"]["file"] == first["file"] == "缴费.csv" and first["rows_done"] == first["rows_total"] == 2
        second = import_file(client, token, csv_bytes(lines_for(person.id_number), "gb18030"))
        assert second["report"]["already_imported"] and "未做任何更改" in second["message"]
    assert count(engine, contributions) == before + 2
    with engine.connect() as conn:
        uploads = conn.execute(select(audit_log).where(audit_log.c.action == "staff.import_contributions")).all()
        applied = conn.execute(select(audit_log).where(audit_log.c.action == "staff.import_contributions.applied")).all()
    assert len(uploads) == 2 and len(uploads[0].detail["sha256"]) == 64 and uploads[0].detail["job_id"] == first["job_id"]
    assert [entry.detail["added"] for entry in applied] == [2, 0] and applied[0].detail["sha256"] == first["sha256"]


def test_one_bad_row_rejects_the_file_with_a_row_by_row_report(engine):
    person = add_insured(engine, 1)
    add_staff_user(engine, "agent1", StaffRole.AGENT)
    bad_check = person.id_number[:-1] + ("0" if person.id_number[-1] != "0" else "1")
    lines = [*lines_for(person.id_number), f"{bad_check},2025-05,8000.00,480.00,160.00,职工医保,某公司,2025-05-15,否,"]
    with client_for(engine, security(FixedClock(START))) as client:
        before = count(engine, contributions)
        job = import_file(client, staff_token(client, "agent1"), csv_bytes(lines))
    assert job["status"] == "rejected"
    assert job["error"]["code"] == "import_rejected" and job["error"]["field"] == "file"
    assert [(error["row"], error["column"]) for error in job["report"]["errors"]] == [(4, "身份证号")]
    assert count(engine, contributions) == before


def test_a_file_the_reader_refuses_gets_its_reason_and_changes_nothing(engine):
    """Undecodable bytes and an oversized cell are row faults; a file without its columns is refused whole."""
    person = add_insured(engine, 1)
    add_staff_user(engine, "agent1", StaffRole.AGENT)
    garbled = csv_bytes(lines_for(person.id_number), "gb18030") + person.id_number[:-2].encode() + b"\xff\xff,2025-04,1,1,1,\r\n"
    long_cell = csv_bytes([*lines_for(person.id_number), f"{person.id_number},2025-04,1,1,1,职工医保,{'某' * 140_000},2025-05-15,否,"])
    with client_for(engine, security(FixedClock(START))) as client:
        token = staff_token(client, "agent1")
        before = count(engine, contributions)
        garbled_job = import_file(client, token, garbled)
        long_job = import_file(client, token, long_cell)
        columns_job = import_file(client, token, "身份证号,缴费月份\r\n".encode())
    assert garbled_job["status"] == "rejected" and garbled_job["report"]["errors"][0]["code"] == "encoding_invalid"
    assert long_job["status"] == "rejected" and long_job["report"]["errors"][0]["code"] == "row_unreadable"
    assert columns_job["status"] == "rejected" and columns_job["report"] is None
    assert columns_job["error"]["code"] == "columns_missing" and "缺少列" in columns_job["message"]
    assert count(engine, contributions) == before


def test_new_people_are_enrolled_only_in_the_staff_members_own_region(engine):
    add_staff_user(engine, "beijing", StaffRole.AGENT, region_code="110000")
    newcomer = [f"{NEWCOMER},2025-05,6000,360,120,职工医保,某公司,2025-05-15,否,陈明"]
    with client_for(engine, security(FixedClock(START))) as client:
        token = staff_token(client, "beijing")
        elsewhere = upload(client, token, csv_bytes(newcomer), create_people_in="440300")
        assert elsewhere.status_code == 422 and elsewhere.json()["error"]["field"] == "create_people_in"
        assert import_file(client, token, csv_bytes(newcomer), create_people_in="110000")["status"] == "applied"
    with engine.connect() as conn:
        assert conn.execute(select(persons.c.region_code).where(persons.c.id_number == NEWCOMER)).scalar_one() == "110000"


def test_region_scoped_staff_cannot_add_records_of_people_insured_elsewhere_nor_see_other_regions_jobs(engine):
    person = add_insured(engine, 1)  # insured in 110000
    add_staff_user(engine, "shenzhen", StaffRole.AGENT, region_code="440300")
    add_staff_user(engine, "beijing", StaffRole.AGENT, region_code="110000")
    add_staff_user(engine, "national", StaffRole.AGENT)
    with client_for(engine, security(FixedClock(START))) as client:
        before = count(engine, contributions)
        shenzhen = staff_token(client, "shenzhen")
        job = import_file(client, shenzhen, csv_bytes(lines_for(person.id_number)))
        job_url = f"/api/v1/staff/imports/{job['job_id']}"
        assert client.get(job_url, headers=bearer(staff_token(client, "beijing"))).status_code == 404
        assert client.get(job_url, headers=bearer(staff_token(client, "national"))).status_code == 200
        assert client.get("/api/v1/staff/imports/999999", headers=bearer(shenzhen)).status_code == 404
    assert job["status"] == "rejected"
    assert {error["code"] for error in job["report"]["errors"]} == {"person_other_region"}
    assert count(engine, contributions) == before
    with engine.connect() as conn:
        reads = conn.execute(select(audit_log).where(audit_log.c.action == "staff.import_job.read")).all()
    assert reads and all(entry.detail["job_id"] == job["job_id"] for entry in reads)


def test_the_job_runs_in_a_worker_process_of_its_own(engine):
    person = add_insured(engine, 1)
    add_staff_user(engine, "agent1", StaffRole.AGENT)
    with client_for(engine, security(FixedClock(START))) as client:
        job = import_file(client, staff_token(client, "agent1"), csv_bytes(lines_for(person.id_number)))
        runner = client.app.state.import_runner
    with engine.connect() as conn:
        row = conn.execute(select(import_jobs).where(import_jobs.c.id == job["job_id"])).one()
    assert row.status == "applied" and row.worker_pid not in (None, os.getpid())
    assert not (runner.folder / row.stored_as).exists()  # the file is gone with its job


def test_a_worker_over_its_memory_limit_fails_the_job_and_changes_nothing(engine):
    person = add_insured(engine, 1)
    add_staff_user(engine, "agent1", StaffRole.AGENT)
    # A line of 48 MB: the worker reads it whole before the CSV parser can refuse its cell.
    content = csv_bytes(lines_for(person.id_number)) + b"x" * (48 * 1024 * 1024) + b"\r\n"
    with client_for(engine, security(FixedClock(START))) as client:
        token = staff_token(client, "agent1")
        client.app.state.import_runner.memory_limit_mb = WORKER_BASELINE_MB + 40
        before = count(engine, contributions)
        job = import_file(client, token, content)
    assert job["status"] == "failed" and job["error"]["code"] == "import_out_of_memory", job
    assert "内存超过上限" in job["message"] and "未做任何更改" in job["message"]
    assert count(engine, contributions) == before


def test_people_and_auditors_cannot_upload(engine):
    person = add_insured(engine, 1)
    add_staff_user(engine, "auditor1", StaffRole.AUDITOR)
    with client_for(engine, security(FixedClock(START))) as client:
        own = client.post("/api/v1/auth/login", json={
            "id_number": person.id_number, "card_number": person.card_number, "password": person.password,
        }).json()["access_token"]
        assert upload(client, own, csv_bytes(lines_for(person.id_number))).status_code == 403
        assert upload(client, staff_token(client, "auditor1"), csv_bytes(lines_for(person.id_number))).status_code == 403
        anonymous = client.post("/api/v1/staff/imports/contributions", files={"file": ("a.csv", b"x", "text/csv")})
        assert anonymous.status_code == 401
