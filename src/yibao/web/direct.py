"""Direct reads on PostgreSQL: the caller's session and their rows in one statement, on the event loop.

The most frequent requests — the balance above all — are one small read of the signed-in
person's rows. Through the synchronous stack such a request costs a hop through the thread
pool and two round trips (the token, then the rows), each through SQLAlchemy's execution;
together several times what the framework itself spends on a request (docs/benchmarks.md).

On PostgreSQL the web server therefore keeps, beside the engine, an asyncio pool of psycopg
connections (opened and closed with the application, :func:`lifespan`). A read declared as
a :class:`PersonQuery` then runs as one statement on the event loop: the live session of
the token, joined laterally to the person's rows. Requests that arrive while every
connection is busy wait together and go in one statement for all their tokens
(:class:`_Batcher`): under load the statements and round trips per request fall, and each
request still gets only the rows of its own token. The token's hash, the session's channel
(``web``), the expiry and the revocation are checked in the same WHERE clause as on the general path
(:func:`yibao.security.sessions.find_session`), so the answers are the same.

Everything else takes the general path (:class:`yibao.web.deps.PersonReader`): SQLite, an
application running without its lifespan (as in most tests), app tokens (their reads are
audited), and sessions that are not a person's (staff are refused there, with the same
errors as always).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from fastapi import FastAPI, Request
from psycopg.rows import namedtuple_row
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import ColumnElement, Connection, Engine, Select, String, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

from yibao.security.principal import Kind
from yibao.security.sessions import WEB
from yibao.store.models import auth_sessions

T = TypeVar("T")

# Per server process; at most Settings.direct_pool_size. Every direct read is one short
# statement, so a few connections keep up with many requests in flight; a request waits for a
# free one rather than opening another.
POOL_MIN = 2
POOL_WAIT_SECONDS = 10.0
BATCH_MAX = 64  # tokens looked up by one statement at most

_DIALECT = PGDialect_psycopg()
_SESSION_COLUMNS = (
    auth_sessions.c.token_hash.label("session_token_hash"),
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
        wanted = func.unnest(bindparam("token_hashes", type_=ARRAY(String))).table_valued("token_hash").render_derived(name="wanted")
        statement = (
            select(*_SESSION_COLUMNS, *person_rows.c)
            # A staff session's subject is no person: no rows (and the general path refuses it).
            .select_from(
                wanted.join(auth_sessions, auth_sessions.c.token_hash == wanted.c.token_hash)
                .outerjoin(person_rows, auth_sessions.c.subject_kind == Kind.PERSON.value)
            )
            .where(
                auth_sessions.c.channel == WEB,  # a kiosk or counter session is no API token
                auth_sessions.c.revoked_at.is_(None),
                auth_sessions.c.expires_at > bindparam("now"),
            )
            .order_by(auth_sessions.c.token_hash, *(person_rows.c[name] for name in self.order_by))
        )
        compiled = statement.compile(dialect=_DIALECT)
        object.__setattr__(self, "_direct_sql", compiled.string)
        object.__setattr__(self, "_direct_params", dict(compiled.params))

    def __call__(self, conn: Connection, person_id: int) -> T:
        return self.answer(conn.execute(self._statement, {"person_id": person_id}).all())

    async def with_session(self, pool: AsyncConnectionPool, token_hash: str, now: datetime) -> list:
        """The rows of the direct statement for this token: none when it has no live session."""
        return await _batcher(pool, self).rows(pool, token_hash, now)

    async def run(self, conn, token_hashes: list[str], now: datetime) -> list:
        """One statement for several tokens: the rows of each live session, grouped by token hash."""
        cursor = conn.cursor(row_factory=namedtuple_row)
        await cursor.execute(self._direct_sql, self._direct_params | {"token_hashes": token_hashes, "now": now})
        return await cursor.fetchall()

    def answer_rows(self, rows: list) -> T:
        return self.answer([row for row in rows if getattr(row, self.present) is not None])


@dataclass(eq=False)
class _Waiting:
    token_hash: str
    now: datetime
    answer: asyncio.Future


class _Batcher:
    """Requests for one query that arrive while the pool's connections are busy share a statement.

    Each request queues its token; up to the pool's size of runners take a connection each and
    look up what is queued, up to :data:`BATCH_MAX` tokens per statement, until the queue is
    empty. An idle server runs one statement per request, as before; under load the requests
    that arrive during a statement go together in the next one, so the round trips and the
    statements per request fall as the load rises. Each request gets only the rows of its own
    token hash; a failed statement fails the requests still queued.
    """

    def __init__(self, query: PersonQuery):
        self.query = query
        self.queue: list[_Waiting] = []
        self.runners = 0
        self.tasks: set[asyncio.Task] = set()  # referenced until done: the loop keeps only weak references

    async def rows(self, pool: AsyncConnectionPool, token_hash: str, now: datetime) -> list:
        waiting = _Waiting(token_hash, now, asyncio.get_running_loop().create_future())
        self.queue.append(waiting)
        if self.runners < pool.max_size:
            self.runners += 1
            task = asyncio.ensure_future(self._run(pool))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return await waiting.answer

    async def _run(self, pool: AsyncConnectionPool) -> None:
        running = True
        try:
            async with pool.connection(timeout=POOL_WAIT_SECONDS) as conn:
                while self.queue:
                    batch, self.queue = self.queue[:BATCH_MAX], self.queue[BATCH_MAX:]
                    await self._serve(conn, batch)
                # Stop counting before returning the connection awaits: a request queued from
                # now on starts a runner of its own.
                self.runners, running = self.runners - 1, False
        except Exception as error:  # no connection, or the statement failed: the queued requests fail too
            batch, self.queue = self.queue, []
            _fail(batch, error)
        finally:
            if running:
                self.runners -= 1
                if self.queue:  # cancelled (the server stops): nobody may wait for ever
                    batch, self.queue = self.queue, []
                    _fail(batch, RuntimeError("direct read stopped"))

    async def _serve(self, conn, batch: list[_Waiting]) -> None:
        try:
            rows = await self.query.run(conn, sorted({w.token_hash for w in batch}), max(w.now for w in batch))
        except BaseException as error:
            _fail(batch, error if isinstance(error, Exception) else RuntimeError("direct read stopped"))
            raise
        by_token: dict[str, list] = {}
        for row in rows:
            by_token.setdefault(row.session_token_hash, []).append(row)
        for waiting in batch:
            if not waiting.answer.done():  # a request whose client left was cancelled
                waiting.answer.set_result(by_token.get(waiting.token_hash, []))


def _fail(batch: list[_Waiting], error: Exception) -> None:
    for waiting in batch:
        if not waiting.answer.done():
            waiting.answer.set_exception(error)


# One batcher per pool (each server process has its own, on its own event loop) and query.
_BATCHERS: weakref.WeakKeyDictionary[AsyncConnectionPool, dict[int, _Batcher]] = weakref.WeakKeyDictionary()


def _batcher(pool: AsyncConnectionPool, query: PersonQuery) -> _Batcher:
    by_query = _BATCHERS.setdefault(pool, {})
    if id(query) not in by_query:
        by_query[id(query)] = _Batcher(query)
    return by_query[id(query)]


def direct_pool(request: Request) -> AsyncConnectionPool | None:
    """The application's direct-read pool, or None where there is none (see the module text)."""
    return getattr(request.app.state, "direct_pool", None)


def new_pool(engine: Engine, *, max_size: int, min_size: int = POOL_MIN) -> AsyncConnectionPool | None:
    """An unopened pool on the engine's PostgreSQL database; None on SQLite."""
    if engine.dialect.name != "postgresql":
        return None
    conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return AsyncConnectionPool(
        conninfo, min_size=min(min_size, max_size), max_size=max_size, open=False,
        # The statements here are prepared index lookups whose plan does not depend on how many
        # tokens a batch carries; left to choose, PostgreSQL re-planned each execution (a batch
        # of unknown size makes the generic plan look dearer), which tripled its CPU per request.
        kwargs={"autocommit": True, "options": "-c plan_cache_mode=force_generic_plan"},
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
