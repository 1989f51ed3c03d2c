"""Counters behind rate limits and lockouts behave the same in memory and in Redis."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

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
    assert lockout.verify(subjects, lambda: False) is False
    with pytest.raises(LockedOut) as last:
        lockout.verify(subjects, lambda: False)
    assert last.value.after_check and last.value.retry_after == 900
    with pytest.raises(LockedOut):
        lockout.check(subjects)
    with pytest.raises(LockedOut) as refused:
        lockout.verify(subjects, lambda: pytest.fail("checked a secret while locked"))
    assert not refused.value.after_check


def test_memory_windows_follow_the_clock():
    clock = FixedClock(START)
    store = MemoryCounters(clock)
    store.hit("a", 60)
    later(clock, seconds=61)
    assert store.hit("a", 60) == 1


def test_redis_is_used_when_configured():
    assert isinstance(make_counters(REDIS_URL), RedisCounters)
    assert isinstance(make_counters(None), MemoryCounters)


def test_a_burst_of_concurrent_tries_checks_at_most_the_limit(store):
    # 30 wrong tries at once: each waits inside the check until the others were answered, so
    # every one of them is in flight together. Only five may reach the check; the rest, and a
    # right one that comes while five are in flight, are refused without being checked.
    lockout = Lockout(store, b"k" * 32, scope="race", max_failures=5, seconds=900)
    subjects = [lockout.identity("x"), lockout.address("1.2.3.4")]
    checked, refused, release = [], [], threading.Event()

    def wrong() -> bool:
        checked.append(1)
        release.wait(timeout=30)
        return False

    def attempt(_: int) -> str:
        try:
            return "wrong" if lockout.verify(subjects, wrong) is False else "right"
        except LockedOut as locked:
            refused.append(1)
            return "locked after check" if locked.after_check else "locked"

    with ThreadPoolExecutor(max_workers=30) as pool:
        outcomes = pool.map(attempt, range(30))
        wait_until(lambda: len(refused) >= 25)
        with pytest.raises(LockedOut):
            lockout.verify(subjects, lambda: pytest.fail("a right secret was checked beyond the limit"))
        release.set()
        outcomes = sorted(outcomes)
    assert len(checked) == 5
    assert outcomes.count("locked") == 25 and outcomes.count("wrong") == 4 and outcomes.count("locked after check") == 1
    with pytest.raises(LockedOut) as locked:
        lockout.check(subjects)
    assert 890 <= locked.value.retry_after <= 900  # five wrong: locked for the lockout's time


def test_tries_in_flight_refuse_with_a_short_wait_and_wrong_ones_lock(store):
    lockout = Lockout(store, b"k" * 32, scope="busy", max_failures=2, seconds=900)
    subjects = [lockout.identity("y")]
    inner = []

    def right_while_another_try_is_in_flight() -> bool:
        with pytest.raises(LockedOut) as busy:
            lockout.verify(subjects, lambda: pytest.fail("checked beyond the limit"))
        inner.append(busy.value.retry_after)
        return True

    # One try in flight holds one of two; the second try, inside it, holds the other.
    assert lockout.verify(subjects, lambda: lockout.verify(subjects, right_while_another_try_is_in_flight))
    assert inner == [1]  # busy, not locked: retry in a second
    lockout.check(subjects)  # both tries given back


def test_a_right_secret_gives_its_try_back_to_every_subject(store):
    # A kiosk's address signs many people in: right PINs never use up its tries.
    lockout = Lockout(store, b"k" * 32, scope="give-back", max_failures=2, seconds=900)
    address = lockout.address("kiosk")
    for person in range(5):
        assert lockout.verify([lockout.identity(str(person)), address], lambda: True)
    lockout.check([address])


def wait_until(condition, seconds: float = 20) -> None:
    """Wait for other threads (bounded, so that a broken lockout fails the test instead of hanging it)."""
    deadline = threading.Event()
    for _ in range(int(seconds * 100)):
        if condition():
            return
        deadline.wait(0.01)
