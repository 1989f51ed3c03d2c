"""Medical-insurance e-voucher (医保电子凭证): a short-lived, single-use, signed QR payload.

Payload: ``YBEV1.<nonce>.<expiry>.<signature>``. The nonce is random; the signature (HMAC-
SHA256 with the server key) covers the nonce, the expiry and the person the voucher was
issued to, so a payload cannot be altered, moved to someone else or kept beyond its
expiry. The payload itself names nobody: the server finds the person from the nonce, and
the first successful scan spends the voucher.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, insert, select, update

from yibao.errors import InvalidInput
from yibao.security.tokens import token_hash
from yibao.store.models import evouchers

VERSION = "YBEV1"
MAX_PAYLOAD_LENGTH = 200


@dataclass(frozen=True)
class Voucher:
    payload: str
    expires_at: datetime


class VoucherRefused(InvalidInput):
    code = "evoucher_invalid"
    default_message = "医保电子凭证无效、已过期或已使用，请让参保人刷新二维码"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signature(key: bytes, nonce: str, expires: int, person_id: int) -> str:
    message = f"{VERSION}|{nonce}|{expires}|{person_id}".encode()
    return _b64(hmac.new(key, message, hashlib.sha256).digest())


def issue(conn: Connection, key: bytes, *, person_id: int, issued_to: str, now: datetime, ttl_seconds: int) -> Voucher:
    nonce = _b64(secrets.token_bytes(16))
    expires_at = (now + timedelta(seconds=ttl_seconds)).replace(microsecond=0)
    expires = int(expires_at.timestamp())
    conn.execute(
        insert(evouchers).values(
            nonce_hash=token_hash(nonce), person_id=person_id, issued_to=issued_to[:64], issued_at=now, expires_at=expires_at
        )
    )
    return Voucher(f"{VERSION}.{nonce}.{expires}.{_signature(key, nonce, expires, person_id)}", expires_at)


@dataclass(frozen=True)
class Spent:
    person_id: int
    voucher_id: int


def redeem(conn: Connection, key: bytes, payload: str, *, institution_id: int, now: datetime) -> int:
    """The person the voucher identifies; spends it. Refuses forged, expired or used payloads alike."""
    return spend(conn, key, payload, institution_id=institution_id, now=now).person_id


def give_back(conn: Connection, voucher_id: int) -> None:
    """Unspend a voucher whose payment did not happen; it works again until it expires."""
    conn.execute(update(evouchers).where(evouchers.c.id == voucher_id).values(used_at=None, used_by=None))


def spend(conn: Connection, key: bytes, payload: str, *, institution_id: int, now: datetime) -> Spent:
    """Like :func:`redeem`, and says which voucher was spent."""
    nonce, expires = _parse(payload)
    if expires <= now.timestamp():
        raise VoucherRefused(field="payload")
    row = conn.execute(
        select(evouchers.c.id, evouchers.c.person_id).where(evouchers.c.nonce_hash == token_hash(nonce))
    ).first()
    if row is None or not hmac.compare_digest(payload.rsplit(".", 1)[1], _signature(key, nonce, expires, row.person_id)):
        raise VoucherRefused(field="payload")
    spent = conn.execute(
        update(evouchers)
        .where(evouchers.c.id == row.id, evouchers.c.used_at.is_(None), evouchers.c.expires_at > now)
        .values(used_at=now, used_by=institution_id)
    ).rowcount
    if spent != 1:
        raise VoucherRefused(field="payload")
    return Spent(row.person_id, row.id)


def _parse(payload: str) -> tuple[str, int]:
    parts = payload.split(".") if isinstance(payload, str) and len(payload) <= MAX_PAYLOAD_LENGTH else []
    if len(parts) != 4 or parts[0] != VERSION or not parts[2].isascii() or not parts[2].isdigit():
        raise VoucherRefused("不是有效的医保电子凭证", field="payload")
    return parts[1], int(parts[2])
