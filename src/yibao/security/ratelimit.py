"""Fixed-window request limits per client address and per account."""

from __future__ import annotations

from yibao.security.counters import CounterStore
from yibao.security.errors import RateLimited


class RateLimiter:
    def __init__(self, store: CounterStore):
        self.store = store

    def check(self, key: str, limit: int, window_seconds: int, message: str | None = None) -> None:
        """Count one request under ``key``; refuse (429) once more than ``limit`` came in the window."""
        if limit <= 0:
            return
        if self.store.hit(f"rate:{key}", window_seconds) > limit:
            raise RateLimited(message, retry_after=self.store.seconds_left(f"rate:{key}") or window_seconds)
