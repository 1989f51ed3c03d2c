"""Sign-in lockout: after N wrong tries, refuse for a while, per identity and per client address.

One helper for every channel that checks a secret (web password, SMS code, staff password,
the phone line's PIN later): each passes its own ``scope`` so the counts stay separate.
Identities are keyed by a keyed hash, so the counter store never holds an ID number.

Usage::

    lockout.check(subjects)            # 423 while any subject is locked
    if wrong: lockout.failed(subjects) # the N-th failure locks every subject that reached N
    else:     lockout.succeeded(identity_subject)
"""

from __future__ import annotations

from yibao.security.counters import CounterStore
from yibao.security.errors import LockedOut
from yibao.security.tokens import keyed_hash


class Lockout:
    def __init__(self, store: CounterStore, key: bytes, *, scope: str, max_failures: int = 5, seconds: int = 900):
        self.store = store
        self.key = key
        self.scope = scope
        self.max_failures = max_failures
        self.seconds = seconds

    def identity(self, value: str) -> str:
        return "id:" + keyed_hash(self.key, value)

    @staticmethod
    def address(client: str | None) -> str:
        return f"addr:{client or 'unknown'}"

    def check(self, subjects: list[str]) -> None:
        left = max(self.store.seconds_left(self._lock_key(subject)) for subject in subjects)
        if left:
            raise LockedOut(retry_after=left)

    def failed(self, subjects: list[str]) -> None:
        """Count a failure; raises ``LockedOut`` when this failure reached the limit."""
        locked = False
        for subject in subjects:
            if self.store.hit(self._fail_key(subject), self.seconds) >= self.max_failures:
                self.store.set_flag(self._lock_key(subject), self.seconds)
                self.store.delete(self._fail_key(subject))
                locked = True
        if locked:
            raise LockedOut(retry_after=self.seconds)

    def succeeded(self, subject: str) -> None:
        # Only the identity is forgiven: a client address that guesses across many
        # identities must not reset its count by signing in to its own account.
        self.store.delete(self._fail_key(subject))

    def _fail_key(self, subject: str) -> str:
        return f"lockout:{self.scope}:fail:{subject}"

    def _lock_key(self, subject: str) -> str:
        return f"lockout:{self.scope}:lock:{subject}"
