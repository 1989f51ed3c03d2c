"""Set-based inserts for loads and imports: COPY on PostgreSQL, executemany on SQLite.

Both run inside the caller's transaction on ``conn``; neither builds one SQLAlchemy
object or statement per row, which is what makes a million rows a matter of seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection

from yibao.store.db import is_sqlite


def insert_rows(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> None:
    """Insert ``rows`` (tuples in ``columns`` order) into ``table``."""
    names = ", ".join(columns)
    raw = conn.connection.driver_connection
    if is_sqlite(conn.engine):
        placeholders = ", ".join("?" for _ in columns)
        cursor = raw.cursor()
        try:
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", rows)
        finally:
            cursor.close()
        return
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
