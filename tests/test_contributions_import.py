"""Importing contribution files: whole or not at all, in the formats agencies receive."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, insert, select

from yibao.contributions.importer import ImportOptions, import_contributions
from yibao.domain.resident_id import ResidentId, Sex
from yibao.errors import InvalidInput
from yibao.store.models import accounts, contributions, persons

TODAY = date(2025, 6, 20)
OPTIONS = ImportOptions(today=TODAY)
ALICE = ResidentId.build("110105", date(1980, 3, 1), 12, sex=Sex.FEMALE).full
BOB = ResidentId.build("440305", date(1975, 7, 9), 31, sex=Sex.MALE).full
NEWCOMER = ResidentId.build("110108", date(1990, 1, 2), 5, sex=Sex.MALE).full
HEADING = "身份证号,缴费月份,缴费基数,单位缴费,个人缴费,险种,单位名称,缴费日期,补缴标志"


def wrong_check_character(id_number: str) -> str:
    return id_number[:-1] + ("0" if id_number[-1] != "0" else "1")


@pytest.fixture
def known(engine):
    with engine.begin() as conn:
        for id_number, name in ((ALICE, "李华"), (BOB, "王强")):
            conn.execute(insert(persons).values(
                id_number=id_number, name=name, sex="F", birth_date=date(1980, 1, 1), region_code="110000",
                insurance_type="employee", employment="in_service", enrolled_on=date(2010, 1, 1),
            ))
    return engine


def write_csv(path: Path, lines: list[str], encoding: str = "utf-8-sig") -> Path:
    path.write_bytes(("\r\n".join([HEADING, *lines]) + "\r\n").encode(encoding))
    return path


def good_lines() -> list[str]:
    return [
        f"{ALICE},2025-03,8000.00,480.00,160.00,职工医保,北京某科技有限公司,2025-03-15,否",
        f"{ALICE},2025-04,8000.00,480.00,160.00,职工医保,北京某科技有限公司,2025-04-15,否",
        f"{BOB},202505,5000,250,100,职工医保,灵活就业,2025/5/31,",
        f"{ALICE},2025年1月,8000.00,480.00,160.00,职工医保,北京某科技有限公司,2025-05-10,是",
    ]


def stored(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(select(contributions).order_by(contributions.c.person_id, contributions.c.month)).all()


def test_a_valid_utf8_file_is_imported_and_a_second_import_changes_nothing(known, tmp_path):
    path = write_csv(tmp_path / "jiaofei.csv", good_lines())
    report = import_contributions(known, path, OPTIONS)
    assert report.applied and report.added == 4 and report.format == "csv-utf-8"
    rows = stored(known)
    alice_march = next(row for row in rows if row.month == date(2025, 3, 1) and row.base_fen == 800_000)
    assert (alice_march.employer_fen, alice_march.individual_fen, alice_march.account_fen) == (48_000, 16_000, 16_000)
    assert (alice_march.employer_rate_bp, alice_march.individual_rate_bp) == (600, 200)
    bob = next(row for row in rows if row.base_fen == 500_000)
    assert bob.flexible and bob.employer_name == "灵活就业" and bob.paid_on == date(2025, 5, 31)
    assert sum(row.is_makeup for row in rows) == 1

    again = import_contributions(known, path, OPTIONS)
    assert again.applied and again.already_imported and again.added == 0 and again.unchanged == 4
    assert "此前均已导入" in again.summary()
    assert len(stored(known)) == 4


def test_a_gb18030_file_reads_the_same(known, tmp_path):
    path = write_csv(tmp_path / "gb.csv", good_lines(), encoding="gb18030")
    report = import_contributions(known, path, OPTIONS)
    assert report.format == "csv-gb18030" and report.added == 4
    assert {row.employer_name for row in stored(known)} == {"北京某科技有限公司", "灵活就业"}


def test_an_xlsx_file_with_numbers_and_dates_in_cells(known, tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADING.split(","))
    sheet.append([ALICE, "2025-02", 8123.45, 487.41, 162.47, "职工", "某单位", date(2025, 2, 14), "否"])
    sheet.append([BOB, date(2025, 3, 1), 5000, 250, 100.1, "职工医保", None, date(2025, 3, 31), None])
    path = tmp_path / "jiaofei.xlsx"
    workbook.save(path)
    report = import_contributions(known, path, OPTIONS)
    assert report.applied and report.format == "xlsx" and report.added == 2
    by_base = {row.base_fen: row for row in stored(known)}
    assert by_base[812_345].employer_fen == 48_741 and by_base[812_345].individual_fen == 16_247
    assert by_base[500_000].individual_fen == 10_010 and by_base[500_000].flexible


BAD_ROWS = {
    "id_check_char": (f"{wrong_check_character(ALICE)},2025-03,8000,480,160,职工医保,某单位,2025-03-15,否", "身份证号"),
    "person_unknown": (f"{NEWCOMER},2025-03,8000,480,160,职工医保,某单位,2025-03-15,否", "身份证号"),
    "month_in_future": (f"{ALICE},2025-07,8000,480,160,职工医保,某单位,2025-06-15,否", "缴费月份"),
    "money_negative": (f"{ALICE},2025-03,8000,-480,160,职工医保,某单位,2025-03-15,否", "单位缴费"),
    "money_format": (f"{ALICE},2025-03,8000,480,16.005,职工医保,某单位,2025-03-15,否", "个人缴费"),
    "month_format": (f"{ALICE},2025-3-x,8000,480,160,职工医保,某单位,2025-03-15,否", "缴费月份"),
    "date_invalid": (f"{ALICE},2025-03,8000,480,160,职工医保,某单位,2025-02-30,否", "缴费日期"),
    "insurance_type_unknown": (f"{ALICE},2025-03,8000,480,160,商业保险,某单位,2025-03-15,否", "险种"),
    "parts_exceed_base": (f"{ALICE},2025-03,100,480,160,职工医保,某单位,2025-03-15,否", "单位缴费"),
    "duplicate_month": (f"{ALICE},2025-04,9000,540,180,职工医保,北京某科技有限公司,2025-04-15,否", "缴费月份"),
}


@pytest.mark.parametrize("code", sorted(BAD_ROWS))
def test_one_bad_row_rejects_the_whole_file_and_says_where(known, tmp_path, code):
    line, column = BAD_ROWS[code]
    path = write_csv(tmp_path / "bad.csv", [*good_lines(), line])
    report = import_contributions(known, path, OPTIONS)
    assert not report.applied and report.added == 0
    assert stored(known) == []
    [error] = report.errors
    assert (error.row, error.column) == (6, column)  # heading is row 1, the bad row the fifth record
    assert error.code.startswith(code.split("_")[0]) or error.code == code
    assert "未做任何更改" in report.summary()


def test_a_month_recorded_with_other_figures_is_refused(known, tmp_path):
    import_contributions(known, write_csv(tmp_path / "first.csv", good_lines()[:1]), OPTIONS)
    changed = good_lines()[0].replace("8000.00,480.00,160.00", "8500.00,510.00,170.00")
    report = import_contributions(known, write_csv(tmp_path / "second.csv", [good_lines()[1], changed]), OPTIONS)
    assert not report.applied and [e.code for e in report.errors] == ["month_recorded_differently"]
    assert len(stored(known)) == 1


def test_every_error_is_reported_not_just_the_first(known, tmp_path):
    lines = [line for line, _ in BAD_ROWS.values()]
    report = import_contributions(known, write_csv(tmp_path / "bad.csv", lines), OPTIONS)
    assert report.error_count >= 9 and len({error.row for error in report.errors}) >= 9


def test_missing_columns_and_empty_files_are_named(known, tmp_path):
    path = tmp_path / "short.csv"
    path.write_text("身份证号,缴费月份\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        import_contributions(known, path, OPTIONS)
    assert caught.value.code == "columns_missing" and "缴费基数" in caught.value.message
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(InvalidInput, match="空"):
        import_contributions(known, empty, OPTIONS)


def test_unknown_people_are_enrolled_when_allowed(known, tmp_path):
    path = tmp_path / "new.csv"
    path.write_text(
        HEADING + ",姓名\n" + f"{NEWCOMER},2025-05,6000,360,120,职工医保,某单位,2025-05-15,否,赵敏\n", encoding="utf-8"
    )
    refused = import_contributions(known, path, OPTIONS)
    assert not refused.applied and refused.errors[0].code == "person_unknown"
    report = import_contributions(known, path, ImportOptions(today=TODAY, create_people_in="北京"))
    assert report.applied and report.people_created == 1 and report.added == 1
    with known.connect() as conn:
        person = conn.execute(select(persons).where(persons.c.id_number == NEWCOMER)).one()
        assert (person.name, person.region_code, person.sex, person.enrolled_on) == ("赵敏", "110000", "M", date(2025, 5, 1))
        assert conn.execute(select(func.count()).select_from(accounts).where(accounts.c.person_id == person.id)).scalar_one() == 1


def run_cli(path: Path, database_url: str, *extra: str) -> subprocess.CompletedProcess:
    import os

    env = os.environ | {"YIBAO_DATABASE_URL": database_url, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "yibao.cli", "import", "contributions", str(path), "--today", TODAY.isoformat(), *extra],
        env=env, capture_output=True, text=True, timeout=120,
    )


def test_the_command_prints_a_row_by_row_report_and_exits_2_on_a_bad_file(known, database_url, tmp_path):
    bad = write_csv(tmp_path / "bad.csv", [*good_lines(), BAD_ROWS["id_check_char"][0]])
    result = run_cli(bad, database_url)
    assert result.returncode == 2
    assert "文件未导入" in result.stdout and "身份证号码校验位不正确" in result.stdout and "│ 6 " in result.stdout
    good = write_csv(tmp_path / "good.csv", good_lines())
    result = run_cli(good, database_url, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["applied"] and data["added"] == 4 and data["errors"] == []
    assert json.loads(run_cli(good, database_url, "--json").stdout)["already_imported"] is True


def test_bytes_neither_utf8_nor_gb18030_are_reported_by_row_and_column(known, tmp_path):
    path = tmp_path / "garbled.csv"
    good = "\r\n".join([HEADING, *good_lines()]).encode("gb18030")
    # 0xFF never starts a GB18030 character: the file is neither encoding.
    garbled = f"{ALICE[:-2]}".encode() + b"\xff\xff,2025-03,8000,480,160," + "职工医保,某单位,2025-03-15,否".encode("gb18030")
    path.write_bytes(good + b"\r\n" + garbled + b"\r\n")
    report = import_contributions(known, path, OPTIONS)
    assert not report.applied and stored(known) == []
    assert [(error.row, error.column, error.code) for error in report.errors] == [(6, "身份证号", "encoding_invalid")]
    assert "UTF-8" in report.errors[0].message


@pytest.mark.parametrize("size", [2_000, 140_000])  # over the cell limit; over csv's own field limit (128 KB)
def test_an_oversized_cell_is_reported_with_its_row(known, tmp_path, size):
    long_line = f"{ALICE},2025-05,8000,480,160,职工医保,{'某' * size},2025-05-15,否"
    report = import_contributions(known, write_csv(tmp_path / "long.csv", [*good_lines(), long_line]), OPTIONS)
    assert not report.applied and stored(known) == []
    [error] = report.errors
    assert error.row == 6 and error.code in ("field_too_long", "row_unreadable") and "过长" in error.message
