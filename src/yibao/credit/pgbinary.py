"""PostgreSQL's binary formats built from NumPy columns in one piece.

A row of fixed-width fields is a fixed-size record, so a whole chunk's rows are one
structured array turned into bytes: no Python object per row or per value. Text fields
must be the same for every row of a payload (group the rows by it). The same holds for a
``bigint[]`` query parameter (:func:`bigint_array`): sent in binary, PostgreSQL need not
parse 50,000 numbers from text, nor the driver print them (measured: 30 ms of each
chunk's balance update). And the other way: a query's ``bigint`` columns aggregated into
arrays come back in binary as one row, which NumPy reads in place (:func:`read_bigints`);
row by row (as tuples, or as the messages of a binary COPY), the driver's Python work per
row cost four times the query itself.
"""

from __future__ import annotations

from datetime import date

import numpy as np
from psycopg.adapt import Dumper, Loader
from psycopg.pq import Format

HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
TRAILER = (-1).to_bytes(2, "big", signed=True)
_PG_EPOCH = date(2000, 1, 1)


def bigint(values) -> tuple[str, object]:
    return (">i8", values)


def pg_date(day: date) -> tuple[str, object]:
    """One date for every row (PostgreSQL counts days from 2000-01-01)."""
    return (">i4", (day - _PG_EPOCH).days)


def constant_text(value: str) -> tuple[str, object]:
    encoded = value.encode()
    return (f"S{len(encoded)}", encoded)


def rows_payload(count: int, fields: list[tuple[str, object]]) -> bytes:
    """``count`` rows of ``fields`` (each from :func:`bigint`, :func:`pg_date`, :func:`constant_text`)."""
    layout = [("fields", ">i2")]
    for position, (kind, _values) in enumerate(fields):
        layout += [(f"length{position}", ">i4"), (f"value{position}", kind)]
    records = np.empty(count, dtype=np.dtype(layout))
    records["fields"] = len(fields)
    for position, (kind, values) in enumerate(fields):
        records[f"length{position}"] = np.dtype(kind).itemsize
        records[f"value{position}"] = values
    return records.tobytes()


_INT8_OID = 20
_INT8_ARRAY_OID = 1016


class BigintArray:
    """A one-dimensional ``bigint[]`` without NULLs, already in PostgreSQL's binary format."""

    def __init__(self, values: np.ndarray):
        header = np.array([1, 0, _INT8_OID, len(values), 1], dtype=">i4")  # ndim, has NULLs, type, length, lower bound
        elements = np.empty(len(values), dtype=[("length", ">i4"), ("value", ">i8")])
        elements["length"] = 8
        elements["value"] = values
        self.payload = header.tobytes() + elements.tobytes()


class BigintArrayDumper(Dumper):
    """Sends a :class:`BigintArray` as is; register it on the cursor, use ``%b`` in the query."""

    format = Format.BINARY
    oid = _INT8_ARRAY_OID

    def dump(self, obj: BigintArray) -> bytes:
        return obj.payload


def register_arrays(cursor) -> None:
    """``cursor`` sends :class:`BigintArray` parameters (``%b``) and loads binary ``bigint[]`` as NumPy arrays."""
    cursor.adapters.register_dumper(BigintArray, BigintArrayDumper)
    cursor.adapters.register_loader(_INT8_ARRAY_OID, BigintArrayLoader)


class BigintArrayLoader(Loader):
    """Loads a binary ``bigint[]`` without NULLs as a NumPy int64 array (register it on a cursor)."""

    format = Format.BINARY

    def load(self, data) -> np.ndarray:
        ndim, has_nulls, element = np.frombuffer(data, dtype=">i4", count=3)
        if ndim == 0:
            return np.empty(0, dtype=np.int64)
        if ndim != 1 or has_nulls or element != _INT8_OID:
            raise ValueError("expected a one-dimensional bigint[] without NULLs")
        elements = np.frombuffer(data, dtype=[("length", ">i4"), ("value", ">i8")], offset=20)
        return elements["value"].astype(np.int64)


def read_bigints(cursor, query: str, params: dict, width: int) -> np.ndarray:
    """The rows of ``query`` (``width`` integer columns, never NULL) as an (n, width) int64 array.

    The rows come as one row of ``width`` arrays (``array_agg``: the aggregates of one query
    see its rows in the same order, so element i of every array is from the same row) in
    binary, each read by :class:`BigintArrayLoader`.
    """
    columns = [f"c{column}" for column in range(width)]
    aggregated = (
        f"SELECT {', '.join(f'array_agg(CAST({name} AS BIGINT))' for name in columns)} "
        f"FROM ({query}) AS t ({', '.join(columns)})"
    )
    register_arrays(cursor)
    cursor.execute(aggregated, params, binary=True)
    arrays = [np.empty(0, dtype=np.int64) if value is None else value for value in cursor.fetchone()]
    return np.column_stack(arrays) if arrays else np.empty((0, width), dtype=np.int64)
