"""Prompts as WAV files from espeak-ng's Mandarin voice: cached, unguessable, short-lived when personal."""

from __future__ import annotations

import hashlib
import os
import time
import wave

import pytest

from api_support import START, TEST_KEY, client_for, security, settings
from ivr_support import IVR_SECRET, PIN, Phone, keyed, phone_person
from yibao.clock import FixedClock
from yibao.ivr import speech
from yibao.ivr.audio import AudioUnavailable, Voice

SAMPLE_RATE = 22_050  # espeak-ng's output rate


@pytest.fixture
def voice(tmp_path) -> Voice:
    return Voice(settings(data_dir=tmp_path), TEST_KEY.encode())


def duration_and_rate(path) -> tuple[float, int]:
    with wave.open(str(path), "rb") as audio:
        assert audio.getnchannels() == 1 and audio.getsampwidth() == 2
        return audio.getnframes() / audio.getframerate(), audio.getframerate()


def test_a_prompt_is_a_mandarin_wav_of_sensible_length(voice):
    name = voice.prompt(speech.GREETING)
    path = voice.path_of(name)
    assert path is not None and path.stat().st_size > 1000
    seconds, rate = duration_and_rate(path)
    assert rate == SAMPLE_RATE
    # About 20 syllables: a few seconds, neither a click nor a stuck synthesizer.
    assert 2.0 < seconds < 15.0
    longer, _ = duration_and_rate(voice.path_of(voice.prompt(speech.MENU)))
    assert longer > seconds


def test_prompts_are_cached_and_their_names_reveal_nothing(voice):
    name = voice.prompt(speech.MENU)
    path = voice.path_of(name)
    modified = path.stat().st_mtime_ns
    assert voice.prompt(speech.MENU) == name and path.stat().st_mtime_ns == modified  # not synthesized again
    text = "您的医保个人账户余额为一千元。"
    assert name != hashlib.sha256(speech.MENU.encode()).hexdigest()[:32]
    assert voice.personal("call-1", text) != voice.personal("call-2", text)  # per call, not per text
    other_key = Voice(settings(data_dir=voice.root.parent), b"another-key-" * 4)
    assert other_key.prompt(speech.MENU) != name  # keyed: nobody without the key can compute a name


def test_personal_recordings_are_forgotten_and_swept(voice):
    name = voice.personal("call-1", "您的医保个人账户余额为一千元。")
    assert voice.is_personal(name)
    voice.forget([name])
    assert voice.path_of(name) is None
    stale = voice.personal("call-2", "您的医保个人账户余额为二千元。")
    fresh = voice.personal("call-3", "您的医保个人账户余额为三千元。")
    an_hour_ago = time.time() - 3600
    os.utime(voice.path_of(stale), (an_hour_ago, an_hour_ago))
    assert voice.sweep(older_than_seconds=1800) == 1
    assert voice.path_of(stale) is None and voice.path_of(fresh) is not None
    assert voice.path_of("../../secret_key") is None and voice.path_of("A" * 32) is None


def test_a_missing_synthesizer_is_reported_not_crashed(tmp_path):
    broken = Voice(settings(data_dir=tmp_path, ivr_espeak=str(tmp_path / "no-such-espeak")), TEST_KEY.encode())
    with pytest.raises(AudioUnavailable):
        broken.prompt(speech.GREETING)


def test_an_audio_call_plays_recordings_served_by_the_api(engine, tmp_path):
    alice = phone_person(engine, 1, balance_fen=123_456)
    sec = security(FixedClock(START), ivr_secret=IVR_SECRET, data_dir=tmp_path)
    with client_for(engine, sec) as client:
        call = Phone(client).call("call-audio", voice="audio")
        plays = [action for action in call.actions if action["type"] == "play"]
        assert [action["text"] for action in plays] == [speech.GREETING, speech.ASK_IDENTITY]
        greeting = client.get(plays[0]["url"])
        assert greeting.status_code == 200 and greeting.headers["content-type"] == "audio/wav"
        assert greeting.headers["cache-control"].startswith("public")
        assert plays[0]["url"].startswith("https://testserver/api/v1/ivr/audio/")
        call.press(keyed(alice.id_number))
        call.press(PIN)
        call.press("1")
        balance = next(action for action in call.actions if action["type"] == "play" and "余额" in action["text"])
        recording = client.get(balance["url"])
        assert recording.status_code == 200 and recording.headers["cache-control"] == "no-store"
        path = tmp_path / "balance.wav"
        path.write_bytes(recording.content)
        seconds, rate = duration_and_rate(path)
        assert rate == SAMPLE_RATE and 2.0 < seconds < 20.0
        call.hang_up()
        assert client.get(balance["url"]).status_code == 404  # gone with the call
        assert client.get(plays[0]["url"]).status_code == 200  # shared prompts stay
        assert client.get("/api/v1/ivr/audio/" + "0" * 32 + ".wav").status_code == 404
        assert client.get("/api/v1/ivr/audio/not-a-name.wav").status_code == 422
