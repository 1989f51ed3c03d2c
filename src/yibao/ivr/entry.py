"""What a caller keys in to say who they are: an ID number or a social-security card number.

A phone keypad has digits, ``*`` and ``#`` only, so:

- an 18-character ID number ending in X is keyed with ``*`` for the X;
- a card number is keyed as its digits: 9 digits for an all-digit card, and the 8 digits
  after the letter for a card that starts with one (``X00000019`` is keyed ``00000019``);
- ``#`` ends the entry (platforms usually drop it; a trailing one is ignored here).

Errors are ``InvalidInput`` whose message is a short spoken sentence, with the code of the
underlying check (``id_check_char``, ``id_length``, …).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, select

from yibao.domain.resident_id import LENGTH as ID_LENGTH
from yibao.domain.resident_id import ResidentId
from yibao.errors import InvalidInput
from yibao.ivr.speech import number
from yibao.store.models import persons

ID_NUMBER = "id"
CARD = "card"
CARD_DIGITS = (8, 9)
MAX_ENTRY = ID_LENGTH

_SPOKEN_PROBLEMS = {
    "id_check_char": "身份证号码校验位不正确",
    "id_birth_date": "身份证号码中的出生日期不正确",
    "id_future_birth": "身份证号码中的出生日期不正确",
    "id_birth_too_early": "身份证号码中的出生日期不正确",
    "id_region": "身份证号码前六位不正确",
}


@dataclass(frozen=True)
class KeyedIdentity:
    kind: str  # ID_NUMBER or CARD
    value: str  # the normalised ID number, or the card's digits

    @property
    def lockout_name(self) -> str:
        return f"{self.kind}:{self.value}"


def parse_identity(keys: str, today: date) -> KeyedIdentity:
    entry = keys[:-1] if keys.endswith("#") else keys
    if not entry:
        raise InvalidInput("您没有输入内容", field="digits", code="entry_empty")
    if len(entry) == ID_LENGTH:
        return KeyedIdentity(ID_NUMBER, _id_number(entry, today))
    if len(entry) in CARD_DIGITS and entry.isdigit():
        return KeyedIdentity(CARD, entry)
    if "*" in entry or "#" in entry:
        raise InvalidInput("星号键只能用在身份证号码的最后一位", field="digits", code="entry_format")
    raise InvalidInput(
        f"您输入了{number(len(entry))}位，身份证号码应为十八位，社保卡卡号为九位或八位数字", field="digits", code="entry_length"
    )


def _id_number(entry: str, today: date) -> str:
    if "#" in entry or "*" in entry[:-1]:
        raise InvalidInput("星号键只能用在身份证号码的最后一位", field="digits", code="id_format")
    try:
        return ResidentId.parse(entry.replace("*", "X"), today=today).full
    except InvalidInput as error:
        raise InvalidInput(_SPOKEN_PROBLEMS.get(error.code, "身份证号码格式不正确"), field="digits", code=error.code) from None


def find_person(conn: Connection, identity: KeyedIdentity) -> int | None:
    """The id of the person the entry belongs to, or ``None``.

    Eight digits could belong to cards with different leading letters; when more than one
    person matches, nobody does: the caller is asked for the password all the same and,
    failing, may use the ID number instead.
    """
    if identity.kind == ID_NUMBER:
        condition = persons.c.id_number == identity.value
    elif len(identity.value) == 9:
        condition = persons.c.card_number == identity.value
    else:  # one lookup per possible letter keeps the unique index in use
        condition = persons.c.card_number.in_([letter + identity.value for letter in string.ascii_uppercase])
    rows = conn.execute(select(persons.c.id).where(condition).limit(2)).scalars().all()
    return rows[0] if len(rows) == 1 else None
