"""Money: strict parsing, exact arithmetic, and the Chinese wordings used on statements and the phone."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import cn2an
import pytest
from hypothesis import given
from hypothesis import strategies as st

from yibao.domain.money import MAX_FEN, MAX_YUAN, Money
from yibao.errors import InvalidInput

any_money = st.integers(min_value=-MAX_FEN, max_value=MAX_FEN).map(Money)


def expect_invalid(code: str, call, *args, field: str = "amount", **kwargs) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        call(*args, field=field, **kwargs)
    assert caught.value.code == code
    assert caught.value.field == field
    assert caught.value.message  # a Chinese message for people, never empty
    return caught.value


# ---------------------------------------------------------------------- construction


def test_ceiling_is_ten_billion_yuan():
    assert MAX_FEN == 10**12
    assert MAX_YUAN == 10**10


@pytest.mark.parametrize("fen", [True, False, 1.0, "1", Decimal(1), None])
def test_constructor_accepts_only_int_fen(fen):
    with pytest.raises(TypeError):
        Money(fen)


def test_zero():
    assert Money.zero() == Money(0)
    assert not Money.zero()


# ---------------------------------------------------------------------- parse: accepted


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("123.45", 12345),
        ("123.4", 12340),
        ("123", 12300),
        ("¥1,234.56", 123456),
        ("￥1,234.56", 123456),
        ("1234.56元", 123456),
        ("¥1,234,567.89元", 123456789),
        ("1,000", 100000),
        (" 12.30 ", 1230),
        ("\t5\n", 500),
        ("0", 0),
        ("0.0", 0),
        ("0.00", 0),
        ("0.05", 5),
        ("0.5", 50),
        ("10000000000", MAX_FEN),
        ("10,000,000,000.00元", MAX_FEN),
    ],
)
def test_parse_accepts(text, fen):
    assert Money.parse(text) == Money(fen)


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("-5", -500),
        ("-¥1,234.56", -123456),
        ("-0.01", -1),
        ("-0", 0),
        ("-12.30元", -1230),
        ("-10000000000", -MAX_FEN),
    ],
)
def test_parse_accepts_negative_only_when_allowed(text, fen):
    assert Money.parse(text, allow_negative=True) == Money(fen)
    expect_invalid("money_negative", Money.parse, text, field="refund")


# ---------------------------------------------------------------------- parse: rejected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "money_empty"),
        ("   ", "money_empty"),
        ("12.345", "money_too_many_decimals"),
        ("1.230", "money_too_many_decimals"),  # strict even when the extra digit is zero
        ("0.001", "money_too_many_decimals"),
        ("１２３", "money_full_width"),
        ("12.３0", "money_full_width"),
        ("￥１,２３４", "money_full_width"),
        ("10000000000.01", "money_too_large"),
        ("99999999999", "money_too_large"),
        ("1" * 5000, "money_too_large"),  # must not hit int()'s digit limit
        ("-", "money_format"),
        ("1e3", "money_format"),
        ("1E3", "money_format"),
        ("NaN", "money_format"),
        ("nan", "money_format"),
        ("inf", "money_format"),
        ("Infinity", "money_format"),
        ("abc", "money_format"),
        ("1.2.3", "money_format"),
        (".5", "money_format"),  # strict: a digit is required before the point
        ("5.", "money_format"),
        ("012", "money_format"),
        ("00", "money_format"),
        ("+5", "money_format"),
        ("1 234", "money_format"),
        ("5 元", "money_format"),
        ("1,23.00", "money_format"),
        ("12,34", "money_format"),
        ("1,2345", "money_format"),
        ("1,234,56", "money_format"),
        (",123", "money_format"),
        ("0,123", "money_format"),
        ("1234,567", "money_format"),
        ("¥¥5", "money_format"),
        ("5元元", "money_format"),
        ("5元¥", "money_format"),
        ("¥-5", "money_format"),  # the sign goes first
        ("--5", "money_format"),
        ("—5", "money_format"),  # an em dash is not a minus sign
        ("5块", "money_format"),
        ("0x10", "money_format"),
        ("1_000", "money_format"),
    ],
)
def test_parse_rejects_with_stable_code_and_field(text, code):
    expect_invalid(code, Money.parse, text, field="deposit_amount")
    expect_invalid(code, Money.parse, text, field="deposit_amount", allow_negative=True)


def test_parse_error_names_amount_by_default():
    with pytest.raises(InvalidInput) as caught:
        Money.parse("abc")
    assert caught.value.field == "amount"


def test_parse_sign_is_checked_after_format():
    expect_invalid("money_format", Money.parse, "-1e3", allow_negative=True)
    expect_invalid("money_format", Money.parse, "-")


def test_too_large_message_states_the_ceiling():
    error = expect_invalid("money_too_large", Money.parse, "20000000000")
    assert "100亿元" in error.message


def test_full_width_message_asks_for_half_width_digits():
    assert "半角" in expect_invalid("money_full_width", Money.parse, "１００").message


@pytest.mark.parametrize("value", [5, 5.0, None, b"5", Decimal("5")])
def test_parse_requires_text(value):
    with pytest.raises(TypeError):
        Money.parse(value)


# ---------------------------------------------------------------------- of_yuan


@pytest.mark.parametrize(
    ("amount", "fen"),
    [
        (Decimal("1.23"), 123),
        (Decimal("1.230"), 123),  # exact value counts, not the written scale
        (Decimal("-1.5"), -150),
        (Decimal("1E+3"), 100000),
        (Decimal("0E-50"), 0),
        (Decimal("10000000000"), MAX_FEN),
        (5, 500),
        (-5, -500),
        (0, 0),
        ("12.30", 1230),
        ("-1", -100),
        ("¥1,234.56", 123456),
    ],
)
def test_of_yuan_is_exact(amount, fen):
    assert Money.of_yuan(amount) == Money(fen)


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        (Decimal("1.234"), "money_too_many_decimals"),
        (Decimal("1E-30"), "money_too_many_decimals"),
        (Decimal("0.0000000000000000000000000000001"), "money_too_many_decimals"),
        (Decimal("1.00000000000000000000000000001"), "money_too_many_decimals"),  # beyond 28 digits
        (Decimal("NaN"), "money_format"),
        (Decimal("-Infinity"), "money_format"),
        (Decimal("10000000000.01"), "money_too_large"),
        (Decimal("1E+100000"), "money_too_large"),
        (10**10 + 1, "money_too_large"),
        (-(10**10) - 1, "money_too_large"),
        ("1.234", "money_too_many_decimals"),
        ("abc", "money_format"),
    ],
)
def test_of_yuan_rejects(amount, code):
    expect_invalid(code, Money.of_yuan, amount, field="price")


@pytest.mark.parametrize("amount", [1.5, 1.0, True, None, Fraction(1, 2)])
def test_of_yuan_refuses_floats_and_other_types(amount):
    with pytest.raises(TypeError):
        Money.of_yuan(amount)


# ---------------------------------------------------------------------- arithmetic


def test_addition_and_subtraction():
    assert Money(150) + Money(250) == Money(400)
    assert Money(150) - Money(250) == Money(-100)
    assert -Money(150) == Money(-150)
    assert abs(Money(-150)) == Money(150)
    assert abs(Money(150)) == Money(150)


def test_arithmetic_is_not_bounded_by_the_input_ceiling():
    assert Money(MAX_FEN) + Money(MAX_FEN) == Money(2 * MAX_FEN)


def test_multiplication_by_int_only():
    assert Money(150) * 3 == Money(450)
    assert 3 * Money(150) == Money(450)
    assert Money(150) * -2 == Money(-300)
    for factor in (True, 1.5, Decimal("1.5"), Money(2), "2"):
        with pytest.raises(TypeError):
            Money(150) * factor
        with pytest.raises(TypeError):
            factor * Money(150)


@pytest.mark.parametrize("other", [1, 1.0, Decimal(1), "1", None])
def test_no_mixing_with_plain_numbers(other):
    with pytest.raises(TypeError):
        Money(1) + other
    with pytest.raises(TypeError):
        other + Money(1)
    with pytest.raises(TypeError):
        Money(1) - other
    with pytest.raises(TypeError):
        Money(1) < other
    assert Money(100) != other


def test_sum_needs_a_money_start():
    assert sum([Money(1), Money(2)], Money.zero()) == Money(3)


def test_truthiness_and_sign():
    assert not Money(0)
    assert Money(1)
    assert Money(-1)
    assert Money(-1).is_negative
    assert not Money(0).is_negative
    assert not Money(1).is_negative


def test_ordering_hashing_equality():
    assert Money(1) < Money(2) <= Money(2) < Money(3)
    assert Money(-5) < Money(0)
    assert max(Money(3), Money(7), Money(-1)) == Money(7)
    assert sorted([Money(3), Money(-1), Money(2)]) == [Money(-1), Money(2), Money(3)]
    assert len({Money(5), Money(5), Money(6)}) == 2


def test_money_is_immutable():
    money = Money(5)
    with pytest.raises(AttributeError):
        money.fen = 6  # type: ignore[misc]


# ---------------------------------------------------------------------- percent_of


@pytest.mark.parametrize(
    ("base_fen", "ratio", "expected_fen"),
    [
        (370000, Decimal("0.03"), 11100),  # 3700 × 3% = 111.00
        (370000, Decimal("0.02"), 7400),
        (50, Decimal("0.01"), 1),  # 0.5 fen rounds up
        (49, Decimal("0.01"), 0),
        (150, Decimal("0.01"), 2),  # 1.5 -> 2 (half up, not banker's rounding)
        (250, Decimal("0.01"), 3),  # 2.5 -> 3
        (-50, Decimal("0.01"), -1),  # halves go away from zero
        (-49, Decimal("0.01"), 0),
        (12345, 2, 24690),
        (12345, Decimal(0), 0),
        (12345, Decimal("-0.5"), -6173),  # -6172.5 -> -6173
    ],
)
def test_percent_of(base_fen, ratio, expected_fen):
    assert Money.percent_of(Money(base_fen), ratio) == Money(expected_fen)


def test_percent_of_refuses_floats():
    with pytest.raises(TypeError):
        Money.percent_of(Money(100), 0.03)
    with pytest.raises(TypeError):
        Money.percent_of(Money(100), True)
    with pytest.raises(TypeError):
        Money.percent_of(100, Decimal("0.03"))
    with pytest.raises(ValueError):
        Money.percent_of(Money(100), Decimal("NaN"))


def _half_away_from_zero(value: Fraction) -> int:
    magnitude = int(abs(value) + Fraction(1, 2))
    return -magnitude if value < 0 else magnitude


@given(
    any_money,
    st.decimals(min_value=-10, max_value=10, places=12, allow_nan=False, allow_infinity=False),
)
def test_percent_of_matches_exact_fraction_arithmetic(money, ratio):
    exact = Fraction(money.fen) * Fraction(ratio)
    assert Money.percent_of(money, ratio).fen == _half_away_from_zero(exact)


# ---------------------------------------------------------------------- formatting


@pytest.mark.parametrize(
    ("fen", "formatted", "yuan"),
    [
        (0, "0.00元", "0.00"),
        (5, "0.05元", "0.05"),
        (50, "0.50元", "0.50"),
        (123456, "1,234.56元", "1234.56"),
        (-123456, "-1,234.56元", "-1234.56"),
        (-5, "-0.05元", "-0.05"),
        (100000000, "1,000,000.00元", "1000000.00"),
        (MAX_FEN, "10,000,000,000.00元", "10000000000.00"),
    ],
)
def test_format_and_yuan_str(fen, formatted, yuan):
    money = Money(fen)
    assert money.format() == formatted
    assert str(money) == formatted
    assert f"{money}" == formatted
    assert money.yuan_str() == yuan


def test_to_decimal_keeps_two_places():
    assert Money(123456).to_decimal() == Decimal("1234.56")
    assert str(Money(123456).to_decimal()) == "1234.56"
    assert str(Money(0).to_decimal()) == "0.00"
    assert str(Money(-5).to_decimal()) == "-0.05"


@pytest.mark.parametrize(
    ("yuan", "words"),
    [
        ("0", "零元整"),
        ("0.01", "壹分"),
        ("0.10", "壹角"),
        ("0.50", "伍角"),
        ("1", "壹元整"),
        ("10", "壹拾元整"),
        ("10.50", "壹拾元伍角"),  # cheque style keeps 壹 before 拾
        ("15", "壹拾伍元整"),
        ("100", "壹佰元整"),
        ("100.05", "壹佰元零伍分"),
        ("101", "壹佰零壹元整"),
        ("1010", "壹仟零壹拾元整"),
        ("1234.56", "壹仟贰佰叁拾肆元伍角陆分"),
        ("100000", "壹拾万元整"),
        ("1000000.00", "壹佰万元整"),
        ("12345678.9", "壹仟贰佰叁拾肆万伍仟陆佰柒拾捌元玖角"),
        ("1000010000", "壹拾亿零壹万元整"),
        ("10000000000", "壹佰亿元整"),
        ("-1234.56", "负壹仟贰佰叁拾肆元伍角陆分"),
        ("-0.05", "负伍分"),
    ],
)
def test_capital_words(yuan, words):
    assert Money.parse(yuan, allow_negative=True).capital_words() == words


@pytest.mark.parametrize(
    ("yuan", "words"),
    [
        ("0", "零元"),
        ("0.01", "一分"),
        ("0.05", "五分"),
        ("0.10", "一角"),
        ("0.15", "一角五分"),
        ("1", "一元"),
        ("1.05", "一元零五分"),
        ("2", "二元"),
        ("10", "十元"),
        ("10.5", "十元五角"),
        ("15", "十五元"),
        ("20", "二十元"),
        ("100", "一百元"),
        ("100.05", "一百元零五分"),
        ("100.10", "一百元一角"),
        ("101", "一百零一元"),
        ("110", "一百一十元"),
        ("200", "二百元"),
        ("1000", "一千元"),
        ("1001", "一千零一元"),
        ("1010", "一千零一十元"),
        ("1100", "一千一百元"),
        ("10000", "一万元"),
        ("10001", "一万零一元"),
        ("10010", "一万零一十元"),
        ("10100", "一万零一百元"),
        ("11000", "一万一千元"),
        ("100000", "十万元"),
        ("110000", "十一万元"),
        ("100100", "十万零一百元"),
        ("1234.56", "一千二百三十四元五角六分"),
        ("1000000", "一百万元"),
        ("12345678.9", "一千二百三十四万五千六百七十八元九角"),
        ("100000000", "一亿元"),
        ("100001000", "一亿零一千元"),
        ("110000000", "一亿一千万元"),
        ("1000010000", "十亿零一万元"),
        ("10000000000", "一百亿元"),
        ("-1234.56", "负一千二百三十四元五角六分"),
        ("-0.01", "负一分"),
    ],
)
def test_spoken(yuan, words):
    assert Money.parse(yuan, allow_negative=True).spoken() == words


def test_spoken_handles_amounts_beyond_the_ceiling():
    assert Money(10**18).spoken() == "一亿亿元"  # 10**16 yuan; arithmetic may exceed MAX_FEN
    assert Money(10**14).spoken() == "一万亿元"


# ---------------------------------------------------------------------- properties


@given(any_money)
def test_parse_of_format_round_trips(money):
    assert Money.parse(money.format(), allow_negative=True) == money


@given(any_money)
def test_yuan_str_round_trips(money):
    assert Money.parse(money.yuan_str(), allow_negative=True) == money
    assert Money.of_yuan(money.yuan_str()) == money


@given(any_money)
def test_to_decimal_round_trips(money):
    assert Money.of_yuan(money.to_decimal()) == money
    assert money.to_decimal() * 100 == money.fen


@given(st.integers(min_value=0, max_value=MAX_FEN).map(Money))
def test_positive_amounts_parse_without_allow_negative(money):
    assert Money.parse(money.format()) == money


@given(st.integers(min_value=1, max_value=MAX_YUAN))
def test_spoken_integer_yuan_agrees_with_cn2an(yuan):
    assert Money(yuan * 100).spoken() == cn2an.an2cn(str(yuan), "low") + "元"


_CAPITAL_TO_SPOKEN = str.maketrans("壹贰叁肆伍陆柒捌玖拾佰仟", "一二三四五六七八九十百千")


@given(st.integers(min_value=1, max_value=MAX_FEN).map(Money))
def test_spoken_and_capital_words_say_the_same_amount(money):
    """Two independent implementations (cn2an and ours) must agree up to cheque conventions."""
    capital = money.capital_words().removesuffix("整").translate(_CAPITAL_TO_SPOKEN)
    if capital.startswith("一十"):
        capital = capital[1:]
    assert money.spoken() == capital


@given(any_money)
def test_negative_wordings_are_prefixed(money):
    if money.is_negative:
        assert money.capital_words() == "负" + abs(money).capital_words()
        assert money.spoken() == "负" + abs(money).spoken()
