"""Every prompt the phone line can say is spoken as Mandarin, with no English in it.

The check runs espeak-ng's phoneme output (``-x``) with the line's own voice and options on
every text: every constant and function of ``speech``, and everything said in a scripted call
by each kind of person (in service, retired, residents' insurance, flexible employment).
A text passes when
- every character becomes a sound (nothing dropped: no Latin word, no stray symbol),
- every word sent to espeak-ng is a pinyin syllable with its tone number,
- espeak-ng switches to no other language (it marks a switch as "(en)") and every word it
  speaks is the sound of a pinyin syllable, one per Chinese character.
Debian's plain ``cmn`` voice, which reads "您好" as the English "nin two hao three", fails it.
"""

from __future__ import annotations

import re
import subprocess
from datetime import date
from functools import cache
from importlib import resources

import pytest
import yaml
from pypinyin.contrib.tone_convert import to_tone3
from pypinyin.pinyin_dict import pinyin_dict
from sqlalchemy import update

from api_support import START, TODAY, add_resident, client_for, security, settings
from ivr_support import IVR_SECRET, PIN, Phone, give_pin, keyed, phone_person
from yibao.clock import FixedClock
from yibao.errors import InvalidInput
from yibao.ivr import answers, speech
from yibao.ivr.audio import VOICE, espeak_command
from yibao.ivr.entry import parse_identity
from yibao.ivr.pinyin import hanzi_only, tone_numbered, unspoken
from yibao.store.models import persons

ESPEAK = settings().ivr_espeak
_SYLLABLE = re.compile(r"([a-z]+)([1-5])")
_PAUSE_MARKS = re.compile(r"_[|:!;]*")


@cache
def pinyin_syllables() -> frozenset[str]:
    """Every toneless syllable pypinyin knows ("zhang", "lv", "er")."""
    readings = {reading for value in pinyin_dict.values() for reading in value.split(",")}
    matches = (_SYLLABLE.fullmatch(to_tone3(reading, neutral_tone_with_five=True)) for reading in readings)
    return frozenset(match[1] for match in matches if match)


def phonemes(text: str, voice: str = VOICE) -> str:
    command = espeak_command(ESPEAK, "-q", "-x")
    command[command.index("-v") + 1] = voice
    return subprocess.run(command, input=text.encode(), capture_output=True, check=True, timeout=60).stdout.decode()


def phoneme_words(output: str) -> list[str]:
    """espeak-ng's words without pause marks and tone contours: "n'i35n_|" -> "n'in"."""
    return [re.sub(r"[0-9]", "", word) for word in _PAUSE_MARKS.sub(" ", output).split()]


@cache
def syllable_sounds() -> frozenset[str]:
    """What the voice says for each pinyin syllable in each tone."""
    spoken = ", ".join(f"{syllable}{tone}" for syllable in sorted(pinyin_syllables()) for tone in range(1, 6))
    return frozenset(phoneme_words(phonemes(spoken)))


def not_mandarin(text: str) -> list[str]:
    """What in ``text`` would not be spoken as Mandarin by the line's voice (empty: all of it is)."""
    problems = [f"dropped {char!r}" for char in sorted(unspoken(text))]
    words = tone_numbered(text).replace(",", " ").replace(".", " ").split()
    problems += [f"not pinyin {word!r}" for word in words
                 if not (match := _SYLLABLE.fullmatch(word)) or match[1] not in pinyin_syllables()]
    output = phonemes(tone_numbered(text))
    if "(" in output:
        problems.append(f"language switch in {output.strip()!r}")
    sounds = phoneme_words(output)
    problems += [f"not a Mandarin syllable {sound!r}" for sound in sounds if sound not in syllable_sounds()]
    characters = sum(bool(re.fullmatch(r"[\u4e00-\u9fff]", char)) for char in hanzi_only(text))
    if len(sounds) != characters:
        problems.append(f"{len(sounds)} syllables spoken for {characters} characters")
    return problems


def assert_mandarin(texts) -> None:
    failures = {text: problems for text in sorted(set(texts)) if (problems := not_mandarin(text))}
    assert not failures, failures


# ------------------------------------------------------------------ the criterion itself


def test_the_check_finds_english_and_letters():
    assert not_mandarin("您好，请按1。") == []
    assert phoneme_words(phonemes("nin2 hao3")) == ["n'in", "X'Au"]
    english = phonemes("nin two hao three")  # what the line said before: pinyin read as English
    assert any(word not in syllable_sounds() for word in phoneme_words(english))
    assert "(en)" in phonemes("您好", voice="cmn")  # Debian's plain voice switches to English
    assert "(en)" in phonemes("hello")
    assert any("dropped" in problem for problem in not_mandarin("请登录APP查询"))
    assert any("dropped" in problem for problem in not_mandarin("余额¥10"))


def test_polyphones_are_read_as_the_line_means_them():
    assert tone_numbered("银行") == "yin2 hang2"
    assert tone_numbered("您还差累计缴费") == "nin2 hai2 cha4 lei3 ji4 jiao3 fei4"
    assert tone_numbered("重听，请按9。") == "chong2 ting1, qing3 an4 jiu3."
    assert tone_numbered("长期") == "chang2 qi1"
    assert tone_numbered("您的账户") == "nin2 de5 zhang4 hu4"
    assert tone_numbered("一共不是") == "yi2 gong4 bu2 shi4"  # 一 and 不 before a fourth tone
    assert tone_numbered("末位是X的") == "mo4 wei4 shi4 ai4 ke4 si1 de5"
    assert tone_numbered("以退休时的规定为准") == "yi3 tui4 xiu1 shi2 de5 gui1 ding4 wei2 zhun3"
    phrases = yaml.safe_load(resources.files("yibao").joinpath("data/pinyin_phrases.yaml").read_text(encoding="utf-8"))
    assert len(phrases) > 5
    for phrase, reading in phrases.items():  # each correction of the project's list takes effect
        assert tone_numbered(phrase) == reading, phrase


# ------------------------------------------------------------------ every prompt kind


def constant_prompts() -> list[str]:
    return [value for name, value in vars(speech).items() if name.isupper() and isinstance(value, str)]


def identity_errors() -> list[str]:
    """What the line says back for each kind of wrong ID or card number."""
    said = []
    for keys in ("110105194912310021", "1101051949*231002X", "110105203012310021", "", "1234", "1234*678"):
        with pytest.raises(InvalidInput) as raised:
            parse_identity(keys, TODAY)
        said.append(speech.wrong_entry(keys, raised.value.message))
    return said


def test_every_constant_and_function_of_speech_is_mandarin():
    assert len(constant_prompts()) > 15
    texts = [
        *constant_prompts(), *identity_errors(),
        speech.locked(900), speech.locked(30), speech.digits_read_back("11010519491231002*"),
        speech.number("24.75"), speech.number(0), speech.month(date(2025, 12, 1)), speech.day(date(2025, 1, 31)),
        speech.amount(0), speech.amount(123_456), speech.amount(100_000_000), speech.count(2), speech.count(3),
        speech.balance(speech.SAMPLE_BALANCE_FEN), speech.balance(10_000_000_001),
        speech.speakable("北京市（2025-01-01起）：不满70周岁每月100.00元；每月按缴费基数的2%—3%，基数8,000.00元"),
        speech.speakable("3700元×3%=111元"),
    ]
    assert_mandarin(texts)


# ------------------------------------------------------------------ a scripted call per persona


def scripted_call(phone: Phone, call_id: str, id_number: str) -> list[str]:
    """Sign in, hear every answer and its details, a wrong key, a silence, then the agent."""
    call = phone.call(call_id)
    call.press(keyed(id_number))
    call.press(PIN)
    for topic in answers.TOPIC_BY_KEY:
        call.press(topic)
        call.press("1")
        call.press("9")
        call.press("*")
    call.press("7")
    call.silence()
    call.press("0")
    assert call.ended
    return call.transcript


def test_every_answer_of_every_persona_is_mandarin(engine, tmp_path):
    retiree = phone_person(engine, 1)
    worker = phone_person(engine, 2)
    flexible = phone_person(engine, 3, balance_fen=5)
    resident = add_resident(engine, 4)
    give_pin(engine, resident)
    with engine.begin() as conn:
        conn.execute(update(persons).where(persons.c.id == worker.person_id).values(region_code="370000", employment="in_service"))
        conn.execute(update(persons).where(persons.c.id == flexible.person_id).values(employment="flexible"))
    said = []
    with client_for(engine, security(FixedClock(START), ivr_secret=IVR_SECRET, data_dir=tmp_path)) as client:
        phone = Phone(client)
        for n, person in enumerate((retiree, worker, flexible, resident)):
            said += scripted_call(phone, f"persona-{n}", person.id_number)
        wrong = phone.call("persona-wrong")
        wrong.press("1234")
        wrong.press(keyed(retiree.id_number))
        wrong.press("1234")
        wrong.press("000000")
        said += wrong.transcript
    assert any("余额是" in text for text in said) and any("依据" in text for text in said)
    assert_mandarin(said)
