"""Random tokens the server hands out, and how they are stored: only their SHA-256 hash.

A token is 256 random bits, so a fast hash is enough (no dictionary to guess from); looking
a token up by its hash means the database never holds anything a thief could replay.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SESSION_PREFIX = "ybs_"
ACCESS_PREFIX = "yba_"
REFRESH_PREFIX = "ybr_"
CODE_PREFIX = "ybc_"
API_KEY_PREFIX = "ybk_"


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two strings."""
    return hmac.compare_digest(a.encode(), b.encode())


def keyed_hash(key: bytes, value: str) -> str:
    """A keyed digest of personal data (an ID number) used as a counter key, never the value itself."""
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]
