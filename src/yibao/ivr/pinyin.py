"""Prompt text as tone-numbered pinyin ("您好。" -> "nin2 hao3."), what espeak-ng's
``cmn-latn-pinyin`` voice reads as Mandarin.

Debian's plain ``cmn`` voice turns characters into pinyin and then reads that pinyin with
English rules ("nin two hao three"); the pinyin voice reads each tone-numbered syllable as
one Mandarin syllable. pypinyin picks the reading of a character from its phrase
dictionary (银行 hang2, 还差 hai2 cha4) and applies the tone changes of 一, 不 and of two
third tones in a row; the readings it gets wrong in the line's prompts are fixed in
``data/pinyin_phrases.yaml``.

Digits still in a text (key names: "请按1") are read one by one, "X" (the ID number's
last character) as 艾克斯; punctuation becomes a pause. Anything else outside Chinese
characters is dropped: :func:`unspoken` lists it, so a test can make sure no prompt has any.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

import yaml
from pypinyin import Style, lazy_pinyin, load_phrases_dict
from pypinyin.contrib.tone_convert import to_tone

from yibao.ivr.speech import DIGIT_WORDS

LETTER_WORDS = {"X": "艾克斯", "x": "艾克斯"}
COMMA, STOP = ",", "."
_PAUSES = {**dict.fromkeys("，、；：,;:（）()—", COMMA), **dict.fromkeys("。！？!?…", STOP)}
_HANZI = re.compile(r"[\u4e00-\u9fff]")
_CHUNK = re.compile(r"[\u4e00-\u9fff]+|.", re.DOTALL)


@cache
def _load_phrases() -> None:
    """The project's corrections, added once to pypinyin's phrase dictionary (process-wide)."""
    text = resources.files("yibao").joinpath("data/pinyin_phrases.yaml").read_text(encoding="utf-8")
    phrases = yaml.safe_load(text)
    load_phrases_dict({phrase: [[to_tone(syllable)] for syllable in reading.split()] for phrase, reading in phrases.items()})


def hanzi_only(text: str) -> str:
    """Digits and the letter X as Chinese words, so that every sound is a Chinese character."""
    return "".join(DIGIT_WORDS[int(char)] if char.isascii() and char.isdigit() else LETTER_WORDS.get(char, char) for char in text)


def unspoken(text: str) -> set[str]:
    """The characters of ``text`` that :func:`tone_numbered` drops (neither Chinese, a digit, X, a pause nor a space)."""
    return {char for char in hanzi_only(text) if not _HANZI.fullmatch(char) and char not in _PAUSES and not char.isspace()}


def tone_numbered(text: str) -> str:
    """"您好，请按1。" -> "nin2 hao3, qing3 an4 yi1." (the neutral tone is 5)."""
    _load_phrases()
    words: list[str] = []
    for chunk in _CHUNK.findall(hanzi_only(text)):
        if _HANZI.match(chunk):
            words += lazy_pinyin(chunk, style=Style.TONE3, neutral_tone_with_five=True, tone_sandhi=True)
        elif chunk in _PAUSES and words and words[-1] not in (COMMA, STOP):
            words.append(_PAUSES[chunk])
        elif chunk in _PAUSES and words and _PAUSES[chunk] == STOP:
            words[-1] = STOP  # "：" then "。": the longer pause
    return " ".join(words).replace(f" {COMMA}", COMMA).replace(f" {STOP}", STOP)
