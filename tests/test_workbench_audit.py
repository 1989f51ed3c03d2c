"""The auditors' audit log page and its CSV export: filters, Chinese labels, masked ID numbers,
every read of the log itself audited, bad filters said next to the field."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

import yibao
from api_support import START, client_for, security
from oversight_support import build_world, reuse_argon2_hashes  # noqa: F401 - autouse fixture
from workbench_support import audit_of, workbench_sign_in
from yibao.clock import FixedClock
from yibao.domain.resident_id import ResidentId
from yibao.web.counter.audit import CSV_HEADER
from yibao.web.counter.audit_labels import ACTIONS, action_label, detail_text


def results(page) -> str:
    """The result table of an audit log page (the filters' lists name every action)."""
    return page.text.split('id="result-title"')[1]


@pytest.fixture
def world(engine):
    with client_for(engine, security(FixedClock(START))) as client:
        yield build_world(engine, client, deaths=False)


def test_the_auditor_filters_by_a_typed_id_number_and_sees_the_person_masked(world):
    person = world.people["a"]
    workbench_sign_in(world.client, "auditor1")
    typed = world.client.get("/counter/audit", params={"id_number": person.id_number}, follow_redirects=False)
    assert typed.status_code == 303 and person.id_number not in typed.headers["location"]
    page = world.client.get(typed.headers["location"])
    assert page.status_code == 200
    masked = ResidentId(person.id_number).masked
    assert masked in page.text and person.id_number not in page.text
    assert "参保人申请提取" in page.text and "参保人上传提取材料" in page.text
    assert "其他操作" not in page.text
    reads = audit_of(world.engine, "audit.read")
    assert reads[-1]["subject_person_id"] == person.person_id and reads[-1]["detail"]["channel"] == "counter"


def test_filters_by_staff_username_action_channel_and_dates(world):
    workbench_sign_in(world.client, "auditor1")
    page = world.client.get("/counter/audit", params={"actor": "agent1", "action": "staff.refund.enter"})
    assert page.status_code == 200 and "共1条" in page.text and "登记急诊垫付返还" in page.text
    assert "工作人员（agent1）" in page.text
    counter_rows = results(world.client.get("/counter/audit", params={"channel": "counter"}))
    assert "查看审计日志" in counter_rows and "参保人申请提取" not in counter_rows
    other_rows = results(world.client.get("/counter/audit", params={"channel": "other"}))
    assert "参保人申请提取" in other_rows and "查看审计日志" not in other_rows
    # The read is the workbench's own, whatever channel it asked about.
    assert audit_of(world.engine, "audit.read")[-1]["detail"]["channel"] == "counter"
    none = world.client.get("/counter/audit", params={"date_from": "2030-01-01", "date_to": "2030-01-31"})
    assert none.status_code == 200 and "没有符合条件的记录" in none.text


@pytest.mark.parametrize("params, field", [
    ({"id_number": "110105"}, "id_number"),
    ({"actor": "nobody"}, "actor"),
    ({"action": "drop.table"}, "action"),
    ({"date_from": "2025-02-30"}, "date_from"),
    ({"date_from": "2025-06-02", "date_to": "2025-06-01"}, "date_from"),
    ({"channel": "fax"}, "channel"),
])
def test_bad_filters_are_said_in_chinese_next_to_the_field_and_read_nothing(world, params, field):
    workbench_sign_in(world.client, "auditor1")
    before = len(audit_of(world.engine, "audit.read"))
    page = world.client.get("/counter/audit", params=params)
    assert page.status_code == 422 and 'role="alert"' in page.text
    assert f'id="{field}"' in page.text and 'aria-invalid="true"' in page.text
    assert len(audit_of(world.engine, "audit.read")) == before


def test_a_person_of_another_region_is_not_found(world):
    workbench_sign_in(world.client, "auditor1")
    page = world.client.get("/counter/audit", params={"id_number": world.people["b"].id_number})
    assert page.status_code == 422 and "未找到该参保人" in page.text
    by_number = world.client.get("/counter/audit", params={"person_id": world.people["b"].person_id})
    assert by_number.status_code == 422 and "未找到该参保人" in by_number.text


def test_the_csv_export_has_chinese_headers_a_bom_masked_ids_and_readable_details(world):
    person = world.people["a"]
    workbench_sign_in(world.client, "auditor1")
    answer = world.client.get("/counter/audit.csv", params={"person_id": person.person_id})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0] == CSV_HEADER
    assert len(rows) > 2 and all(row[4] == ResidentId(person.id_number).masked for row in rows[1:])
    assert person.id_number not in answer.text and "{" not in answer.text and "None" not in answer.text
    exported = audit_of(world.engine, "audit.export")[-1]
    assert exported["subject_person_id"] == person.person_id and exported["detail"]["channel"] == "counter"
    assert exported["detail"]["rows"] == len(rows) - 1


@pytest.mark.parametrize("role", ["agent", "supervisor", "admin"])
def test_the_audit_log_is_for_auditors_only(world, role):
    workbench_sign_in(world.client, f"{role}1")
    assert world.client.get("/counter/audit").status_code == 403
    assert world.client.get("/counter/audit.csv").status_code == 403


def test_labels_cover_the_actions_and_render_details_without_program_text(world):
    assert action_label("staff.withdrawal.decision") == "审批提取申请"
    assert action_label("app.me") == "第三方应用读取参保人信息"
    assert action_label("x.y") == "其他操作（x.y）"
    assert len(set(ACTIONS.values())) == len(ACTIONS)
    text = detail_text({"by": "id_number", "found": True, "amount_fen": 12345, "regions": ["110000", "310000"]})
    assert text == "查找方式：身份证号码；是否找到：是；金额：123.45元；负责地区：北京市、上海市"
    # Every action the world's steps wrote has a label of its own.
    assert not [row["action"] for row in audit_of(world.engine) if action_label(row["action"]).startswith("其他操作")]


def test_the_log_is_paged_newest_first(world):
    workbench_sign_in(world.client, "auditor1")
    for _ in range(55):  # each read of the log is itself a row
        world.client.get("/counter/audit", params={"action": "audit.read"})
    first = world.client.get("/counter/audit", params={"action": "audit.read"})
    assert "共55条" in first.text and "第 1 / 2 页" in first.text  # this read is written after it is answered
    assert 'rel="next"' in first.text and 'rel="prev"' not in first.text
    second = world.client.get("/counter/audit", params={"action": "audit.read", "page": 2})
    assert "第 2 / 2 页" in second.text and results(second).count("<tr>") == 1 + 6  # the header and the 6 oldest


# The namespaces of audit actions; permission codes (security/permissions.py) and notification
# kinds look alike but are not actions.
ACTION_NAMESPACES = re.compile(r'"((?:staff|auth|admin|audit|app)\.[a-z_]+(?:\.[a-z_]+)*)"')


def test_every_audit_action_the_code_writes_has_a_chinese_label():
    source = Path(yibao.__file__).parent
    written = {
        name for path in source.rglob("*.py") if path.name != "permissions.py"
        for name in ACTION_NAMESPACES.findall(path.read_text(encoding="utf-8"))
    }
    # Actions formed at run time: an app's read is "app.<route name>" (labelled by its prefix).
    assert written and not {name for name in written if name not in ACTIONS and not name.startswith("app.")}, sorted(
        name for name in written if name not in ACTIONS and not name.startswith("app."))
