"""What the phone line says and how it reads what the caller keys in (no database)."""

from __future__ import annotations

from datetime import date

import pytest

from yibao.errors import InvalidInput
from yibao.ivr import speech
from yibao.ivr.entry import CARD, ID_NUMBER, parse_identity
from api_support import TODAY

X_ID = "11010519491231002X"


def test_months_days_numbers_and_amounts_are_words():
    assert speech.month(date(2025, 6, 30)) == "二零二五年六月"
    assert speech.month(date(2024, 12, 1)) == "二零二四年十二月"
    assert speech.day(date(2025, 1, 1)) == "二零二五年一月一日"
    assert speech.number("24.75") == "二十四点七五" and speech.number(0) == "零" and speech.number(25.0) == "二十五"
    assert speech.amount(0) == "零元" and speech.amount(123_456) == "一千二百三十四元五角六分"
    assert speech.count(2) == "两" and speech.count(3) == "三" and speech.count(12) == "十二"


def test_policy_rules_become_speakable():
    rule = "北京市（2025-01-01起）：不满70周岁每月100.00元；每月按缴费基数的2%—3%，基数8,000.00元"
    assert speech.speakable(rule) == (
        "北京市（二零二五年一月一日起）：不满七十周岁每月一百元；每月按缴费基数的百分之二至百分之三，基数八千元"
    )
    assert speech.speakable("3700元×3%=111元") == "三千七百元乘以百分之三等于一百一十一元"


def test_entries_are_read_back_digit_by_digit():
    assert speech.digits_read_back("11010519491231002*") == "一一零一零五，一九四九一二三一，零零二X"
    assert speech.digits_read_back("123456789") == "一二三四，五六七八，九"
    assert speech.wrong_entry("", "whatever") == speech.NOTHING_KEYED
    assert speech.locked(900) == "密码输错次数太多，电话查询已暂停，请十五分钟后再打来。再见。"


def test_keyed_identities():
    assert parse_identity(X_ID[:-1] + "*", TODAY) == parse_identity(X_ID[:-1] + "*#", TODAY)
    assert parse_identity(X_ID[:-1] + "*", TODAY).kind == ID_NUMBER and parse_identity(X_ID[:-1] + "*", TODAY).value == X_ID
    assert parse_identity("00000019", TODAY).kind == CARD and parse_identity("123456789#", TODAY).value == "123456789"


@pytest.mark.parametrize(("keys", "code"), [
    ("110105194912310021", "id_check_char"),
    ("1101051949*231002X", "id_format"),
    ("110105203012310021", "id_future_birth"),
    ("", "entry_empty"),
    ("#", "entry_empty"),
    ("1234", "entry_length"),
    ("1234*678", "entry_format"),
])
def test_wrong_keyed_identities_say_what_is_wrong(keys, code):
    with pytest.raises(InvalidInput) as raised:
        parse_identity(keys, TODAY)
    assert raised.value.code == code
    assert not any(char.isascii() and char.isalpha() for char in raised.value.message)  # spoken words, no codes
