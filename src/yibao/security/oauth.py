"""OAuth 2.0 authorization server for third-party apps (mini-programs): code flow + PKCE.

Built on Authlib's framework-neutral server. Apps are registered (``yibao app add``); a
person grants an app a subset of its scopes on the consent page; the app exchanges the
code (with its PKCE verifier, S256 only) for an access token limited to those scopes and
a refresh token (rotated on every use). Codes live 5 minutes and work once: a second use
revokes every token of that grant. A refresh token is claimed by one conditional UPDATE in
the transaction that stores the new pair, so of requests sent together only one gets a pair;
presenting a token that was already rotated means it was copied, and revokes every token of
its grant (the token family). The person can revoke a grant from their settings; the app
can revoke its tokens (RFC 7009).

Everything is stored hashed. The web channel wraps requests in :class:`FormRequest` and
turns :class:`OAuthAnswer` into its own responses.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from authlib.oauth2 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749 import ClientMixin, InvalidGrantError, InvalidRequestError, OAuth2Payload, grants
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from sqlalchemy import Connection, Engine, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from yibao.errors import InvalidInput, NotFound
from yibao.security.context import Security, as_utc
from yibao.security.principal import PERSON_SCOPES, Kind, Principal
from yibao.security.tokens import ACCESS_PREFIX, CODE_PREFIX, REFRESH_PREFIX, new_token, same, token_hash
from yibao.store.models import oauth_clients, oauth_codes, oauth_grants, oauth_tokens

SECRET_METHODS = ("client_secret_basic", "client_secret_post")


# ---------------------------------------------------------------------------- registration


def add_client(
    conn: Connection, *, client_id: str, name: str, redirect_uris: list[str], scopes: list[str], confidential: bool
) -> str | None:
    """Register an app; returns its client secret (shown once) when it is confidential."""
    if not client_id or len(client_id) > 64 or not client_id.isascii() or not client_id.replace("-", "").replace("_", "").isalnum():
        raise InvalidInput("应用标识应为1-64位字母、数字、短横线或下划线", field="client_id", code="client_id_format")
    if not redirect_uris or any(not uri.startswith(("https://", "http://127.0.0.1", "http://localhost")) for uri in redirect_uris):
        raise InvalidInput("回调地址须为 https 地址（本机调试可用 http://127.0.0.1）", field="redirect_uri", code="redirect_uri")
    unknown = set(scopes) - {scope.value for scope in PERSON_SCOPES}
    if not scopes or unknown:
        raise InvalidInput(f"未知的授权范围：{' '.join(sorted(unknown)) or '（空）'}", field="scope", code="scope_unknown")
    secret = new_token("") if confidential else None
    try:
        with conn.begin_nested():
            conn.execute(
                insert(oauth_clients).values(
                    client_id=client_id, name=name, secret_hash=token_hash(secret) if secret else None,
                    redirect_uris=list(redirect_uris), scopes=" ".join(sorted(set(scopes))),
                )
            )
    except IntegrityError as error:
        raise InvalidInput("该应用标识已存在", field="client_id", code="client_id_taken") from error
    return secret


def deactivate_client(conn: Connection, client_id: str) -> None:
    """The app can no longer be authorized or use its tokens."""
    changed = conn.execute(update(oauth_clients).where(oauth_clients.c.client_id == client_id).values(active=False)).rowcount
    if changed != 1:
        raise NotFound("未找到该应用", field="client_id", code="client_not_found")


# ---------------------------------------------------------------------------- Authlib models


@dataclass(frozen=True)
class PersonUser:
    person_id: int

    def get_user_id(self) -> int:
        return self.person_id


class AppClient(ClientMixin):
    def __init__(self, row):
        self.row = row
        self.id = row.id
        self.client_id = row.client_id
        self.name = row.name
        self.allowed = frozenset(row.scopes.split())
        self.redirect_uris = list(row.redirect_uris if isinstance(row.redirect_uris, list) else json.loads(row.redirect_uris))

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        # Always require the redirect_uri: no guessing which one the app meant.
        return None

    def get_allowed_scope(self, scope):
        requested = set((scope or "").split())
        if not requested or not requested <= self.allowed:
            return None
        return " ".join(sorted(requested))

    def check_redirect_uri(self, redirect_uri):
        return any(same(redirect_uri, allowed) for allowed in self.redirect_uris)

    def check_client_secret(self, client_secret):
        return self.row.secret_hash is not None and same(token_hash(client_secret or ""), self.row.secret_hash)

    def check_endpoint_auth_method(self, method, endpoint):
        if self.row.secret_hash is None:
            return method == "none"
        return method in SECRET_METHODS

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type in ("authorization_code", "refresh_token")


@dataclass
class CodeRecord:
    id: int
    grant_id: int
    person_id: int
    redirect_uri: str
    scope: str
    code_challenge: str
    code_challenge_method: str

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope


@dataclass
class TokenRecord:
    id: int
    grant_id: int
    person_id: int
    client_pk: int
    scope: str

    def check_client(self, client):
        return client.id == self.client_pk

    def get_scope(self):
        return self.scope


# ---------------------------------------------------------------------------- requests and answers


class _Payload(OAuth2Payload):
    def __init__(self, pairs: list[tuple[str, str]]):
        self._datalist = defaultdict(list)
        for key, value in pairs:
            self._datalist[key].append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self):
        return self._data

    @property
    def datalist(self):
        return self._datalist


class FormRequest(OAuth2Request):
    """A request as Authlib needs it: method, URL, headers, query and form pairs."""

    def __init__(self, method: str, uri: str, headers: dict, query: list[tuple[str, str]], form: list[tuple[str, str]]):
        super().__init__(method, uri, headers=headers)
        self.payload = _Payload(query + form)
        self._args = dict(query)
        self._form = dict(form)

    @property
    def args(self):
        return self._args

    @property
    def form(self):
        return self._form


@dataclass(frozen=True)
class OAuthAnswer:
    status: int
    body: dict | str
    headers: list[tuple[str, str]]

    @property
    def location(self) -> str | None:
        return next((value for key, value in self.headers if key.lower() == "location"), None)


# ---------------------------------------------------------------------------- grants


class S256Required(CodeChallenge):
    """PKCE is required of every app, and only with S256 (plain would defeat its purpose)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge' (PKCE S256 is required)")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [*SECRET_METHODS, "none"]

    def save_authorization_code(self, code, request):
        server: YibaoAuthorizationServer = self.server
        now = server.security.now()
        with server.engine.begin() as conn:
            grant_id = _upsert_grant(conn, request.user.person_id, request.client.id, request.scope, now)
            conn.execute(
                insert(oauth_codes).values(
                    code_hash=token_hash(code),
                    grant_id=grant_id,
                    redirect_uri=request.payload.redirect_uri,
                    scope=request.scope,
                    code_challenge=request.payload.data["code_challenge"],
                    code_challenge_method=request.payload.data["code_challenge_method"],
                    expires_at=now + timedelta(seconds=server.security.settings.oauth_code_ttl_seconds),
                )
            )

    def generate_authorization_code(self):
        return new_token(CODE_PREFIX)

    def query_authorization_code(self, code, client):
        server: YibaoAuthorizationServer = self.server
        now = server.security.now()
        with server.engine.begin() as conn:
            row = conn.execute(
                select(oauth_codes, oauth_grants.c.person_id, oauth_grants.c.client_id.label("client_pk"))
                .join(oauth_grants, oauth_grants.c.id == oauth_codes.c.grant_id)
                .where(oauth_codes.c.code_hash == token_hash(code), oauth_grants.c.client_id == client.id)
            ).mappings().first()
            if row is None:
                return None
            # Claimed by the statement that checks it, so two exchanges cannot both succeed.
            claimed = conn.execute(
                update(oauth_codes)
                .where(oauth_codes.c.id == row["id"], oauth_codes.c.used_at.is_(None), oauth_codes.c.expires_at > now)
                .values(used_at=now)
            ).rowcount
            if not claimed:
                if row["used_at"] is not None:  # a replayed code: what it gave may be stolen
                    _revoke_tokens(conn, row["grant_id"], now)
                return None
        return CodeRecord(
            row["id"], row["grant_id"], row["person_id"], row["redirect_uri"], row["scope"],
            row["code_challenge"], row["code_challenge_method"],
        )

    def delete_authorization_code(self, authorization_code):
        pass  # already spent when it was claimed

    def authenticate_user(self, authorization_code):
        return PersonUser(authorization_code.person_id)


class RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [*SECRET_METHODS, "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        server: YibaoAuthorizationServer = self.server
        now, digest = server.security.now(), token_hash(refresh_token)
        with server.engine.begin() as conn:
            rotated = conn.execute(
                select(oauth_tokens.c.grant_id).where(oauth_tokens.c.refresh_token_hash == digest, oauth_tokens.c.rotated_at.is_not(None))
            ).scalar()
            if rotated is not None:  # exchanged before: a copy is in someone else's hands
                _revoke_tokens(conn, rotated, now)
                return None
            return _find_token(conn, oauth_tokens.c.refresh_token_hash == digest, now, refresh=True)

    def authenticate_user(self, refresh_token):
        return PersonUser(refresh_token.person_id)

    def revoke_old_credential(self, refresh_token):
        pass  # rotated by the claim in save_token, with the new pair


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = [*SECRET_METHODS, "none"]

    def query_token(self, token_string, token_type_hint):
        server: YibaoAuthorizationServer = self.server
        digest = token_hash(token_string)
        with server.engine.connect() as conn:
            where = or_(oauth_tokens.c.access_token_hash == digest, oauth_tokens.c.refresh_token_hash == digest)
            return _find_token(conn, where, None, refresh=False)

    def revoke_token(self, token, request):
        server: YibaoAuthorizationServer = self.server
        with server.engine.begin() as conn:
            conn.execute(
                update(oauth_tokens)
                .where(oauth_tokens.c.id == token.id, oauth_tokens.c.revoked_at.is_(None))
                .values(revoked_at=server.security.now())
            )


# ---------------------------------------------------------------------------- the server


class YibaoAuthorizationServer(AuthorizationServer):
    def __init__(self, engine: Engine, security: Security):
        super().__init__(scopes_supported=sorted(scope.value for scope in PERSON_SCOPES))
        self.engine = engine
        self.security = security
        settings = security.settings
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                lambda **_: new_token(ACCESS_PREFIX),
                lambda **_: new_token(REFRESH_PREFIX),
                lambda client, grant_type: settings.oauth_access_ttl_seconds,
            ),
        )
        self.register_grant(CodeGrant, [S256Required(required=True)])
        self.register_grant(RefreshGrant)
        self.register_endpoint(Revocation)

    def query_client(self, client_id):
        with self.engine.connect() as conn:
            row = conn.execute(
                select(oauth_clients).where(oauth_clients.c.client_id == client_id, oauth_clients.c.active.is_(True))
            ).first()
        return AppClient(row) if row else None

    def save_token(self, token, request):
        now = self.security.now()
        source = request.authorization_code or request.refresh_token
        settings = self.security.settings
        refresh = token.get("refresh_token")
        with self.engine.begin() as conn:
            if request.refresh_token is not None and not _claim_refresh_token(conn, request.refresh_token.id, now):
                raise InvalidGrantError()  # another request with the same token got the new pair
            conn.execute(
                insert(oauth_tokens).values(
                    grant_id=source.grant_id,
                    access_token_hash=token_hash(token["access_token"]),
                    refresh_token_hash=token_hash(refresh) if refresh else None,
                    scope=token.get("scope", source.scope),
                    issued_at=now,
                    access_expires_at=now + timedelta(seconds=token["expires_in"]),
                    refresh_expires_at=now + timedelta(seconds=settings.oauth_refresh_ttl_seconds) if refresh else None,
                )
            )

    def create_oauth2_request(self, request):
        return request

    def create_json_request(self, request):
        raise NotImplementedError("no JSON endpoints")

    def handle_response(self, status, body, headers):
        return OAuthAnswer(status, body, list(headers))

    def send_signal(self, name, *args, **kwargs):
        pass


# ---------------------------------------------------------------------------- storage helpers


def _upsert_grant(conn: Connection, person_id: int, client_pk: int, scope: str, now: datetime) -> int:
    """One live grant per person and app; granting again replaces its scopes."""
    live = and_(oauth_grants.c.person_id == person_id, oauth_grants.c.client_id == client_pk, oauth_grants.c.revoked_at.is_(None))
    grant_id = conn.execute(select(oauth_grants.c.id).where(live)).scalar()
    if grant_id is not None:
        conn.execute(update(oauth_grants).where(oauth_grants.c.id == grant_id).values(scope=scope, granted_at=now))
        return grant_id
    return conn.execute(
        insert(oauth_grants)
        .values(person_id=person_id, client_id=client_pk, scope=scope, granted_at=now)
        .returning(oauth_grants.c.id)
    ).scalar_one()


def _find_token(conn: Connection, where, now: datetime | None, *, refresh: bool) -> TokenRecord | None:
    conditions = [where, oauth_tokens.c.revoked_at.is_(None), oauth_grants.c.revoked_at.is_(None)]
    if refresh:
        conditions.append(oauth_tokens.c.refresh_expires_at > now)
    row = conn.execute(
        select(oauth_tokens.c.id, oauth_tokens.c.grant_id, oauth_grants.c.person_id, oauth_grants.c.client_id, oauth_tokens.c.scope)
        .join(oauth_grants, oauth_grants.c.id == oauth_tokens.c.grant_id)
        .where(*conditions)
    ).first()
    return TokenRecord(*row) if row else None


def _claim_refresh_token(conn: Connection, token_id: int, now: datetime) -> bool:
    """Rotate the refresh token away; False when a concurrent request did it first. On PostgreSQL
    the losers wait for the winner's row lock and then find the token rotated; SQLite's writers
    take turns."""
    claimed = conn.execute(
        update(oauth_tokens)
        .where(oauth_tokens.c.id == token_id, oauth_tokens.c.rotated_at.is_(None), oauth_tokens.c.revoked_at.is_(None))
        .values(rotated_at=now, revoked_at=now)
        .returning(oauth_tokens.c.id)
    ).first()
    return claimed is not None


def _revoke_tokens(conn: Connection, grant_id: int, now: datetime) -> None:
    conn.execute(
        update(oauth_tokens).where(oauth_tokens.c.grant_id == grant_id, oauth_tokens.c.revoked_at.is_(None)).values(revoked_at=now)
    )


def principal_for_access_token(conn: Connection, token: str, now: datetime) -> Principal | None:
    row = conn.execute(
        select(oauth_tokens.c.id, oauth_tokens.c.scope, oauth_grants.c.id.label("grant_id"), oauth_grants.c.person_id, oauth_clients.c.client_id)
        .join(oauth_grants, oauth_grants.c.id == oauth_tokens.c.grant_id)
        .join(oauth_clients, oauth_clients.c.id == oauth_grants.c.client_id)
        .where(
            oauth_tokens.c.access_token_hash == token_hash(token),
            oauth_tokens.c.revoked_at.is_(None),
            oauth_tokens.c.access_expires_at > now,
            oauth_grants.c.revoked_at.is_(None),
            oauth_clients.c.active.is_(True),
        )
    ).first()
    if row is None:
        return None
    return Principal(
        Kind.THIRD_PARTY, row.grant_id, person_id=row.person_id, scopes=frozenset(row.scope.split()),
        client_id=row.client_id, token_id=row.id,
    )


# ---------------------------------------------------------------------------- the person's settings


def authorized_apps(conn: Connection, person_id: int) -> list[dict]:
    rows = conn.execute(
        select(
            oauth_grants.c.id, oauth_clients.c.client_id, oauth_clients.c.name, oauth_grants.c.scope,
            oauth_grants.c.granted_at, oauth_grants.c.last_used_at,
        )
        .join(oauth_clients, oauth_clients.c.id == oauth_grants.c.client_id)
        .where(oauth_grants.c.person_id == person_id, oauth_grants.c.revoked_at.is_(None))
        .order_by(oauth_grants.c.granted_at.desc())
    ).mappings()
    return [dict(row) | {"granted_at": as_utc(row["granted_at"]), "last_used_at": row["last_used_at"] and as_utc(row["last_used_at"])} for row in rows]


def revoke_all_grants(conn: Connection, person_id: int, now: datetime) -> int:
    """Every app authorization of the person ends, tokens included (a password change); how many there were."""
    grant_ids = conn.execute(
        select(oauth_grants.c.id).where(oauth_grants.c.person_id == person_id, oauth_grants.c.revoked_at.is_(None))
    ).scalars().all()
    for grant_id in grant_ids:
        revoke_grant(conn, person_id, grant_id, now)
    return len(grant_ids)


def revoke_grant(conn: Connection, person_id: int, grant_id: int, now: datetime) -> None:
    """The person withdraws an app's authorization: the grant and all its tokens stop working."""
    done = conn.execute(
        update(oauth_grants)
        .where(oauth_grants.c.id == grant_id, oauth_grants.c.person_id == person_id, oauth_grants.c.revoked_at.is_(None))
        .values(revoked_at=now)
    ).rowcount
    if not done:
        raise NotFound("未找到该授权", field="grant_id", code="grant_not_found")
    _revoke_tokens(conn, grant_id, now)
