"""Expiring counters and flags for rate limits and lockouts: Redis when configured, memory otherwise.

Redis (``YIBAO_REDIS_URL``) shares the counts between workers and servers; the in-memory
store is for development and tests and counts per process. Both take a clock so that
tests can move time forward (Redis keeps its own time, as it must).
"""

from __future__ import annotations

import math
import threading
from typing import Protocol

from yibao.clock import Clock, SystemClock


class CounterStore(Protocol):
    def hit(self, key: str, window_seconds: int) -> int:
        """Add one to ``key`` and return the new count; the count starts a window at its first hit."""

    def set_flag(self, key: str, seconds: int) -> None: ...

    def seconds_left(self, key: str) -> int:
        """Seconds until ``key`` expires; 0 when it does not exist."""

    def delete(self, key: str) -> None: ...


class MemoryCounters:
    def __init__(self, clock: Clock | None = None):
        self.clock = clock or SystemClock()
        self._values: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def _live(self, key: str, now: float) -> tuple[int, float] | None:
        entry = self._values.get(key)
        if entry is not None and entry[1] <= now:
            del self._values[key]
            return None
        return entry

    def hit(self, key: str, window_seconds: int) -> int:
        with self._lock:
            now = self._now()
            entry = self._live(key, now)
            count, expires = entry if entry else (0, now + window_seconds)
            self._values[key] = (count + 1, expires)
            if len(self._values) > 100_000:
                self._sweep(now)
            return count + 1

    def set_flag(self, key: str, seconds: int) -> None:
        with self._lock:
            self._values[key] = (1, self._now() + seconds)

    def seconds_left(self, key: str) -> int:
        with self._lock:
            now = self._now()
            entry = self._live(key, now)
            return math.ceil(entry[1] - now) if entry else 0

    def delete(self, key: str) -> None:
        with self._lock:
            self._values.pop(key, None)

    def _sweep(self, now: float) -> None:
        for key in [key for key, (_, expires) in self._values.items() if expires <= now]:
            del self._values[key]


class RedisCounters:
    def __init__(self, url: str, prefix: str = "yibao:"):
        import redis

        self.redis = redis.Redis.from_url(url)
        self.prefix = prefix

    def hit(self, key: str, window_seconds: int) -> int:
        pipe = self.redis.pipeline()
        pipe.incr(self.prefix + key)
        pipe.expire(self.prefix + key, window_seconds, nx=True)
        count, _ = pipe.execute()
        return int(count)

    def set_flag(self, key: str, seconds: int) -> None:
        self.redis.set(self.prefix + key, 1, ex=seconds)

    def seconds_left(self, key: str) -> int:
        left = self.redis.ttl(self.prefix + key)
        return max(0, int(left))

    def delete(self, key: str) -> None:
        self.redis.delete(self.prefix + key)


def make_counters(redis_url: str | None, clock: Clock | None = None) -> CounterStore:
    return RedisCounters(redis_url) if redis_url else MemoryCounters(clock)
