"""Reading contribution files: CSV in UTF-8 or GB18030, and Excel .xlsx.

Most Chinese government systems export GB18030 (a superset of GBK and GB2312); newer
ones and spreadsheets saved by hand give UTF-8, often with a byte-order mark. A file that
is valid UTF-8 is read as UTF-8 (GB18030 would also "decode" it, into nonsense);
otherwise as GB18030. Rows stream: a million-row file is never all in memory as cells.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yibao.contributions.columns import COLUMNS, column_key
from yibao.errors import InvalidInput

XLSX_MAGIC = b"PK\x03\x04"  # an .xlsx file is a zip archive
SNIFF_BYTES = 1 << 20


@dataclass(frozen=True)
class SourceRow:
    number: int  # the row number a person sees in the file (the heading is row 1)
    cells: dict[str, Any]  # field key → raw cell


@dataclass
class OpenedFile:
    format: str  # "csv-utf-8", "csv-gb18030" or "xlsx"
    keys: list[str | None]  # the field each column stands for
    rows: Iterator[SourceRow]


def open_contribution_file(path: Path) -> OpenedFile:
    """Open ``path``, read its heading, and check every required column is there."""
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if not head:
        raise InvalidInput("文件是空的", field="file", code="file_empty")
    if head.startswith(XLSX_MAGIC):
        return _with_checked_heading("xlsx", _xlsx_rows(path))
    encoding = "utf-8-sig" if _is_utf8(path) else "gb18030"
    return _with_checked_heading(f"csv-{encoding.removesuffix('-sig')}", _csv_rows(path, encoding))


def _is_utf8(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as handle:
        try:
            while chunk := handle.read(SNIFF_BYTES):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def _csv_rows(path: Path, encoding: str) -> Iterator[list[Any]]:
    with open(path, encoding=encoding, newline="") as handle:
        sample = handle.read(64 * 1024)
        handle.seek(0)
        yield from csv.reader(handle, dialect=_dialect(sample))


def _dialect(sample: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;")
    except csv.Error:
        return csv.excel


def _xlsx_rows(path: Path) -> Iterator[list[Any]]:
    from openpyxl import load_workbook  # only needed for Excel files

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # noqa: BLE001 - a damaged or foreign zip: say so, in Chinese
        raise InvalidInput("无法读取 Excel 文件（应为 .xlsx）", field="file", code="xlsx_unreadable") from error
    try:
        for row in workbook.worksheets[0].iter_rows(values_only=True):
            yield list(row)
    finally:
        workbook.close()


def _with_checked_heading(format_name: str, raw_rows: Iterator[list[Any]]) -> OpenedFile:
    try:
        heading = next(raw_rows)
    except StopIteration:
        raise InvalidInput("文件是空的", field="file", code="file_empty") from None
    keys = [column_key(cell) for cell in heading]
    missing = [column.label for column in COLUMNS if column.required and column.key not in keys]
    if missing:
        raise InvalidInput(f"缺少列：{'、'.join(missing)}", field="file", code="columns_missing")
    return OpenedFile(format_name, keys, _source_rows(keys, raw_rows))


def _source_rows(keys: list[str | None], raw_rows: Iterator[list[Any]]) -> Iterator[SourceRow]:
    for number, cells in enumerate(raw_rows, start=2):
        if all(cell is None or str(cell).strip() == "" for cell in cells):
            continue  # blank lines at the end of hand-edited files
        values = {key: cells[index] if index < len(cells) else None for index, key in enumerate(keys) if key}
        yield SourceRow(number, values)

