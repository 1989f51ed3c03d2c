"""The call flow as a state machine: an event and the call's state in, the next turns out.

greeting → ID or card number (``#`` ends it, ``*`` stands for X) → phone password (``*``
goes back) → main menu (1 balance, 2 this month's credit and its rule, 3 the last three
months' contributions, 4 lifetime-coverage years, 9 repeat, 0 agent, ``*`` another person)
→ a short answer (1 its details, 9 repeat, ``*`` back to the menu, 0 agent).

Every wrong entry is said back and counts; after ``ivr_max_tries`` at one step the call
ends. Silence repeats the prompt; after ``ivr_max_silences`` in a row the call ends. Turns
are abstract (say, gather, transfer, hang up): ``line`` renders them as webhook actions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine

from yibao.errors import InvalidInput, YibaoError
from yibao.ivr import answers, caller, speech
from yibao.ivr.calls import CallState, Stage
from yibao.ivr.entry import MAX_ENTRY, parse_identity
from yibao.security.context import Security
from yibao.security.errors import LockedOut
from yibao.security.passwords import PIN_LENGTH

log = logging.getLogger("yibao.ivr")

REPEAT, AGENT, BACK, DETAILS = "9", "0", "*", "1"


@dataclass(frozen=True)
class Say:
    text: str
    personal: bool = False  # carries personal data: never cached beyond the call


@dataclass(frozen=True)
class Gather:
    max_digits: int
    finish_on_key: str | None = None


@dataclass(frozen=True)
class Transfer:
    verified: bool


@dataclass(frozen=True)
class Hangup:
    pass


Turn = Say | Gather | Transfer | Hangup

_PROMPTS: dict[str, list[Turn]] = {
    Stage.IDENTIFY: [Say(speech.ASK_IDENTITY), Gather(MAX_ENTRY, "#")],
    Stage.PIN: [Say(speech.ASK_PIN), Gather(PIN_LENGTH, "#")],
    Stage.MENU: [Say(speech.MENU), Gather(1)],
    Stage.ANSWER: [Say(speech.AFTER_ANSWER), Gather(1)],
}


class Conversation:
    def __init__(self, engine: Engine, sec: Security, state: CallState):
        self.engine, self.sec, self.state = engine, sec, state
        self.settings = sec.settings

    def start(self) -> list[Turn]:
        return [Say(speech.GREETING), *self._prompt(Stage.IDENTIFY)]

    def on_digits(self, keys: str) -> list[Turn]:
        self.state.silences = 0
        handler = {
            Stage.IDENTIFY: self._identity_entered,
            Stage.PIN: self._pin_entered,
            Stage.MENU: self._menu_key,
            Stage.ANSWER: self._answer_key,
        }.get(self.state.stage)
        return handler(keys) if handler else [Hangup()]

    def on_silence(self) -> list[Turn]:
        if self.state.stage == Stage.ENDED:
            return [Hangup()]
        self.state.silences += 1
        if self.state.silences >= self.settings.ivr_max_silences:
            return self._end(speech.TOO_MANY_SILENCES)
        return [Say(speech.SILENCE), *_PROMPTS[self.state.stage]]

    # ------------------------------------------------------------------ steps

    def _identity_entered(self, keys: str) -> list[Turn]:
        entry = keys.rstrip("#")
        try:
            identity = parse_identity(keys, self.sec.clock.today())
        except InvalidInput as error:
            # The read-back is the caller's own ID number: personal, never cached beyond the call.
            return self._wrong(speech.wrong_entry(entry, error.message), personal=bool(entry))
        try:
            caller.identify(self.engine, self.sec, self.state, identity)
        except LockedOut as locked:
            return self._end(speech.locked(locked.retry_after))
        return self._prompt(Stage.PIN)

    def _pin_entered(self, keys: str) -> list[Turn]:
        entry = keys.rstrip("#")
        if entry == BACK:
            self._forget_identity()
            return self._prompt(Stage.IDENTIFY)
        if len(entry) != PIN_LENGTH or not entry.isdigit():
            return self._wrong(speech.PIN_SHAPE)  # a password is never read back
        try:
            right = caller.check_pin(self.engine, self.sec, self.state, entry)
        except LockedOut as locked:
            return self._end(speech.locked(locked.retry_after))
        if not right:
            return self._wrong(speech.WRONG_CREDENTIALS)
        return [Say(speech.VERIFIED), *self._prompt(Stage.MENU)]

    def _menu_key(self, keys: str) -> list[Turn]:
        key = keys.rstrip("#")
        if key in answers.TOPIC_BY_KEY:
            return self._answer(answers.TOPIC_BY_KEY[key])
        if key == REPEAT:
            return self._prompt(Stage.MENU)
        if key == AGENT:
            return self._transfer()
        if key == BACK:
            self._forget_identity()
            return self._prompt(Stage.IDENTIFY)
        return self._wrong(speech.WRONG_KEY)

    def _answer_key(self, keys: str) -> list[Turn]:
        key = keys.rstrip("#")
        if key in (REPEAT, DETAILS) and self.state.topic:
            return self._answer(self.state.topic, details=key == DETAILS)
        if key == BACK:
            return self._prompt(Stage.MENU)
        if key == AGENT:
            return self._transfer()
        return self._wrong(speech.WRONG_KEY)

    # ------------------------------------------------------------------ shared moves

    def _answer(self, topic: str, *, details: bool = False) -> list[Turn]:
        try:
            text = answers.read_out(self.engine, self.sec, self.state, topic, details=details)
        except YibaoError as error:  # the person's record does not support this answer
            log.warning("call %s: %s answer unavailable (%s)", self.state.call_id, topic, error.code)
            return [Say(speech.ANSWER_UNAVAILABLE), *self._prompt(Stage.MENU)]
        self.state.topic = topic
        return [Say(text, personal=True), *self._prompt(Stage.ANSWER)]

    def _prompt(self, stage: str) -> list[Turn]:
        self.state.stage, self.state.tries = stage, 0
        return list(_PROMPTS[stage])

    def _wrong(self, text: str, *, personal: bool = False) -> list[Turn]:
        self.state.tries += 1
        if self.state.tries >= self.settings.ivr_max_tries:
            return [Say(text, personal), *self._end(speech.TOO_MANY_TRIES)]
        return [Say(text, personal), *_PROMPTS[self.state.stage]]

    def _transfer(self) -> list[Turn]:
        verified = self.state.person_id is not None
        with self.engine.begin() as conn:
            answers.record(conn, self.sec, self.state, "ivr.transfer", subject_person_id=self.state.person_id)
        self.state.stage = Stage.ENDED
        return [Say(speech.TRANSFER), Transfer(verified)]

    def _end(self, text: str) -> list[Turn]:
        self.state.stage = Stage.ENDED
        return [Say(text), Hangup()]

    def _forget_identity(self) -> None:
        self.state.person_id = self.state.candidate_id = self.state.lock_subject = self.state.topic = None
