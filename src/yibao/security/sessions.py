"""Sign-in sessions of people and staff: opaque bearer tokens, stored hashed, expiring, revocable.

Each session belongs to the channel it was opened on and is found only there: a kiosk's
card + PIN session is no API token and no portal cookie (it skipped the password and its
forced change), and a web sign-in opens no kiosk screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, insert, select, update

from yibao.security.tokens import SESSION_PREFIX, new_token, token_hash
from yibao.store.models import auth_sessions

FULL = "full"
PASSWORD_CHANGE = "password_change"

# Channels: the API's bearer tokens and the portal (password or SMS sign-in), the
# self-service kiosk (card + service PIN), the agency counter's pages (staff).
WEB = "web"
KIOSK = "kiosk"
COUNTER = "counter"


@dataclass(frozen=True)
class SessionRow:
    id: int
    subject_kind: str
    subject_id: int
    purpose: str
    expires_at: datetime


def open_session(
    conn: Connection,
    *,
    subject_kind: str,
    subject_id: int,
    purpose: str,
    method: str,
    channel: str,
    client: str | None,
    now: datetime,
    ttl_seconds: int,
) -> tuple[str, datetime]:
    token = new_token(SESSION_PREFIX)
    expires_at = now + timedelta(seconds=ttl_seconds)
    conn.execute(
        insert(auth_sessions).values(
            token_hash=token_hash(token),
            subject_kind=subject_kind,
            subject_id=subject_id,
            purpose=purpose,
            method=method,
            channel=channel,
            client=(client or "")[:64] or None,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return token, expires_at


# Built once: this runs on every authenticated request, and building the statement (and its
# cache key) anew each time costs more CPU than executing it.
_LIVE_SESSION = select(
    auth_sessions.c.id,
    auth_sessions.c.subject_kind,
    auth_sessions.c.subject_id,
    auth_sessions.c.purpose,
    auth_sessions.c.expires_at,
).where(
    auth_sessions.c.token_hash == bindparam("token_hash"),
    auth_sessions.c.channel == bindparam("channel"),
    auth_sessions.c.revoked_at.is_(None),
    auth_sessions.c.expires_at > bindparam("now"),
)


def find_session(conn: Connection, token: str, now: datetime, channel: str) -> SessionRow | None:
    """The live session of ``token`` on ``channel``; None when unknown, expired, revoked or opened elsewhere."""
    row = conn.execute(_LIVE_SESSION, {"token_hash": token_hash(token), "now": now, "channel": channel}).first()
    return SessionRow(*row) if row else None


def revoke_session(conn: Connection, session_id: int, now: datetime) -> None:
    conn.execute(
        update(auth_sessions)
        .where(auth_sessions.c.id == session_id, auth_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def revoke_all(conn: Connection, subject_kind: str, subject_id: int, now: datetime) -> None:
    conn.execute(
        update(auth_sessions)
        .where(
            auth_sessions.c.subject_kind == subject_kind,
            auth_sessions.c.subject_id == subject_id,
            auth_sessions.c.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
