"""Social-security card numbers and card identifiers."""

from __future__ import annotations

import dataclasses

import pytest

from yibao.domain.card import CardIdentifier, CardNumber
from yibao.errors import InvalidInput

IDENTIFIER = "440300D156000005" + "0123456789ABCDEF"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("X00000019", "X00000019"),
        ("x00000019", "X00000019"),
        (" X0000 0019 ", "X00000019"),
        ("123456789", "123456789"),
        ("Ｘ００００００１９", "X00000019"),  # full-width input
    ],
)
def test_card_number_parses_and_normalises(text, value):
    assert str(CardNumber.parse(text)) == value


def test_card_number_masked():
    card = CardNumber.parse("X00000019")
    assert card.masked == "X******19"
    assert "X00000019" not in repr(card)
    assert CardNumber.parse("123456789").masked == "1******89"


def test_card_number_is_frozen_and_comparable():
    card = CardNumber.parse("x00000019")
    assert card == CardNumber("X00000019")
    with pytest.raises(dataclasses.FrozenInstanceError):
        card.value = "X00000020"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "card_number_required"),
        ("   ", "card_number_required"),
        (None, "card_number_required"),
        ("X0000001", "card_number_length"),
        ("X000000190", "card_number_length"),
        ("XX0000019", "card_number_format"),
        ("0000000X9", "card_number_format"),
        ("X0000001-", "card_number_format"),
    ],
)
def test_card_number_errors(text, code):
    with pytest.raises(InvalidInput) as caught:
        CardNumber.parse(text, field="kahao")
    assert caught.value.code == code
    assert caught.value.field == "kahao"
    assert caught.value.message


def test_card_number_default_field_and_length_message():
    with pytest.raises(InvalidInput) as caught:
        CardNumber.parse("X123")
    assert caught.value.field == "card_number"
    assert "9位" in caught.value.message and "4位" in caught.value.message


def test_card_number_constructor_validates():
    with pytest.raises(InvalidInput):
        CardNumber("x00000019")


def test_card_identifier_parses_and_normalises():
    card = CardIdentifier.parse(IDENTIFIER.lower())
    assert str(card) == IDENTIFIER
    assert card.region_code == "440300"
    assert card.serial == "0123456789ABCDEF"


def test_card_identifier_accepts_historic_county_code():
    assert CardIdentifier.parse("110103D156000005" + "0" * 16).region_code == "110103"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "card_identifier_required"),
        (IDENTIFIER[:-1], "card_identifier_length"),
        (IDENTIFIER + "0", "card_identifier_length"),
        (IDENTIFIER[:-1] + "G", "card_identifier_format"),
        ("440300E156000005" + "0" * 16, "card_identifier_marker"),
        ("999999D156000005" + "0" * 16, "card_identifier_region"),
        ("119999D156000005" + "0" * 16, "card_identifier_region"),
        ("ABCDEFD156000005" + "0" * 16, "card_identifier_region"),
    ],
)
def test_card_identifier_errors(text, code):
    with pytest.raises(InvalidInput) as caught:
        CardIdentifier.parse(text, field="kasbm")
    assert caught.value.code == code
    assert caught.value.field == "kasbm"
    assert caught.value.message


def test_card_identifier_default_field():
    with pytest.raises(InvalidInput) as caught:
        CardIdentifier.parse("123")
    assert caught.value.field == "card_identifier"
