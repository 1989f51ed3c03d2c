"""Contribution totals migrated from the previous system: loaded whole or not at all, counted in years."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from api_support import add_insured, add_resident
from test_cli import yibao
from yibao.contributions.prior import PriorHistory, import_prior_history, record_prior_history
from yibao.errors import InvalidInput
from yibao.policy import personal
from yibao.store.models import persons

TODAY = date(2025, 6, 15)


def _file(tmp_path, text: str, encoding: str = "utf-8"):
    path = tmp_path / "history.csv"
    path.write_bytes(text.encode(encoding))
    return path


def _totals(engine, person_id: int) -> tuple[int, int]:
    with engine.connect() as conn:
        row = conn.execute(select(persons.c.prior_paid_months, persons.c.deemed_months).where(persons.c.id == person_id)).one()
    return row.prior_paid_months, row.deemed_months


def test_a_file_of_totals_sets_each_persons_history_and_the_years_count_it(engine, tmp_path):
    worker, other = add_insured(engine, 1), add_insured(engine, 2)  # enrolled 1995-01-01
    path = _file(tmp_path, f"身份证号,原系统已缴月数,视同缴费月数\n{worker.id_number},237,24\n{other.id_number},12,\n", "gb18030")
    assert import_prior_history(engine, path, today=TODAY) == 2
    assert _totals(engine, worker.person_id) == (237, 24) and _totals(engine, other.person_id) == (12, 0)
    with engine.connect() as conn:
        years = personal.contribution_years(conn, worker.person_id)
    assert years == {
        "paid_months": 240, "recorded_months": 3, "prior_months": 237, "deemed_months": 24,
        "actual_years": "20.00", "cumulative_years": "22.00",
    }


def test_one_bad_row_refuses_the_whole_file_naming_row_and_column(engine, tmp_path):
    worker, resident = add_insured(engine, 1), add_resident(engine, 1)  # the resident enrolled 2020-01-01
    path = _file(tmp_path, f"id_number,prior_paid_months,deemed_months\n{worker.id_number},100,0\n{resident.id_number},90,0\n")
    with pytest.raises(InvalidInput) as refused:
        import_prior_history(engine, path, today=TODAY)
    assert refused.value.message == "第3行：原系统已缴月数（90）超过参保以来的月数（65）"
    assert refused.value.field == "prior_paid_months"
    assert _totals(engine, worker.person_id) == (0, 0)  # nothing changed


@pytest.mark.parametrize(("text", "message"), [
    ("身份证号,视同缴费月数\n", "文件缺少列：原系统已缴月数"),
    ("身份证号,原系统已缴月数,视同缴费月数\n{id},-3,0\n", "第2行：原系统已缴月数应为不小于0的整数：-3"),
    ("身份证号,原系统已缴月数,视同缴费月数\n110105000000000000,3,0\n", "第2行："),
])
def test_malformed_files_are_refused_in_chinese(engine, tmp_path, text, message):
    worker = add_insured(engine, 1)
    with pytest.raises(InvalidInput) as refused:
        import_prior_history(engine, _file(tmp_path, text.format(id=worker.id_number)), today=TODAY)
    assert refused.value.message.startswith(message)
    assert _totals(engine, worker.person_id) == (0, 0)


def test_an_unknown_person_is_named_by_the_service(engine):
    with engine.begin() as conn, pytest.raises(InvalidInput) as refused:
        record_prior_history(conn, PriorHistory("11010519491231002X", 3, 0), today=TODAY)
    assert refused.value.code == "person_not_found"


def test_the_command_line_imports_a_file(database_url, engine, tmp_path):
    worker = add_insured(engine, 1)
    path = _file(tmp_path, f"身份证号,原系统已缴月数,视同缴费月数\n{worker.id_number},120,6\n")
    done = yibao("import", "history", str(path), "--today", "2025-06-15", database_url=database_url)
    assert done.returncode == 0, done.stderr
    assert "已导入 1 人的原系统缴费年限" in done.stdout and _totals(engine, worker.person_id) == (120, 6)
