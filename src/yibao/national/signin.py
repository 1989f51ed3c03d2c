"""9001 sign-in and 9002 sign-out of an operator; the ``sign_no`` every other message carries.

A sign_no is the institution's own, and valid until it is signed out or
``national_sign_in_seconds`` after the sign-in (a working day by default).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from types import SimpleNamespace

from sqlalchemy import Connection, and_, insert, select, update

from yibao.clock import CHINA
from yibao.errors import InvalidInput
from yibao.national import fields
from yibao.national.calls import Call
from yibao.security.context import as_utc
from yibao.store.models import national_messages, national_sign_ins

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class SignInRequired(InvalidInput):
    code = "national_sign_in_required"
    default_message = "签到编号无效或已签退，请先签到"


def sign_time(at: datetime) -> str:
    return at.astimezone(CHINA).strftime(TIME_FORMAT)


def sign_in(call: Call) -> dict:
    node = fields.node(call.data, "signIn", "input")
    opter_no = fields.text(node, "opter_no", "input.signIn", limit=30)
    mac = fields.text(node, "mac", "input.signIn", required=False, limit=64)
    ip = fields.text(node, "ip", "input.signIn", required=False, limit=64)
    # 14 digits of time and 16 random ones: 30 characters, as the field's length.
    sign_no = f"{call.received_at.astimezone(CHINA):%Y%m%d%H%M%S}{secrets.randbelow(10**16):016d}"
    with call.engine.begin() as conn:
        conn.execute(insert(national_sign_ins).values(
            institution_id=call.payee.id, sign_no=sign_no, opter_no=opter_no, mac=mac, ip=ip,
            signed_in_at=call.received_at,
        ))
    call.audit["opter_no"] = opter_no
    return {"signinoutb": {"sign_time": sign_time(call.received_at), "sign_no": sign_no}}


def sign_out(call: Call) -> dict:
    node = fields.node(call.data, "signOut", "input")
    sign_no = fields.text(node, "sign_no", "input.signOut", limit=30)
    fields.text(node, "opter_no", "input.signOut", limit=30)
    with call.engine.begin() as conn:
        row = _sign_in(conn, call.payee.id, sign_no)
        if row is None:
            raise SignInRequired("签到编号无效", field="input.signOut.sign_no")
        conn.execute(
            update(national_sign_ins)
            .where(national_sign_ins.c.id == row.id, national_sign_ins.c.signed_out_at.is_(None))
            .values(signed_out_at=call.received_at)
        )
    return {"signoutoutb": {"sign_time": sign_time(call.received_at)}}


def require_with_message(conn: Connection, institution_id: int, sign_no: str, msgid: str, now: datetime, valid_seconds: int):
    """Refuse a message without a live sign-in of its institution; else the message stored under
    ``msgid`` (None: not seen), read in the same round trip."""
    if not sign_no:
        raise SignInRequired(field="sign_no")
    message = [column.label(f"message_{column.name}") for column in national_messages.c]
    row = conn.execute(
        select(national_sign_ins.c.signed_in_at, national_sign_ins.c.signed_out_at, *message)
        .select_from(national_sign_ins.outerjoin(national_messages, and_(
            national_messages.c.institution_id == national_sign_ins.c.institution_id, national_messages.c.msgid == msgid
        )))
        .where(national_sign_ins.c.institution_id == institution_id, national_sign_ins.c.sign_no == sign_no)
    ).one_or_none()
    _check(row, now, valid_seconds)
    if row.message_id is None:
        return None
    return SimpleNamespace(**{column.name: getattr(row, f"message_{column.name}") for column in national_messages.c})


def _check(row, now: datetime, valid_seconds: int) -> None:
    if row is None or row.signed_out_at is not None or now - as_utc(row.signed_in_at) > timedelta(seconds=valid_seconds):
        raise SignInRequired(field="sign_no")


def _sign_in(conn: Connection, institution_id: int, sign_no: str):
    return conn.execute(
        select(national_sign_ins).where(
            national_sign_ins.c.institution_id == institution_id, national_sign_ins.c.sign_no == sign_no
        )
    ).one_or_none()
