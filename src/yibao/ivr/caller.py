"""Who is calling: the keyed-in ID or card number, then the phone password.

Wrong passwords count towards the service PIN's lockout (5 wrong, 15 minutes), shared with
kiosks and pharmacy counters, per person and per caller number. The line never says which of
the two entries was wrong, and an unknown number is asked for a password all the same, so
callers cannot find out whose numbers exist.
"""

from __future__ import annotations

from sqlalchemy import Engine

from yibao.ivr.answers import record
from yibao.ivr.calls import CallState
from yibao.ivr.entry import KeyedIdentity, find_person
from yibao.security.context import Security
from yibao.security.lockout import Lockout
from yibao.security.phone_pin import holder_subject, service_pin_lockout, verify_phone_pin


def lockout(sec: Security) -> Lockout:
    return service_pin_lockout(sec)


def subjects(sec: Security, state: CallState) -> list[str]:
    # A withheld number is no subject: one shared "unknown" counter would let anybody lock
    # out every caller who withholds their number.
    caller = [lockout(sec).address(f"tel:{state.caller_key}")] if state.caller_key else []
    return [state.lock_subject, *caller]


def identify(engine: Engine, sec: Security, state: CallState, identity: KeyedIdentity) -> None:
    """Remember whom the entry belongs to; raises ``LockedOut`` while the person or the line is locked."""
    with engine.connect() as conn:
        found = find_person(conn, identity)
    state.candidate_id = found
    # The person keys the lock whichever number was keyed in, so keying the card number
    # instead of the ID number does not start a fresh count.
    state.lock_subject = holder_subject(lockout(sec), found, identity.lockout_name)
    lockout(sec).check(subjects(sec, state))


def check_pin(engine: Engine, sec: Security, state: CallState, pin: str) -> bool:
    """True when the password belongs to the entered number. A wrong one is counted and
    raises ``LockedOut`` when it was the last allowed."""
    with engine.begin() as conn:
        if not lockout(sec).verify(subjects(sec, state), lambda: verify_phone_pin(conn, state.candidate_id, pin)):
            return False
        state.person_id = state.candidate_id
        record(conn, sec, state, "ivr.sign_in", subject_person_id=state.person_id)
    return True
