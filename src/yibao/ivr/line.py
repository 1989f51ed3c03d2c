"""One call event in, the platform's actions out: the single entry of the phone line.

The webhook (``POST /api/v1/ivr/events``, after checking the platform's signature) and the
``yibao ivr`` simulator both call :meth:`PhoneLine.handle`, so the simulator runs exactly
the code a real call runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Engine

from yibao.ivr import speech
from yibao.ivr.audio import AudioUnavailable, Voice
from yibao.ivr.calls import CallState, CallStore, make_call_store
from yibao.ivr.flow import Conversation, Gather, Hangup, Say, Transfer, Turn
from yibao.ivr.schemas import (
    CallActions,
    CallEvent,
    EventType,
    GatherAction,
    HangupAction,
    PlayAction,
    SayAction,
    TransferAction,
)
from yibao.ivr.schemas import Voice as VoiceMode
from yibao.security.context import Security
from yibao.security.sms import mask_phone
from yibao.security.tokens import keyed_hash

log = logging.getLogger("yibao.ivr")

AGENT_QUEUE = "agent"
AudioUrl = Callable[[str], str]


class PhoneLine:
    def __init__(self, engine: Engine, sec: Security, *, store: CallStore | None = None, voice: Voice | None = None):
        self.engine, self.sec = engine, sec
        self.settings = sec.settings
        self.store = store or make_call_store(self.settings.redis_url, sec.clock)
        self.voice = voice or Voice(self.settings, sec.key)

    def handle(self, event: CallEvent, audio_url: AudioUrl = lambda name: name) -> CallActions:
        """The actions for ``event``; ``audio_url`` turns a recording's name into what the platform fetches."""
        if event.type is EventType.HANGUP:
            self.end_call(event.call_id)
            return CallActions(call_id=event.call_id, actions=[])
        if event.type is EventType.STARTED:
            state = self._new_call(event)
            turns = Conversation(self.engine, self.sec, state).start()
        else:
            state = self.store.get(event.call_id)
            if state is None:  # expired, already ended, or never started here
                return CallActions(call_id=event.call_id, actions=[SayAction(text=speech.CALL_GONE), HangupAction()])
            conversation = Conversation(self.engine, self.sec, state)
            turns = conversation.on_silence() if event.type is EventType.SILENCE else conversation.on_digits(event.digits or "")
        actions = [self._action(state, turn, audio_url) for turn in turns]
        self.store.put(state, self.settings.ivr_call_ttl_seconds)
        return CallActions(call_id=event.call_id, actions=actions)

    def end_call(self, call_id: str) -> None:
        """The caller hung up: forget the call and delete its personal recordings."""
        state = self.store.get(call_id)
        if state is not None:
            self.voice.forget(state.audio)
            log.info("call %s ended", call_id)
        self.store.delete(call_id)

    def _new_call(self, event: CallEvent) -> CallState:
        previous = self.store.get(event.call_id)
        if previous is not None:  # the platform started the same call again: begin afresh
            self.voice.forget(previous.audio)
        self.voice.sweep(self.settings.ivr_call_ttl_seconds)
        number = event.caller or ""
        masked = mask_phone(number) if number else "withheld"
        log.info("call %s started from %s", event.call_id, masked)  # the caller's number only masked
        return CallState(
            call_id=event.call_id,
            caller_masked=masked,
            caller_key=keyed_hash(self.sec.key, "tel:" + number) if number else "",
            voice=(event.voice or VoiceMode(self.settings.ivr_voice)).value,
        )

    def _action(self, state: CallState, turn: Turn, audio_url: AudioUrl):
        if isinstance(turn, Say):
            return self._spoken(state, turn, audio_url)
        if isinstance(turn, Gather):
            return GatherAction(
                max_digits=turn.max_digits, timeout_seconds=self.settings.ivr_silence_seconds, finish_on_key=turn.finish_on_key
            )
        if isinstance(turn, Transfer):
            return TransferAction(queue=AGENT_QUEUE, verified=turn.verified)
        if isinstance(turn, Hangup):
            return HangupAction()
        raise TypeError(f"unknown turn {turn!r}")

    def _spoken(self, state: CallState, turn: Say, audio_url: AudioUrl) -> SayAction | PlayAction:
        if state.voice != VoiceMode.AUDIO:
            return SayAction(text=turn.text)
        try:
            if turn.personal:
                name = self.voice.personal(state.call_id, turn.text)
                if name not in state.audio:
                    state.audio.append(name)
            else:
                name = self.voice.prompt(turn.text)
        except AudioUnavailable:
            return SayAction(text=turn.text)  # the platform's own speech engine still reads it
        return PlayAction(url=audio_url(name), text=turn.text)
