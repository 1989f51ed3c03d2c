"""Every message by its ``msgid``: the idempotency key of the interface.

A message is claimed (a row without an answer) before it is worked and its answer stored
after. The same msgid again: with the same request, the stored answer (or, when a crash left
no answer, the work again, which every handler makes safe by keying its writes on the msgid);
with another request, a refusal. A reversal (2601) of a msgid not seen yet leaves a tombstone,
so that the original, arriving late, is refused instead of taking money nobody will reverse.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, insert, select, update

from yibao.errors import IdempotencyConflict, InvalidInput
from yibao.national.envelope import Envelope
from yibao.store.db import insert_unique
from yibao.store.models import national_messages

TOMBSTONE_HASH = "tombstone"


class AlreadyReversed(InvalidInput):
    code = "national_reversed_before_arrival"
    default_message = "该报文对应的交易已被冲正，不能再办理；如需办理请使用新的报文ID"


@dataclass(frozen=True)
class Claim:
    row_id: int
    replay: str | None  # the stored answer of a repeated message


def claim(engine: Engine, institution_id: int, env: Envelope, now: datetime) -> Claim:
    with engine.begin() as conn:
        try:
            row_id = insert_unique(
                conn,
                insert(national_messages).values(
                    institution_id=institution_id, msgid=env.msgid, infno=env.infno, request_hash=env.request_hash,
                    received_at=now,
                ).returning(national_messages.c.id),
                taken=IdempotencyConflict(field="msgid"),
            )
            return Claim(row_id, None)
        except IdempotencyConflict:
            row = find(conn, institution_id, env.msgid)
    if row.tombstone:
        raise AlreadyReversed(field="msgid")
    if row.request_hash != env.request_hash:
        raise IdempotencyConflict("该报文ID已用于另一笔交易，请使用新的报文ID", field="msgid", code="national_msgid_reused")
    return Claim(row.id, row.answer)


def find(conn: Connection, institution_id: int, msgid: str):
    return conn.execute(
        select(national_messages).where(
            national_messages.c.institution_id == institution_id, national_messages.c.msgid == msgid
        )
    ).one_or_none()


def store(conn: Connection, row_id: int, *, infcode: int, answer: str, person_id: int | None, now: datetime) -> str:
    """Keep the answer unless another worker of the same message stored one first; the answer kept."""
    conn.execute(
        update(national_messages)
        .where(national_messages.c.id == row_id, national_messages.c.answer.is_(None))
        .values(infcode=infcode, answer=answer, person_id=person_id, answered_at=now)
    )
    return conn.execute(select(national_messages.c.answer).where(national_messages.c.id == row_id)).scalar_one()


def tombstone(conn: Connection, institution_id: int, msgid: str, infno: str, now: datetime) -> bool:
    """Mark a msgid not seen yet as reversed; False when it exists (it arrived meanwhile)."""
    try:
        insert_unique(
            conn,
            insert(national_messages).values(
                institution_id=institution_id, msgid=msgid, infno=infno, request_hash=TOMBSTONE_HASH, tombstone=True,
                received_at=now, answered_at=now,
            ).returning(national_messages.c.id),
            taken=IdempotencyConflict(field="omsgid"),
        )
    except IdempotencyConflict:
        return False
    return True
