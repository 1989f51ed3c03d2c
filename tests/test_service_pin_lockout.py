"""One service PIN, one count of wrong tries: the phone line, kiosks, pharmacy counters and PIN
changes lock the person together, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from api_support import (
    START,
    add_designated_pharmacy,
    add_insured,
    bearer,
    client_for,
    kiosk_sign_in,
    later,
    login,
    security,
)
from ivr_support import IVR_SECRET, PIN, Phone, give_pin, keyed
from yibao.clock import FixedClock
from yibao.ivr import speech

WRONG = "592730"
PAYMENTS = "/api/v1/institution/payments"


@pytest.fixture
def counters(engine, tmp_path):
    clock = FixedClock(START)
    alice, bob = add_insured(engine, 1, balance_fen=50_000), add_insured(engine, 2, balance_fen=50_000)
    give_pin(engine, alice)
    give_pin(engine, bob)
    pharmacy = {"X-Api-Key": add_designated_pharmacy(engine, "P001")}
    with client_for(engine, security(clock, ivr_secret=IVR_SECRET, data_dir=tmp_path)) as client:
        yield Counters(client, clock, pharmacy), alice, bob


class Counters:
    def __init__(self, client, clock, pharmacy):
        self.client, self.clock, self.pharmacy, self.phone = client, clock, pharmacy, Phone(client)
        self.receipts = 0

    def kiosk(self, card: str, pin: str) -> int:
        return kiosk_sign_in(self.client, card, pin).status_code

    def pharmacy_pays(self, card: str, pin: str) -> tuple[int, str | None]:
        self.receipts += 1
        answer = self.client.post(PAYMENTS, headers=self.pharmacy, json={
            "card_number": card, "pin": pin, "amount_fen": 100,
            "receipt_no": f"R{self.receipts}", "idempotency_key": f"k{self.receipts}",
        })
        return answer.status_code, answer.json().get("error", {}).get("code")

    def phone_pins(self, number: str, *pins: str, call: str, caller: str) -> str:
        """Keys ``number`` then each PIN in one call; what the line said last."""
        ring = self.phone.call(call, caller=caller)
        said = ring.press(number)
        for pin in pins:
            said = ring.press(pin)
        return said


def test_wrong_pins_on_every_channel_count_together(counters):
    channels, alice, bob = counters
    assert channels.kiosk(alice.card_number, WRONG) == 401
    assert channels.kiosk(alice.card_number, WRONG) == 401
    assert speech.WRONG_CREDENTIALS in channels.phone_pins(keyed(alice.id_number), WRONG, call="c1", caller="13900000001")
    assert channels.pharmacy_pays(alice.card_number, WRONG) == (422, "card_pin_invalid")
    # The fifth wrong PIN, keyed on the phone by card number: the person is locked everywhere.
    assert channels.phone_pins(alice.card_number[1:], WRONG, call="c2", caller="13900000002") == speech.locked(15 * 60)
    assert channels.kiosk(alice.card_number, PIN) == 423  # even the right PIN, on another channel
    assert channels.pharmacy_pays(alice.card_number, PIN) == (423, "card_locked")
    assert channels.phone_pins(keyed(alice.id_number), call="c3", caller="13900000003") == speech.locked(15 * 60)
    assert channels.kiosk(bob.card_number, PIN) == 303  # nobody else is locked
    later(channels.clock, minutes=15, seconds=1)
    assert channels.pharmacy_pays(alice.card_number, PIN) == (200, None)


def test_a_right_pin_anywhere_clears_the_persons_count(counters):
    channels, alice, _ = counters
    # A pharmacy counts per person only; a kiosk also per address, which a right PIN does not forgive.
    for _ in range(4):
        assert channels.pharmacy_pays(alice.card_number, WRONG) == (422, "card_pin_invalid")
    assert channels.kiosk(alice.card_number, PIN) == 303
    for _ in range(4):
        assert channels.pharmacy_pays(alice.card_number, WRONG) == (422, "card_pin_invalid")  # a fresh count
    assert channels.pharmacy_pays(alice.card_number, WRONG) == (423, "card_locked")


def test_wrong_old_pins_when_changing_it_count_too(counters):
    channels, alice, _ = counters
    headers = bearer(login(channels.client, alice).json()["access_token"])
    for _ in range(4):
        answer = channels.client.put("/api/v1/me/phone-pin", headers=headers, json={"old_pin": WRONG, "new_pin": "481736"})
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "old_pin_wrong"
    assert channels.kiosk(alice.card_number, WRONG) == 423  # the fifth, at a kiosk
