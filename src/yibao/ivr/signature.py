"""How the telephony platform proves a webhook call is its own: an HMAC-SHA256 signature.

The platform sends two headers with every event:

- ``X-Yibao-Timestamp``: the Unix time of sending, in seconds;
- ``X-Yibao-Signature``: ``sha256=`` and the hex HMAC-SHA256, keyed with ``YIBAO_IVR_SECRET``,
  of the timestamp, a dot and the raw request body (``f"{timestamp}.".encode() + body``).

A timestamp more than five minutes away from the server's time is refused, so a recorded
request cannot be replayed later. Without a configured secret every request is refused.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from yibao.security.errors import Unauthenticated

TIMESTAMP_HEADER = "X-Yibao-Timestamp"
SIGNATURE_HEADER = "X-Yibao-Signature"
TOLERANCE_SECONDS = 5 * 60
_PREFIX = "sha256="


class BadSignature(Unauthenticated):
    code = "invalid_signature"
    default_message = "电话平台签名无效或已过期"
    headers: dict[str, str] = {}


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def signed_headers(secret: str, body: bytes, now: datetime) -> dict[str, str]:
    """The headers a platform (or a test) sends with ``body``."""
    timestamp = int(now.timestamp())
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body), "Content-Type": "application/json"}


def check(secret: str | None, timestamp: str | None, signature: str | None, body: bytes, now: datetime) -> None:
    """Raises ``BadSignature`` unless the body was signed with ``secret`` at about ``now``."""
    if not secret or not timestamp or not signature or not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise BadSignature()
    if abs(now.timestamp() - int(timestamp)) > TOLERANCE_SECONDS:
        raise BadSignature()
    if not hmac.compare_digest(sign(secret, int(timestamp), body).encode(), signature.encode()):
        raise BadSignature()
