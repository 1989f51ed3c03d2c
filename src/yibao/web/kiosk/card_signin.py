"""Signing in at a self-service kiosk: the social-security card (its number, read by the card
reader) and the card's 6-digit service password, checked against the ``phone_pin`` credential.

Wrong PINs count towards the service PIN's lockout of the card's holder, shared with the
phone line and pharmacy counters, and of the kiosk's address (five tries, then a pause). The answer never says whether the card is known, and takes the same
time either way. A successful sign-in is written to the audit log like every other sign-in.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from yibao.domain.card import CardNumber
from yibao.errors import InvalidInput
from yibao.security import audit, sessions
from yibao.security.context import Security
from yibao.security.errors import BadCredentials
from yibao.security.passwords import PIN_LENGTH
from yibao.security.phone_pin import card_holder_subject, service_pin_lockout, verify_phone_pin
from yibao.security.principal import Kind
from yibao.security.signin import SignedIn

log = logging.getLogger("yibao.kiosk")

METHOD = "kiosk_pin"



def parse_pin(pin: str) -> str:
    if not (isinstance(pin, str) and len(pin) == PIN_LENGTH and pin.isascii() and pin.isdigit()):
        raise InvalidInput(f"请输入{PIN_LENGTH}位数字密码", field="pin", code="pin_format")
    return pin


def sign_in_with_card(engine: Engine, sec: Security, *, card_number: str, pin: str, client: str | None) -> SignedIn:
    card = CardNumber.parse(card_number or "")
    parse_pin(pin)
    lockout = service_pin_lockout(sec)
    with engine.begin() as conn:
        holder, subject = card_holder_subject(conn, lockout, card.value)
        subjects = [subject, lockout.address(client)]
        lockout.check(subjects)
        if not lockout.verify(subjects, lambda: verify_phone_pin(conn, holder, pin)):
            log.info("kiosk sign-in failed for card %s", card.masked)
            raise BadCredentials("卡号或密码不正确，请重新输入", code="bad_credentials", field="pin")
        person_id = holder
        now = sec.now()
        token, expires_at = sessions.open_session(
            conn, subject_kind=Kind.PERSON.value, subject_id=person_id, purpose=sessions.FULL, method=METHOD,
            channel=sessions.KIOSK, client=client, now=now, ttl_seconds=sec.settings.kiosk_session_max_seconds,
        )
        audit.record(
            conn, actor=None, actor_kind=Kind.PERSON.value, actor_id=str(person_id), action=f"auth.login.{METHOD}",
            at=now, subject_person_id=person_id, client=client, detail={"limited": False},
        )
    return SignedIn(token, expires_at, False, person_id)
