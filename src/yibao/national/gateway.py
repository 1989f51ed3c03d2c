"""Who is calling: the institution's API key, or the TIF gateway's signature headers.

TIF (seen in Guangdong, Hebei and elsewhere): ``x-tif-paasid`` names the caller (here the
institution code), ``x-tif-timestamp`` is unix seconds, ``x-tif-nonce`` random, and
``x-tif-signature`` the lowercase hex SHA-256 of ``timestamp + secret + nonce + timestamp``.
The secret is derived from the server key, the institution code and a generation number
stored on the institution (rotating it bumps the number), so no secret is stored. A request
is accepted within five minutes of its timestamp and each nonce only once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from yibao.errors import InvalidInput, NotFound
from yibao.security.errors import Unauthenticated
from yibao.security.institutions import CALLER_COLUMNS, find_by_key
from yibao.security.principal import Kind, Principal
from yibao.store.db import insert_unique, read_connection
from yibao.store.models import institutions, national_nonces

WINDOW = timedelta(minutes=5)
MAX_NONCE = 64
TIF_HEADERS = ("x-tif-paasid", "x-tif-timestamp", "x-tif-nonce", "x-tif-signature")


def tif_secret(key: bytes, code: str, generation: int) -> str:
    digest = hmac.new(key, f"yibao-tif|{code}|{generation}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()[:32]


def issue_tif_secret(conn: Connection, key: bytes, code: str) -> str:
    """A new TIF secret for the institution (shown once); the previous one stops working at once."""
    changed = conn.execute(
        update(institutions).where(institutions.c.code == code)
        .values(tif_generation=func.coalesce(institutions.c.tif_generation, 0) + 1)
    ).rowcount
    if changed != 1:
        raise NotFound("未找到该机构", field="code", code="institution_not_found")
    generation = conn.execute(select(institutions.c.tif_generation).where(institutions.c.code == code)).scalar_one()
    return tif_secret(key, code, generation)


def authenticate(engine: Engine, key: bytes, headers, now: datetime):
    """The caller as a principal, and its institution's row (read once, for the whole message)."""
    api_key = headers.get("x-api-key")
    if api_key:
        with read_connection(engine) as conn:
            row = find_by_key(conn, api_key)
        if row is None:
            raise Unauthenticated("机构密钥无效", code="invalid_api_key")
        return _principal(row), row
    if any(headers.get(name) for name in TIF_HEADERS):
        row = _tif(engine, key, headers, now)
        return _principal(row), row
    raise Unauthenticated("请提供机构密钥（X-Api-Key）或签名请求头（x-tif-*）", code="api_key_required")


def _principal(row) -> Principal:
    return Principal(Kind.INSTITUTION, row.id, client_id=row.code, region_code=row.region_code)


def _tif(engine: Engine, key: bytes, headers, now: datetime):
    paasid, stamp, nonce, signature = (headers.get(name, "") for name in TIF_HEADERS)
    for name, value in zip(TIF_HEADERS, (paasid, stamp, nonce, signature)):
        if not value:
            raise Unauthenticated(f"缺少签名请求头 {name}", code="tif_header_missing")
    if not stamp.isascii() or not stamp.isdigit() or abs(now.timestamp() - int(stamp)) > WINDOW.total_seconds():
        raise Unauthenticated("请求时间戳无效或已超过5分钟，请校准时间后重试", code="tif_timestamp")
    if len(nonce) > MAX_NONCE or not nonce.isascii() or not nonce.isprintable():
        raise Unauthenticated("请求随机数无效", code="tif_nonce")
    with read_connection(engine) as conn:
        row = conn.execute(
            select(*CALLER_COLUMNS).where(institutions.c.code == paasid, institutions.c.active.is_(True))
        ).first()
    if row is None or row.tif_generation is None:
        raise Unauthenticated("签名无效", code="tif_signature")
    secret = tif_secret(key, row.code, row.tif_generation)
    expected = hashlib.sha256(f"{stamp}{secret}{nonce}{stamp}".encode()).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        raise Unauthenticated("签名无效", code="tif_signature")
    _use_nonce(engine, row.id, nonce, now)
    return row


def _use_nonce(engine: Engine, institution_id: int, nonce: str, now: datetime) -> None:
    with engine.begin() as conn:
        # Nonces older than the window can never be accepted again anyway (the timestamp is refused).
        conn.execute(delete(national_nonces).where(national_nonces.c.seen_at < now - 2 * WINDOW))
        insert_unique(
            conn, insert(national_nonces).values(institution_id=institution_id, nonce=nonce, seen_at=now).returning(national_nonces.c.id),
            taken=InvalidInput("请求随机数已使用过，请勿重放请求", field="x-tif-nonce", code="tif_nonce_replayed"),
        )
