"""Counters behind rate limits and lockouts behave the same in memory and in Redis."""

from __future__ import annotations

import pytest
from api_support import START, later
from redis_support import REDIS_URL, memory_or_redis

from yibao.clock import FixedClock
from yibao.security.counters import MemoryCounters, RedisCounters, make_counters
from yibao.security.errors import LockedOut, RateLimited
from yibao.security.lockout import Lockout
from yibao.security.ratelimit import RateLimiter


@pytest.fixture(params=["memory", "redis"])
def store(request):
    yield from memory_or_redis(request.param, lambda: MemoryCounters(FixedClock(START)), RedisCounters)


def test_hits_count_within_a_window_and_flags_expire(store):
    assert [store.hit("a", 60) for _ in range(3)] == [1, 2, 3]
    assert 0 < store.seconds_left("a") <= 60
    store.set_flag("lock", 900)
    assert 890 <= store.seconds_left("lock") <= 900
    store.delete("lock")
    assert store.seconds_left("lock") == 0 and store.seconds_left("never") == 0


def test_rate_limit_and_lockout_on_each_store(store):
    limiter = RateLimiter(store)
    for _ in range(2):
        limiter.check("addr:1", 2, 60)
    with pytest.raises(RateLimited) as refused:
        limiter.check("addr:1", 2, 60)
    assert 0 < refused.value.retry_after <= 60
    lockout = Lockout(store, b"k" * 32, scope="test", max_failures=2, seconds=900)
    subjects = [lockout.identity("x"), lockout.address("1.2.3.4")]
    lockout.failed(subjects)
    with pytest.raises(LockedOut):
        lockout.failed(subjects)
    with pytest.raises(LockedOut):
        lockout.check(subjects)


def test_memory_windows_follow_the_clock():
    clock = FixedClock(START)
    store = MemoryCounters(clock)
    store.hit("a", 60)
    later(clock, seconds=61)
    assert store.hit("a", 60) == 1


def test_redis_is_used_when_configured():
    assert isinstance(make_counters(REDIS_URL), RedisCounters)
    assert isinstance(make_counters(None), MemoryCounters)
