"""Staff upload contribution files through the API: whole or nothing, audited, region-scoped."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from api_support import START, add_insured, add_staff_user, bearer, client_for, security, staff_token
from yibao.clock import FixedClock
from yibao.domain.resident_id import ResidentId, Sex
from yibao.security.staff import StaffRole
from yibao.store.models import audit_log, contributions, persons

HEADING = "身份证号,缴费月份,缴费基数,单位缴费,个人缴费,险种,单位名称,缴费日期,补缴标志,姓名"
NEWCOMER = ResidentId.build("110108", date(1990, 1, 2), 5, sex=Sex.MALE).full


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


def count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_a_good_file_is_applied_once_and_audited_with_its_checksum(engine):
    person = add_insured(engine, 1)
    add_staff_user(engine, "agent1", StaffRole.AGENT)
    with client_for(engine, security(FixedClock(START))) as client:
        token = staff_token(client, "agent1")
        before = count(engine, contributions)
        first = upload(client, token, csv_bytes(lines_for(person.id_number), "gb18030"))
        assert first.status_code == 200, first.text
        assert first.json()["added"] == 2 and first.json()["format"] == "csv-gb18030"
        second = upload(client, token, csv_bytes(lines_for(person.id_number), "gb18030"))
        assert second.json()["already_imported"] and "未做任何更改" in second.json()["message"]
    assert count(engine, contributions) == before + 2
    with engine.connect() as conn:
        entries = conn.execute(select(audit_log).where(audit_log.c.action == "staff.import_contributions")).all()
    assert len(entries) == 2 and len(entries[0].detail["sha256"]) == 64 and entries[0].detail["added"] == 2


def test_one_bad_row_rejects_the_file_with_a_row_by_row_report(engine):
    person = add_insured(engine, 1)
    add_staff_user(engine, "agent1", StaffRole.AGENT)
    bad_check = person.id_number[:-1] + ("0" if person.id_number[-1] != "0" else "1")
    lines = [*lines_for(person.id_number), f"{bad_check},2025-05,8000.00,480.00,160.00,职工医保,某公司,2025-05-15,否,"]
    with client_for(engine, security(FixedClock(START))) as client:
        before = count(engine, contributions)
        answer = upload(client, staff_token(client, "agent1"), csv_bytes(lines))
    assert answer.status_code == 422
    body = answer.json()
    assert body["error"]["code"] == "import_rejected" and body["error"]["field"] == "file"
    assert [(error["row"], error["column"]) for error in body["report"]["errors"]] == [(4, "身份证号")]
    assert count(engine, contributions) == before


def test_new_people_are_enrolled_only_in_the_staff_members_own_region(engine):
    add_staff_user(engine, "beijing", StaffRole.AGENT, region_code="110000")
    newcomer = [f"{NEWCOMER},2025-05,6000,360,120,职工医保,某公司,2025-05-15,否,陈明"]
    with client_for(engine, security(FixedClock(START))) as client:
        token = staff_token(client, "beijing")
        elsewhere = upload(client, token, csv_bytes(newcomer), create_people_in="440300")
        assert elsewhere.status_code == 422 and elsewhere.json()["error"]["field"] == "create_people_in"
        assert upload(client, token, csv_bytes(newcomer), create_people_in="110000").status_code == 200
    with engine.connect() as conn:
        assert conn.execute(select(persons.c.region_code).where(persons.c.id_number == NEWCOMER)).scalar_one() == "110000"


def test_region_scoped_staff_cannot_add_records_of_people_insured_elsewhere(engine):
    person = add_insured(engine, 1)  # insured in 110000
    add_staff_user(engine, "shenzhen", StaffRole.AGENT, region_code="440300")
    with client_for(engine, security(FixedClock(START))) as client:
        before = count(engine, contributions)
        answer = upload(client, staff_token(client, "shenzhen"), csv_bytes(lines_for(person.id_number)))
    assert answer.status_code == 422
    assert {error["code"] for error in answer.json()["report"]["errors"]} == {"person_other_region"}
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
