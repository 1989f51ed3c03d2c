"""Resident identity numbers: validation, derived facts, masking and the demo builder."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import numdb
from stdnum.cn import ric
from stdnum.iso7064 import mod_11_2

from yibao.domain.resident_id import EARLIEST_BIRTH_DATE, ResidentId, Sex, is_known_region
from yibao.errors import InvalidInput

TODAY = date(2025, 6, 15)
CHAOYANG_1949 = "11010519491231002X"  # public example: female, born 1949-12-31, Beijing Chaoyang
CHAOYANG_1949_MASKED = "110105********002X"


def with_check_char(body: str) -> str:
    """Complete 17 characters with their ISO 7064 MOD 11-2 check character."""
    return body + mod_11_2.calc_check_digit(body)


def with_wrong_check_char(body: str) -> str:
    right = mod_11_2.calc_check_digit(body)
    return body + ("1" if right != "1" else "2")


def expect_invalid(code: str, text: str, *, field: str = "id_number", today: date = TODAY) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        ResidentId.parse(text, field=field, today=today)
    assert caught.value.code == code
    assert caught.value.field == field
    assert caught.value.message
    return caught.value


# ---------------------------------------------------------------------- accepted


@pytest.mark.parametrize(
    ("text", "birth", "sex", "region"),
    [
        (CHAOYANG_1949, date(1949, 12, 31), Sex.FEMALE, "110105"),
        ("440524188001010014", date(1880, 1, 1), Sex.MALE, "440524"),  # historic county, born 1880
        ("360426199101010071", date(1991, 1, 1), Sex.MALE, "360426"),  # stdnum's doctest example
    ],
)
def test_parse_public_examples(text, birth, sex, region):
    resident_id = ResidentId.parse(text, today=TODAY)
    assert resident_id.full == text
    assert resident_id.birth_date == birth
    assert resident_id.sex is sex
    assert resident_id.region_code == region


@pytest.mark.parametrize(
    "text",
    [
        "11010519491231002x",
        " 11010519491231002X ",
        "110105 19491231 002x",
        "110105\u300019491231\u3000002X",  # full-width spaces from a Chinese input method
        "\t11010519491231002X\n",
    ],
)
def test_parse_normalises_whitespace_and_lower_case_x(text):
    assert ResidentId.parse(text, today=TODAY).full == CHAOYANG_1949


def test_parse_without_today_uses_the_current_date():
    assert ResidentId.parse(CHAOYANG_1949).full == CHAOYANG_1949
    with pytest.raises(InvalidInput) as caught:
        ResidentId.parse(with_check_char("11010529990101001"))
    assert caught.value.code == "id_future_birth"


def test_born_today_is_accepted():
    text = with_check_char(f"110105{TODAY:%Y%m%d}001")
    assert ResidentId.parse(text, today=TODAY).birth_date == TODAY


def test_earliest_birth_date_is_accepted():
    assert EARLIEST_BIRTH_DATE == date(1850, 1, 1)
    text = with_check_char("11010518500101001")
    assert ResidentId.parse(text, today=TODAY).birth_date == EARLIEST_BIRTH_DATE


def test_historic_region_codes_are_accepted_whatever_the_birth_year():
    # 110103 (崇文区) was abolished in 2010; 440105 (海珠区) is listed from 1983 on, yet
    # people born earlier hold numbers with it because numbers are assigned at registration.
    assert ResidentId.parse(with_check_char("11010319500101001"), today=TODAY)
    haizhu_1960 = with_check_char("44010519600101001")
    assert ResidentId.parse(haizhu_1960, today=TODAY)
    assert not ric.is_valid(haizhu_1960)  # stdnum's birth-year window would reject this person


# ---------------------------------------------------------------------- rejected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "id_empty"),
        ("   ", "id_empty"),
        ("１１０１０５１９４９１２３１００２Ｘ", "id_full_width"),
        ("11010519491231002Ｘ", "id_full_width"),
        ("1101051949123１002X", "id_full_width"),
        ("110105491231002", "id_old_15_digit"),
        ("1101051949123100", "id_length"),
        ("11010519491231002", "id_length"),
        ("11010519491231002XX", "id_length"),
        ("110105194912310020X", "id_length"),
        ("11010519491231002Y", "id_format"),
        ("1101051949123100X2", "id_format"),
        ("X10105194912310021", "id_format"),
        ("11010519491231002-", "id_format"),
        ("11010519491231-02X", "id_format"),
        ("11010519491x31002X", "id_format"),
        ("11010549123100abcd", "id_format"),
        ("11010519A91231002X", "id_format"),
        ("11010549123100X", "id_length"),
        ("110105194912310021", "id_check_char"),
        (with_wrong_check_char("11010519491231002"), "id_check_char"),
        (with_check_char("11010519491331002"), "id_birth_date"),  # month 13
        (with_check_char("11010519490230002"), "id_birth_date"),  # 30 February
        (with_check_char("11010519490229002"), "id_birth_date"),  # 1949 is not a leap year
        (with_check_char("11010519000229002"), "id_birth_date"),  # nor is 1900
        (with_check_char("11010519491200002"), "id_birth_date"),  # day 0
        (with_check_char("11010500000101002"), "id_birth_date"),  # year 0
        (with_check_char("11010518491231002"), "id_birth_too_early"),
        (with_check_char("11010510000101002"), "id_birth_too_early"),
        (with_check_char("11010520250616002"), "id_future_birth"),  # the day after TODAY
        (with_check_char("99999919491231002"), "id_region"),
        (with_check_char("00000019491231002"), "id_region"),
        (with_check_char("44999919491231002"), "id_region"),  # known province, unknown county
        ("34052419800101001X", "id_region"),  # a widely copied "example" whose region is unknown
    ],
)
def test_parse_rejects_with_stable_code_and_field(text, code):
    expect_invalid(code, text, field="applicant_id")


def test_parse_error_names_id_number_by_default():
    with pytest.raises(InvalidInput) as caught:
        ResidentId.parse("123", today=TODAY)
    assert caught.value.field == "id_number"


def test_old_numbers_are_told_to_upgrade():
    assert "18位" in expect_invalid("id_old_15_digit", "110105491231002").message


def test_length_message_states_the_length_found():
    assert "16位" in expect_invalid("id_length", "1101051949123100").message


def test_check_char_message_does_not_reveal_the_expected_character():
    body = "11010519491231002"
    error = expect_invalid("id_check_char", body + "1")
    assert error.message == "身份证号码校验位不正确，请核对后重新输入"
    assert "X" not in error.message
    assert body not in str(error)


def test_birth_date_check_comes_before_region_and_check_char():
    # A typo in the date should point at the date, not at the check character.
    expect_invalid("id_birth_date", "999999194913310020")


def test_the_questionable_example_really_fails_only_on_region():
    assert mod_11_2.is_valid("34052419800101001X")
    assert not is_known_region("340524")


@pytest.mark.parametrize("value", [None, 11010519491231002, b"11010519491231002X"])
def test_parse_requires_text(value):
    with pytest.raises(TypeError):
        ResidentId.parse(value, today=TODAY)


@pytest.mark.parametrize(
    ("code", "known"),
    [
        ("110105", True),
        ("110103", True),  # historic: 崇文区, merged in 2010
        ("440524", True),  # historic: 潮阳县 1983-1993
        ("110000", True),
        ("340524", False),
        ("449999", False),
        ("999999", False),
        ("11010", False),
        ("1101051", False),
        ("11010a", False),
        ("１１０１０５", False),
    ],
)
def test_is_known_region(code, known):
    assert is_known_region(code) is known


def test_constructor_checks_shape():
    assert ResidentId(CHAOYANG_1949).full == CHAOYANG_1949
    for bad in ("11010519491231002x", "123", 42):
        with pytest.raises(InvalidInput):
            ResidentId(bad)


# ---------------------------------------------------------------------- derived facts


def test_derived_facts():
    resident_id = ResidentId.parse(CHAOYANG_1949, today=TODAY)
    assert resident_id.region_code == "110105"
    assert resident_id.birth_date == date(1949, 12, 31)
    assert resident_id.sequence == 2
    assert resident_id.sex is Sex.FEMALE
    assert resident_id.sex.label == "女"
    assert Sex.MALE.label == "男"
    assert resident_id.age_on(TODAY) == 75


def test_odd_sequence_is_male():
    assert ResidentId.parse("440524188001010014", today=TODAY).sex is Sex.MALE


@pytest.mark.parametrize(
    ("on", "age"),
    [
        (date(1950, 12, 30), 0),
        (date(1950, 12, 31), 1),
        (date(1949, 12, 31), 0),
        (date(2024, 12, 30), 74),
        (date(2024, 12, 31), 75),
    ],
)
def test_age_on_counts_full_years(on, age):
    assert ResidentId.parse(CHAOYANG_1949, today=TODAY).age_on(on) == age


@pytest.mark.parametrize(
    ("on", "age"),
    [
        (date(2001, 2, 28), 0),  # non-leap year: no birthday yet on 28 February
        (date(2001, 3, 1), 1),  # ... it counts on 1 March
        (date(2003, 2, 28), 2),
        (date(2003, 3, 1), 3),
        (date(2004, 2, 28), 3),
        (date(2004, 2, 29), 4),  # leap year: on the day itself
        (date(2060, 2, 29), 60),
        (date(2061, 2, 28), 60),
        (date(2061, 3, 1), 61),
    ],
)
def test_age_of_someone_born_on_29_february(on, age):
    leapling = ResidentId.build("110105", date(2000, 2, 29), 1, today=TODAY)
    assert leapling.age_on(on) == age


def test_age_before_birth_is_an_error():
    with pytest.raises(InvalidInput) as caught:
        ResidentId.parse(CHAOYANG_1949, today=TODAY).age_on(date(1949, 12, 30))
    assert caught.value.code == "id_age_before_birth"


# ---------------------------------------------------------------------- masking


def test_masked_form_is_what_str_and_repr_show():
    resident_id = ResidentId.parse(CHAOYANG_1949, today=TODAY)
    assert resident_id.masked == CHAOYANG_1949_MASKED
    assert str(resident_id) == CHAOYANG_1949_MASKED
    assert f"{resident_id}" == CHAOYANG_1949_MASKED
    assert repr(resident_id) == f"ResidentId('{CHAOYANG_1949_MASKED}')"
    assert CHAOYANG_1949 not in repr([resident_id])
    assert CHAOYANG_1949 not in repr({"id": resident_id})
    assert resident_id.full == CHAOYANG_1949


def test_equality_and_hashing_use_the_full_value():
    a = ResidentId.parse(CHAOYANG_1949, today=TODAY)
    b = ResidentId.parse("11010519491231002x", today=TODAY)
    assert a == b
    assert len({a, b}) == 1
    assert a != ResidentId.build("110105", date(1949, 12, 31), 4, today=TODAY)


# ---------------------------------------------------------------------- build


def test_build_reproduces_a_known_number():
    built = ResidentId.build("110105", date(1949, 12, 31), 2, today=TODAY)
    assert built == ResidentId.parse(CHAOYANG_1949, today=TODAY)


@pytest.mark.parametrize(
    ("sequence", "sex", "expected"),
    [
        (2, Sex.MALE, 3),
        (3, Sex.MALE, 3),
        (3, Sex.FEMALE, 2),
        (2, Sex.FEMALE, 2),
        (0, Sex.MALE, 1),
        (999, Sex.FEMALE, 998),
        (999, Sex.MALE, 999),
        (5, None, 5),
    ],
)
def test_build_adjusts_sequence_parity_to_sex(sequence, sex, expected):
    built = ResidentId.build("110105", date(1980, 1, 1), sequence, sex=sex, today=TODAY)
    assert built.sequence == expected
    if sex is not None:
        assert built.sex is sex


@pytest.mark.parametrize(
    ("region", "code"),
    [("11010", "id_region"), ("999999", "id_region"), ("340524", "id_region"), ("11010a", "id_region")],
)
def test_build_rejects_bad_region(region, code):
    with pytest.raises(InvalidInput) as caught:
        ResidentId.build(region, date(1980, 1, 1), 1, today=TODAY)
    assert (caught.value.code, caught.value.field) == (code, "region_code")


@pytest.mark.parametrize("sequence", [-1, 1000])
def test_build_rejects_sequence_out_of_range(sequence):
    with pytest.raises(InvalidInput) as caught:
        ResidentId.build("110105", date(1980, 1, 1), sequence, today=TODAY)
    assert (caught.value.code, caught.value.field) == ("id_sequence", "sequence")


def test_build_rejects_non_int_sequence():
    with pytest.raises(TypeError):
        ResidentId.build("110105", date(1980, 1, 1), True, today=TODAY)
    with pytest.raises(TypeError):
        ResidentId.build("110105", date(1980, 1, 1), "001", today=TODAY)  # type: ignore[arg-type]


def test_build_applies_birth_date_rules():
    with pytest.raises(InvalidInput) as caught:
        ResidentId.build("110105", TODAY + timedelta(days=1), 1, today=TODAY)
    assert caught.value.code == "id_future_birth"
    with pytest.raises(InvalidInput) as caught:
        ResidentId.build("110105", date(1849, 12, 31), 1, today=TODAY)
    assert caught.value.code == "id_birth_too_early"


# ---------------------------------------------------------------------- properties


def _region_year_windows() -> list[tuple[str, int, int]]:
    """(code, first year, last year) for every county code in stdnum's table and period."""
    windows = []
    for _, province, _, _, counties in numdb.get("cn/loc").prefixes:
        for _, county, _, properties, _ in counties:
            for period in properties.get("county", "").split(","):
                if period.startswith("["):
                    start, end = period[1:].split("]")[0].split("-")
                    windows.append((province + county, int(start or 1850), int(end or TODAY.year)))
                elif period:
                    windows.append((province + county, 1850, TODAY.year))
    return [(code, max(start, 1850), min(end, TODAY.year)) for code, start, end in windows if start <= end]


REGION_WINDOWS = _region_year_windows()
births = st.dates(min_value=EARLIEST_BIRTH_DATE, max_value=TODAY)
sexes = st.sampled_from([Sex.MALE, Sex.FEMALE, None])
sequences = st.integers(min_value=0, max_value=999)


@st.composite
def region_and_birth_stdnum_accepts(draw) -> tuple[str, date]:
    """A region code with a birth date inside the years stdnum associates with it."""
    code, first_year, last_year = draw(st.sampled_from(REGION_WINDOWS))
    birth = draw(st.dates(min_value=date(first_year, 1, 1), max_value=date(last_year, 12, 31)))
    return code, min(birth, TODAY)


def test_region_table_is_large():
    assert len(REGION_WINDOWS) > 3000


@given(region_and_birth_stdnum_accepts(), sequences, sexes)
def test_built_numbers_pass_our_parse_and_stdnum(region_and_birth, sequence, sex):
    region, birth = region_and_birth
    built = ResidentId.build(region, birth, sequence, sex=sex, today=TODAY)
    assert ResidentId.parse(built.full, today=TODAY) == built
    assert ric.is_valid(built.full)
    assert ric.validate(built.full) == built.full
    assert built.region_code == region
    assert built.birth_date == birth
    assert built.sequence in (sequence, sequence ^ 1)
    if sex is not None:
        assert built.sex is sex


@given(st.sampled_from(REGION_WINDOWS), births, sequences, sexes)
def test_any_known_region_and_birth_date_builds(window, birth, sequence, sex):
    built = ResidentId.build(window[0], birth, sequence, sex=sex, today=TODAY)
    assert ResidentId.parse(built.full.lower(), today=TODAY) == built
    assert mod_11_2.is_valid(built.full)


@given(st.sampled_from(REGION_WINDOWS), births, sequences)
def test_masking_never_shows_the_birth_date(window, birth, sequence):
    built = ResidentId.build(window[0], birth, sequence, today=TODAY)
    birth_digits = f"{birth:%Y%m%d}"
    assert built.masked[6:14] == "********"
    assert len(built.masked) == 18
    for shown in (built.masked, str(built), repr(built), f"{built}"):
        assert birth_digits not in shown
        assert built.full not in shown


@given(st.sampled_from(REGION_WINDOWS), births, sequences, st.integers(min_value=0, max_value=16))
def test_changing_one_digit_is_always_caught(window, birth, sequence, position):
    """A single mistyped digit never yields another valid number (MOD 11-2 guarantees it)."""
    built = ResidentId.build(window[0], birth, sequence, today=TODAY).full
    digit = int(built[position])
    typo = built[:position] + str((digit + 1) % 10) + built[position + 1 :]
    with pytest.raises(InvalidInput):
        ResidentId.parse(typo, today=TODAY)
