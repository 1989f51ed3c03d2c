"""Heirs' shares as exact fractions, and a balance split among them to the fen.

Largest-remainder rounding: each heir first gets the fen part of their exact share, rounded
down; the fen left over (fewer than the number of heirs) go one each to the heirs whose
exact shares lost the most in rounding, ties to the heir listed first. The parts always
add up to the balance, and no heir is more than one fen from their exact share.
"""

from __future__ import annotations

import re
from fractions import Fraction

from yibao.errors import InvalidInput

MAX_DENOMINATOR = 1000
_SHARE = re.compile(r"^\s*(\d{1,4})\s*(?:/\s*(\d{1,4}))?\s*$")
# A decimal share with up to three places ("0.5", "0.25", ".125"): exactly n/1000 at most.
_DECIMAL = re.compile(r"^\s*(\d{0,4})\.(\d{1,3})\s*$")


def parse_share(text: str, *, field: str = "share") -> Fraction:
    """``"1/3"``, ``"2/4"``, ``"1"`` or a decimal such as ``"0.25"``: a fraction in (0, 1]."""
    match = _SHARE.match(text) if isinstance(text, str) else None
    decimal = _DECIMAL.match(text) if isinstance(text, str) and match is None else None
    if decimal is not None:
        numerator, denominator = int(decimal[1] or 0) * 10 ** len(decimal[2]) + int(decimal[2]), 10 ** len(decimal[2])
    elif match is None:
        raise InvalidInput("份额应写成分数或小数，如 1/2、1/3、0.5 或 1", field=field, code="share_format")
    else:
        numerator, denominator = int(match[1]), int(match[2] or 1)
    if denominator == 0 or denominator > MAX_DENOMINATOR:
        raise InvalidInput(f"份额的分母应在1到{MAX_DENOMINATOR}之间", field=field, code="share_format")
    share = Fraction(numerator, denominator)
    if not 0 < share <= 1:
        raise InvalidInput("每位继承人的份额应大于0且不超过1", field=field, code="share_range")
    return share


def check_whole(shares: list[Fraction], *, field: str = "heirs") -> None:
    total = sum(shares, Fraction(0))
    if total != 1:
        raise InvalidInput(f"各继承人份额之和须等于1（现为{total}）", field=field, code="shares_not_whole")


def split(total_fen: int, shares: list[Fraction]) -> list[int]:
    """``total_fen`` split by ``shares`` (which sum to 1), largest remainders first."""
    if type(total_fen) is not int or total_fen < 0:
        raise ValueError("total_fen must be a non-negative int")
    check_whole(shares)
    exact = [share * total_fen for share in shares]
    parts = [value.numerator // value.denominator for value in exact]
    left = total_fen - sum(parts)
    by_remainder = sorted(range(len(shares)), key=lambda index: (-(exact[index] - parts[index]), index))
    for index in by_remainder[:left]:
        parts[index] += 1
    return parts
