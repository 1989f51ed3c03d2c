"""Call state by call id, in memory and in Redis: calls kept apart, expired after the call."""

from __future__ import annotations

import pytest
from api_support import START, later, security
from ivr_support import PIN, keyed, phone_person
from redis_support import REDIS_URL, memory_or_redis

from yibao.clock import FixedClock
from yibao.ivr import speech
from yibao.ivr.calls import CallState, MemoryCallStore, RedisCallStore, make_call_store
from yibao.ivr.line import PhoneLine
from yibao.ivr.schemas import CallEvent


@pytest.fixture(params=["memory", "redis"])
def store(request):
    yield from memory_or_redis(request.param, lambda: MemoryCallStore(FixedClock(START)), RedisCallStore)


def test_calls_are_kept_apart_and_deleted(store):
    store.put(CallState("a", "139****5678", "k1", "text", person_id=1, audio=["x" * 32]), ttl_seconds=60)
    store.put(CallState("b", "137****0000", "k2", "audio", person_id=2), ttl_seconds=60)
    assert store.get("a").person_id == 1 and store.get("a").audio == ["x" * 32]
    assert store.get("b").person_id == 2 and store.get("b").voice == "audio"
    store.delete("a")
    assert store.get("a") is None and store.get("b") is not None and store.get("never") is None


def test_calls_expire_after_their_time_to_live(store):
    store.put(CallState("short", "withheld", "", "text"), ttl_seconds=60)
    if isinstance(store, MemoryCallStore):
        later(store.clock, seconds=61)
        assert store.get("short") is None and len(store) == 0
    else:  # Redis keeps its own time: the key carries the expiry
        assert 0 < store.redis.ttl(store.prefix + "short") <= 60


def test_a_whole_call_runs_on_either_store(engine, store, tmp_path):
    alice = phone_person(engine, 1, balance_fen=0)
    line = PhoneLine(engine, security(FixedClock(START), data_dir=tmp_path), store=store)

    def press(event_type: str, **fields) -> str:
        actions = line.handle(CallEvent(type=event_type, call_id="call-store", **fields)).actions
        return "".join(action.text for action in actions if action.type in ("say", "play"))

    assert speech.GREETING in press("call.started", caller="13912345678")
    press("digits", digits=keyed(alice.id_number))
    assert speech.VERIFIED in press("digits", digits=PIN)
    assert speech.balance(0) in press("digits", digits="1")
    press("hangup")
    assert store.get("call-store") is None


def test_the_store_follows_the_settings():
    assert isinstance(make_call_store(None), MemoryCallStore)
    assert isinstance(make_call_store(REDIS_URL), RedisCallStore)
