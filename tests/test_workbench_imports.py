"""Contribution files at the workbench (/counter/imports): the upload form goes the staff API's
way (same job, same runner, same audit row, here with the reason and the channel), a rejected
file shows its row-by-row report in Chinese and changes nothing, an applied one its summary;
the history and each import are limited to the clerk's regions; the right roles only; CSRF.
"""

from __future__ import annotations

import io
import re
import time
from datetime import date

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select, update

from api_support import START, add_insured, add_staff_user, client_for, security
from workbench_support import audit_of, csrf_of, ledger_clean, post_form, workbench_sign_in
from yibao.clock import FixedClock
from yibao.contributions import jobs
from yibao.domain.resident_id import ResidentId, Sex
from yibao.security.staff import StaffRole, add_staff
from yibao.store.models import contributions, import_jobs, persons, staff_users
from yibao.web.body_limit import CONTRIBUTION_UPLOAD, JSON_BODY_BYTES, MULTIPART_OVERHEAD_BYTES, limits_by_route

HEADING = "身份证号,缴费月份,缴费基数,单位缴费,个人缴费,险种,单位名称,缴费日期,补缴标志"
REASON = "某某公司2025年5月缴费明细"


def good_lines(id_number: str) -> list[str]:
    return [
        f"{id_number},2025-03,8000.00,480.00,160.00,职工医保,北京某科技有限公司,2025-05-10,是",
        f"{id_number},2025-05,8000.00,480.00,160.00,职工医保,北京某科技有限公司,2025-05-15,否",
    ]


def bad_lines(id_number: str) -> list[str]:
    """The good lines, then one with a wrong check character and a negative base (row 4)."""
    wrong = id_number[:-1] + ("0" if id_number[-1] != "0" else "1")
    return [*good_lines(id_number), f"{wrong},2025-05,-8000.00,480.00,160.00,职工医保,某公司,2025-05-15,否"]


def csv_file(lines: list[str]) -> bytes:
    return ("\r\n".join([HEADING, *lines]) + "\r\n").encode("utf-8-sig")


def upload(client, content: bytes, name: str = "缴费.csv", **form):
    data = {"reason": REASON, **form}
    return post_form(client, "/counter/imports", data, files={"file": (name, content, "text/csv")})


def wait_for_job(engine, job_id: int) -> str:
    """Wait until the app's background runner ended the job; its status (and the report when not applied)."""
    for _ in range(600):
        with engine.connect() as conn:
            job = conn.execute(select(import_jobs).where(import_jobs.c.id == job_id)).one()
        if job.status not in ("queued", "running"):
            return job.status if job.status == "applied" else f"{job.status}: {job.report or job.error}"
        time.sleep(0.1)
    raise AssertionError(f"import job {job_id} did not end")


def job_of(answer) -> int:
    assert answer.status_code == 303, answer.text
    found = re.fullmatch(r"/counter/imports/(\d+)\?notice=uploaded", answer.headers["location"])
    assert found, answer.headers["location"]
    return int(found.group(1))


def count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(contributions)).scalar_one()


@pytest.fixture
def world(engine):
    person = add_insured(engine, 1)
    add_staff_user(engine, "agent1", StaffRole.AGENT, region_code="110000")
    add_staff_user(engine, "shanghai", StaffRole.AGENT, region_code="310000")
    for role in (StaffRole.AUDITOR, StaffRole.ADMIN):
        add_staff_user(engine, f"{role.value}1", role)
    with engine.begin() as conn:
        add_staff(conn, username="two_regions", name="两地经办", role=StaffRole.AGENT, password="Counter2025x",
                  regions=["110000", "310000"])
        conn.execute(update(staff_users).where(staff_users.c.username == "agent1").values(name="李经办"))
    with client_for(engine, security(FixedClock(START))) as client:
        yield client, person


def test_a_rejected_then_an_applied_file_with_report_summary_history_and_audit(engine, world):
    client, person = world
    assert workbench_sign_in(client, "agent1").status_code == 303
    form = client.get("/counter/imports")
    assert form.status_code == 200 and "导入缴费文件" in form.text and 'enctype="multipart/form-data"' in form.text
    assert '<label for="file">' in form.text and '<label for="reason">' in form.text and "北京市" in form.text
    before = count(engine)

    rejected = job_of(upload(client, csv_file(bad_lines(person.id_number)), name="五月缴费.csv"))
    waiting = client.get(f"/counter/imports/{rejected}?notice=uploaded")
    assert waiting.status_code == 200 and "五月缴费.csv" in waiting.text
    assert wait_for_job(engine, rejected).startswith("rejected")
    report = client.get(f"/counter/imports/{rejected}").text
    assert "已拒绝" in report and "未做任何更改" in report and "第 4 行" in report
    assert "身份证号" in report and "缴费基数" in report and "-8000.00" in report
    wrong = bad_lines(person.id_number)[-1].split(",")[0]
    assert wrong not in report and wrong[:6] + "********" + wrong[-4:] in report  # the value as typed, masked
    assert "第 2 行" not in report and "第 3 行" not in report
    assert count(engine) == before

    applied = job_of(upload(client, csv_file(good_lines(person.id_number)), name="五月缴费（改正）.csv"))
    assert wait_for_job(engine, applied) == "applied"
    summary = client.get(f"/counter/imports/{applied}").text
    assert "已导入" in summary and "新增缴费记录" in summary and "2 条" in summary
    assert "2025-03 至 2025-05，共 2 个月" in summary and "1 人" in summary
    assert "960.00元" in summary and "320.00元" in summary  # employer and individual parts, to the fen
    assert count(engine) == before + 2

    history = client.get("/counter/imports").text
    with engine.connect() as conn:
        digests = dict(conn.execute(select(import_jobs.c.id, import_jobs.c.sha256)).all())
    assert history.index("五月缴费（改正）.csv") < history.index("五月缴费.csv")  # newest first
    assert digests[rejected] in history and digests[applied] in history and len(digests[applied]) == 64
    assert history.count(">李经办</td>") == 2 and "已拒绝" in history and "已导入" in history
    for text in (history, report, summary):
        shown = re.sub(r"<[^>]+>", " ", text)
        assert not {"None", "rejected", "applied", "queued"} & set(shown.split())

    uploads = audit_of(engine, "staff.import_contributions")
    assert [row["detail"]["job_id"] for row in uploads] == [rejected, applied]
    assert all(row["reason"] == REASON and row["detail"]["channel"] == "counter" for row in uploads)
    assert uploads[0]["detail"]["sha256"] == digests[rejected]
    assert [row["detail"]["job_id"] for row in audit_of(engine, "staff.import_contributions.rejected")] == [rejected]
    assert [row["detail"]["job_id"] for row in audit_of(engine, "staff.import_contributions.applied")] == [applied]
    reads = audit_of(engine, "staff.import_job.read")
    assert reads and all(row["detail"]["channel"] == "counter" for row in reads)


def test_an_xlsx_file_is_imported_too(engine, world):
    client, person = world
    workbench_sign_in(client, "agent1")
    book = Workbook()
    book.active.append(HEADING.split(","))
    book.active.append([person.id_number, "2025-05", 8000, 480, 160, "职工医保", "某单位", "2025-05-15", "否"])
    content = io.BytesIO()
    book.save(content)
    job = job_of(upload(client, content.getvalue(), name="缴费.xlsx"))
    assert wait_for_job(engine, job) == "applied"
    assert "新增缴费记录" in client.get(f"/counter/imports/{job}").text


def test_a_form_with_bad_input_changes_nothing_and_says_why(engine, world):
    client, person = world
    workbench_sign_in(client, "agent1")
    no_reason = upload(client, csv_file(good_lines(person.id_number)), reason=" ")
    assert no_reason.status_code == 422 and "请填写导入事由" in no_reason.text and 'aria-invalid="true"' in no_reason.text
    empty = upload(client, b"", name="空.csv")
    assert empty.status_code == 422 and "文件是空的" in empty.text
    elsewhere = upload(client, csv_file(good_lines(person.id_number)), region="310000")
    assert elsewhere.status_code == 422 and "只能选择您所属的统筹区" in elsewhere.text
    kept = upload(client, csv_file(good_lines(person.id_number)), reason="x")
    assert 'value="x"' in kept.text
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(import_jobs)).scalar_one() == 0
    assert audit_of(engine, "staff.import_contributions") == []


def test_a_clerk_of_two_regions_picks_the_region_of_the_file(engine, world):
    client, person = world
    workbench_sign_in(client, "two_regions")
    form = client.get("/counter/imports").text
    assert "北京市" in form and "上海市" in form and "请选择" in form
    unpicked = upload(client, csv_file(good_lines(person.id_number)))
    assert unpicked.status_code == 422 and "请选择本文件所属的统筹区" in unpicked.text
    job = job_of(upload(client, csv_file(good_lines(person.id_number)), region="110000"))
    assert wait_for_job(engine, job) == "applied"
    with engine.connect() as conn:
        row = conn.execute(select(import_jobs).where(import_jobs.c.id == job)).one()
    assert row.region_code == "110000" and row.create_people_in is None


def test_another_regions_clerk_neither_sees_nor_opens_the_import(engine, world):
    client, person = world
    workbench_sign_in(client, "agent1")
    job = job_of(upload(client, csv_file(good_lines(person.id_number)), name="北京缴费.csv"))
    wait_for_job(engine, job)
    client.post("/counter/logout", data={"csrf": csrf_of(client)})
    workbench_sign_in(client, "shanghai")
    assert "北京缴费.csv" not in client.get("/counter/imports").text
    hidden = client.get(f"/counter/imports/{job}")
    assert hidden.status_code == 404 and "未找到" in hidden.text
    assert client.get("/counter/imports/999999").status_code == 404


@pytest.mark.parametrize("role", ["auditor", "admin"])
def test_roles_without_the_permission_are_refused(engine, world, role):
    client, person = world
    workbench_sign_in(client, f"{role}1")
    for url in ("/counter/imports", "/counter/imports/1"):
        refused = client.get(url)
        assert refused.status_code == 403 and "查看缴费文件" in refused.text
    refused = upload(client, csv_file(good_lines(person.id_number)))
    assert refused.status_code == 403 and "导入缴费文件" in refused.text
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(import_jobs)).scalar_one() == 0


def test_an_upload_without_the_forms_token_is_refused(engine, world):
    client, person = world
    workbench_sign_in(client, "agent1")
    forged = client.post("/counter/imports", data={"reason": REASON, "csrf": "forged"},
                         files={"file": ("缴费.csv", csv_file(good_lines(person.id_number)), "text/csv")})
    assert forged.status_code == 403 and "页面已过期" in forged.text
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(import_jobs)).scalar_one() == 0


def test_a_waiting_import_shows_its_progress_and_refreshes_itself(engine, world):
    client, _person = world
    workbench_sign_in(client, "agent1")
    with engine.begin() as conn:
        staff_id = conn.execute(select(staff_users.c.id).where(staff_users.c.username == "agent1")).scalar_one()
        job_id = jobs.create(conn, jobs.NewJob(
            file_name="排队.csv", stored_as="not-there", size_bytes=2048, sha256="ab" * 32, uploaded_by=staff_id,
            region_code="110000", create_people_in=None, import_today=START.date(),
        ), START)
        conn.execute(update(import_jobs).where(import_jobs.c.id == job_id).values(status="running", rows_done=1200))
    shown = client.get(f"/counter/imports/{job_id}?notice=uploaded").text
    assert "导入中" in shown and "已读取 1,200 行" in shown and "文件已上传" in shown and "2.0 KB" in shown
    assert 'data-refresh="3"' in shown and '<script src="/static/counter/imports.js"' in shown
    assert f'href="/counter/imports/{job_id}" id="refresh">刷新</a>' in shown  # without script: the link
    assert "<script>" not in shown


def test_new_people_are_enrolled_in_the_clerks_region_when_asked(engine, world):
    client, _person = world
    workbench_sign_in(client, "agent1")
    newcomer = ResidentId.build("110108", date(1990, 1, 2), 5, sex=Sex.MALE).full
    content = (f"{HEADING},姓名\r\n{newcomer},2025-05,6000.00,360.00,120.00,职工医保,某单位,2025-05-15,否,周新\r\n").encode()
    unknown = job_of(upload(client, content))
    assert "查无此参保人" in wait_for_job(engine, unknown)
    job = job_of(upload(client, content, create_people="1"))
    assert wait_for_job(engine, job) == "applied"
    shown = client.get(f"/counter/imports/{job}").text
    assert "在北京市建档" in shown and "新建参保人</dt><dd>1 人" in shown
    with engine.connect() as conn:
        enrolled = conn.execute(select(persons.c.region_code).where(persons.c.id_number == newcomer)).scalar_one()
    assert enrolled == "110000"
    ledger_clean(engine)


def test_the_upload_form_may_send_a_whole_contribution_file():
    limit_for = limits_by_route(10 * 1024 * 1024)
    assert limit_for("/counter/imports") == limit_for(CONTRIBUTION_UPLOAD) == 10 * 1024 * 1024 + MULTIPART_OVERHEAD_BYTES
    assert limit_for("/counter/statements") == JSON_BODY_BYTES


def test_enrolling_needs_a_region_for_a_clerk_of_two(engine, world):
    client, person = world
    workbench_sign_in(client, "two_regions")
    refused = upload(client, csv_file(good_lines(person.id_number)), create_people="1")
    assert refused.status_code == 422 and "请选择为新参保人建档的统筹区" in refused.text and "checked" in refused.text
