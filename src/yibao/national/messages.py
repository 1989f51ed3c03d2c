"""Every message by its ``msgid``: the idempotency key of the interface.

Before a message is worked, its msgid is looked up: a stored answer is answered again (when
the request is the same; another request with it is refused). After, the answer is kept.
A settlement claims its msgid (a row without an answer) in the transaction that claims the
settlement, so that a reversal (2601) and its original cannot both think they came first;
every handler keys its writes on the msgid, so a message a crash left unanswered is
finished by sending it again. A reversal of a msgid not seen yet leaves a tombstone: the
original, arriving late, is refused instead of taking money nobody will reverse.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, select, update

from yibao.errors import IdempotencyConflict, InvalidInput
from yibao.national.envelope import Envelope
from yibao.store.db import insert_or_skip
from yibao.store.models import national_messages

TOMBSTONE_HASH = "tombstone"


class AlreadyReversed(InvalidInput):
    code = "national_reversed_before_arrival"
    default_message = "该报文对应的交易已被冲正，不能再办理；如需办理请使用新的报文ID"


# The answer of a message a settlement claimed (built once; the values travel as parameters).
_ANSWER_CLAIMED = update(national_messages).where(
    national_messages.c.institution_id == bindparam("w_institution"), national_messages.c.msgid == bindparam("w_msgid"),
    national_messages.c.answer.is_(None), national_messages.c.tombstone.is_(False),
    national_messages.c.request_hash == bindparam("w_hash"),
)


def find(conn: Connection, institution_id: int, msgid: str):
    return conn.execute(
        select(national_messages).where(
            national_messages.c.institution_id == institution_id, national_messages.c.msgid == msgid
        )
    ).one_or_none()


def check_repeat(row, env: Envelope) -> str | None:
    """For a msgid seen before: its stored answer to answer again, or None to (re)work it."""
    if row is None:
        return None
    if row.tombstone:
        raise AlreadyReversed(field="msgid")
    if row.request_hash != env.request_hash:
        raise IdempotencyConflict("该报文ID已用于另一笔交易，请使用新的报文ID", field="msgid", code="national_msgid_reused")
    return row.answer


def claim(conn: Connection, institution_id: int, env: Envelope, now: datetime) -> bool:
    """Inside a settlement's claiming transaction: the msgid is this request's (True: claimed now;
    False: by an earlier try of the same request), or it is refused."""
    if insert_or_skip(conn, national_messages, _values(institution_id, env, now)) is not None:
        return True
    check_repeat(find(conn, institution_id, env.msgid), env)
    return False


def keep(
    conn: Connection, institution_id: int, env: Envelope, *, infcode: int, answer: str, person_id: int | None, now: datetime
) -> str:
    """Store the answer (unless the same message, worked twice at once, stored one first); the answer to give."""
    answered = {"infcode": infcode, "answer": answer, "person_id": person_id, "answered_at": now}
    if insert_or_skip(conn, national_messages, _values(institution_id, env, now) | answered) is not None:
        return answer
    stored = conn.execute(_ANSWER_CLAIMED, answered | {
        "w_institution": institution_id, "w_msgid": env.msgid, "w_hash": env.request_hash,
    }).rowcount
    if stored:  # the row a settlement claimed
        return answer
    return check_repeat(find(conn, institution_id, env.msgid), env) or answer


def tombstone(conn: Connection, institution_id: int, msgid: str, infno: str, now: datetime) -> bool:
    """Mark a msgid not seen yet as reversed; False when it exists (it arrived meanwhile)."""
    values = {
        "institution_id": institution_id, "msgid": msgid, "infno": infno, "request_hash": TOMBSTONE_HASH,
        "tombstone": True, "received_at": now, "answered_at": now,
    }
    return insert_or_skip(conn, national_messages, values) is not None


def _values(institution_id: int, env: Envelope, now: datetime) -> dict:
    return {
        "institution_id": institution_id, "msgid": env.msgid, "infno": env.infno, "request_hash": env.request_hash,
        "received_at": now,
    }
