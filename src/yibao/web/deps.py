"""Authentication and authorization as FastAPI dependencies.

One bearer scheme carries three kinds of token: a person's or staff member's session
(``ybs_…``) and a third-party app's access token (``yba_…``). Institutions send their key
in ``X-Api-Key``. Each route states who may call it with one of the dependencies below;
the authorization matrix test checks every route in the OpenAPI document against them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy import Connection, Engine, select, update

from yibao.policy.loading import load_book
from yibao.policy.parameters import PolicyBook
from yibao.security import audit, idle, oauth, sessions
from yibao.security.context import Security
from yibao.security.counters import MemoryCounters
from yibao.security.errors import Forbidden, InsufficientScope, InvalidToken, PasswordChangeRequired, Unauthenticated
from yibao.security.institutions import find_by_key
from yibao.security.permissions import Permission
from yibao.security.principal import PERSON_SCOPES, Kind, Principal, Scope
from yibao.security.staff import regions_of
from yibao.security.tokens import ACCESS_PREFIX, SESSION_PREFIX, token_hash
from yibao.store.models import oauth_grants, staff_users
from yibao.web.direct import PersonQuery, direct_pool

T = TypeVar("T")

bearer = HTTPBearer(auto_error=False, description="登录或授权令牌 / session or app access token")
api_key = APIKeyHeader(name="X-Api-Key", auto_error=False, description="定点机构密钥 / institution API key")

# An app's "last used" time is written at most this often, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def get_security(request: Request) -> Security:
    return request.app.state.security


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def policy_book(request: Request) -> PolicyBook:
    """The shipped policy data, unless the application was given another book (tests, previews)."""
    return getattr(request.app.state, "policy_book", None) or load_book()


def read_connection(request: Request) -> Connection:
    """A connection for lookups that only read: in autocommit on PostgreSQL.

    In a transaction psycopg sends BEGIN before the first statement and the pool sends
    ROLLBACK when the connection goes back: two more round trips, each as long as the
    lookup itself. At PostgreSQL's READ COMMITTED every statement takes its own snapshot
    either way, so the reads see the same data. The pool restores the isolation level on
    check-in. SQLite keeps its default: its transactions cost no round trip.
    """
    conn = get_engine(request).connect()
    if conn.dialect.name == "postgresql":
        conn.execution_options(isolation_level="AUTOCOMMIT")
    return conn


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _limit(request: Request, key: str) -> None:
    sec = get_security(request)
    sec.limiter.check(key, sec.settings.rate_limit_per_minute, 60)


def current_principal(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
    with read_connection(request) as conn:
        return authenticate(request, conn, credentials)


def authenticate(request: Request, conn: Connection, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """The caller of a bearer token (session or app access token), rate-limited per address and per account."""
    limit_address(request)
    token = bearer_token(credentials)
    sec = get_security(request)
    if token.startswith(ACCESS_PREFIX):
        principal = oauth.principal_for_access_token(conn, token, sec.now())
    else:
        principal = session_principal(conn, token, sec)
    if principal is None:
        raise InvalidToken()
    _limit(request, _account_key(principal))
    return principal


def limit_address(request: Request) -> None:
    _limit(request, _address_key(request))


def limit_caller(request: Request, principal: Principal) -> None:
    """The per-account limit, for callers authenticated outside the dependencies (the national interface)."""
    _limit(request, _account_key(principal))


def _address_key(request: Request) -> str:
    return f"addr:{client_address(request)}"


def _account_key(principal: Principal) -> str:
    return f"acct:{principal.rate_key}"


def bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or not credentials.credentials:
        raise Unauthenticated()
    return credentials.credentials


def session_principal(conn, token: str, sec: Security, channel: str = sessions.WEB) -> Principal | None:
    """The caller of a session token opened on ``channel`` (the API's bearer tokens are ``web`` sessions)."""
    session = sessions.find_session(conn, token, sec.now(), channel)
    if session is None:
        return None
    if session.subject_kind == Kind.PERSON.value:
        return person_principal(session.id, session.subject_id, session.purpose)
    role = conn.execute(
        select(staff_users.c.role).where(staff_users.c.id == session.subject_id, staff_users.c.active.is_(True))
    ).scalar()
    if role is None:
        return None
    if not idle.STAFF.is_alive(sec, session.id):
        return None  # 15 minutes (staff_idle_seconds) without a request: the session is over
    idle.STAFF.touch(sec, session.id)
    return Principal(Kind.STAFF, session.subject_id, role=role, staff_regions=regions_of(conn, session.subject_id),
                     session_id=session.id)


def person_principal(session_id: int, person_id: int, purpose: str) -> Principal:
    return Principal(
        Kind.PERSON, person_id, person_id=person_id, scopes=PERSON_SCOPES,
        limited=purpose == sessions.PASSWORD_CHANGE, session_id=session_id,
    )


class PersonData:
    """A person reading their own data, or an app the person granted ``scope``.

    Apps' reads are written to the audit log (who, whom, what, from where) and mark the
    grant as used. The check itself is ``async``: a plain ``def`` dependency costs a hop
    through the thread pool on every request; only an app's audit write goes there.
    """

    def __init__(self, scope: Scope):
        self.scope = scope

    async def __call__(self, request: Request, principal: Principal = Depends(current_principal)) -> Principal:
        allow_person_data(principal, self.scope)
        if principal.kind is Kind.THIRD_PARTY:
            await run_in_threadpool(_note_app_access, request, principal, self.scope)
        return principal


def allow_person_data(principal: Principal, scope: Scope) -> None:
    if principal.kind not in (Kind.PERSON, Kind.THIRD_PARTY):
        raise Forbidden("此接口仅供参保人本人或其授权的应用使用")
    if principal.limited:
        raise PasswordChangeRequired()
    if scope.value not in principal.scopes:
        raise InsufficientScope(f"该应用未获得“{scope.label}”的授权", code="insufficient_scope")


class PersonRead(HTTPBearer):
    """Like :class:`PersonData`, for an ``async`` route whose whole work is one read.

    The route awaits ``read(function)``: finding the caller, the checks, an app's audit
    record and ``function(conn, person_id)`` then run in one thread-pool call on one
    connection, or, for a :class:`~yibao.web.direct.PersonQuery` on PostgreSQL, as one
    statement on the event loop. With a ``def`` route and :class:`PersonData` the same request
    takes three hops through the thread pool (the token lookup, the route, the response's
    validation) and two connections; on the most frequent request, the balance, the hops cost
    more than the queries (docs/benchmarks.md).

    It is the bearer scheme itself (same name and description in the OpenAPI document), so
    FastAPI solves one dependency per request instead of two.
    """

    def __init__(self, scope: Scope):
        super().__init__(auto_error=False, scheme_name=bearer.scheme_name, description=bearer.model.description)
        self.scope = scope

    async def __call__(self, request: Request) -> PersonReader:
        return PersonReader(request, await super().__call__(request), self.scope)


@dataclass(frozen=True)
class PersonReader:
    request: Request
    credentials: HTTPAuthorizationCredentials | None
    scope: Scope

    async def __call__(self, read: Callable[[Connection, int], T]) -> T:
        pool = direct_pool(self.request)
        if pool is not None and isinstance(read, PersonQuery):
            answer = await self._direct(pool, read)
            if answer is not _NOT_DIRECT:
                return answer
        return await run_in_threadpool(self._read, read)

    async def json(self, read: Callable[[Connection, int], BaseModel]) -> Response:
        """``read``'s answer, a model built and validated by ``read``, as the JSON response.

        Returning the model would have FastAPI validate it once more and encode it through
        Python's json module: more CPU than the direct read's statement (docs/benchmarks.md).
        The route keeps its ``response_model`` for the OpenAPI document.
        """
        answer = await self(read)
        return Response(answer.model_dump_json(by_alias=True), media_type="application/json")

    async def _direct(self, pool, query: PersonQuery[T]) -> T | object:
        """The read as one statement on the event loop (web/direct.py); _NOT_DIRECT for the general path."""
        token = self.credentials.credentials if self.credentials else ""
        if not token.startswith(SESSION_PREFIX):
            # No token: refused (and counted) by the general path. An app's read is audited there.
            return _NOT_DIRECT
        await _limit_from_loop(self.request, _address_key(self.request))
        rows = await query.with_session(pool, token_hash(token), get_security(self.request).now())
        if not rows:
            raise InvalidToken()
        session = rows[0]
        if session.session_subject_kind != Kind.PERSON.value:
            return _NOT_DIRECT  # staff: refused on the general path, with its own checks
        principal = person_principal(session.session_id, session.session_subject_id, session.session_purpose)
        await _limit_from_loop(self.request, _account_key(principal))
        allow_person_data(principal, self.scope)
        return query.answer_rows(rows)

    def _read(self, read: Callable[[Connection, int], T]) -> T:
        with read_connection(self.request) as conn:
            principal = authenticate(self.request, conn, self.credentials)
            allow_person_data(principal, self.scope)
            if principal.kind is not Kind.THIRD_PARTY:
                return read(conn, principal.person_id)
        # An app's read is audited first, in its own transaction (on SQLite a write must not
        # wait behind this thread's own open read).
        _note_app_access(self.request, principal, self.scope)
        with read_connection(self.request) as conn:
            return read(conn, principal.person_id)


_NOT_DIRECT = object()


async def _limit_from_loop(request: Request, key: str) -> None:
    """:func:`_limit` from the event loop: inline with in-memory counters, nothing when limits are off."""
    sec = get_security(request)
    if sec.settings.rate_limit_per_minute <= 0:
        return
    if isinstance(sec.counters, MemoryCounters):
        _limit(request, key)
    else:  # Redis: a network round trip must not block the event loop
        await run_in_threadpool(_limit, request, key)


def _note_app_access(request: Request, principal: Principal, scope: Scope) -> None:
    sec = get_security(request)
    now = sec.now()
    with get_engine(request).begin() as conn:
        audit.record(
            conn, actor=principal, action=f"app.{request.scope['route'].name}", at=now,
            subject_person_id=principal.person_id, client=client_address(request), detail={"scope": scope.value},
        )
        conn.execute(
            update(oauth_grants)
            .where(
                oauth_grants.c.id == principal.subject_id,
                (oauth_grants.c.last_used_at.is_(None)) | (oauth_grants.c.last_used_at < now - LAST_USED_RESOLUTION),
            )
            .values(last_used_at=now)
        )


def signed_in_person(principal: Principal = Depends(current_principal)) -> Principal:
    """The person's own session, also one limited to changing the password."""
    if principal.kind is not Kind.PERSON:
        raise Forbidden("此接口仅供参保人本人使用")
    return principal


def own_session(principal: Principal = Depends(signed_in_person)) -> Principal:
    """The person's own full session: account settings that no app may touch."""
    if principal.limited:
        raise PasswordChangeRequired()
    return principal


def any_session(principal: Principal = Depends(current_principal)) -> Principal:
    """A person's or staff member's session (signing out)."""
    if principal.session_id is None:
        raise Forbidden("应用令牌请通过撤销接口注销")
    return principal


class StaffPermission:
    """A staff member whose role holds ``permission`` (``security.permissions``)."""

    def __init__(self, permission: Permission):
        self.permission = permission

    def __call__(self, principal: Principal = Depends(current_principal)) -> Principal:
        if not principal.may(self.permission):
            raise Forbidden("此接口仅供经办机构授权人员使用")
        return principal


def institution(request: Request, key: str | None = Depends(api_key)) -> Principal:
    limit_address(request)
    if not key:
        raise Unauthenticated("请提供机构密钥", code="api_key_required")
    with read_connection(request) as conn:
        row = find_by_key(conn, key)
    if row is None:
        raise Unauthenticated("机构密钥无效", code="invalid_api_key")
    principal = Principal(Kind.INSTITUTION, row.id, client_id=row.code, region_code=row.region_code)
    _limit(request, _account_key(principal))
    return principal
