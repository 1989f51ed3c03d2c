"""Reading contribution files: CSV in UTF-8 or GB18030, and Excel .xlsx.

Most Chinese government systems export GB18030 (a superset of GBK and GB2312); newer
ones and spreadsheets saved by hand give UTF-8, often with a byte-order mark. A file that
is valid UTF-8 is read as UTF-8 (GB18030 would also "decode" it, into nonsense);
otherwise as GB18030, where bytes that are no character of it become U+FFFD and the
row check names their row and column. Rows stream: a million-row file is never all in
memory as cells. Nothing a file holds can stop the reading with anything but a Chinese
reason: a row the CSV parser cannot split is reported as that row's fault, an .xlsx file
passes the checks of ``xlsx_limits`` before openpyxl opens it, and the row count is capped.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yibao.contributions.columns import COLUMNS, column_key
from yibao.contributions.limits import MAX_CELL_CHARS, MAX_ROWS
from yibao.contributions.xlsx_check import check_xlsx, unreadable
from yibao.errors import InvalidInput

XLSX_MAGIC = b"PK\x03\x04"  # an .xlsx file is a zip archive
SNIFF_BYTES = 1 << 20
# What csv.Sniffer sees: the heading and a few rows. Its regular expressions take more than cubic
# time on some input (64 K characters of ',"' repeated: minutes of CPU; 2 K: a tenth of a second).
SNIFF_CHARS = 2048


@dataclass(frozen=True)
class SourceRow:
    number: int  # the row number a person sees in the file (the heading is row 1)
    cells: dict[str, Any]  # field key → raw cell
    fault: InvalidInput | None = None  # why the row could not be split into cells


class UnreadableRow:
    """In place of a row's cells: the CSV parser refused the row (a cell beyond its own size limit)."""


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


def _csv_rows(path: Path, encoding: str) -> Iterator[list[Any] | UnreadableRow]:
    # "replace": a byte that is no GB18030 character must not end the reading (it did, with a 500);
    # it becomes U+FFFD and the row check reports the cell. Valid UTF-8 never needs it.
    with open(path, encoding=encoding, errors="replace", newline="") as handle:
        sample = handle.read(SNIFF_CHARS)
        handle.seek(0)
        rows = csv.reader(handle, dialect=_dialect(sample))
        while True:
            try:
                yield next(rows)
            except StopIteration:
                return
            except csv.Error:  # a cell over csv.field_size_limit (128 K characters): the parser goes on with the next line
                yield UnreadableRow()


def _dialect(sample: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;")
    except csv.Error:
        return csv.excel


def _xlsx_rows(path: Path) -> Iterator[list[Any]]:
    from openpyxl import load_workbook  # only needed for Excel files

    check_xlsx(path)
    # Opened as a file, not by name: openpyxl refuses a name without an Excel ending, and an
    # uploaded file is stored under a random name.
    handle = open(path, "rb")  # noqa: SIM115 - closed below, after the last row
    try:
        workbook = load_workbook(handle, read_only=True, data_only=True)
    except MemoryError:
        handle.close()
        raise  # not the file's form: the import worker reports it as out of memory
    except Exception as error:  # noqa: BLE001 - a damaged or foreign zip: say so, in Chinese
        handle.close()
        raise unreadable() from error
    try:
        sheet = workbook.worksheets[0]
        if (sheet.max_row or 0) > MAX_ROWS + 1:  # the sheet's own <dimension>; the rows are counted too
            raise _too_many_rows()
        heading = _trimmed(next(sheet.iter_rows(max_row=1, values_only=True), ()))
        yield heading
        # Only as many columns as the heading names: a declared width of 16,384 columns pads no row.
        for row in sheet.iter_rows(min_row=2, max_col=max(len(heading), 1), values_only=True):
            yield list(row)
    except (InvalidInput, MemoryError):
        raise
    except Exception as error:  # noqa: BLE001 - malformed XML inside the sheet, found while reading
        raise unreadable() from error
    finally:
        workbook.close()
        handle.close()


def _too_many_rows() -> InvalidInput:
    return InvalidInput(f"文件超过 {MAX_ROWS:,} 行，请拆分后分别导入", field="file", code="file_too_many_rows")


def _trimmed(cells) -> list[Any]:
    cells = list(cells)
    while cells and cells[-1] is None:
        cells.pop()
    return cells


def _with_checked_heading(format_name: str, raw_rows: Iterator[list[Any]]) -> OpenedFile:
    try:
        heading = next(raw_rows)
    except StopIteration:
        raise InvalidInput("文件是空的", field="file", code="file_empty") from None
    if isinstance(heading, UnreadableRow):
        heading = []
    keys = [column_key(cell) for cell in heading]
    missing = [column.label for column in COLUMNS if column.required and column.key not in keys]
    if missing:
        raise InvalidInput(f"缺少列：{'、'.join(missing)}", field="file", code="columns_missing")
    return OpenedFile(format_name, keys, _source_rows(keys, raw_rows))


def _source_rows(keys: list[str | None], raw_rows: Iterator[list[Any]]) -> Iterator[SourceRow]:
    for number, cells in enumerate(raw_rows, start=2):
        if number > MAX_ROWS + 1:
            raise _too_many_rows()
        if isinstance(cells, UnreadableRow):
            yield SourceRow(number, {}, InvalidInput(f"该行有内容过长的单元格（每格不超过 {MAX_CELL_CHARS} 字），无法读取",
                                                     code="row_unreadable"))
            continue
        if all(cell is None or str(cell).strip() == "" for cell in cells):
            continue  # blank lines at the end of hand-edited files
        values = {key: cells[index] if index < len(cells) else None for index, key in enumerate(keys) if key}
        yield SourceRow(number, values)

