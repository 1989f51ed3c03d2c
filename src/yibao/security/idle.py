"""Idle timeouts on the server: a session ends when no request came for a while.

A session's lifetime is fixed when it opens, so a kiosk session and a staff session also
have a "last touch" flag in the shared counter store that every request renews for the
channel's idle time (``kiosk_idle_seconds``, ``staff_idle_seconds``). When the flag has
expired (or is missing: a session opened elsewhere, a restarted memory store) the session is
over. The store is Redis when configured, so every worker agrees.
"""

from __future__ import annotations

from dataclasses import dataclass

from yibao.security.context import Security


@dataclass(frozen=True)
class IdleClock:
    prefix: str
    setting: str  # the name of the settings field with the idle seconds

    def _key(self, session_id: int) -> str:
        return f"{self.prefix}:touch:{session_id}"

    def touch(self, sec: Security, session_id: int) -> None:
        sec.counters.set_flag(self._key(session_id), getattr(sec.settings, self.setting))

    def is_alive(self, sec: Security, session_id: int) -> bool:
        return sec.counters.seconds_left(self._key(session_id)) > 0

    def forget(self, sec: Security, session_id: int) -> None:
        sec.counters.delete(self._key(session_id))


KIOSK = IdleClock("kiosk", "kiosk_idle_seconds")
STAFF = IdleClock("staff", "staff_idle_seconds")
