"""How large a contribution file and its parts may be: generous for a real file of a million
rows (the benchmark's size), small enough that no file can make a reader hold gigabytes.

Service limits, not policy: no public source sets them; they protect the server.
"""

from __future__ import annotations

MIB = 1024 * 1024

# Rows of one file (the heading not counted). A million-row file is about 100 MB of CSV and
# needs about 1.2 GiB to check (docs/benchmarks.md); twice that still fits the import worker's
# default memory limit, and a larger file is split by the agency anyway.
MAX_ROWS = 2_000_000
# Characters in one cell. The longest field of a contribution file is a company name (at most
# a few dozen characters); 1,024 leaves room for anything an agency's export puts there.
MAX_CELL_CHARS = 1024

# An .xlsx file is a zip archive of XML parts, checked before openpyxl opens it (xlsx_check.py).
XLSX_MAX_MEMBERS = 1_000  # a workbook of one sheet has about ten parts
# Uncompressed bytes of one part and of all parts together. A million-row sheet written with
# inline strings (openpyxl's own way) is about 460 MB; with shared strings (Excel's) about half.
XLSX_MAX_MEMBER_BYTES = 1024 * MIB
XLSX_MAX_TOTAL_BYTES = 1280 * MIB
# Uncompressed ÷ compressed size of one part. Real sheets compress about 5 to 15 times; runs of
# spaces or repeated tags compress about 1,000 times. 100 is Apache POI's default for the same
# check (ZipSecureFile's minimum inflate ratio, 0.01). Small parts are not held to it.
XLSX_MAX_RATIO = 100
XLSX_RATIO_FROM_BYTES = MIB
# Shared strings are read into memory whole by openpyxl, even in read-only mode (5 million
# empty strings took 550 MB): at most a distinct ID number and a name per row of a full file.
XLSX_MAX_SHARED_STRINGS = 2 * MAX_ROWS
XLSX_MAX_SHARED_STRINGS_BYTES = 256 * MIB
# The small XML parts read before the sheet ([Content_Types].xml) need no more than this.
XLSX_MAX_MANIFEST_BYTES = MIB
