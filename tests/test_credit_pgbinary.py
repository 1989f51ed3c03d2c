"""PostgreSQL's binary formats as the credit run reads and writes them (NumPy in, NumPy out)."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import Engine

from yibao.credit import pgbinary
from yibao.store.db import make_engine


@pytest.fixture
def cursor(postgres_url):
    engine: Engine = make_engine(postgres_url)
    raw = engine.raw_connection()
    try:
        with raw.driver_connection.cursor() as cursor:
            yield cursor
    finally:
        raw.close()
        engine.dispose()


pytestmark = pytest.mark.postgres


def test_read_bigints_keeps_each_row_across_its_columns(cursor):
    table = pgbinary.read_bigints(
        cursor,
        "SELECT n, n * 1000, -n FROM generate_series(1, 70000) AS n WHERE mod(n, 7) <> 0 AND n > %(low)s",
        {"low": 3}, 3,
    )
    n = np.arange(4, 70_001)
    n = n[n % 7 != 0]
    assert table.dtype == np.int64 and table.shape == (len(n), 3)
    assert (table[:, 0] == n).all() and (table[:, 1] == n * 1000).all() and (table[:, 2] == -n).all()


def test_read_bigints_of_no_rows_is_an_empty_table(cursor):
    table = pgbinary.read_bigints(cursor, "SELECT n, n FROM generate_series(1, 3) AS n WHERE n > 5", {}, 2)
    assert table.shape == (0, 2)


def test_read_bigints_refuses_nulls_rather_than_reading_them_as_numbers(cursor):
    with pytest.raises(ValueError):
        pgbinary.read_bigints(cursor, "SELECT CASE WHEN n = 2 THEN NULL ELSE n END FROM generate_series(1, 3) AS n", {}, 1)


def test_a_bigint_array_parameter_goes_and_comes_back_unchanged(cursor):
    values = np.array([0, 1, -1, 2**62, -(2**62), 123_456_789], dtype=np.int64)
    pgbinary.register_arrays(cursor)
    cursor.execute("SELECT %b::bigint[]", (pgbinary.BigintArray(values),), binary=True)
    assert (cursor.fetchone()[0] == values).all()
