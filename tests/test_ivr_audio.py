"""Prompts as WAV files from espeak-ng's Mandarin voice: levelled, at a natural pace, cached,
unguessable, short-lived when personal."""

from __future__ import annotations

import hashlib
import os
import time
import wave

import numpy as np
import pytest

from api_support import START, TEST_KEY, client_for, security, settings
from ivr_support import IVR_SECRET, PIN, Phone, keyed, phone_person
from yibao.clock import FixedClock
from yibao.ivr import speech, wav
from yibao.ivr.audio import AudioUnavailable, Voice
from yibao.ivr.pinyin import hanzi_only

SAMPLE_RATE = 16_000  # wide-band telephony


def spoken_characters(text: str) -> int:
    return sum("\u4e00" <= char <= "\u9fff" for char in hanzi_only(text))


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
    assert 2.0 < seconds < 10.0
    longer, _ = duration_and_rate(voice.path_of(voice.prompt(speech.MENU)))
    assert longer > seconds


@pytest.mark.parametrize("text", [speech.GREETING, speech.MENU, speech.ASK_IDENTITY, speech.TOO_MANY_TRIES,
                                  "您的个人账户余额是一千二百三十四元五角六分。"])
def test_prompts_are_loud_enough_never_clipped_and_at_a_natural_pace(voice, text):
    samples, rate = wav.read(voice.path_of(voice.prompt(text)))
    assert rate == SAMPLE_RATE
    assert -1.0 > wav.peak_dbfs(samples) > -4.0  # headroom below full scale, yet not faint
    assert (abs(samples) >= 0.999).sum() == 0  # no sample at full scale: nothing clipped
    loud = abs(samples) > 0.01
    assert loud.mean() > 0.3  # speech, not silence with a click
    per_minute = spoken_characters(text) / (samples.size / rate) * 60
    assert 180 < per_minute < 300, per_minute  # Mandarin announcements: about 200 to 260 characters a minute


def test_levelling_scales_the_peak_and_leaves_silence_alone(tmp_path):
    path = tmp_path / "loud.wav"
    tone = np.sin(np.arange(22_050) * 2 * np.pi * 440 / 22_050)  # one second at full scale, 22.05 kHz
    wav.write(path, tone, 22_050)
    wav.for_the_line(path)
    samples, rate = wav.read(path)
    assert rate == SAMPLE_RATE and samples.size == SAMPLE_RATE
    assert wav.peak_dbfs(samples) == pytest.approx(wav.PEAK_DBFS, abs=0.01)
    assert wav.levelled(np.zeros(10)).tolist() == [0.0] * 10 and wav.peak_dbfs(np.zeros(3)) == -np.inf
    (tmp_path / "broken.wav").write_bytes(b"RIFF....")
    with pytest.raises(ValueError):
        wav.read(tmp_path / "broken.wav")


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
        samples, _ = wav.read(path)
        assert -1.0 > wav.peak_dbfs(samples) > -4.0
        call.hang_up()
        assert client.get(balance["url"]).status_code == 404  # gone with the call
        assert client.get(plays[0]["url"]).status_code == 200  # shared prompts stay
        assert client.get("/api/v1/ivr/audio/" + "0" * 32 + ".wav").status_code == 404
        assert client.get("/api/v1/ivr/audio/not-a-name.wav").status_code == 422
