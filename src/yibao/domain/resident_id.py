"""Chinese resident identity card numbers (居民身份证号码, GB 11643-1999), 18 characters.

Layout: 6-digit administrative division code of the place of (first) registration,
8-digit birth date YYYYMMDD, 3-digit sequence (odd = male, even = female), and an
ISO 7064 MOD 11-2 check character (0-9 or X).

The full number is personal data. ``str()`` and ``repr()`` return the masked form
(``110105********002X``) so a log line or an error message never leaks it by accident;
use :attr:`ResidentId.full` only where the full number is really needed (storage, a
request to another system).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import Enum
from functools import lru_cache

from stdnum.iso7064 import mod_11_2

from yibao.clock import SystemClock
from yibao.domain.regions import is_known_division
from yibao.errors import InvalidInput

LENGTH = 18
OLD_LENGTH = 15
# The national standard says nothing about a lower bound; 1850 keeps obviously impossible
# years out while still accepting the widely used test number 440524188001010014 (born 1880).
EARLIEST_BIRTH_DATE = date(1850, 1, 1)

_SHAPE = re.compile(r"[0-9]{17}[0-9X]", re.ASCII)
_MASK = "*" * 8


class Sex(Enum):
    """Stable English values for storage and APIs; ``label`` is what people see."""

    MALE = "male"
    FEMALE = "female"

    @property
    def label(self) -> str:
        return "男" if self is Sex.MALE else "女"


@dataclass(frozen=True, repr=False)
class ResidentId:
    """A validated, normalised 18-character number. Build it with :meth:`parse` or :meth:`build`.

    The constructor itself only checks the shape (17 digits + digit or X) so that the
    properties below can never fail; region, date and check character are checked by
    ``parse``.
    """

    value: str

    def __post_init__(self) -> None:
        if not isinstance(self.value, str) or _SHAPE.fullmatch(self.value) is None:
            raise InvalidInput(_FORMAT_MESSAGE, field="id_number", code="id_format")

    # ------------------------------------------------------------------ constructors

    @classmethod
    def parse(cls, text: str, *, field: str = "id_number", today: date | None = None) -> ResidentId:
        """Validate a number typed by a person and return it normalised.

        Whitespace anywhere is removed (people type "110105 19491231 002x") and a trailing
        lower-case x is upper-cased. ``today`` bounds the birth date; it defaults to the
        current date in China and should be injected by tests and batch jobs.

        Error codes (``InvalidInput`` naming ``field``), in the order they are checked:
        ``id_empty``, ``id_full_width``, ``id_old_15_digit``, ``id_length``, ``id_format``,
        ``id_birth_date`` (not a calendar date), ``id_birth_too_early`` (before 1850-01-01),
        ``id_future_birth``, ``id_region``, ``id_check_char``.
        """
        if not isinstance(text, str):
            raise TypeError(f"ResidentId.parse expects str, got {type(text).__name__}")
        number = _normalise(text)
        _check_shape(number, field)
        _check_birth_date(number, field, today if today is not None else SystemClock().today())
        if not is_known_region(number[:6]):
            raise InvalidInput("身份证号码前6位不是有效的行政区划代码", field=field, code="id_region")
        if number[-1] != mod_11_2.calc_check_digit(number[:-1]):
            # Deliberately does not reveal the expected character: that would let anyone
            # "repair" a made-up number into a valid-looking one.
            raise InvalidInput("身份证号码校验位不正确，请核对后重新输入", field=field, code="id_check_char")
        return cls(number)

    @classmethod
    def build(
        cls,
        region_code: str,
        birth: date,
        sequence: int,
        *,
        sex: Sex | None = None,
        today: date | None = None,
    ) -> ResidentId:
        """Compose a valid number (for demo data); the check character is computed.

        ``sequence`` is 0..999. When ``sex`` is given the sequence's last digit is moved to
        the right parity (odd = male) by flipping its lowest bit, which stays within 0..999.
        The result goes through :meth:`parse`, so region and birth date rules apply
        (``today`` as in ``parse``).
        """
        if not isinstance(region_code, str) or not is_known_region(region_code):
            raise InvalidInput("不是有效的6位行政区划代码", field="region_code", code="id_region")
        if type(sequence) is not int:
            raise TypeError("sequence must be int")
        if not 0 <= sequence <= 999:
            raise InvalidInput("顺序码应在 0 到 999 之间", field="sequence", code="id_sequence")
        if sex is not None and _sex_of_sequence(sequence) is not sex:
            sequence ^= 1
        body = f"{region_code}{birth.year:04d}{birth.month:02d}{birth.day:02d}{sequence:03d}"
        return cls.parse(body + mod_11_2.calc_check_digit(body), today=today)

    # ------------------------------------------------------------------ parts

    @property
    def full(self) -> str:
        """The complete number. Personal data: do not log it."""
        return self.value

    @property
    def masked(self) -> str:
        """First 6 and last 4 characters, birth date hidden: ``110105********002X``."""
        return self.value[:6] + _MASK + self.value[-4:]

    @property
    def region_code(self) -> str:
        return self.value[:6]

    @property
    def birth_date(self) -> date:
        return date(int(self.value[6:10]), int(self.value[10:12]), int(self.value[12:14]))

    @property
    def sequence(self) -> int:
        """Digits 15-17 as an int (0..999), the same form :meth:`build` takes."""
        return int(self.value[14:17])

    @property
    def sex(self) -> Sex:
        return _sex_of_sequence(self.sequence)

    def age_on(self, day: date) -> int:
        """Full years on ``day``. Someone born on 29 February turns a year older on 1 March in
        non-leap years (their birthday has not happened yet on 28 February)."""
        birth = self.birth_date
        if day < birth:
            raise InvalidInput("日期早于出生日期", field="date", code="id_age_before_birth")
        before_birthday = (day.month, day.day) < (birth.month, birth.day)
        return day.year - birth.year - before_birthday

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"ResidentId({self.masked!r})"


_FORMAT_MESSAGE = "身份证号码前17位应为数字，最后一位为数字或字母X"


@lru_cache(maxsize=4096)
def is_known_region(code: str) -> bool:
    """Whether ``code`` (six ASCII digits) is a current or historic county-level division.

    The years a code was in use are ignored on purpose: a number is assigned at
    registration (1984 or later for older people), not at birth; see regions.
    """
    return re.fullmatch(r"[0-9]{6}", code, re.ASCII) is not None and is_known_division(code)


def _normalise(text: str) -> str:
    number = "".join(text.split())  # all whitespace, including the full-width space U+3000
    if number.endswith("x"):
        number = number[:-1] + "X"
    return number


def _check_shape(number: str, field: str) -> None:
    if not number:
        raise InvalidInput("请输入身份证号码", field=field, code="id_empty")
    if any(char.isdigit() and not char.isascii() for char in number) or "Ｘ" in number or "ｘ" in number:
        raise InvalidInput("身份证号码请使用半角数字和字母（0-9、X），不要使用全角字符", field=field, code="id_full_width")
    if len(number) == OLD_LENGTH and number.isascii() and number.isdigit():
        raise InvalidInput(
            "15位旧身份证号码已停止使用，请使用升级后的18位身份证号码", field=field, code="id_old_15_digit"
        )
    if len(number) != LENGTH:
        raise InvalidInput(f"身份证号码应为18位，当前为{len(number)}位", field=field, code="id_length")
    if _SHAPE.fullmatch(number) is None:
        raise InvalidInput(_FORMAT_MESSAGE, field=field, code="id_format")


def _check_birth_date(number: str, field: str, today: date) -> None:
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidInput("身份证号码中的出生日期不是有效日期", field=field, code="id_birth_date") from None
    if birth < EARLIEST_BIRTH_DATE:
        raise InvalidInput("身份证号码中的出生日期早于1850年1月1日", field=field, code="id_birth_too_early")
    if birth > today:
        raise InvalidInput("身份证号码中的出生日期晚于今天", field=field, code="id_future_birth")


def _sex_of_sequence(sequence: int) -> Sex:
    return Sex.MALE if sequence % 2 else Sex.FEMALE
