"""An .xlsx file is a zip archive: its sizes are checked before openpyxl opens it.

A 2 MB workbook whose sheet was mostly spaces unpacked to gigabytes, and openpyxl read a
26 MB shared-strings part into 1.7 GB. So, in this order, each step bounded by the one before:
1. the archive's end record: how many parts and how large their directory is (``zipfile``
   would otherwise read a directory of any size into memory);
2. each part's declared size, all parts' total and each part's compression ratio;
3. every part read through (streamed, never held), counting the bytes it really gives. Python's
   ``zipfile`` stops a part at its declared size and then checks its CRC-32, so a part that
   declares less than it holds ends in a CRC error here, before openpyxl sees it;
4. while the shared-strings part streams by, its strings are counted.
Every refusal is an ``InvalidInput`` with a Chinese reason (the import's report), never a crash.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from xml.etree import ElementTree

from yibao.contributions import limits
from yibao.errors import InvalidInput

CHUNK_BYTES = 1024 * 1024
END_RECORD = b"PK\x05\x06"  # the zip end-of-central-directory record
END_RECORD_SIZE = 22
MAX_DIRECTORY_ENTRY = 46 + 1024  # a directory entry's fixed part and a generous name
SHARED_STRINGS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
CONTENT_TYPES = "[Content_Types].xml"


def check_xlsx(path: Path) -> None:
    """Refuse ``path`` unless every limit of ``limits`` holds for the archive and its parts."""
    _check_end_record(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            _check_declared(members)
            strings_parts = _shared_strings_parts(archive)
            total = 0
            for member in members:
                total += _read_through(archive, member, counting_strings=member.filename in strings_parts)
                if total > limits.XLSX_MAX_TOTAL_BYTES:
                    raise _too_large()
    except InvalidInput:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise InvalidInput("Excel 文件已损坏：内容与其记录的大小或校验值不符", field="file", code="xlsx_damaged") from error
    except (OSError, NotImplementedError, RuntimeError, ValueError, ElementTree.ParseError) as error:
        # RuntimeError: encrypted parts; NotImplementedError: compression methods zipfile lacks.
        raise unreadable() from error


def unreadable() -> InvalidInput:
    return InvalidInput("无法读取 Excel 文件（应为 .xlsx）", field="file", code="xlsx_unreadable")


def _too_large() -> InvalidInput:
    size = limits.XLSX_MAX_TOTAL_BYTES // limits.MIB
    return InvalidInput(f"Excel 文件解压后过大（上限 {size} MB），请拆分后分别导入", field="file", code="xlsx_too_large")


def _check_end_record(path: Path) -> None:
    """The part count and directory size from the end record, before ``zipfile`` reads the directory."""
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - END_RECORD_SIZE - 0xFFFF))  # the record and the longest comment
        tail = handle.read()
    at = tail.rfind(END_RECORD)
    if at < 0 or len(tail) < at + END_RECORD_SIZE:
        raise unreadable()
    entries, directory_bytes = struct.unpack("<HL", tail[at + 10 : at + 16])  # total entries, directory size
    # 0xFFFF / 0xFFFFFFFF would point to a Zip64 record: no workbook of one sheet needs one.
    if entries > limits.XLSX_MAX_MEMBERS or directory_bytes > limits.XLSX_MAX_MEMBERS * MAX_DIRECTORY_ENTRY:
        raise _too_many_parts()


def _too_many_parts() -> InvalidInput:
    return InvalidInput("Excel 文件结构异常（包含的部件过多）", field="file", code="xlsx_too_many_parts")


def _check_declared(members: list[zipfile.ZipInfo]) -> None:
    if len(members) > limits.XLSX_MAX_MEMBERS:
        raise _too_many_parts()
    if sum(member.file_size for member in members) > limits.XLSX_MAX_TOTAL_BYTES:
        raise _too_large()
    for member in members:
        if member.file_size > limits.XLSX_MAX_MEMBER_BYTES:
            raise _too_large()
        if member.file_size > limits.XLSX_RATIO_FROM_BYTES and member.file_size > limits.XLSX_MAX_RATIO * max(member.compress_size, 1):
            raise InvalidInput("Excel 文件压缩比异常（疑似压缩炸弹），已拒绝", field="file", code="xlsx_compression_ratio")


def _shared_strings_parts(archive: zipfile.ZipFile) -> set[str]:
    """Where openpyxl finds the shared strings: the manifest's override for their type (and the usual name)."""
    parts = {info.filename for info in archive.infolist() if info.filename.lower().endswith("sharedstrings.xml")}
    try:
        manifest = archive.getinfo(CONTENT_TYPES)
    except KeyError:
        return parts
    if manifest.file_size > limits.XLSX_MAX_MANIFEST_BYTES:
        raise _too_large()
    for element in ElementTree.fromstring(archive.read(manifest)).iter():
        if element.tag.endswith("Override") and element.get("ContentType") == SHARED_STRINGS_TYPE:
            parts.add((element.get("PartName") or "").lstrip("/"))
    return parts


def _read_through(archive: zipfile.ZipFile, member: zipfile.ZipInfo, *, counting_strings: bool) -> int:
    """The part's real uncompressed size, read in chunks; refused as soon as it passes a limit."""
    if counting_strings and member.file_size > limits.XLSX_MAX_SHARED_STRINGS_BYTES:
        raise _too_many_strings()
    counter = _StringCounter() if counting_strings else None
    real = 0
    with archive.open(member) as stream:
        while chunk := stream.read(CHUNK_BYTES):
            real += len(chunk)
            if real > member.file_size or real > limits.XLSX_MAX_MEMBER_BYTES:
                raise _too_large()
            if counter is not None:
                counter.feed(chunk)
    return real


def _too_many_strings() -> InvalidInput:
    return InvalidInput(
        f"Excel 文件的共享字符串过多（上限 {limits.XLSX_MAX_SHARED_STRINGS:,} 个），请另存为 CSV 后导入",
        field="file", code="xlsx_too_many_strings",
    )


class _StringCounter:
    """Counts ``<si>`` elements of a shared-strings part as it streams by, keeping none of them."""

    def __init__(self) -> None:
        self.parser = ElementTree.XMLPullParser(events=("start", "end"))
        self.root: ElementTree.Element | None = None
        self.count = 0

    def feed(self, chunk: bytes) -> None:
        self.parser.feed(chunk)
        self._count(self.parser.read_events())

    def _count(self, events: Iterable) -> None:
        for event, element in events:
            if event == "start" and self.root is None:
                self.root = element
            elif event == "end" and element.tag.rsplit("}", 1)[-1] == "si":
                self.count += 1
                if self.count > limits.XLSX_MAX_SHARED_STRINGS:
                    raise _too_many_strings()
                self.root.clear()  # counted: nothing of it is kept
