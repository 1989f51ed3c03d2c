"""Engine creation for SQLite (default, embedded) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import functools
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from yibao.config import get_settings, normalise_database_url


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.get_backend_name() == "sqlite"


def make_engine(url: str | None = None, **kwargs) -> Engine:
    url = normalise_database_url(url or get_settings().database_url)
    if is_sqlite(url):
        return _sqlite_engine(url, **kwargs)
    # No pool_pre_ping: it costs a round trip on every checkout, as much as a whole
    # one-statement transfer (docs/benchmarks.md). When the server restarts, the first
    # statement on a dead connection fails, SQLAlchemy recognises the disconnect and
    # discards every pooled connection, and the next request reconnects. Recycling old
    # connections keeps idle ones from being cut by firewalls in between.
    kwargs.setdefault("pool_recycle", 30 * 60)
    # The web server runs up to 40 requests at once in its thread pool. With SQLAlchemy's
    # default of 5 pooled connections, every request beyond 5 opened a new connection and
    # closed it again (about 86 per second under the API benchmark, and second-long p99s).
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


def _sqlite_engine(url: str, **kwargs) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # BEGIN IMMEDIATE takes the write lock up front. A deferred transaction that reads
        # and then writes can fail with "database is locked" when another writer got in
        # between; taking the lock first makes concurrent writers queue instead.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def read_connection(engine: Engine) -> Connection:
    """A connection for lookups that only read: in autocommit on PostgreSQL.

    In a transaction psycopg sends BEGIN before the first statement and the pool sends
    ROLLBACK when the connection goes back: two more round trips, each as long as the
    lookup itself. At PostgreSQL's READ COMMITTED every statement takes its own snapshot
    either way, so the reads see the same data. The pool restores the isolation level on
    check-in. SQLite keeps its default: its transactions cost no round trip.
    """
    conn = engine.connect()
    if conn.dialect.name == "postgresql":
        conn.execution_options(isolation_level="AUTOCOMMIT")
    return conn


def insert_unique(conn, statement, *, taken: Exception) -> int:
    """Run an ``INSERT … RETURNING id`` in a savepoint; a unique-constraint clash raises ``taken``.

    The savepoint keeps the caller's transaction usable after the clash (PostgreSQL would
    otherwise refuse every later statement in it).
    """
    from sqlalchemy.exc import IntegrityError

    try:
        with conn.begin_nested():
            return conn.execute(statement).scalar_one()
    except IntegrityError as error:
        raise taken from error


def insert_or_skip(conn: Connection, table, values: dict):
    """``INSERT … ON CONFLICT DO NOTHING RETURNING id``: the new row's id, or None when a unique key
    already held it. One statement, no savepoint (PostgreSQL and SQLite)."""
    return conn.execute(_insert_or_skip_statement(conn.dialect.name, table), values).scalar_one_or_none()


@functools.lru_cache(maxsize=64)
def _insert_or_skip_statement(dialect: str, table):
    # Built once per table: the values travel as parameters, so nothing is rebuilt per row.
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(table).on_conflict_do_nothing().returning(table.c.id)
