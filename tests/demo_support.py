"""Building demo databases in tests without paying Argon2 for every one."""

from __future__ import annotations

import pytest

import yibao.demo.build
from yibao.security.passwords import hash_secret

_HASHES: dict[str, str] = {}


@pytest.fixture(autouse=True)
def reuse_argon2_hashes(monkeypatch):
    """Real Argon2 hashes, but each demo secret is hashed once per test run (0.1 s each).

    Import it into a test module that builds demos; being autouse, it applies to every test there.
    """

    def cached_hash(plain: str) -> str:
        if plain not in _HASHES:
            _HASHES[plain] = hash_secret(plain)
        return _HASHES[plain]

    monkeypatch.setattr(yibao.demo.build, "hash_secret", cached_hash)
