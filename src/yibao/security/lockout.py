"""Sign-in lockout: after N wrong tries, refuse for a while, per identity and per client address.

One helper for every channel that checks a secret (web password, SMS code, staff password,
the service PIN on the phone line, kiosks, pharmacy counters and PIN changes): each passes
its own ``scope`` so the counts stay separate. Identities are keyed by a keyed hash, so the
counter store never holds an ID number.

A try is reserved before the secret is checked, for every subject at once and atomically in
the counter store: while a subject has N tries reserved (wrong ones, or ones still being
checked) every other try is refused without checking anything. So at most N secrets are ever
checked per subject and window, however many requests arrive together and on however many
workers. N wrong tries lock the subject for the lockout's seconds; while some of its N are
still being checked, a try is refused with a short Retry-After instead (busy, not locked yet).
Usage::

    lockout.check(subjects)                     # 423 while any subject is locked (a cheap early answer)
    if not lockout.verify(subjects, is_right):  # 423 instead of checking when no try is left;
        refuse()                                # a wrong secret counts, and the N-th locks (423)

A right secret gives every subject its try back, and forgives the first subject's (the
identity's) earlier wrong tries; an address that guesses across many identities must not
reset its count by signing in to its own account.
"""

from __future__ import annotations

from collections.abc import Callable

from yibao.security.counters import BUSY, CounterStore
from yibao.security.errors import LockedOut
from yibao.security.tokens import keyed_hash


BUSY_MESSAGE = "尝试过于频繁，请稍后再试"


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
        """Raises ``LockedOut`` while any subject has no try left; reserves nothing."""
        left = self.store.locked_for(self._keys(subjects), self.max_failures)
        if left:
            raise LockedOut(retry_after=left)

    def verify(self, subjects: list[str], is_right: Callable[[], bool]) -> bool:
        """Reserve a try for every subject, then run ``is_right`` (the secret's check).

        Raises ``LockedOut`` without calling ``is_right`` when a subject has no try left, and
        when a wrong secret was the last allowed try. Returns whether the secret was right.
        A check that raises keeps its try counted, as a wrong one: failing closed.
        """
        keys = self._keys(subjects)
        left = self.store.reserve(keys, self.max_failures, self.seconds)
        if left == BUSY:
            raise LockedOut(BUSY_MESSAGE, retry_after=1)
        if left:
            raise LockedOut(retry_after=left)
        try:
            right = bool(is_right())
        except BaseException:
            self.store.fail(keys, self.max_failures, self.seconds)  # counted as wrong; the check's error goes on
            raise
        if right:
            self.store.give_back(keys, forgive=keys[0])
            return True
        if self.store.fail(keys, self.max_failures, self.seconds):
            locked = LockedOut(retry_after=self.seconds)
            locked.after_check = True
            raise locked
        return False

    def clear(self, subjects: list[str]) -> None:
        """Forget every try of these subjects (staff unlocked the person after checking who they are)."""
        for key in self._keys(subjects):
            self.store.delete(key)

    def _keys(self, subjects: list[str]) -> list[str]:
        return [f"lockout:{self.scope}:{subject}" for subject in subjects]
