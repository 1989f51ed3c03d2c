"""What the phone line says: every prompt, and numbers, dates and amounts as spoken Chinese.

Texts are written for the ear: amounts as "一千二百三十四元五角六分" (``Money.spoken``),
months as "二零二五年六月", key names as words. The same text goes to the platform's own
speech engine and, as pinyin (``pinyin``), to espeak-ng, so both say the same thing.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import cn2an

from yibao.domain.money import Money

DIGIT_WORDS = "零一二三四五六七八九"
MONTH_WORDS = ("一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二")

# Short sentences, the key after what it does, as the national hotlines say them.
GREETING = "您好，这里是一二三三三医保个人账户查询。"
ASK_IDENTITY = (
    "请输入身份证号码，最后一位是X的，用星号键代替；也可以输入社保卡号，开头的字母不用输。输完请按井号键。"
)
ASK_PIN = "请输入六位电话查询密码，输完请按井号键。重新输入证件号码，请按星号键。"
MENU = (
    "查余额，请按1；本月划入多少，请按2；近三个月缴费，请按3；缴费年限，请按4；"
    "人工服务，请按0；重听，请按9；查询其他人，请按星号键。"
)
AFTER_ANSWER = "详细信息，请按1；重听，请按9；返回主菜单，请按星号键；人工服务，请按0。"
VERIFIED = "验证成功。"
NOTHING_KEYED = "您没有输入内容。"
WRONG_KEY = "按键有误。"
SILENCE = "您好像还没有按键。"
WRONG_CREDENTIALS = "证件号码或电话查询密码不对。还没有设置电话查询密码的，请先在医保网上服务平台设置。"
PIN_SHAPE = "电话查询密码是六位数字。"
TOO_MANY_TRIES = "输错次数太多，请核对后再打来。感谢来电，再见。"
TOO_MANY_SILENCES = "您很久没有按键，感谢来电，再见。"
TRANSFER = "正在为您转接人工服务，请稍候。"
CALL_GONE = "通话已超时，请重新拨打一二三三三。再见。"
NO_ACCOUNT = "您没有医保个人账户。"
ANSWER_UNAVAILABLE = "这一项暂时查不到，请稍后再试，或按0转人工服务。"
# Policy questions beyond the person's own account go to the national medical-insurance hotline.
POLICY_HOTLINE = "医保政策问题，也可以拨打全国医保服务热线一二三九三。"


SAMPLE_BALANCE_FEN = 123_456  # the balance of the documented sample recording


def balance(fen: int) -> str:
    return f"您的个人账户余额是{amount(fen)}。"


def locked(seconds: int) -> str:
    minutes = max(1, -(-seconds // 60))
    return f"密码输错次数太多，电话查询已暂停，请{number(minutes)}分钟后再打来。再见。"


def digits_read_back(entry: str) -> str:
    """What the caller keyed in, digit by digit, ``*`` read as X, with pauses for the ear: an
    ID number as region, birth date and the last four; anything else in groups of four."""
    words = "".join(DIGIT_WORDS[int(char)] if char.isdigit() else "X" for char in entry if char.isdigit() or char == "*")
    cuts = [0, 6, 14, 18] if len(words) == 18 else list(range(0, len(words), 4)) + [len(words)]
    return "，".join(words[start:end] for start, end in zip(cuts, cuts[1:]) if words[start:end])


def wrong_entry(entry: str, problem: str) -> str:
    if not entry:
        return NOTHING_KEYED
    return f"您输入的是：{digits_read_back(entry)}。{problem}。"


def number(value: int | float | str) -> str:
    """12 -> 十二, "24.75" -> 二十四点七五, "2.00" -> 二, 0 -> 零 (trailing decimal zeros are not said)."""
    text = format(Decimal(str(value)).normalize(), "f")
    return cn2an.an2cn(text)


def count(value: int) -> str:
    """A count before a measure word: 2 -> 两 ("两笔"), otherwise as ``number``."""
    return "两" if value == 2 else number(value)


def year(value: int) -> str:
    """2025 -> 二零二五年: a year is read digit by digit."""
    return "".join(DIGIT_WORDS[int(char)] for char in f"{value:04d}") + "年"


def month(day: date) -> str:
    """2025-06-xx -> 二零二五年六月."""
    return year(day.year) + MONTH_WORDS[day.month - 1] + "月"


def day(value: date) -> str:
    """2025-01-01 -> 二零二五年一月一日."""
    return month(value) + number(value.day) + "日"


def amount(fen: int) -> str:
    return Money(fen).spoken()


_MONEY = re.compile(r"(?<![0-9.])((?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)\.[0-9]{2})元")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_PERCENT = re.compile(r"([0-9]+(?:\.[0-9]+)?)%")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def speakable(text: str) -> str:
    """A policy rule written for the eye ("每月100.00元", "2%—3%", "2025-01-01起") made speakable."""
    text = _MONEY.sub(lambda match: Money.parse(match[1]).spoken(), text)
    text = _DATE.sub(lambda match: day(date(int(match[1]), int(match[2]), int(match[3]))), text)
    text = _PERCENT.sub(lambda match: "百分之" + number(match[1]), text)
    # "——" is a pause in a sentence, a single "—" a range ("2%—3%").
    text = text.replace("——", "，").replace("—", "至").replace("×", "乘以").replace("=", "等于")
    return _NUMBER.sub(lambda match: number(match[0]), text)
