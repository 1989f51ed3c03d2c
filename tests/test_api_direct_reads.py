"""The balance read served directly on PostgreSQL (web/direct.py) answers exactly as the general path.

Each test runs on both backends: SQLite has no direct pool, so there the same requests take
the general path, and both must give the same statuses and answers. A spy counts the direct
statements, so a test fails if PostgreSQL silently stopped using the direct path.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import psycopg
import pytest

from sqlalchemy import insert, select

from api_support import (
    START,
    RecordingSender,
    add_app,
    add_insured,
    add_resident,
    add_staff_user,
    bearer,
    client_for,
    later,
    login,
    person_token,
    security,
    settings,
    staff_headers,
)
from redis_support import memory_or_redis
from yibao.clock import FixedClock
from yibao.security import sessions
from yibao.security.context import Security
from yibao.security.counters import MemoryCounters, RedisCounters
from yibao.security.principal import Kind
from yibao.security.staff import StaffRole
from yibao.security.tokens import ACCESS_PREFIX, new_token, token_hash
from yibao.store.models import audit_log, oauth_clients, oauth_grants, oauth_tokens
from yibao.web.api.reads import account_list
from yibao.web.direct import PersonQuery, new_pool

ACCOUNTS = "/api/v1/me/accounts"


@pytest.fixture
def direct_statements(monkeypatch) -> list[str]:
    """Records each direct statement run (by the token hash it looked for)."""
    seen: list[str] = []
    original = PersonQuery.with_session

    async def spy(self, pool, token_hash_value, now):
        seen.append(token_hash_value)
        return await original(self, pool, token_hash_value, now)

    monkeypatch.setattr(PersonQuery, "with_session", spy)
    return seen


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def client(engine, clock):
    with client_for(engine, security(clock)) as client:
        yield client


def expected_direct(engine, count: int) -> int:
    return count if engine.dialect.name == "postgresql" else 0


def test_the_pool_exists_exactly_on_postgresql_and_takes_its_size_from_the_settings(engine, clock):
    with client_for(engine, security(clock, direct_pool_size=3)) as client:
        pool = client.app.state.direct_pool
        assert (pool is not None) == (engine.dialect.name == "postgresql")
        if pool is not None:
            assert pool.max_size == 3 and not pool.closed
    assert client.app.state.direct_pool is None  # closed with the app
    if pool is not None:
        assert pool.closed


def test_own_accounts_in_one_statement(engine, client, direct_statements):
    alice, bob = add_insured(engine, 1), add_insured(engine, 2, balance_fen=5_000)
    for person, balance in ((alice, 123_456), (bob, 5_000)):
        body = client.get(ACCOUNTS, headers=person_token(client, person)).json()
        assert [(a["id"], a["balance_fen"], a["status_label"]) for a in body["accounts"]] == [(person.account_id, balance, "正常")]
        assert body["total_balance_fen"] == balance
    assert len(direct_statements) == expected_direct(engine, 2)


def test_a_person_without_an_account_gets_an_empty_list(engine, client, direct_statements):
    resident = add_resident(engine, 3)
    body = client.get(ACCOUNTS, headers=person_token(client, resident)).json()
    assert body == {"accounts": [], "total_balance_fen": 0}
    assert len(direct_statements) == expected_direct(engine, 1)


def test_expired_revoked_and_unknown_tokens_are_refused(engine, client, clock, direct_statements):
    alice = add_insured(engine, 1)
    auth = person_token(client, alice)
    assert client.get(ACCOUNTS, headers=auth).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=auth).status_code < 300
    revoked = client.get(ACCOUNTS, headers=auth)
    assert revoked.status_code == 401 and revoked.json()["error"]["code"] == "invalid_token"
    unknown = client.get(ACCOUNTS, headers=bearer("ybs_" + "x" * 43))
    assert unknown.status_code == 401 and unknown.json()["error"]["code"] == "invalid_token"
    fresh = person_token(client, alice)
    later(clock, days=2)
    expired = client.get(ACCOUNTS, headers=fresh)
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "invalid_token"
    assert client.get(ACCOUNTS).status_code == 401  # no token at all: refused before any statement
    assert len(direct_statements) == expected_direct(engine, 4)


def test_a_session_limited_to_changing_the_password_sees_nothing(engine, client, direct_statements):
    weak = add_insured(engine, 1, password="123456", must_change=True)
    limited = login(client, weak).json()
    answer = client.get(ACCOUNTS, headers=bearer(limited["access_token"]))
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "password_change_required"
    assert len(direct_statements) == expected_direct(engine, 1)


def test_staff_sessions_take_the_general_path_and_are_refused(engine, client, direct_statements):
    add_insured(engine, 1)
    add_staff_user(engine, "agent1", StaffRole.AGENT)
    answer = client.get(ACCOUNTS, headers=staff_headers(client, "agent1"))
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "forbidden"
    # A staff id may equal a person id: the direct statement joins no person's rows to a staff session.
    with engine.begin() as conn:
        token, _ = sessions.open_session(conn, subject_kind="staff", subject_id=1, purpose=sessions.FULL, method="password",
                                         channel=sessions.WEB, client=None, now=START, ttl_seconds=600)
    assert client.get(ACCOUNTS, headers=bearer(token)).status_code in (401, 403)


@pytest.mark.parametrize("channel", [sessions.KIOSK, sessions.COUNTER])
def test_a_kiosk_or_counter_session_is_refused_on_both_paths(engine, client, direct_statements, channel):
    alice = add_insured(engine, 1)
    with engine.begin() as conn:
        token, _ = sessions.open_session(conn, subject_kind="person", subject_id=alice.person_id, purpose=sessions.FULL,
                                         method="kiosk_pin", channel=channel, client=None, now=START, ttl_seconds=600)
    answer = client.get(ACCOUNTS, headers=bearer(token))
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "invalid_token"
    assert len(direct_statements) == expected_direct(engine, 1)


def test_an_app_token_takes_the_general_path_and_its_read_is_audited(engine, client, direct_statements):
    alice = add_insured(engine, 1)
    add_app(engine, "miniapp", ["balance:read"])
    token = new_token(ACCESS_PREFIX)
    with engine.begin() as conn:
        client_pk = conn.execute(select(oauth_clients.c.id).where(oauth_clients.c.client_id == "miniapp")).scalar_one()
        grant_id = conn.execute(
            insert(oauth_grants).values(person_id=alice.person_id, client_id=client_pk, scope="balance:read", granted_at=START)
            .returning(oauth_grants.c.id)
        ).scalar_one()
        conn.execute(insert(oauth_tokens).values(grant_id=grant_id, access_token_hash=token_hash(token), scope="balance:read",
                                                 issued_at=START, access_expires_at=START + timedelta(hours=1)))
    answer = client.get(ACCOUNTS, headers=bearer(token))
    assert answer.status_code == 200 and answer.json()["total_balance_fen"] == 123_456
    assert direct_statements == []
    with engine.connect() as conn:
        actions = conn.execute(select(audit_log.c.action).where(audit_log.c.subject_person_id == alice.person_id)).scalars().all()
    assert "app.my_accounts" in actions


@pytest.fixture(params=["memory", "redis"])
def counters(request, clock):
    yield from memory_or_redis(request.param, lambda: MemoryCounters(clock), RedisCounters)


def test_rate_limits_count_direct_reads(engine, clock, counters, direct_statements):
    """In-memory counters are checked on the event loop, Redis ones in the thread pool: same counts."""
    alice = add_insured(engine, 1)
    sec = Security(settings(rate_limit_per_minute=3), clock=clock, counters=counters, sms=RecordingSender())
    with client_for(engine, sec) as client:
        auth = person_token(client, alice)
        statuses = [client.get(ACCOUNTS, headers=auth).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert len(direct_statements) == expected_direct(engine, 3)


def test_requests_without_a_token_count_against_the_address_as_on_the_general_path(engine, clock, direct_statements):
    with client_for(engine, security(clock, rate_limit_per_minute=3)) as client:
        statuses = [client.get(ACCOUNTS).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    assert direct_statements == []


# ---------------------------------------------------------------------------- batching (PostgreSQL only)

POSTGRES_ONLY = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


def _session_hash(engine, person_id: int) -> str:
    with engine.begin() as conn:
        token, _ = sessions.open_session(
            conn, subject_kind=Kind.PERSON.value, subject_id=person_id, purpose=sessions.FULL, method="password",
            channel=sessions.WEB, client="127.0.0.1", now=START, ttl_seconds=3600,
        )
    return token_hash(token)


def _with_one_connection(engine, scenario):
    """Runs ``scenario(pool)`` on a fresh direct pool of one connection: every request waits for it."""
    async def run():
        pool = new_pool(engine, max_size=1, min_size=1)
        await pool.open()
        try:
            return await scenario(pool)
        finally:
            await pool.close()

    return asyncio.run(run())


@POSTGRES_ONLY
def test_reads_waiting_for_a_connection_share_one_statement_and_each_gets_only_its_own_rows(engine, monkeypatch):
    alice, bob = add_insured(engine, 1), add_insured(engine, 2, balance_fen=5_000)
    alice_hash, bob_hash, unknown = _session_hash(engine, alice.person_id), _session_hash(engine, bob.person_id), "0" * 64
    statements: list[list[str]] = []
    original = PersonQuery.run

    async def counted(self, conn, token_hashes, now):
        statements.append(list(token_hashes))
        return await original(self, conn, token_hashes, now)

    monkeypatch.setattr(PersonQuery, "run", counted)
    wanted = [alice_hash, bob_hash, unknown, alice_hash] * 3
    answers = _with_one_connection(engine, lambda pool: asyncio.gather(
        *(account_list.with_session(pool, hash_value, START) for hash_value in wanted)
    ))
    assert statements == [sorted({alice_hash, bob_hash, unknown})]  # twelve requests, one statement
    expected = {alice_hash: [alice.account_id], bob_hash: [bob.account_id], unknown: []}
    for hash_value, rows in zip(wanted, answers):
        assert {row.session_token_hash for row in rows} <= {hash_value}
        assert [row.id for row in rows] == expected[hash_value]


@POSTGRES_ONLY
def test_a_failed_statement_fails_the_reads_it_carried_and_the_next_read_is_served(engine, monkeypatch):
    alice = add_insured(engine, 1)
    alice_hash = _session_hash(engine, alice.person_id)
    original, calls = PersonQuery.run, []

    async def failing_once(self, conn, token_hashes, now):
        calls.append(token_hashes)
        if len(calls) == 1:
            raise psycopg.OperationalError("the connection was lost")
        return await original(self, conn, token_hashes, now)

    monkeypatch.setattr(PersonQuery, "run", failing_once)

    async def scenario(pool):
        first = await asyncio.gather(*(account_list.with_session(pool, alice_hash, START) for _ in range(3)), return_exceptions=True)
        return first, await account_list.with_session(pool, alice_hash, START)

    first, second = _with_one_connection(engine, scenario)
    assert [type(answer) for answer in first] == [psycopg.OperationalError] * 3
    assert [row.id for row in second] == [alice.account_id]
