"""Expiring counters and flags for rate limits and lockouts: Redis when configured, memory otherwise.

Redis (``YIBAO_REDIS_URL``) shares the counts between workers and servers; the in-memory
store is for development and tests and counts per process. Both take a clock so that
tests can move time forward (Redis keeps its own time, as it must).

Tries (``reserve`` / ``fail`` / ``give_back``) are the lockout's counts: a try is reserved
before a secret is checked, atomically for all its subjects (a Lua script on Redis, the
store's lock in memory), so that no number of concurrent requests, on any number of
workers, gets more secrets checked than the limit. Each subject's entry holds ``tries``
(reserved: in flight or failed) and ``failed`` (the tries known to have been wrong). A key
with ``limit`` failed tries is locked; one with ``limit`` tries of which some are still in
flight is busy: refused for now, without knowing yet whether it will be locked.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Protocol

from yibao.clock import Clock, SystemClock

BUSY = -1  # reserve(): no try left for now, all of them in flight


class CounterStore(Protocol):
    def hit(self, key: str, window_seconds: int) -> int:
        """Add one to ``key`` and return the new count; the count starts a window at its first hit."""

    def set_flag(self, key: str, seconds: int) -> None: ...

    def seconds_left(self, key: str) -> int:
        """Seconds until ``key`` expires; 0 when it does not exist."""

    def delete(self, key: str) -> None: ...

    def reserve(self, keys: list[str], limit: int, window_seconds: int) -> int:
        """One more try for every key, or none at all: 0 when reserved; else the seconds until the
        longest-locked key frees, or ``BUSY`` when no key is locked but one has ``limit`` tries in
        use. A key's window starts at its first try."""

    def fail(self, keys: list[str], limit: int, window_seconds: int) -> int:
        """The reserved try was wrong. Returns ``window_seconds`` when a key now has ``limit`` failed
        tries (it stays locked that long from now), else 0."""

    def give_back(self, keys: list[str], forgive: str | None) -> None:
        """The reserved try was right: each key gets it back; ``forgive`` also loses its failed tries."""

    def locked_for(self, keys: list[str], limit: int) -> int:
        """Seconds until the longest-locked key frees; 0 when none is locked."""


class MemoryCounters:
    def __init__(self, clock: Clock | None = None):
        self.clock = clock or SystemClock()
        self._values: dict[str, tuple[int, float]] = {}
        self._tries: dict[str, _Tries] = {}
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
            self._tries.pop(key, None)

    def _sweep(self, now: float) -> None:
        for key in [key for key, (_, expires) in self._values.items() if expires <= now]:
            del self._values[key]
        for key in [key for key, entry in self._tries.items() if entry.expires <= now]:
            del self._tries[key]

    def _live_tries(self, key: str, now: float) -> _Tries | None:
        entry = self._tries.get(key)
        if entry is not None and entry.expires <= now:
            del self._tries[key]
            return None
        return entry

    def _locked_for(self, entries: list[_Tries | None], limit: int, now: float) -> int:
        return max((max(1, math.ceil(entry.expires - now)) for entry in entries if entry and entry.failed >= limit), default=0)

    def reserve(self, keys: list[str], limit: int, window_seconds: int) -> int:
        with self._lock:
            now = self._now()
            entries = [self._live_tries(key, now) for key in keys]
            locked = self._locked_for(entries, limit, now)
            if locked:
                return locked
            if any(entry and entry.tries >= limit for entry in entries):
                return BUSY
            for key in keys:
                entry = self._live_tries(key, now) or self._tries.setdefault(key, _Tries(expires=now + window_seconds))
                entry.tries += 1
            if len(self._tries) > 100_000:
                self._sweep(now)
            return 0

    def fail(self, keys: list[str], limit: int, window_seconds: int) -> int:
        with self._lock:
            now, locked = self._now(), 0
            for key in keys:
                # A window that ended while the secret was checked: the wrong try opens the next one.
                entry = self._live_tries(key, now) or self._tries.setdefault(key, _Tries(tries=1, expires=now + window_seconds))
                entry.failed += 1
                if entry.failed >= limit:
                    entry.expires, locked = now + window_seconds, window_seconds
            return locked

    def give_back(self, keys: list[str], forgive: str | None) -> None:
        with self._lock:
            now = self._now()
            for key in keys:
                entry = self._live_tries(key, now)
                if entry is None:
                    continue
                back = 1
                if key == forgive:
                    back, entry.failed = back + entry.failed, 0
                entry.tries -= back
                if entry.tries <= 0:
                    del self._tries[key]

    def locked_for(self, keys: list[str], limit: int) -> int:
        with self._lock:
            now = self._now()
            return self._locked_for([self._live_tries(key, now) for key in keys], limit, now)


@dataclass
class _Tries:
    expires: float
    tries: int = 0
    failed: int = 0


# Each script sees and changes all its keys at once: Redis runs a script without interleaving.
_RESERVE = """
local limit, window, wait, busy = tonumber(ARGV[1]), tonumber(ARGV[2]), 0, false
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('HGET', key, 'failed') or '0') >= limit then
    wait = math.max(wait, redis.call('TTL', key), 1)
  elseif tonumber(redis.call('HGET', key, 'tries') or '0') >= limit then
    busy = true
  end
end
if wait > 0 then return wait end
if busy then return -1 end
for _, key in ipairs(KEYS) do
  redis.call('HINCRBY', key, 'tries', 1)
  if redis.call('TTL', key) < 0 then redis.call('EXPIRE', key, window) end
end
return 0
"""

_FAIL = """
local limit, window, locked = tonumber(ARGV[1]), tonumber(ARGV[2]), 0
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 0 then
    redis.call('HSET', key, 'tries', 1)
    redis.call('EXPIRE', key, window)
  end
  if redis.call('HINCRBY', key, 'failed', 1) >= limit then
    redis.call('EXPIRE', key, window)
    locked = window
  end
end
return locked
"""

_GIVE_BACK = """
local forgive = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    local back = 1
    if i == forgive then
      back = back + tonumber(redis.call('HGET', key, 'failed') or '0')
      redis.call('HSET', key, 'failed', 0)
    end
    if tonumber(redis.call('HGET', key, 'tries') or '0') <= back then
      redis.call('DEL', key)
    else
      redis.call('HINCRBY', key, 'tries', -back)
    end
  end
end
return 0
"""

_LOCKED_FOR = """
local limit, wait = tonumber(ARGV[1]), 0
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('HGET', key, 'failed') or '0') >= limit then
    wait = math.max(wait, redis.call('TTL', key), 1)
  end
end
return wait
"""


class RedisCounters:
    def __init__(self, url: str, prefix: str = "yibao:"):
        import redis

        self.redis = redis.Redis.from_url(url)
        self.prefix = prefix
        self._reserve = self.redis.register_script(_RESERVE)
        self._fail = self.redis.register_script(_FAIL)
        self._give_back = self.redis.register_script(_GIVE_BACK)
        self._locked_for = self.redis.register_script(_LOCKED_FOR)

    def _keys(self, keys: list[str]) -> list[str]:
        return [self.prefix + key for key in keys]

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

    def reserve(self, keys: list[str], limit: int, window_seconds: int) -> int:
        return int(self._reserve(keys=self._keys(keys), args=[limit, window_seconds]))

    def fail(self, keys: list[str], limit: int, window_seconds: int) -> int:
        return int(self._fail(keys=self._keys(keys), args=[limit, window_seconds]))

    def give_back(self, keys: list[str], forgive: str | None) -> None:
        self._give_back(keys=self._keys(keys), args=[keys.index(forgive) + 1 if forgive in keys else 0])

    def locked_for(self, keys: list[str], limit: int) -> int:
        return int(self._locked_for(keys=self._keys(keys), args=[limit]))


def make_counters(redis_url: str | None, clock: Clock | None = None) -> CounterStore:
    return RedisCounters(redis_url) if redis_url else MemoryCounters(clock)
