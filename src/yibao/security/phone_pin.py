"""The 6-digit phone password (电话查询密码) for the 12333 line: set by the person, checked by the line.

Any channel where the person is already signed in (the API, the web portal, a kiosk) sets it
through :func:`set_phone_pin`; the phone line checks it with :func:`verify_phone_pin`. Only
an Argon2 hash is stored, in ``credentials`` with kind ``phone_pin``.

The same six digits open the phone line, kiosks and pharmacy counters (card + PIN), and a
wrong one counts towards one lockout wherever it was keyed (:func:`service_pin_lockout`,
:func:`holder_subject`): 5 wrong in all lock the person on every channel for 15 minutes, so
a lost card cannot be tried five times at each of them.

A PIN is refused when it is easy to guess for anyone who knows a little about the person:
one repeated digit, a digit run, a well-known initial password, or digits of the birth
date, the ID number or the phone number on record (people pick those first).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, Engine, insert, select, update

from yibao.errors import InvalidInput
from yibao.security import audit
from yibao.security.context import Security
from yibao.security.lockout import Lockout
from yibao.security.passwords import (
    COMMON_PASSWORDS,
    PIN_LENGTH,
    hash_secret,
    is_weak_pin,
    needs_rehash,
    verify_secret,
    verify_stored,
)
from yibao.security.principal import Principal
from yibao.store.models import credentials, persons

PHONE_PIN = "phone_pin"
SERVICE_PIN_LOCKOUT = "service_pin"  # one count for every channel that checks the service PIN


def service_pin_lockout(sec: Security) -> Lockout:
    """The lockout of wrong service PINs, shared by the phone line, kiosks, pharmacies and PIN changes."""
    return sec.lockout(SERVICE_PIN_LOCKOUT)


def holder_subject(lockout: Lockout, person_id: int | None, keyed: str) -> str:
    """The lockout subject of a PIN's holder: the person when the keyed card or ID number is
    theirs, so that every channel and either number count together; else what was keyed."""
    return lockout.identity(f"person:{person_id}" if person_id is not None else keyed)


def card_holder_subject(conn: Connection, lockout: Lockout, card_number: str) -> tuple[int | None, str]:
    """The person holding the card (None for an unknown card) and their lockout subject. Check
    the PIN with :func:`verify_phone_pin` either way: it takes as long for None, so the answer
    time does not tell whether the card exists."""
    holder = conn.execute(select(persons.c.id).where(persons.c.card_number == card_number)).scalar_one_or_none()
    return holder, holder_subject(lockout, holder, card_number)


@dataclass(frozen=True)
class PinSet:
    person_id: int
    changed_at: datetime
    first: bool  # no phone password existed before



def set_phone_pin(
    engine: Engine, sec: Security, principal: Principal, *, new_pin: str, old_pin: str | None, client: str | None
) -> PinSet:
    """Set the person's phone password. The old one must be given when there is one.

    Wrong old passwords count towards the service PIN's lockout (5 tries, 15 minutes, shared
    with every channel), so a borrowed web session cannot be used to guess it either.
    """
    person_id = principal.person_id
    _check_shape(new_pin, "new_pin")
    lockout = service_pin_lockout(sec)
    subjects = [holder_subject(lockout, person_id, ""), lockout.address(client)]
    lockout.check(subjects)
    with engine.connect() as conn:
        person = conn.execute(select(persons.c.id_number, persons.c.birth_date, persons.c.phone).where(persons.c.id == person_id)).one()
        current = _current_hash(conn, person_id)
    if current is not None:
        if not old_pin:
            raise InvalidInput("请输入原电话查询密码", field="old_pin", code="old_pin_required")
        if not lockout.verify(subjects, lambda: verify_secret(current, old_pin)):
            raise InvalidInput("原电话查询密码不正确", field="old_pin", code="old_pin_wrong")
        if old_pin == new_pin:
            raise InvalidInput("新密码不能与原密码相同", field="new_pin", code="pin_unchanged")
    refusal = weak_pin_reason(new_pin, id_number=person.id_number, birth_date=person.birth_date, phone=person.phone)
    if refusal:
        raise InvalidInput(f"电话查询密码过于简单：{refusal}，请换一个", field="new_pin", code="pin_weak")
    now = sec.now()
    with engine.begin() as conn:
        _store(conn, person_id, new_pin, now)
        audit.record(
            conn, actor=principal, action="auth.phone_pin_set", at=now, subject_person_id=person_id, client=client,
            detail={"first": current is None},
        )
    return PinSet(person_id, now, current is None)


def verify_phone_pin(conn: Connection, person_id: int | None, pin: str) -> bool:
    """Whether ``pin`` is the person's phone password. Takes as long for an unknown person
    (``None``) or a person without one, so the answer time reveals nothing."""
    stored = _current_hash(conn, person_id) if person_id is not None else None
    matches = verify_stored(stored, pin)
    if matches and needs_rehash(stored):
        _store(conn, person_id, pin, None)
    return matches


def weak_pin_reason(pin: str, *, id_number: str, birth_date: date, phone: str | None) -> str | None:
    """Why ``pin`` is too easy to guess, in Chinese; ``None`` when it is acceptable."""
    if is_weak_pin(pin) or pin in COMMON_PASSWORDS:
        return "不能使用相同数字、连续数字或123456等常见密码"
    if pin in _birth_date_forms(birth_date):
        return "不能使用出生日期"
    if pin == id_number[-PIN_LENGTH:]:
        return "不能使用身份证号码中的数字"
    if phone and pin == phone[-PIN_LENGTH:]:
        return "不能使用手机号码后六位"
    return None


def _birth_date_forms(birth: date) -> set[str]:
    yy, mm, dd, yyyy = f"{birth.year % 100:02d}", f"{birth.month:02d}", f"{birth.day:02d}", f"{birth.year:04d}"
    return {yy + mm + dd, dd + mm + yy, mm + dd + yy, yyyy + mm, mm + yyyy}


def _check_shape(pin: str, field: str) -> None:
    if not isinstance(pin, str) or len(pin) != PIN_LENGTH or not (pin.isascii() and pin.isdigit()):
        raise InvalidInput("电话查询密码应为6位数字", field=field, code="pin_format")


def has_phone_pin(conn: Connection, person_id: int) -> bool:
    return _current_hash(conn, person_id) is not None


def _current_hash(conn: Connection, person_id: int) -> str | None:
    return conn.execute(
        select(credentials.c.secret_hash).where(credentials.c.person_id == person_id, credentials.c.kind == PHONE_PIN)
    ).scalar()


def _store(conn: Connection, person_id: int, pin: str, now: datetime | None) -> None:
    values = {"secret_hash": hash_secret(pin), "must_change": False}
    if now is not None:
        values["updated_at"] = now
    changed = conn.execute(
        update(credentials).where(credentials.c.person_id == person_id, credentials.c.kind == PHONE_PIN).values(**values)
    ).rowcount
    if not changed:
        conn.execute(insert(credentials).values(person_id=person_id, kind=PHONE_PIN, **values))
