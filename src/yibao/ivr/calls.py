"""Call state, kept server-side by call id: Redis when configured, memory otherwise.

Redis (``YIBAO_REDIS_URL``) lets any worker take the next event of a call; the in-memory
store is for development, tests and the simulator, and holds calls per process. Either way
a call's state expires after the call (``ivr_call_ttl_seconds``) even when the hang-up
event never comes. The state holds no ID number, card number or amount: only whom the
entered number belongs to (a person id) and where the caller is in the menu.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field
from typing import Protocol

from yibao.clock import Clock, SystemClock


class Stage:
    IDENTIFY = "identify"  # keying in the ID or card number
    PIN = "pin"  # keying in the phone password
    MENU = "menu"  # the main menu
    ANSWER = "answer"  # an answer was read; repeat, back or transfer
    ENDED = "ended"  # we hung up or transferred; waiting for the platform's hang-up


@dataclass
class CallState:
    call_id: str
    caller_masked: str
    caller_key: str  # keyed hash of the caller number: a lockout subject, not the number
    voice: str
    stage: str = Stage.IDENTIFY
    tries: int = 0  # wrong entries at this step
    silences: int = 0  # silences in a row
    candidate_id: int | None = None  # whom the entered number belongs to (None: nobody), before the password
    lock_subject: str | None = None  # lockout identity of the entered number
    person_id: int | None = None  # set once the password was right
    topic: str | None = None  # the last answer read, for "repeat"
    audio: list[str] = field(default_factory=list)  # this call's personal recordings, deleted at the end

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> CallState:
        return cls(**json.loads(text))


class CallStore(Protocol):
    def get(self, call_id: str) -> CallState | None: ...

    def put(self, state: CallState, ttl_seconds: int) -> None: ...

    def delete(self, call_id: str) -> None: ...


class MemoryCallStore:
    def __init__(self, clock: Clock | None = None):
        self.clock = clock or SystemClock()
        self._calls: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def get(self, call_id: str) -> CallState | None:
        with self._lock:
            entry = self._calls.get(call_id)
            if entry is None:
                return None
            if entry[1] <= self._now():
                del self._calls[call_id]
                return None
            return CallState.from_json(entry[0])

    def put(self, state: CallState, ttl_seconds: int) -> None:
        with self._lock:
            now = self._now()
            self._calls[state.call_id] = (state.to_json(), now + ttl_seconds)
            for call_id in [key for key, (_, expires) in self._calls.items() if expires <= now]:
                del self._calls[call_id]

    def delete(self, call_id: str) -> None:
        with self._lock:
            self._calls.pop(call_id, None)

    def __len__(self) -> int:
        with self._lock:
            now = self._now()
            return sum(1 for _, expires in self._calls.values() if expires > now)


class RedisCallStore:
    def __init__(self, url: str, prefix: str = "yibao:ivr:call:"):
        import redis

        self.redis = redis.Redis.from_url(url)
        self.prefix = prefix

    def get(self, call_id: str) -> CallState | None:
        value = self.redis.get(self.prefix + call_id)
        return CallState.from_json(value) if value is not None else None

    def put(self, state: CallState, ttl_seconds: int) -> None:
        self.redis.set(self.prefix + state.call_id, state.to_json(), ex=ttl_seconds)

    def delete(self, call_id: str) -> None:
        self.redis.delete(self.prefix + call_id)


def make_call_store(redis_url: str | None, clock: Clock | None = None) -> CallStore:
    return RedisCallStore(redis_url) if redis_url else MemoryCallStore(clock)
