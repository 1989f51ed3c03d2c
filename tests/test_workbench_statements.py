"""Statements at the workbench: one person's from the overview page (the period chosen there),
and a batch (/counter/statements): ID numbers checked line by line before anything is printed,
then one PDF with every statement from a new page, each audited with the reason and channel.
"""

from __future__ import annotations

import io
from datetime import date

import pytest
from pypdf import PdfReader
from sqlalchemy import update

from api_support import START, add_insured, add_staff_user, client_for, security
from workbench_support import audit_of, csrf_of, post_form, workbench_sign_in
from yibao.clock import FixedClock
from yibao.domain.resident_id import ResidentId
from yibao.security.staff import StaffRole
from yibao.store.models import persons

REASON = "单位统一打印职工对账单"


@pytest.fixture
def world(engine):
    people = [add_insured(engine, n) for n in (1, 2, 3)]
    with engine.begin() as conn:  # the third lives in Shanghai: not the Beijing clerk's
        conn.execute(update(persons).where(persons.c.id == people[2].person_id).values(region_code="310000"))
    add_staff_user(engine, "agent1", StaffRole.AGENT, region_code="110000")
    for role in (StaffRole.AUDITOR, StaffRole.ADMIN):
        add_staff_user(engine, f"{role.value}1", role)
    with client_for(engine, security(FixedClock(START))) as client:
        yield client, people


def batch(client, lines: list[str], **form):
    data = {"id_numbers": "\n".join(lines), "reason_other": REASON, **form}
    return post_form(client, "/counter/statements", data)


def pages_of(content: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(content)).pages]


def test_two_id_numbers_give_one_pdf_with_a_statement_each(engine, world):
    client, people = world
    workbench_sign_in(client, "agent1")
    form = client.get("/counter/statements")
    assert form.status_code == 200 and '<label for="id_numbers">' in form.text
    assert 'value="2024-07-01"' in form.text and 'value="2025-06-15"' in form.text  # the last 12 months
    printed = batch(client, [people[0].id_number, "", f"  {people[1].id_number.lower()}  "])
    assert printed.status_code == 200, printed.text
    assert printed.headers["content-type"] == "application/pdf" and printed.headers["cache-control"] == "no-store"
    assert "attachment" in printed.headers["content-disposition"]
    pages = pages_of(printed.content)
    first = [index for index, text in enumerate(pages) if "医保个人账户对账单" in text and "交易明细" in text]
    assert len(first) == 2 and first[0] == 0  # each statement starts on a page of its own
    assert people[0].name in pages[first[0]] and people[1].name in pages[first[1]]
    assert people[1].name not in "".join(pages[:first[1]])
    assert "第 1 页 / 共" in pages[first[1]]  # numbered per statement
    assert people[0].id_number not in "".join(pages)  # masked, as in every statement

    rows = audit_of(engine, "staff.person.statement")
    assert [row["subject_person_id"] for row in rows] == [people[0].person_id, people[1].person_id]
    for row in rows:
        assert row["reason"] == REASON and row["detail"]["channel"] == "counter" and row["detail"]["batch_size"] == 2
        assert row["detail"]["date_from"] == "2024-07-01" and row["detail"]["date_to"] == "2025-06-15"


def test_any_bad_line_prints_nothing_and_names_the_lines(engine, world):
    client, people = world
    workbench_sign_in(client, "agent1")
    wrong = people[0].id_number[:-1] + ("0" if people[0].id_number[-1] != "0" else "1")
    unknown = ResidentId.build("110105", date(1980, 1, 1), 99).full
    refused = batch(client, [people[0].id_number, wrong, unknown, people[2].id_number, people[0].id_number, "abc"])
    assert refused.status_code == 422 and refused.headers["content-type"].startswith("text/html")
    text = refused.text
    assert "未打印任何对账单" in text and "以下 5 行有误" in text
    assert "第 2 行" in text and "校验" in text
    assert "第 3 行" in text and "第 4 行" in text and text.count("未找到该参保人") == 2  # elsewhere reads as unknown
    assert "第 5 行" in text and "与第 1 行重复" in text and "第 6 行" in text and "第 1 行（" not in text
    assert people[0].id_number in text  # what was typed stays in the box
    assert audit_of(engine, "staff.person.statement") == []


@pytest.mark.parametrize(("form", "message"), [
    ({"id_numbers": ""}, "请填写身份证号码"),
    ({"reason_other": "x"}, "查询事由"),
    ({"date_from": "2025-06-20", "date_to": "2025-06-01"}, "结束日期不能早于开始日期"),
    ({"date_from": "2015-01-01"}, "最长"),
    ({"date_from": "2025/01/01"}, "日期格式"),
])
def test_a_bad_form_is_shown_again_with_the_reason(engine, world, form, message):
    client, people = world
    workbench_sign_in(client, "agent1")
    answer = batch(client, [people[0].id_number], **form)
    assert answer.status_code == 422 and message in answer.text and 'aria-invalid="true"' in answer.text
    assert audit_of(engine, "staff.person.statement") == []


def test_more_than_two_hundred_lines_are_refused(engine, world):
    client, people = world
    workbench_sign_in(client, "agent1")
    answer = batch(client, [people[0].id_number] * 201)
    assert answer.status_code == 422 and "一次最多打印 200 人" in answer.text


@pytest.mark.parametrize("role", ["auditor", "admin"])
def test_roles_without_the_permission_are_refused(engine, world, role):
    client, people = world
    workbench_sign_in(client, f"{role}1")
    refused = client.get("/counter/statements")
    assert refused.status_code == 403 and "批量打印对账单" in refused.text
    posted = batch(client, [people[0].id_number])
    assert posted.status_code == 403 and audit_of(engine, "staff.person.statement") == []


def test_a_batch_without_the_forms_token_is_refused(engine, world):
    client, people = world
    workbench_sign_in(client, "agent1")
    forged = client.post("/counter/statements", data={"id_numbers": people[0].id_number, "reason_other": REASON,
                                                     "csrf": "forged"})
    assert forged.status_code == 403 and "页面已过期" in forged.text
    assert audit_of(engine, "staff.person.statement") == []


def test_the_person_page_offers_the_last_twelve_months_for_one_statement(engine, world):
    client, people = world
    workbench_sign_in(client, "agent1")
    found = post_form(client, "/counter/search", {"key_kind": "id_number", "key": people[0].id_number, "reason_other": REASON})
    assert found.status_code == 303
    overview = client.get(found.headers["location"]).text
    assert 'name="date_from" value="2024-07-01"' in overview and 'name="date_to" value="2025-06-15"' in overview
    printed = client.get(f"/counter/persons/{people[0].person_id}/statement.pdf",
                         params={"date_from": "2025-01-01", "date_to": "2025-06-15"})
    assert printed.status_code == 200 and len(pages_of(printed.content)) == 1
    row = audit_of(engine, "staff.person.statement")[-1]
    assert row["detail"]["date_from"] == "2025-01-01" and row["detail"]["channel"] == "counter"
    assert csrf_of(client)  # still signed in
