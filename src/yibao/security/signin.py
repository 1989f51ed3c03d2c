"""Sign-in of insured people: ID number + card number + password, or ID number + SMS code.

A person whose password is the initial one (must_change) or weak gets a session that can
only change the password. Every wrong try counts towards the lockout of the ID number and
of the client address (5 tries, then 15 minutes). Answers never say which detail was
wrong, and take the same time whether the person exists or not.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, and_, insert, select, update

from yibao.domain.card import CardNumber
from yibao.domain.resident_id import ResidentId
from yibao.errors import InvalidInput
from yibao.security import audit, oauth, sessions, sms
from yibao.security.context import Security
from yibao.security.errors import BadCredentials
from yibao.security.passwords import (
    carries_personal_numbers,
    hash_secret,
    is_weak_password,
    needs_rehash,
    verify_secret,
    verify_stored,
)
from yibao.security.principal import Kind, Principal
from yibao.store.models import credentials, persons

log = logging.getLogger("yibao.signin")

PASSWORD = "password"
WEB_LOCKOUT = "web"
PASSWORD_CHANGE_LOCKOUT = "password_change"
SMS_SENDS_PER_ADDRESS_PER_HOUR = 20
MAX_PASSWORD_LENGTH = 64


@dataclass(frozen=True)
class SignedIn:
    token: str
    expires_at: datetime
    password_change_required: bool
    subject_id: int



def parse_id_number(sec: Security, text: str) -> ResidentId:
    return ResidentId.parse(text or "", field="id_number", today=sec.clock.today())


def check_password_field(value: str, field: str) -> None:
    if not value:
        raise InvalidInput("请输入密码", field=field, code="password_required")
    if len(value) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"密码不能超过{MAX_PASSWORD_LENGTH}位", field=field, code="password_too_long")


def sign_in_with_password(
    engine: Engine, sec: Security, *, id_number: str, card_number: str, password: str, client: str | None
) -> SignedIn:
    person_id, limited = check_password(engine, sec, id_number=id_number, card_number=card_number, password=password, client=client)
    with engine.begin() as conn:
        return _open(conn, sec, person_id, limited=limited, method=PASSWORD, client=client)


def check_password(
    engine: Engine, sec: Security, *, id_number: str, card_number: str, password: str, client: str | None
) -> tuple[int, bool]:
    """The person these sign-in details belong to, and whether they must change the password first."""
    resident_id = parse_id_number(sec, id_number)
    card = CardNumber.parse(card_number or "")
    check_password_field(password, "password")
    lockout = sec.lockout(WEB_LOCKOUT)
    subjects = [lockout.identity(resident_id.full), lockout.address(client)]
    lockout.check(subjects)
    with engine.connect() as conn:
        row = _person_with_password(conn, resident_id.full)

    # Checked outside any transaction: Argon2 is slow on purpose and must not hold SQLite's write lock.
    def is_right() -> bool:
        secret_ok = verify_stored(row.secret_hash if row else None, password)
        return secret_ok and row is not None and row.card_number is not None and row.card_number == card.value

    if not lockout.verify(subjects, is_right):
        _refuse(resident_id)
    if needs_rehash(row.secret_hash):
        with engine.begin() as conn:
            store_password(conn, row.id, password, must_change=row.must_change, now=sec.now())
    return row.id, bool(row.must_change) or is_weak_password(password)


def request_sms_code(engine: Engine, sec: Security, *, id_number: str, client: str | None) -> str:
    """Send a code when the ID number has a phone on record; returns where the code went, masked
    (``138****5678``) — for an ID number without a phone, a decoy of the same shape and nothing
    sent, so the page tells nobody whether an ID number is registered."""
    resident_id = parse_id_number(sec, id_number)
    sec.limiter.check(f"sms:{client}", SMS_SENDS_PER_ADDRESS_PER_HOUR, 3600, "验证码发送次数过多，请稍后再试")
    with engine.begin() as conn:
        row = conn.execute(
            select(persons.c.id, persons.c.phone).where(persons.c.id_number == resident_id.full)
        ).first()
        if row is None or not row.phone:
            log.info("SMS code asked for %s: no phone on record", resident_id)
            return sms.decoy_masked_phone(sec.key, resident_id.full)
        settings = sec.settings
        code = sms.issue_code(
            conn, row.id, now=sec.now(), ttl_seconds=settings.sms_code_ttl_seconds, max_per_hour=settings.sms_max_per_hour
        )
    sec.sms.send(row.phone, sms.message(code, sec.settings.sms_code_ttl_seconds))
    return sms.mask_phone(row.phone)


def sign_in_with_sms(engine: Engine, sec: Security, *, id_number: str, code: str, client: str | None) -> SignedIn:
    resident_id = parse_id_number(sec, id_number)
    if not sms.is_code_format(code):
        raise InvalidInput("验证码应为6位数字", field="code", code="sms_code_format")
    lockout = sec.lockout(WEB_LOCKOUT)
    subjects = [lockout.identity(resident_id.full), lockout.address(client)]
    lockout.check(subjects)
    with engine.begin() as conn:
        person_id = conn.execute(select(persons.c.id).where(persons.c.id_number == resident_id.full)).scalar()
        used = lockout.verify(subjects, lambda: person_id is not None and sms.use_code(conn, person_id, code, now=sec.now()))
    if not used:
        _refuse(resident_id, BadCredentials("验证码不正确或已过期", code="bad_sms_code", field="code"))
    with engine.begin() as conn:
        must_change = conn.execute(
            select(credentials.c.must_change).where(credentials.c.person_id == person_id, credentials.c.kind == PASSWORD)
        ).scalar()
        return _open(conn, sec, person_id, limited=bool(must_change), method="sms", client=client)


def change_password(
    engine: Engine, sec: Security, principal: Principal, *, old_password: str, new_password: str, client: str | None
) -> SignedIn:
    """Set a new password; every other session of the person (on every channel) and every app
    authorization (its access and refresh tokens) end, and a full web session is opened."""
    person_id = principal.subject_id
    check_password_field(new_password, "new_password")
    lockout = sec.lockout(PASSWORD_CHANGE_LOCKOUT)
    subjects = [f"person:{person_id}", lockout.address(client)]
    lockout.check(subjects)
    with engine.begin() as conn:
        current = conn.execute(
            select(credentials.c.secret_hash).where(credentials.c.person_id == person_id, credentials.c.kind == PASSWORD)
        ).scalar()
        # A person who signed in by SMS and never had a password may set a first one.
        if current is not None and not lockout.verify(subjects, lambda: verify_secret(current, old_password or "")):
            raise InvalidInput("原密码不正确", field="old_password", code="old_password_wrong")
    check_new_password(old_password, new_password)
    with engine.connect() as conn:
        check_personal_numbers(conn, person_id, new_password)
    now = sec.now()
    with engine.begin() as conn:
        store_password(conn, person_id, new_password, must_change=False, now=now)
        sessions.revoke_all(conn, Kind.PERSON.value, person_id, now)
        # Whoever knew the old password may have authorized an app: every app authorizes again.
        apps = oauth.revoke_all_grants(conn, person_id, now)
        audit.record(
            conn, actor=principal, action="auth.password_changed", at=now, subject_person_id=person_id, client=client,
            detail={"apps_revoked": apps},
        )
        return _open(conn, sec, person_id, limited=False, method=PASSWORD, client=client, audit_login=False)


def check_new_password(old_password: str, new_password: str) -> None:
    if is_weak_password(new_password):
        raise InvalidInput(
            "新密码过于简单：至少8位，须同时包含字母和数字，不能是123456等常见密码、重复字符或连续数字",
            field="new_password",
            code="password_weak",
        )
    if old_password and new_password == old_password:
        raise InvalidInput("新密码不能与原密码相同", field="new_password", code="password_unchanged")


def check_personal_numbers(conn: Connection, person_id: int, new_password: str) -> None:
    person = conn.execute(
        select(persons.c.id_number, persons.c.birth_date, persons.c.phone).where(persons.c.id == person_id)
    ).one()
    if carries_personal_numbers(new_password, id_number=person.id_number, birth_date=person.birth_date, phone=person.phone):
        raise InvalidInput(
            "新密码不能包含您的身份证号、出生日期或手机号码中的数字", field="new_password", code="password_personal"
        )


def _person_with_password(conn: Connection, id_number: str):
    return conn.execute(
        select(persons.c.id, persons.c.card_number, credentials.c.secret_hash, credentials.c.must_change)
        .select_from(
            persons.join(credentials, and_(credentials.c.person_id == persons.c.id, credentials.c.kind == PASSWORD))
        )
        .where(persons.c.id_number == id_number)
    ).first()


def _refuse(resident_id: ResidentId, error: Exception | None = None) -> None:
    log.info("sign-in failed for %s", resident_id)  # str() of a ResidentId is masked
    raise error or BadCredentials()


def store_password(conn: Connection, person_id: int, password: str, *, must_change: bool, now: datetime) -> None:
    values = {"secret_hash": hash_secret(password), "must_change": must_change, "updated_at": now}
    changed = conn.execute(
        update(credentials).where(credentials.c.person_id == person_id, credentials.c.kind == PASSWORD).values(**values)
    ).rowcount
    if not changed:
        conn.execute(insert(credentials).values(person_id=person_id, kind=PASSWORD, **values))


def _open(
    conn: Connection, sec: Security, person_id: int, *, limited: bool, method: str, client: str | None, audit_login: bool = True
) -> SignedIn:
    settings, now = sec.settings, sec.now()
    purpose = sessions.PASSWORD_CHANGE if limited else sessions.FULL
    ttl = settings.password_change_ttl_seconds if limited else settings.session_ttl_seconds
    token, expires_at = sessions.open_session(
        conn, subject_kind=Kind.PERSON.value, subject_id=person_id, purpose=purpose, method=method,
        channel=sessions.WEB, client=client, now=now, ttl_seconds=ttl,
    )
    if audit_login:
        audit.record(
            conn, actor=None, actor_kind=Kind.PERSON.value, actor_id=str(person_id), action=f"auth.login.{method}",
            at=now, subject_person_id=person_id, client=client, detail={"limited": limited},
        )
    return SignedIn(token, expires_at, limited, person_id)
