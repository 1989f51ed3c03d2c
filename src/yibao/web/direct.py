"""Direct reads on PostgreSQL: the caller's session and their rows in one statement, on the event loop.

The most frequent requests — the balance above all — are one small read of the signed-in
person's rows. Through the synchronous stack such a request costs a hop through the thread
pool and two round trips (the token, then the rows), each through SQLAlchemy's execution;
together several times what the framework itself spends on a request (docs/benchmarks.md).

On PostgreSQL the web server therefore keeps, beside the engine, an asyncio pool of psycopg
connections (opened and closed with the application, :func:`lifespan`). A read declared as
a :class:`PersonQuery` then runs as one statement on the event loop: the live session of
the token, joined laterally to the person's rows. The token's hash, the expiry and the
revocation are checked in the same WHERE clause as on the general path
(:func:`yibao.security.sessions.find_session`), so the answers are the same.

Everything else takes the general path (:class:`yibao.web.deps.PersonReader`): SQLite, an
application running without its lifespan (as in most tests), app tokens (their reads are
audited), and sessions that are not a person's (staff are refused there, with the same
errors as always).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from fastapi import FastAPI, Request
from psycopg.rows import namedtuple_row
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import ColumnElement, Connection, Engine, Select, bindparam, select
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

from yibao.security.principal import Kind
from yibao.store.models import auth_sessions

T = TypeVar("T")

# Per server process; at most Settings.direct_pool_size. Every direct read is one short
# statement, so a few connections keep up with many requests in flight; a request waits for a
# free one rather than opening another.
POOL_MIN = 2
POOL_WAIT_SECONDS = 10.0

_DIALECT = PGDialect_psycopg()
_SESSION_COLUMNS = (
    auth_sessions.c.id.label("session_id"),
    auth_sessions.c.subject_kind.label("session_subject_kind"),
    auth_sessions.c.subject_id.label("session_subject_id"),
    auth_sessions.c.purpose.label("session_purpose"),
)


@dataclass(frozen=True)
class PersonQuery(Generic[T]):
    """A read of one person's data as a single SELECT, and how its rows become the answer.

    ``rows(person_id)`` builds the SELECT for a person id expression: a bound parameter on the
    general path, the session's subject on the direct one. ``answer`` gets the rows in
    ``order_by`` order (column names of that SELECT); ``present`` names a column that is never
    NULL in a real row (the direct statement's outer join yields one empty row for a person
    with no rows at all). Calling the query runs it on a SQLAlchemy connection.
    """

    rows: Callable[[ColumnElement], Select]
    answer: Callable[[Sequence], T]
    order_by: tuple[str, ...]
    present: str
    _statement: Select = field(init=False, repr=False)
    _direct_sql: str = field(init=False, repr=False)
    _direct_params: dict = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Built and compiled once: on these requests building a statement costs more than running it.
        object.__setattr__(self, "_statement", self.rows(bindparam("person_id")))
        # Sorted once, outside (a second sort inside the lateral join would cost a sort node per request).
        person_rows = self.rows(auth_sessions.c.subject_id).order_by(None).lateral("person_rows")
        statement = (
            select(*_SESSION_COLUMNS, *person_rows.c)
            # A staff session's subject is no person: no rows (and the general path refuses it).
            .select_from(auth_sessions.outerjoin(person_rows, auth_sessions.c.subject_kind == Kind.PERSON.value))
            .where(
                auth_sessions.c.token_hash == bindparam("token_hash"),
                auth_sessions.c.revoked_at.is_(None),
                auth_sessions.c.expires_at > bindparam("now"),
            )
            .order_by(*(person_rows.c[name] for name in self.order_by))
        )
        compiled = statement.compile(dialect=_DIALECT)
        object.__setattr__(self, "_direct_sql", compiled.string)
        object.__setattr__(self, "_direct_params", dict(compiled.params))

    def __call__(self, conn: Connection, person_id: int) -> T:
        return self.answer(conn.execute(self._statement, {"person_id": person_id}).all())

    async def with_session(self, pool: AsyncConnectionPool, token_hash: str, now) -> list:
        """The rows of the direct statement: none when the token has no live session."""
        params = self._direct_params | {"token_hash": token_hash, "now": now}
        async with pool.connection(timeout=POOL_WAIT_SECONDS) as conn:
            cursor = conn.cursor(row_factory=namedtuple_row)
            await cursor.execute(self._direct_sql, params)
            return await cursor.fetchall()

    def answer_rows(self, rows: list) -> T:
        return self.answer([row for row in rows if getattr(row, self.present) is not None])


def direct_pool(request: Request) -> AsyncConnectionPool | None:
    """The application's direct-read pool, or None where there is none (see the module text)."""
    return getattr(request.app.state, "direct_pool", None)


def new_pool(engine: Engine, *, max_size: int, min_size: int = POOL_MIN) -> AsyncConnectionPool | None:
    """An unopened pool on the engine's PostgreSQL database; None on SQLite."""
    if engine.dialect.name != "postgresql":
        return None
    conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return AsyncConnectionPool(
        conninfo, min_size=min(min_size, max_size), max_size=max_size, open=False, kwargs={"autocommit": True},
        name="yibao-direct-reads",
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    pool = new_pool(app.state.engine, max_size=app.state.security.settings.direct_pool_size)
    if pool is not None:
        await pool.open()
    app.state.direct_pool = pool
    try:
        yield
    finally:
        app.state.direct_pool = None
        if pool is not None:
            await pool.close()
