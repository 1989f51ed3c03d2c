"""Forgotten password (忘记密码): ID number + name + an SMS code to the registered phone, then a
new password. The portal's pages and the API's two endpoints both call these functions.

The first step answers the same whether or not the ID number and name belong to someone with
a phone on record: a masked phone number, the real one's when they match, otherwise one
derived from the ID number by the server key (the same every time, so asking twice tells
nothing either). Sends are limited per client address and per person (``sms.issue_code``).

The second step is checked under the sign-in lockout of its own scope (5 wrong tries per ID
number and per address, then 15 minutes). A right code sets the password under the usual
rules, ends every session of the person on every channel and every app authorization, and is
audited; it does not sign in.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, select

from yibao.errors import InvalidInput
from yibao.security import audit, oauth, sessions, sms
from yibao.security.context import Security
from yibao.security.errors import BadCredentials
from yibao.security.principal import Kind
from yibao.security.signin import (
    SMS_SENDS_PER_ADDRESS_PER_HOUR,
    check_new_password,
    check_password_field,
    check_personal_numbers,
    parse_id_number,
    store_password,
)
from yibao.store.models import persons

log = logging.getLogger("yibao.password_reset")

RESET_LOCKOUT = "password_reset"
MAX_NAME_LENGTH = 40
@dataclass(frozen=True)
class CodeSent:
    masked_phone: str
    expires_in: int  # seconds


def _name(text: str) -> str:
    name = (text or "").strip()
    if not name:
        raise InvalidInput("请输入姓名", field="name", code="name_required")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"姓名不能超过{MAX_NAME_LENGTH}个字", field="name", code="name_too_long")
    return name


def request_code(engine: Engine, sec: Security, *, id_number: str, name: str, client: str | None) -> CodeSent:
    """Send a reset code when ID number and name match a person with a phone; the answer is alike either way."""
    resident_id = parse_id_number(sec, id_number)
    name = _name(name)
    sec.limiter.check(f"sms:{client}", SMS_SENDS_PER_ADDRESS_PER_HOUR, 3600, "验证码发送次数过多，请稍后再试")
    settings = sec.settings
    answer = CodeSent(sms.decoy_masked_phone(sec.key, resident_id.full), settings.sms_code_ttl_seconds)
    with engine.begin() as conn:
        row = conn.execute(
            select(persons.c.id, persons.c.name, persons.c.phone).where(
                persons.c.id_number == resident_id.full, persons.c.died_on.is_(None)
            )
        ).first()
        if row is None or not row.phone or not hmac.compare_digest(row.name.encode(), name.encode()):
            log.info("password reset code asked for %s: no match", resident_id)
            return answer
        code = sms.issue_code(
            conn, row.id, now=sec.now(), ttl_seconds=settings.sms_code_ttl_seconds, max_per_hour=settings.sms_max_per_hour
        )
        audit.record(
            conn, actor=None, actor_kind=Kind.PERSON.value, actor_id=str(row.id), action="auth.password_reset_code",
            at=sec.now(), subject_person_id=row.id, client=client, detail={},
        )
    sec.sms.send(row.phone, sms.reset_message(code, settings.sms_code_ttl_seconds))
    return CodeSent(sms.mask_phone(row.phone), settings.sms_code_ttl_seconds)


def end_access(conn: Connection, person_id: int, now: datetime) -> int:
    """After a reset, whoever knew the old password is out: every session of the person on every
    channel and every app authorization end; how many app authorizations there were."""
    sessions.revoke_all(conn, Kind.PERSON.value, person_id, now)
    return oauth.revoke_all_grants(conn, person_id, now)


def reset_password(
    engine: Engine, sec: Security, *, id_number: str, name: str, code: str, new_password: str, client: str | None
) -> None:
    """Set a new password with a right code; every session and app authorization of the person ends."""
    resident_id = parse_id_number(sec, id_number)
    name = _name(name)
    code = (code or "").strip()
    if not sms.is_code_format(code):
        raise InvalidInput("验证码应为6位数字", field="code", code="sms_code_format")
    check_password_field(new_password, "new_password")
    check_new_password("", new_password)
    lockout = sec.lockout(RESET_LOCKOUT)
    subjects = [lockout.identity(resident_id.full), lockout.address(client)]
    lockout.check(subjects)
    now = sec.now()
    with engine.begin() as conn:
        row = conn.execute(
            select(persons.c.id, persons.c.name).where(persons.c.id_number == resident_id.full, persons.c.died_on.is_(None))
        ).first()

        def is_right() -> bool:
            named = row is not None and hmac.compare_digest(row.name.encode(), name.encode())
            return named and sms.use_code(conn, row.id, code, now=now)

        if not lockout.verify(subjects, is_right):
            log.info("password reset refused for %s", resident_id)
            raise BadCredentials("验证码不正确或已过期，或姓名与身份证号不符", code="bad_reset_code", field="code")
        # A password with the person's phone digits is refused here: the transaction (and the code's use) is undone.
        check_personal_numbers(conn, row.id, new_password)
        store_password(conn, row.id, new_password, must_change=False, now=now)
        apps = end_access(conn, row.id, now)
        audit.record(
            conn, actor=None, actor_kind=Kind.PERSON.value, actor_id=str(row.id), action="auth.password_reset",
            at=now, subject_person_id=row.id, client=client, detail={"apps_revoked": apps},
        )
