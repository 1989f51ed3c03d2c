"""The kiosk's idle timeout on the server: a session ends when no request came for a while.

A session's lifetime is fixed when it opens, so each kiosk session also has a "last touch"
flag in the shared counter store that every request renews for ``kiosk_idle_seconds``. When
the flag has expired (or is missing: a session not opened at a kiosk, a restarted memory
store) the session is over. The store is Redis when configured, so every worker agrees.
"""

from __future__ import annotations

from yibao.security.context import Security


def _key(session_id: int) -> str:
    return f"kiosk:touch:{session_id}"


def touch(sec: Security, session_id: int) -> None:
    sec.counters.set_flag(_key(session_id), sec.settings.kiosk_idle_seconds)


def is_alive(sec: Security, session_id: int) -> bool:
    return sec.counters.seconds_left(_key(session_id)) > 0


def forget(sec: Security, session_id: int) -> None:
    sec.counters.delete(_key(session_id))
