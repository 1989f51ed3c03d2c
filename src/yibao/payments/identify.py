"""Who is at the counter: an e-voucher QR payload, or a card number and the card's service PIN.

The PIN (the 6-digit service password, credential kind ``phone_pin``) is checked before any
write transaction opens: Argon2 is slow on purpose and must not hold the database's write
lock. Wrong PINs count towards the service PIN's lockout of the card's holder, shared with
kiosks and the phone line (5 wrong in all → locked 15 minutes); an unknown card counts by its
number and gets the same answer, so the counter learns nothing about which cards exist.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine

from yibao.domain.card import CardNumber
from yibao.errors import InvalidInput
from yibao.security import audit, evoucher
from yibao.security.context import Security
from yibao.security.errors import LockedOut
from yibao.security.phone_pin import card_holder_subject, service_pin_lockout, verify_phone_pin
from yibao.security.principal import Principal
from yibao.payments.errors import CardRefused

_PIN = re.compile(r"[0-9]{6}", re.ASCII)


@dataclass(frozen=True)
class Credential:
    """Exactly one of: an e-voucher payload, a card number with its PIN, or a person identified
    before (the national interface's 1101, named by ``reference``)."""

    payload: str | None = None
    card_number: str | None = None
    pin: str | None = None
    person_id: int | None = None
    reference: str | None = None

    @classmethod
    def identified(cls, person_id: int, reference: str) -> Credential:
        return cls(person_id=person_id, reference=reference)

    @classmethod
    def parse(cls, *, payload: str | None, card_number: str | None, pin: str | None) -> Credential:
        if payload and not (card_number or pin):
            return cls(payload=payload)
        if card_number and not payload:
            if not isinstance(pin, str) or not _PIN.fullmatch(pin):
                raise InvalidInput("服务密码应为6位数字", field="pin", code="pin_format")
            return cls(card_number=CardNumber.parse(card_number).value, pin=pin)
        raise InvalidInput(
            "请提供医保电子凭证（payload）或社保卡号与服务密码（card_number、pin）之一", field="payload",
            code="credential_required",
        )

    @property
    def is_voucher(self) -> bool:
        return self.payload is not None

    def fingerprint(self) -> dict[str, str]:
        """What identifies the request for idempotency. Never the PIN: a stored hash of six digits is no secret."""
        if self.is_voucher:
            return {"evoucher": hashlib.sha256(self.payload.encode()).hexdigest()}
        if self.person_id is not None:
            return {"identified": self.reference}
        return {"card": self.card_number}



def check_card_pin(
    engine: Engine, sec: Security, credential: Credential, *, institution: Principal, client: str | None
) -> int:
    """The person whose card and PIN these are; counts and audits a wrong PIN."""
    lockout = service_pin_lockout(sec)
    locked = None
    with engine.begin() as conn:
        holder, subject = card_holder_subject(conn, lockout, credential.card_number)
        try:
            if lockout.verify([subject], lambda: verify_phone_pin(conn, holder, credential.pin)):
                return holder
        except LockedOut as refused:
            if not refused.after_check:
                raise _card_locked(refused.retry_after) from None
            locked = refused  # this wrong PIN was the last allowed: audited below like any other
    with engine.begin() as conn:
        audit.record(
            conn, actor=institution, action="institution.card_pin_failed", at=sec.now(),
            subject_person_id=holder, client=client,
        )
    if locked is not None:
        raise _card_locked(locked.retry_after)
    raise CardRefused(field="pin")


def _card_locked(retry_after: int) -> LockedOut:
    minutes = -(-retry_after // 60)
    locked = LockedOut(
        f"服务密码错误次数过多，该卡已暂时锁定，请{minutes}分钟后再试或使用医保电子凭证", retry_after=retry_after, field="pin"
    )
    locked.code = "card_locked"
    return locked


def identify_in(
    conn: Connection, sec: Security, credential: Credential, *, institution_id: int, now: datetime, card_person_id: int | None
) -> tuple[int, int | None]:
    """Inside the reserving transaction: spend the voucher (rolled back with any refusal), or take
    the checked card. The person, and the voucher spent (None for a card)."""
    if credential.is_voucher:
        spent = evoucher.spend(conn, sec.key, credential.payload, institution_id=institution_id, now=now)
        return spent.person_id, spent.voucher_id
    if credential.person_id is not None:
        return credential.person_id, None
    assert card_person_id is not None, "check_card_pin runs before the reserving transaction"
    return card_person_id, None
