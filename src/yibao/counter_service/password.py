"""Resetting a person's sign-in password at the counter (柜台重置登录密码).

The person stands at the counter with their identity document; staff give them a one-time
password, read aloud or printed on a slip. It is random, meets the password rules and leaves
out characters that are confused when read (0/O, 1/l/I). Only its hash is stored, marked
``must_change``: the next sign-in opens a session that can only change it. Every session and
app authorization of the person ends (as after the self-service reset) and the lockouts of
the person's sign-in, reset and password-change tries are cleared.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import Engine

from yibao import notifications
from yibao.counter_service import check_request, person_for_staff
from yibao.security import audit
from yibao.security.context import Security
from yibao.security.password_reset import RESET_LOCKOUT, end_access
from yibao.security.passwords import carries_personal_numbers, is_weak_password
from yibao.security.principal import Principal
from yibao.security.signin import PASSWORD_CHANGE_LOCKOUT, WEB_LOCKOUT, store_password

LETTERS = "abcdefghijkmnpqrstuvwxyz"  # no l or o: read aloud, they sound like 1 and 0
DIGITS = "23456789"  # no 0 or 1
LENGTH = 10
NOTICE_KIND = "counter.password_reset"


@dataclass(frozen=True)
class PasswordReset:
    person_id: int
    password: str  # shown once; only its hash is stored
    apps_revoked: int


def one_time_password(*, id_number: str, birth_date, phone: str | None) -> str:
    """Ten lowercase letters and digits, at least three of each, accepted by the password rules."""
    while True:
        chars = [secrets.choice(LETTERS) for _ in range(LENGTH - 3)] + [secrets.choice(DIGITS) for _ in range(3)]
        for index in range(len(chars) - 1, 0, -1):  # shuffle with the system's random source
            other = secrets.randbelow(index + 1)
            chars[index], chars[other] = chars[other], chars[index]
        password = "".join(chars)
        if not is_weak_password(password) and not carries_personal_numbers(
            password, id_number=id_number, birth_date=birth_date, phone=phone
        ):
            return password


def reset_password(
    engine: Engine, sec: Security, principal: Principal, person_id: int, *, identity_checked: bool, reason: str,
    client: str | None, detail: dict | None = None,
) -> PasswordReset:
    reason = check_request(identity_checked=identity_checked, reason=reason)
    now = sec.now()
    with engine.begin() as conn:
        person = person_for_staff(conn, principal, person_id, lock=True)
        password = one_time_password(id_number=person.id_number, birth_date=person.birth_date, phone=person.phone)
        store_password(conn, person_id, password, must_change=True, now=now)
        apps = end_access(conn, person_id, now)
        audit.record(
            conn, actor=principal, action="staff.person.password_reset", at=now, subject_person_id=person_id, reason=reason,
            client=client, detail={"apps_revoked": apps, **(detail or {})},
        )
        told = notifications.notify(
            conn, person_id, kind=NOTICE_KIND, now=now,
            text="您的医保网上服务登录密码已在经办机构柜台重置，原有登录已全部退出。请用柜台提供的临时密码登录并立即修改。如非本人办理，请尽快联系经办机构。",
        )
    clear_lockouts(sec, person_id, person.id_number)
    notifications.send(sec, [told])
    return PasswordReset(person_id, password, apps)


def clear_lockouts(sec: Security, person_id: int, id_number: str) -> None:
    """The person's wrong sign-in, reset and password-change tries are forgotten."""
    for scope in (WEB_LOCKOUT, RESET_LOCKOUT):
        lockout = sec.lockout(scope)
        lockout.clear([lockout.identity(id_number)])
    sec.lockout(PASSWORD_CHANGE_LOCKOUT).clear([f"person:{person_id}"])
