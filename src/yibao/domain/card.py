"""Social-security card numbers (社会保障卡卡号) and card identifiers (卡识别码).

Both are value types: build them with ``parse``, which cleans what a person typed
(spaces, full-width characters, letter case) and raises :class:`InvalidInput` with a
stable code and the field at fault.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field as dataclass_field

from yibao.domain.regions import is_known_division
from yibao.errors import InvalidInput

CARD_NUMBER_LENGTH = 9
_CARD_NUMBER = re.compile(r"[A-Z][0-9]{8}|[0-9]{9}")

CARD_IDENTIFIER_LENGTH = 32
CARD_IDENTIFIER_MARKER = "D156000005"
_HEX = re.compile(r"[0-9A-F]*")


def _normalise(text: object) -> str:
    """Full-width → ASCII (NFKC), no whitespace anywhere, upper case."""
    if not isinstance(text, str):
        return ""
    return "".join(unicodedata.normalize("NFKC", text).split()).upper()


@dataclass(frozen=True)
class CardNumber:
    """社会保障卡卡号: one capital letter and 8 digits, or 9 digits (e.g. ``X00000019``)."""

    value: str = dataclass_field(repr=False)

    def __post_init__(self) -> None:
        _check_card_number(self.value, "card_number")

    @classmethod
    def parse(cls, text: str, field: str = "card_number") -> CardNumber:
        value = _normalise(text)
        _check_card_number(value, field)
        return cls(value)

    @property
    def masked(self) -> str:
        """First character and last two, the rest hidden: ``X******19``."""
        return self.value[0] + "*" * (len(self.value) - 3) + self.value[-2:]

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        # Masked on purpose, so that logs and tracebacks do not leak the full number.
        return f"CardNumber({self.masked!r})"


def _check_card_number(value: str, field: str) -> None:
    if not value:
        raise InvalidInput("请填写社会保障卡卡号", field=field, code="card_number_required")
    if len(value) != CARD_NUMBER_LENGTH:
        raise InvalidInput(
            f"社会保障卡卡号应为{CARD_NUMBER_LENGTH}位，您填写了{len(value)}位",
            field=field,
            code="card_number_length",
        )
    if not _CARD_NUMBER.fullmatch(value):
        raise InvalidInput(
            "社会保障卡卡号应为1位字母加8位数字，或9位数字",
            field=field,
            code="card_number_format",
        )


@dataclass(frozen=True)
class CardIdentifier:
    """卡识别码: 6-digit issuing region + ``D156000005`` + 16 hex characters (32 in all)."""

    value: str

    def __post_init__(self) -> None:
        _check_card_identifier(self.value, "card_identifier")

    @classmethod
    def parse(cls, text: str, field: str = "card_identifier") -> CardIdentifier:
        value = _normalise(text)
        _check_card_identifier(value, field)
        return cls(value)

    @property
    def region_code(self) -> str:
        """The issuing region's 6-digit division code."""
        return self.value[:6]

    @property
    def serial(self) -> str:
        """The last 16 hex characters."""
        return self.value[6 + len(CARD_IDENTIFIER_MARKER) :]

    def __str__(self) -> str:
        return self.value


def _check_card_identifier(value: str, field: str) -> None:
    if not value:
        raise InvalidInput("请填写社会保障卡识别码", field=field, code="card_identifier_required")
    if len(value) != CARD_IDENTIFIER_LENGTH:
        raise InvalidInput(
            f"卡识别码应为{CARD_IDENTIFIER_LENGTH}位，您填写了{len(value)}位",
            field=field,
            code="card_identifier_length",
        )
    if not _HEX.fullmatch(value):
        raise InvalidInput("卡识别码只能包含数字0-9和字母A-F", field=field, code="card_identifier_format")
    if value[6:16] != CARD_IDENTIFIER_MARKER:
        raise InvalidInput(
            f"卡识别码第7至16位应为{CARD_IDENTIFIER_MARKER}",
            field=field,
            code="card_identifier_marker",
        )
    if not is_known_division(value[:6]):
        raise InvalidInput(
            f"卡识别码前6位（发卡地行政区划代码{value[:6]}）无法识别",
            field=field,
            code="card_identifier_region",
        )
