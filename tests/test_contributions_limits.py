"""Contribution files cannot exhaust the reader: zip bombs, lying sizes, shared strings, rows."""

from __future__ import annotations

import struct
import zipfile
from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook

from yibao.contributions import limits, reader
from yibao.contributions.importer import ImportOptions, import_contributions
from yibao.contributions.reader import open_contribution_file
from yibao.domain.resident_id import ResidentId, Sex
from yibao.errors import InvalidInput

HEADING = "身份证号,缴费月份,缴费基数,单位缴费,个人缴费,险种,单位名称,缴费日期,补缴标志".split(",")
ALICE = ResidentId.build("110105", date(1980, 3, 1), 12, sex=Sex.FEMALE).full
SHEET = "xl/worksheets/sheet1.xml"


def workbook(path: Path, rows: int = 2) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.append(HEADING)
    for n in range(rows):
        sheet.append([ALICE, f"2025-{n % 12 + 1:02d}", 8000, 480, 160, "职工医保", f"单位{n}", date(2025, 5, 15), "否"])
    book.save(path)
    return path


def rewrite(path: Path, change) -> Path:
    """The same workbook with each part's bytes passed through ``change(name, data)``."""
    with zipfile.ZipFile(path) as source:
        parts = [(info.filename, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts:
            target.writestr(name, change(name, data))
    return path


def refusal(path: Path) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        list(open_contribution_file(path).rows)
    assert caught.value.field == "file" and caught.value.message
    return caught.value


def test_a_sheet_of_spaces_is_refused_by_its_compression_ratio_before_openpyxl_reads_it(engine, tmp_path):
    spaces = b" " * (20 * limits.MIB)  # about 20 KB compressed: the probe's 2 MB file held 2 GB of these
    path = rewrite(workbook(tmp_path / "bomb.xlsx"), lambda name, data: data.replace(b"<sheetData>", b"<sheetData>" + spaces) if name == SHEET else data)
    assert path.stat().st_size < limits.MIB
    with pytest.raises(InvalidInput) as caught:
        import_contributions(engine, path, ImportOptions(today=date(2025, 6, 20)))
    assert caught.value.code == "xlsx_compression_ratio" and "压缩" in caught.value.message


def test_a_part_that_declares_less_than_it_holds_is_refused(tmp_path):
    path = workbook(tmp_path / "lying.xlsx", rows=50)
    content = bytearray(path.read_bytes())
    # The sheet's entry in the central directory: its uncompressed size (offset 24) made 100 bytes.
    entry = content.index(b"PK\x01\x02")
    while True:
        name_length = struct.unpack("<H", content[entry + 28 : entry + 30])[0]
        if content[entry + 46 : entry + 46 + name_length] == SHEET.encode():
            break
        entry = content.index(b"PK\x01\x02", entry + 4)
    content[entry + 24 : entry + 28] = struct.pack("<L", 100)
    path.write_bytes(bytes(content))
    assert refusal(path).code == "xlsx_damaged"


def with_shared_strings(path: Path, count: int, part: str = "xl/strings.xml") -> Path:
    """The workbook with a shared-strings part of ``count`` strings, found through the manifest only."""
    strings = b"".join(b"<si><t>%d</t></si>" % n for n in range(count))

    def change(name: str, data: bytes) -> bytes:
        if name == "[Content_Types].xml":
            return data.replace(b"</Types>", b'<Override PartName="/%s" ContentType="%s"/></Types>' % (
                part.encode(), b"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"))
        if name == "xl/_rels/workbook.xml.rels":
            return data.replace(b"</Relationships>", b'<Relationship Id="rIdS" Target="/%s" Type="http://schemas.'
                                b'openxmlformats.org/officeDocument/2006/relationships/sharedStrings"/></Relationships>' % part.encode())
        return data

    rewrite(path, change)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(part, b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">%s</sst>' % strings)
    return path


def test_shared_strings_are_counted_before_openpyxl_loads_them(tmp_path, monkeypatch):
    path = with_shared_strings(workbook(tmp_path / "strings.xlsx"), 6)
    assert len(list(open_contribution_file(path).rows)) == 2
    monkeypatch.setattr(limits, "XLSX_MAX_SHARED_STRINGS", 5)
    assert refusal(path).code == "xlsx_too_many_strings"


def test_too_many_parts_and_too_large_parts_are_refused(tmp_path, monkeypatch):
    path = workbook(tmp_path / "parts.xlsx")
    with monkeypatch.context() as patch:
        patch.setattr(limits, "XLSX_MAX_MEMBERS", 3)
        assert refusal(path).code == "xlsx_too_many_parts"
    with monkeypatch.context() as patch:
        patch.setattr(limits, "XLSX_MAX_MEMBER_BYTES", 1000)
        assert refusal(path).code == "xlsx_too_large"
    assert len(list(open_contribution_file(path).rows)) == 2  # within the limits it reads


def test_a_malformed_sheet_is_refused_in_chinese_not_with_a_crash(tmp_path):
    path = rewrite(workbook(tmp_path / "broken.xlsx"), lambda name, data: data.replace(b"</sheetData>", b"<row><c>") if name == SHEET else data)
    assert refusal(path).code == "xlsx_unreadable"


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_rows_beyond_the_limit_are_refused(tmp_path, monkeypatch, kind):
    monkeypatch.setattr(reader, "MAX_ROWS", 3)
    if kind == "xlsx":
        path = workbook(tmp_path / "rows.xlsx", rows=5)
    else:
        path = tmp_path / "rows.csv"
        lines = [",".join(HEADING)] + [f"{ALICE},2025-0{n + 1},8000,480,160,职工医保,某单位,2025-05-15,否" for n in range(5)]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert refusal(path).code == "file_too_many_rows"


def test_the_command_refuses_a_bomb_in_chinese_with_the_same_checks(database_url, tmp_path):
    import os
    import subprocess
    import sys

    spaces = b" " * (20 * limits.MIB)
    path = rewrite(workbook(tmp_path / "bomb.xlsx"), lambda name, data: data.replace(b"<sheetData>", b"<sheetData>" + spaces) if name == SHEET else data)
    result = subprocess.run(
        [sys.executable, "-m", "yibao.cli", "import", "contributions", str(path), "--today", "2025-06-20"],
        env=os.environ | {"YIBAO_DATABASE_URL": database_url, "COLUMNS": "200"}, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "压缩比异常" in result.stdout + result.stderr


def test_the_delimiter_is_guessed_from_a_short_sample(tmp_path, monkeypatch):
    """csv.Sniffer's regular expressions take more than cubic time on some input (a 64 KB sample of
    ',"' repeated: minutes of CPU); a few lines are enough to tell the delimiter."""
    import csv

    seen = []
    sniff = csv.Sniffer.sniff
    monkeypatch.setattr(csv.Sniffer, "sniff", lambda self, sample, delimiters=None: seen.append(len(sample)) or sniff(self, sample, delimiters))
    path = tmp_path / "quotes.csv"
    path.write_text(",".join(HEADING) + "\n" + ',"' * 40_000 + "\n", encoding="utf-8")
    list(open_contribution_file(path).rows)
    assert seen and max(seen) <= reader.SNIFF_CHARS <= 4096
