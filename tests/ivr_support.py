"""A telephony platform for phone-line tests: posts signed call events to the webhook and
keeps each call's transcript."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from api_support import TODAY, Insured, add_insured
from yibao.domain.resident_id import ResidentId
from yibao.ivr.signature import signed_headers
from yibao.security.passwords import hash_secret
from yibao.store.models import credentials

IVR_SECRET = "platform-test-secret-0123456789"
PIN = "730592"
CALLER = "13912345678"
CALLER_MASKED = "139****5678"


def give_pin(engine: Engine, person: Insured, pin: str = PIN) -> None:
    with engine.begin() as conn:
        conn.execute(insert(credentials).values(person_id=person.person_id, kind="phone_pin", secret_hash=hash_secret(pin)))


def phone_person(engine: Engine, n: int, **kwargs) -> Insured:
    person = add_insured(engine, n, **kwargs)
    give_pin(engine, person)
    return person


def n_with_x_check_character() -> int:
    """An ``add_insured`` number whose ID number ends in X."""
    return next(n for n in range(5, 200) if ResidentId.build("110105", date(1950 + n, 3, 1), 10 + n, today=TODAY).full.endswith("X"))


def keyed(id_number: str) -> str:
    return id_number.replace("X", "*")


@dataclass
class Call:
    phone: Phone
    call_id: str
    actions: list[dict] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)

    def send(self, **event) -> list[dict]:
        response = self.phone.post({"call_id": self.call_id, **event})
        assert response.status_code == 200, response.text
        self.actions = response.json()["actions"]
        self.transcript.extend(action["text"] for action in self.actions if action["type"] in ("say", "play"))
        return self.actions

    def press(self, digits: str) -> str:
        self.send(type="digits", digits=digits)
        return self.said

    def silence(self) -> str:
        self.send(type="silence")
        return self.said

    def hang_up(self) -> None:
        assert self.send(type="hangup") == []

    def sign_in(self, person: Insured, pin: str = PIN) -> str:
        self.press(keyed(person.id_number))
        return self.press(pin)

    @property
    def said(self) -> str:
        return "".join(action["text"] for action in self.actions if action["type"] in ("say", "play"))

    @property
    def ended(self) -> bool:
        return any(action["type"] in ("hangup", "transfer") for action in self.actions)

    @property
    def gather(self) -> dict | None:
        return next((action for action in self.actions if action["type"] == "gather"), None)


@dataclass
class Phone:
    client: TestClient
    secret: str = IVR_SECRET

    def post(self, event: dict, headers: dict | None = None):
        body = json.dumps(event).encode()
        now = self.client.app.state.security.now()
        return self.client.post("/api/v1/ivr/events", content=body, headers=headers or signed_headers(self.secret, body, now))

    def call(self, call_id: str, caller: str | None = CALLER, voice: str | None = None) -> Call:
        call = Call(self, call_id)
        event = {"type": "call.started", "caller": caller} | ({"voice": voice} if voice else {})
        call.send(**event)
        return call
