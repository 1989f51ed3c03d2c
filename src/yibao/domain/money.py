"""Money as integer fen (分): parsing, exact arithmetic and Chinese formatting.

Amounts are never floats anywhere in yibao: 0.1 + 0.2 != 0.3 in binary floating point, and a
ledger that is off by one fen is a wrong ledger. ``Money`` holds an ``int`` of fen
(1 yuan = 100 fen); text and ``Decimal`` are converted exactly or rejected.

Parsing is deliberately strict (see :meth:`Money.parse`): an amount typed by a person is
either unambiguous or refused with a Chinese message that says what to fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext

import cn2an

from yibao.errors import InvalidInput

FEN_PER_YUAN = 100

# Ceiling for any single amount entering the system: 10**12 fen = 100 亿元 (10 billion yuan).
# No personal-account amount comes anywhere near it, so an amount above it is a typo (extra
# digits, a pasted account number) rather than a real payment. It also keeps every amount
# far inside a signed 64-bit BIGINT column (~9.2 * 10**18), so millions of maximal amounts
# can be summed in the database without overflow.
MAX_FEN = 10**12
MAX_YUAN = MAX_FEN // FEN_PER_YUAN

_CURRENCY_PREFIXES = "¥￥"  # U+00A5 (half-width yen/yuan sign) and U+FFE5 (full-width)
_CURRENCY_SUFFIX = "元"

# ASCII only: Python's \d would also match full-width and other Unicode digits.
# Integer part: either a plain number without leading zeros, or correct groups of three
# separated by commas ("1,234,567"). A fraction needs at least one digit before the point
# (".5" is rejected: strict input, no guessing) and after it ("5." is rejected too).
_AMOUNT = re.compile(
    r"""
    (?P<sign>-)?
    [¥￥]?
    (?P<integer>0|[1-9][0-9]*|[1-9][0-9]{0,2}(?:,[0-9]{3})+)
    (?:\.(?P<fraction>[0-9]+))?
    元?
    """,
    re.VERBOSE | re.ASCII,
)

_SPOKEN_DIGITS = "零一二三四五六七八九"


@dataclass(frozen=True, order=True)
class Money:
    """An amount in integer fen. Comparisons and hashing work on ``fen``.

    The ceiling :data:`MAX_FEN` is enforced where amounts *enter* (``parse``, ``of_yuan``),
    not on arithmetic: totals over many accounts may legitimately be larger.
    """

    fen: int

    def __post_init__(self) -> None:
        # bool is a subclass of int; Money(True) is always a bug.
        if type(self.fen) is not int:
            raise TypeError(f"Money.fen must be int, got {type(self.fen).__name__}")

    # ------------------------------------------------------------------ constructors

    @classmethod
    def zero(cls) -> Money:
        return cls(0)

    @classmethod
    def parse(cls, text: str, *, field: str = "amount", allow_negative: bool = False) -> Money:
        """Parse an amount in yuan typed by a person or found in a file.

        Accepted: ``"123.45"``, ``"123.4"``, ``"123"``, ``"0"``, ``"0.05"``, ``"¥1,234.56"``,
        ``"￥1,234.56"``, ``"1234.56元"``, surrounding whitespace, and a leading ``"-"`` when
        ``allow_negative`` (before the currency sign: ``"-¥5"``).

        Rejected (``InvalidInput`` naming ``field``): empty text (``money_empty``), full-width
        digits (``money_full_width``), more than two decimals even if zero, e.g. ``"1.230"``
        (``money_too_many_decimals``), a sign when not allowed (``money_negative``), amounts
        above :data:`MAX_FEN` (``money_too_large``), and everything else
        (``money_format``): ``".5"``, ``"5."``, ``"012"``, ``"1,23.00"``, ``"1e3"``, ``"NaN"``,
        ``"inf"``, ``"+5"``, ``"1 234"``, ``"1.2.3"``.
        """
        if not isinstance(text, str):
            raise TypeError(f"Money.parse expects str, got {type(text).__name__}")
        stripped = text.strip()
        if not stripped:
            raise InvalidInput("金额不能为空", field=field, code="money_empty")
        if _has_non_ascii_digit(stripped):
            raise InvalidInput("金额请使用半角数字（0-9），不要使用全角数字", field=field, code="money_full_width")
        match = _AMOUNT.fullmatch(stripped)
        if match is None:
            raise InvalidInput("金额格式不正确，请输入如 123.45 的金额", field=field, code="money_format")
        fraction = match["fraction"] or ""
        if len(fraction) > 2:
            raise InvalidInput("金额最多两位小数（精确到分）", field=field, code="money_too_many_decimals")
        if match["sign"] and not allow_negative:
            raise InvalidInput("金额不能为负数", field=field, code="money_negative")
        integer_digits = match["integer"].replace(",", "")
        # Checked on the digit count first so a 5000-digit string never reaches int().
        if len(integer_digits) > len(str(MAX_YUAN)):
            raise _too_large(field)
        fen = int(integer_digits) * FEN_PER_YUAN + int(fraction.ljust(2, "0"))
        return cls._checked(-fen if match["sign"] else fen, field)

    @classmethod
    def of_yuan(cls, amount: Decimal | int | str, *, field: str = "amount") -> Money:
        """Exact conversion from yuan; negative amounts are allowed (this is for programs).

        ``Decimal`` must not carry non-zero digits beyond the fen (``Decimal("1.230")`` is
        fine, ``Decimal("1.234")`` raises ``money_too_many_decimals``). ``str`` goes through
        :meth:`parse` with ``allow_negative=True``. ``float`` and ``bool`` raise ``TypeError``:
        a float has already lost exactness before we see it.
        """
        if isinstance(amount, str):
            return cls.parse(amount, field=field, allow_negative=True)
        if isinstance(amount, bool) or not isinstance(amount, int | Decimal):
            raise TypeError(f"Money.of_yuan expects Decimal, int or str, got {type(amount).__name__}")
        if isinstance(amount, int):
            if abs(amount) > MAX_YUAN:
                raise _too_large(field)
            return cls(amount * FEN_PER_YUAN)
        return cls._checked(_decimal_yuan_to_fen(amount, field), field)

    @classmethod
    def percent_of(cls, base: Money, ratio: Decimal | int) -> Money:
        """``base × ratio`` rounded to the fen, e.g. 3700元 × Decimal("0.03") = 111.00元.

        ``ratio`` is a plain fraction (3% is ``Decimal("0.03")``), never a float. Rounding is
        ``ROUND_HALF_UP`` as ``Decimal`` defines it: halves go away from zero, so +0.5 fen
        becomes +1 fen and -0.5 fen becomes -1 fen (the usual rule for contribution amounts).
        """
        if not isinstance(base, Money):
            raise TypeError("percent_of base must be Money")
        if isinstance(ratio, bool) or not isinstance(ratio, int | Decimal):
            raise TypeError(f"percent_of ratio must be Decimal or int, got {type(ratio).__name__}")
        if not Decimal(ratio).is_finite():
            raise ValueError("percent_of ratio must be finite")
        with localcontext() as context:
            # Enough precision that the product is exact before the single rounding step.
            context.prec = len(str(abs(base.fen))) + len(Decimal(ratio).as_tuple().digits) + 10
            product = Decimal(base.fen) * Decimal(ratio)
            return cls(int(product.quantize(Decimal(1), rounding=ROUND_HALF_UP)))

    @classmethod
    def _checked(cls, fen: int, field: str) -> Money:
        if abs(fen) > MAX_FEN:
            raise _too_large(field)
        return cls(fen)

    # ------------------------------------------------------------------ arithmetic

    def __add__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        return Money(self.fen + other.fen)

    def __sub__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        return Money(self.fen - other.fen)

    def __neg__(self) -> Money:
        return Money(-self.fen)

    def __abs__(self) -> Money:
        return Money(abs(self.fen))

    def __mul__(self, factor: object) -> Money:
        # Only whole numbers: a fractional factor needs a rounding decision (use percent_of).
        if type(factor) is not int:
            return NotImplemented
        return Money(self.fen * factor)

    __rmul__ = __mul__

    def __bool__(self) -> bool:
        return self.fen != 0

    @property
    def is_negative(self) -> bool:
        return self.fen < 0

    # ------------------------------------------------------------------ formatting

    def format(self) -> str:
        """For people: ``"1,234.56元"``, ``"0.00元"``, ``"-1,234.56元"``."""
        yuan, fen = divmod(abs(self.fen), FEN_PER_YUAN)
        return f"{self._sign()}{yuan:,}.{fen:02d}{_CURRENCY_SUFFIX}"

    def __str__(self) -> str:
        return self.format()

    def yuan_str(self) -> str:
        """For files and JSON: ``"1234.56"``, ``"-0.05"``; no separators, always two decimals."""
        yuan, fen = divmod(abs(self.fen), FEN_PER_YUAN)
        return f"{self._sign()}{yuan}.{fen:02d}"

    def to_decimal(self) -> Decimal:
        """Exact yuan with two decimal places: ``Decimal("1234.56")``."""
        return Decimal(self.yuan_str())

    def capital_words(self) -> str:
        """Chinese capital amount (大写金额) in cheque style, via cn2an.

        ``"壹仟贰佰叁拾肆元伍角陆分"``, ``"零元整"``, ``"壹佰元整"``, ``"壹佰元零伍分"``,
        ``"壹拾元伍角"`` (the leading 壹 of 壹拾 is kept, as on cheques), ``"壹分"``;
        negative amounts are prefixed ``"负"``.
        """
        words = cn2an.an2cn(abs(self).yuan_str(), "rmb")
        return f"负{words}" if self.is_negative else words

    def spoken(self) -> str:
        """Natural spoken Chinese for the phone line.

        ``"一千二百三十四元五角六分"``, ``"零元"``, ``"一分"``, ``"一百元零五分"``,
        ``"十元五角"`` (not 一十), ``"一百一十元"``, ``"二百元"`` (always 二, never 两, so the
        wording is predictable for speech synthesis and tests); negative: ``"负"`` prefix.
        """
        yuan, remainder = divmod(abs(self.fen), FEN_PER_YUAN)
        jiao, fen = divmod(remainder, 10)
        words = _spoken_yuan_jiao_fen(yuan, jiao, fen)
        return f"负{words}" if self.is_negative else words

    def _sign(self) -> str:
        return "-" if self.is_negative else ""


def _too_large(field: str) -> InvalidInput:
    return InvalidInput(f"金额超出上限（{MAX_YUAN // 10**8}亿元）", field=field, code="money_too_large")


def _has_non_ascii_digit(text: str) -> bool:
    return any(char.isdigit() and not char.isascii() for char in text)


def _decimal_yuan_to_fen(amount: Decimal, field: str) -> int:
    """Exact Decimal yuan -> int fen, without going through a precision-limited context."""
    if not amount.is_finite():
        raise InvalidInput("金额格式不正确", field=field, code="money_format")
    if abs(amount) > MAX_YUAN:  # Decimal comparison is exact; avoids 10**huge below
        raise _too_large(field)
    sign, digits, exponent = amount.as_tuple()
    shift = exponent + 2  # exponent of the amount expressed in fen
    if shift >= 0:
        fen = int("".join(map(str, digits))) * 10**shift
    else:
        whole_fen, below_fen = digits[:shift], digits[shift:]
        if any(below_fen):
            raise InvalidInput("金额最多两位小数（精确到分）", field=field, code="money_too_many_decimals")
        fen = int("".join(map(str, whole_fen)) or "0")
    return -fen if sign else fen


def _spoken_yuan_jiao_fen(yuan: int, jiao: int, fen: int) -> str:
    if yuan == jiao == fen == 0:
        return "零元"
    parts = []
    if yuan:
        parts.append(_spoken_integer(yuan) + "元")
    if jiao:
        parts.append(_SPOKEN_DIGITS[jiao] + "角")
    if fen:
        # "一百元零五分": the 零 marks the skipped 角 after a yuan amount; "五分" alone otherwise.
        skipped_jiao = yuan and not jiao
        parts.append(("零" if skipped_jiao else "") + _SPOKEN_DIGITS[fen] + "分")
    return "".join(parts)


def _spoken_integer(number: int) -> str:
    """1 -> 一, 10 -> 十, 110 -> 一百一十, 10001 -> 一万零一, 100000 -> 十万."""
    words = _spoken_positive(number)
    # Only at the very start is 一十 said as 十 (十万, but 一百一十 and 一万零一十).
    return words[1:] if words.startswith("一十") else words


def _spoken_positive(number: int) -> str:
    for unit_value, unit_name in ((10**8, "亿"), (10**4, "万")):
        if number >= unit_value:
            high, low = divmod(number, unit_value)
            words = _spoken_positive(high) + unit_name
            if low == 0:
                return words
            # A gap of zeros right after the unit is read as one 零: 一万零五, 一亿零一千.
            gap = "零" if low < unit_value // 10 else ""
            return words + gap + _spoken_positive(low)
    return _spoken_below_10000(number)


def _spoken_below_10000(number: int) -> str:
    parts: list[str] = []
    pending_zero = False
    for place, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = number // place % 10
        if digit == 0:
            pending_zero = bool(parts)  # zeros inside the number collapse into one 零
            continue
        if pending_zero:
            parts.append("零")
            pending_zero = False
        parts.append(_SPOKEN_DIGITS[digit] + unit)
    return "".join(parts)
