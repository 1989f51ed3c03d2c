"""The authorization matrix: every operation of the OpenAPI document, every kind of caller.

Operations come from the document itself: an endpoint without a rule here fails the test,
so a new endpoint cannot be forgotten. For each caller the answer must be the expected one
(allowed, 401, 403 or 404); person A never sees person B's data and B never sees A's;
staff reads land in the audit log; institutions get nothing but their own endpoint.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select

from api_support import START, TODAY, add_app, add_insured, add_pharmacy, add_staff_user, bearer, client_for, security
from yibao.clock import FixedClock
from yibao.security import evoucher, sessions
from yibao.security.principal import Scope
from yibao.security.staff import StaffRole
from yibao.security.tokens import ACCESS_PREFIX, new_token, token_hash
from yibao.store.models import audit_log, oauth_clients, oauth_grants, oauth_tokens, staff_users

APP_ROLES = [f"app:{scope.value}" for scope in Scope]
ROLES = ["anonymous", "person_a", "person_a_limited", "person_b", "agent", "auditor", "institution", *APP_ROLES]
PUBLIC = {
    "GET /health", "GET /ready",
    # signing in
    "POST /api/v1/auth/login", "POST /api/v1/auth/sms-code", "POST /api/v1/auth/login/sms", "POST /api/v1/staff/login",
    # general policy answers for a region and a date: no one's personal data
    "GET /api/v1/policy/credit", "GET /api/v1/policy/lifetime", "GET /api/v1/policy/withdraw",
    "GET /api/v1/policy/continuity", "GET /api/v1/policy/channels",
}
OK = {200, 202, 204}


def expected(allowed: dict[str, set[int]], *, bearer_endpoint: bool = True) -> dict[str, set[int]]:
    """Roles not named are refused: 401 without a usable credential, 403 with the wrong one."""
    refused = {}
    for role in ROLES:
        if role in allowed:
            refused[role] = allowed[role]
        elif role == "anonymous" or (bearer_endpoint and role == "institution") or (not bearer_endpoint):
            refused[role] = {401}
        else:
            refused[role] = {403}
    return refused


def person_data(scope: Scope, *, b_status: set[int] = OK) -> dict[str, set[int]]:
    return expected({"person_a": OK, "person_b": b_status, f"app:{scope.value}": OK})


RULES = {
    "POST /api/v1/auth/password": expected({"person_a": {200, 422}, "person_a_limited": {200, 422}, "person_b": {200, 422}}),
    "POST /api/v1/auth/logout": expected({"person_a": OK, "person_a_limited": OK, "person_b": OK, "agent": OK, "auditor": OK}),
    "GET /api/v1/me": person_data(Scope.PROFILE),
    "GET /api/v1/me/accounts": person_data(Scope.BALANCE),
    "GET /api/v1/me/details": person_data(Scope.DETAILS, b_status={404}),  # asks for A's account
    "GET /api/v1/me/contributions": person_data(Scope.CONTRIBUTIONS),
    "POST /api/v1/me/evoucher": person_data(Scope.EVOUCHER),
    "GET /api/v1/me/policy/credit": person_data(Scope.BALANCE),
    "GET /api/v1/me/policy/lifetime": person_data(Scope.CONTRIBUTIONS),
    "GET /api/v1/me/policy/withdraw": person_data(Scope.BALANCE),
    "GET /api/v1/me/policy/continuity": person_data(Scope.CONTRIBUTIONS),
    "GET /api/v1/me/apps": expected({"person_a": OK, "person_b": OK}),
    "DELETE /api/v1/me/apps/{grant_id}": expected({"person_a": {204, 404}, "person_b": {404}}),  # A's grant
    "POST /api/v1/staff/imports/contributions": expected({"agent": OK}),
    "POST /api/v1/staff/persons/search": expected({"agent": OK}),
    "GET /api/v1/staff/persons/{person_id}": expected({"agent": OK}),
    "GET /api/v1/staff/persons/{person_id}/accounts": expected({"agent": OK}),
    "GET /api/v1/staff/persons/{person_id}/details": expected({"agent": OK}),
    "GET /api/v1/staff/persons/{person_id}/contributions": expected({"agent": OK}),
    "GET /api/v1/audit": expected({"auditor": OK}),
    "POST /api/v1/institution/balance-check": expected({"institution": OK}, bearer_endpoint=False),
}


class World:
    """Two people, staff, a pharmacy and app grants; fresh credentials for every request."""

    def __init__(self, engine, client: TestClient, sec):
        self.engine, self.client, self.sec = engine, client, sec
        self.a = add_insured(engine, 1, balance_fen=123_456)
        self.b = add_insured(engine, 2, balance_fen=987_654)
        self.a_limited = add_insured(engine, 3, password="123456", must_change=True)
        add_staff_user(engine, "agent1", StaffRole.AGENT)
        add_staff_user(engine, "auditor1", StaffRole.AUDITOR)
        self.pharmacy_key = add_pharmacy(engine)
        add_app(engine, "miniapp", [scope.value for scope in Scope])
        add_app(engine, "otherapp", ["balance:read"])
        self.revocable_grant = self._grant("otherapp", "balance:read")

    def _grant(self, client_id: str, scope: str) -> int:
        with self.engine.begin() as conn:
            client_pk = conn.execute(select(oauth_clients.c.id).where(oauth_clients.c.client_id == client_id)).scalar_one()
            return conn.execute(
                insert(oauth_grants).values(person_id=self.a.person_id, client_id=client_pk, scope=scope, granted_at=START)
                .returning(oauth_grants.c.id)
            ).scalar_one()

    def _session(self, kind: str, subject_id: int, purpose: str = sessions.FULL) -> dict:
        with self.engine.begin() as conn:
            token, _ = sessions.open_session(conn, subject_kind=kind, subject_id=subject_id, purpose=purpose, method="password",
                                             client=None, now=START, ttl_seconds=1800)
        return bearer(token)

    def _app_token(self, scope: str) -> dict:
        grant_id, token = self._grant("miniapp", scope), new_token(ACCESS_PREFIX)
        with self.engine.begin() as conn:
            conn.execute(insert(oauth_tokens).values(grant_id=grant_id, access_token_hash=token_hash(token), scope=scope,
                                                     issued_at=START, access_expires_at=START + timedelta(hours=1)))
        return bearer(token)

    def _staff_id(self, username: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(staff_users.c.id).where(staff_users.c.username == username)).scalar_one()

    def headers(self, role: str) -> dict:
        if role.startswith("app:"):
            return self._app_token(role[4:])
        return {
            "anonymous": lambda: {},
            "person_a": lambda: self._session("person", self.a.person_id),
            "person_a_limited": lambda: self._session("person", self.a_limited.person_id, sessions.PASSWORD_CHANGE),
            "person_b": lambda: self._session("person", self.b.person_id),
            "agent": lambda: self._session("staff", self._staff_id("agent1")),
            "auditor": lambda: self._session("staff", self._staff_id("auditor1")),
            "institution": lambda: {"X-Api-Key": self.pharmacy_key},
        }[role]()

    def request(self, method: str, path: str, role: str):
        a = self.a
        url = path.format(person_id=a.person_id, grant_id=self.revocable_grant)
        params, body, files = {}, None, None
        if path.startswith("/api/v1/staff/persons/{"):
            params = {"reason": "权限矩阵测试"}
        if path == "/api/v1/me/details":
            params = {"account_id": a.account_id}
        if path == "/api/v1/me/policy/lifetime":
            params = {"retire_on": "2030-06-30"}
        if path == "/api/v1/me/policy/withdraw":
            params = {"reason": "death"}
        if path == "/api/v1/staff/imports/contributions":
            line = f"{a.id_number},2025-05,8000.00,480.00,160.00,职工医保,某公司,2025-05-15,否"
            files = {"file": ("jiaofei.csv", f"身份证号,缴费月份,缴费基数,单位缴费,个人缴费,险种,单位名称,缴费日期,补缴标志\n{line}\n".encode(), "text/csv")}
        if path == "/api/v1/staff/persons/search":
            body = {"id_number": a.id_number, "reason": "权限矩阵测试"}
        if path == "/api/v1/auth/password":
            body = {"old_password": a.password, "new_password": "Matrix2025pw"}
        if path == "/api/v1/institution/balance-check":
            with self.engine.begin() as conn:
                body = {"payload": evoucher.issue(conn, self.sec.key, person_id=a.person_id, issued_to="person", now=START, ttl_seconds=60).payload}
        if path in ("/api/v1/auth/login", "/api/v1/staff/login", "/api/v1/auth/sms-code", "/api/v1/auth/login/sms"):
            body = {"id_number": a.id_number, "card_number": a.card_number, "password": a.password, "code": "000000",
                    "username": "agent1"}
        if files:
            return self.client.request(method, url, params=params, files=files, headers=self.headers(role))
        return self.client.request(method, url, params=params, json=body, headers=self.headers(role))


def operations(client: TestClient) -> list[str]:
    document = client.get("/openapi.json").json()
    return [f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item]


def test_every_operation_has_a_rule(engine):
    with client_for(engine, security(FixedClock(START))) as client:
        missing = set(operations(client)) - set(RULES) - PUBLIC
        stale = set(RULES) | PUBLIC
        assert not missing, f"operations without an authorization rule: {sorted(missing)}"
        assert stale <= set(operations(client)), f"rules for operations that no longer exist: {sorted(stale - set(operations(client)))}"


def test_every_caller_gets_exactly_what_the_matrix_allows(engine):
    with client_for(engine, security(FixedClock(START))) as client:
        world = World(engine, client, client.app.state.security)
        a_marks = [world.a.name, world.a.id_number, world.a.id_number[-4:] + '"', "123456", "1,234.56"]
        b_marks = [world.b.name, world.b.id_number, world.b.id_number[-4:] + '"', "987654", "9,876.54"]
        failures = []
        for operation in operations(client):
            method, path = operation.split(" ", 1)
            for role in ROLES:
                answer = world.request(method, path, role)
                if answer.status_code >= 500:
                    failures.append(f"{operation} as {role}: {answer.status_code}")
                if operation in PUBLIC:
                    if any(mark in answer.text for mark in a_marks[:2] + b_marks[:2]):
                        failures.append(f"{operation} as {role}: public, yet shows personal data")
                    continue
                if answer.status_code not in RULES[operation][role]:
                    failures.append(f"{operation} as {role}: {answer.status_code}, expected {sorted(RULES[operation][role])}")
                leaked = b_marks if role not in ("person_b", "agent", "auditor") else a_marks if role == "person_b" else []
                if any(mark in answer.text for mark in leaked):
                    failures.append(f"{operation} as {role}: shows the other person's data")
                if role == "institution" and answer.status_code == 200 and world.a.id_number in answer.text:
                    failures.append(f"{operation} as institution: full ID number")
        assert failures == []


def test_every_staff_read_of_a_person_is_audited(engine):
    with client_for(engine, security(FixedClock(START))) as client:
        world = World(engine, client, client.app.state.security)
        staff_operations = [op for op in operations(client) if op.split(" ", 1)[1].startswith("/api/v1/staff/persons")]
        assert len(staff_operations) == 5
        for operation in staff_operations:
            method, path = operation.split(" ", 1)
            with engine.connect() as conn:
                before = conn.execute(select(func.count()).select_from(audit_log).where(audit_log.c.actor_kind == "staff")).scalar_one()
            assert world.request(method, path, "agent").status_code == 200
            with engine.connect() as conn:
                entry = conn.execute(select(audit_log).where(audit_log.c.actor_kind == "staff").order_by(audit_log.c.id.desc())).mappings().first()
                after = conn.execute(select(func.count()).select_from(audit_log).where(audit_log.c.actor_kind == "staff")).scalar_one()
            assert after == before + 1, operation
            assert entry["reason"] == "权限矩阵测试" and entry["subject_person_id"] == world.a.person_id, operation


def test_the_rules_cover_every_role(engine):
    assert all(set(rule) == set(ROLES) for rule in RULES.values())
    assert TODAY.year == 2025  # the fixtures' dates are fixed, not today's
