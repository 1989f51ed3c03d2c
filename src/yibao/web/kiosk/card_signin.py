"""Signing in at a self-service kiosk: the social-security card (its number, read by the card
reader) and the card's 6-digit service password, checked against the ``phone_pin`` credential.

Wrong PINs count towards the ``kiosk`` lockout of the card and of the client address (five
tries, then a pause). The answer never says whether the card is known, and takes the same
time either way. A successful sign-in is written to the audit log like every other sign-in.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from sqlalchemy import Engine, and_, select

from yibao.domain.card import CardNumber
from yibao.errors import InvalidInput
from yibao.security import audit, sessions
from yibao.security.context import Security
from yibao.security.errors import BadCredentials
from yibao.security.passwords import PIN_LENGTH, hash_secret, verify_secret
from yibao.security.principal import Kind
from yibao.security.signin import SignedIn
from yibao.store.models import credentials, persons

log = logging.getLogger("yibao.kiosk")

KIOSK_LOCKOUT = "kiosk"
PIN_CREDENTIAL = "phone_pin"
METHOD = "kiosk_pin"


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_secret("000000-not-a-pin")


def parse_pin(pin: str) -> str:
    if not (isinstance(pin, str) and len(pin) == PIN_LENGTH and pin.isascii() and pin.isdigit()):
        raise InvalidInput(f"请输入{PIN_LENGTH}位数字密码", field="pin", code="pin_format")
    return pin


def sign_in_with_card(engine: Engine, sec: Security, *, card_number: str, pin: str, client: str | None) -> SignedIn:
    card = CardNumber.parse(card_number or "")
    parse_pin(pin)
    lockout = sec.lockout(KIOSK_LOCKOUT)
    subjects = [lockout.identity(card.value), lockout.address(client)]
    lockout.check(subjects)
    with engine.begin() as conn:
        row = conn.execute(
            select(persons.c.id, credentials.c.secret_hash)
            .select_from(persons.join(
                credentials, and_(credentials.c.person_id == persons.c.id, credentials.c.kind == PIN_CREDENTIAL)
            ))
            .where(persons.c.card_number == card.value)
        ).first()
        pin_ok = verify_secret(row.secret_hash if row else _dummy_hash(), pin)
        if row is None or not pin_ok:
            log.info("kiosk sign-in failed for card %s", card.masked)
            lockout.failed(subjects)  # raises LockedOut on the last allowed try
            raise BadCredentials("卡号或密码不正确，请重新输入", code="bad_credentials", field="pin")
        lockout.succeeded(subjects[0])
        now = sec.now()
        token, expires_at = sessions.open_session(
            conn, subject_kind=Kind.PERSON.value, subject_id=row.id, purpose=sessions.FULL, method=METHOD,
            client=client, now=now, ttl_seconds=sec.settings.kiosk_session_max_seconds,
        )
        audit.record(
            conn, actor=None, actor_kind=Kind.PERSON.value, actor_id=str(row.id), action=f"auth.login.{METHOD}",
            at=now, subject_person_id=row.id, client=client, detail={"limited": False},
        )
    return SignedIn(token, expires_at, False, row.id)
