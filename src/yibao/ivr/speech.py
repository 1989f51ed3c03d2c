"""What the phone line says: every prompt, and numbers, dates and amounts as spoken Chinese.

Texts are written for the ear: amounts as "一千二百三十四元五角六分" (``Money.spoken``),
months as "二零二五年六月", key names as words. The same text goes to the platform's own
speech engine and to espeak-ng, so both say the same thing.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import cn2an

from yibao.domain.money import Money

DIGIT_WORDS = "零一二三四五六七八九"
MONTH_WORDS = ("一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二")

GREETING = "您好，欢迎致电一二三三三医保个人账户查询服务。"
ASK_IDENTITY = (
    "请输入十八位身份证号码，末位是字母X的请按星号键代替；"
    "或输入社会保障卡卡号，卡号首位是字母的只输入后面的数字。输入完毕请按井号键。"
)
ASK_PIN = "请输入六位电话查询密码，以井号键结束。重新输入证件号码请按星号键。"
MENU = (
    "查询个人账户余额请按1；查询本月划入金额及依据请按2；查询近三个月缴费记录请按3；"
    "查询终身医保缴费年限请按4；重听请按9；转人工服务请按0；查询其他参保人请按星号键。"
)
AFTER_ANSWER = "重听请按9，返回主菜单请按星号键，转人工服务请按0。"
VERIFIED = "身份验证成功。"
NOTHING_KEYED = "您没有输入内容。"
WRONG_KEY = "您的按键有误。"
SILENCE = "您好像还没有按键。"
WRONG_CREDENTIALS = "您输入的证件号码或电话查询密码不正确。未设置电话查询密码的，请登录医保网上服务平台设置。"
PIN_SHAPE = "电话查询密码应为六位数字。"
TOO_MANY_TRIES = "输入错误次数过多，请核对后再拨。感谢您的来电，再见。"
TOO_MANY_SILENCES = "您长时间没有按键，感谢您的来电，再见。"
TRANSFER = "正在为您转接人工服务，请稍候。"
CALL_GONE = "通话已超时，请重新拨打一二三三三。再见。"
NO_ACCOUNT = "您没有医保个人账户。"
ANSWER_UNAVAILABLE = "暂时无法为您查询这一项，请稍后再试，或按0转人工服务。"


def locked(seconds: int) -> str:
    minutes = max(1, -(-seconds // 60))
    return f"密码错误次数过多，电话查询已暂停，请{number(minutes)}分钟后再拨。再见。"


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


def month(day: date) -> str:
    """2025-06-xx -> 二零二五年六月."""
    return "".join(DIGIT_WORDS[int(char)] for char in f"{day.year:04d}") + "年" + MONTH_WORDS[day.month - 1] + "月"


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
