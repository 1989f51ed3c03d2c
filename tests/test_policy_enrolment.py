"""Residents' enrolment rules: premium, subsidies, window, waiting period, incentives (policy/enrolment.py)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yibao.errors import InvalidInput
from yibao.policy.enrolment import (
    benefit_start,
    continuous_years,
    critical_illness_raise,
    enrolment_window,
    gap_years,
    premium_subsidies,
    resident_premium,
    sellable_years,
)
from yibao.policy.loading import load_book

BEIJING = "110000"
DEMO_OVERLAY = Path(__file__).parents[1] / "src" / "yibao" / "demo" / "policy"


@pytest.fixture(scope="module")
def book():
    return load_book(overlays=())


@pytest.fixture(scope="module")
def demo_book():
    return load_book(overlays=[DEMO_OVERLAY])


def write_overlay(directory: Path, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "110000.yaml").write_text(f'region: "110000"\nname: 北京市\nparameters:\n{body}', encoding="utf-8")
    return directory


# ---------------------------------------------------------------------------- premium and subsidies


def test_premium_is_400_yuan_for_2024_and_2025_as_a_national_range(book):
    for year in (2024, 2025):
        figure = resident_premium(book, BEIJING, year)
        assert figure.amount_fen == 40_000
        assert figure.confidence == "range"
        assert figure.rule_id == f"national:family.resident_premium@{year}-01-01"
        assert figure.sources == ("居民医保个人缴费标准（全国）",)


@pytest.mark.parametrize("year", [2026, 2030, 2023])
def test_premium_without_a_source_is_unknown_never_a_number(book, year):
    figure = resident_premium(book, BEIJING, year)
    assert figure.amount_fen is None
    assert figure.confidence == "unknown"
    assert figure.note


def test_bad_year_or_region_is_refused(book):
    with pytest.raises(InvalidInput) as error:
        resident_premium(book, BEIJING, 1800)
    assert error.value.code == "year_invalid"
    with pytest.raises(InvalidInput):
        resident_premium(book, "999999", 2025)
    with pytest.raises(InvalidInput) as error:
        benefit_start(book, BEIJING, 2025, date(2026, 1, 1), frozenset())
    assert error.value.code == "paid_after_year"


def test_subsidies_full_for_tekun_unknown_amounts_elsewhere(book):
    subsidies = {s.key: s for s in premium_subsidies(book, BEIJING, 2025)}
    assert {"tekun", "dibao", "fanpin", "severe_disability"} <= set(subsidies)
    assert subsidies["tekun"].label == "特困人员"
    assert subsidies["tekun"].figure.amount_fen == 40_000  # 全额资助 of the 400 yuan premium
    assert subsidies["tekun"].figure.confidence == "range"
    for key in ("dibao", "fanpin", "severe_disability"):
        assert subsidies[key].figure.amount_fen is None
        assert subsidies[key].figure.confidence == "unknown"


def test_a_full_subsidy_of_an_unknown_premium_is_unknown(book):
    tekun = next(s for s in premium_subsidies(book, BEIJING, 2026) if s.key == "tekun")
    assert tekun.figure.amount_fen is None and tekun.figure.confidence == "unknown"


# ---------------------------------------------------------------------------- window and sellable years


def test_window_is_september_to_december_before_the_funding_year(book):
    window = enrolment_window(book, BEIJING, 2026)
    assert (window.opens, window.closes) == (date(2025, 9, 1), date(2025, 12, 31))
    assert window.confidence == "range" and window.sources == ("国办发〔2024〕38号",)
    assert window.state(date(2025, 8, 31)) == "before"
    assert window.state(date(2025, 9, 1)) == "open"
    assert window.state(date(2025, 12, 31)) == "open"
    assert window.state(date(2026, 1, 1)) == "closed"


def test_window_before_the_rule_is_unknown(book):
    window = enrolment_window(book, BEIJING, 2024)
    assert window.opens is None and window.closes is None and window.confidence == "unknown"
    assert window.state(date(2023, 10, 1)) == "unknown"


def test_sellable_years_only_with_a_known_premium(book, demo_book):
    assert sellable_years(book, BEIJING, date(2025, 10, 1)) == (2025,)  # 2026 premium unknown
    assert sellable_years(book, BEIJING, date(2026, 12, 5)) == ()
    assert sellable_years(demo_book, BEIJING, date(2026, 12, 5)) == (2026, 2027)
    assert sellable_years(demo_book, BEIJING, date(2027, 2, 28)) == (2027,)


# ---------------------------------------------------------------------------- benefit start


@pytest.mark.parametrize(
    ("gap", "waiting"),
    # 3 fixed months + 1 per gap year (POLICY_FACTS §8); the 6-month floor for gaps of 4+ years
    # matters only after repair, since 3 + 4 is already 7.
    [(0, 3), (1, 4), (2, 5), (3, 6), (4, 7), (6, 9)],
)
def test_late_payment_waits_three_months_plus_one_per_gap_year(book, gap, waiting):
    paid_years = frozenset({2025 - gap})
    start = benefit_start(book, BEIJING, 2026, date(2026, 3, 5), paid_years)
    assert start.on_time is False
    assert start.gap_years == gap
    assert start.waiting_months == waiting
    assert start.starts_on == date(2026, 3 + waiting, 5)
    assert start.confidence == "range"
    assert start.rule_id == "national:resident.waiting_period@2025-01-01"
    assert "国办发〔2024〕38号" in start.sources


def test_the_brief_example_text(book):
    start = benefit_start(book, BEIJING, 2026, date(2026, 3, 5), frozenset({2023}))
    assert start.text == (
        "未在集中参保缴费期内缴费且未连续参保（断缴2年），等待期5个月（固定3个月+断缴2年各1个月），2026年8月5日起享受待遇"
    )


def test_on_time_continuous_payment_has_no_waiting(book):
    start = benefit_start(book, BEIJING, 2026, date(2025, 11, 20), frozenset({2024, 2025}))
    assert start.on_time and start.gap_years == 0 and start.waiting_months == 0
    assert start.starts_on == date(2026, 1, 1)
    assert start.text == "按时缴费，2026年1月1日起享受待遇"


def test_on_time_after_a_gap_still_waits(book):
    start = benefit_start(book, BEIJING, 2026, date(2025, 11, 20), frozenset({2023}))
    assert start.on_time and start.gap_years == 2 and start.waiting_months == 5
    assert start.starts_on == date(2026, 6, 1)  # counted from the start of the funding year


def test_repair_shortens_the_variable_part_down_to_the_floor(book):
    long_gap = frozenset({2019})  # 6 years unpaid before 2026
    assert benefit_start(book, BEIJING, 2026, date(2026, 3, 5), long_gap, repaired_years=2).waiting_months == 7
    floored = benefit_start(book, BEIJING, 2026, date(2026, 3, 5), long_gap, repaired_years=6)
    assert floored.waiting_months == 6
    assert "不少于6个月" in floored.text
    short_gap = frozenset({2023})  # 2 years: no floor
    assert benefit_start(book, BEIJING, 2026, date(2026, 3, 5), short_gap, repaired_years=2).waiting_months == 3


def test_waiting_rule_unknown_before_2025(book):
    start = benefit_start(book, BEIJING, 2024, date(2024, 3, 5), frozenset({2021}))
    assert start.waiting_months is None and start.starts_on is None
    assert start.confidence == "unknown"
    assert "咨询" in start.text


def test_without_a_window_lateness_is_unknown_but_a_gap_still_counts(tmp_path, book):
    overlay = write_overlay(tmp_path / "o", """  resident.enrolment_window:
    description: 缴费期
    values:
      - from: 2025-01-01
        confidence: unknown
        unit: 无
        sources: [各地医保部门公开问答]
        note: 资料未给出本地缴费期。
""")
    local = load_book(overlays=[overlay])
    unknown = benefit_start(local, BEIJING, 2026, date(2026, 3, 5), frozenset({2025}))
    assert unknown.waiting_months is None and unknown.starts_on is None and unknown.confidence == "unknown"
    gap = benefit_start(local, BEIJING, 2026, date(2026, 3, 5), frozenset({2024}))
    assert gap.waiting_months == 4 and gap.text.startswith("未连续参保（断缴1年）")
    assert benefit_start(book, BEIJING, 2026, date(2026, 3, 5), frozenset({2025})).waiting_months == 3


def test_continuous_and_gap_years():
    paid = frozenset({2019, 2020, 2022, 2023, 2024})
    assert continuous_years(paid, 2024) == 3
    assert continuous_years(paid, 2025) == 0
    assert continuous_years(paid | {2025}, 2025) == 4
    assert gap_years(paid, 2025) == 0
    assert gap_years(paid, 2027) == 2
    assert gap_years(frozenset(), 2026) == 0  # first enrolment: only lateness counts


years = st.integers(min_value=2025, max_value=2040)


@settings(max_examples=60, deadline=None)
@given(year=years, gap=st.integers(min_value=0, max_value=12), late_days=st.integers(min_value=1, max_value=360))
def test_waiting_grows_with_the_gap_and_starts_after_payment(book, year, gap, late_days):
    paid_on = date(year, 1, 1) + timedelta(days=late_days - 1)  # after a Sep–Dec window
    start = benefit_start(book, BEIJING, year, paid_on, frozenset({year - 1 - gap}))
    longer = benefit_start(book, BEIJING, year, paid_on, frozenset({year - 2 - gap}))
    assert start.waiting_months >= 3  # never below the fixed part
    assert longer.waiting_months >= start.waiting_months
    assert start.starts_on > paid_on
    assert start.starts_on >= date(year, 1, 1)


@settings(max_examples=40, deadline=None)
@given(year=years, gap=st.integers(min_value=0, max_value=12), early_days=st.integers(min_value=0, max_value=121))
def test_on_time_payment_never_waits_longer_than_late(book, year, gap, early_days):
    paid_years = frozenset({year - 1 - gap})
    on_time = benefit_start(book, BEIJING, year, date(year - 1, 12, 31) - timedelta(days=early_days), paid_years)
    late = benefit_start(book, BEIJING, year, date(year, 2, 1), paid_years)
    assert on_time.on_time and not late.on_time
    assert on_time.waiting_months <= late.waiting_months
    assert on_time.starts_on >= date(year, 1, 1)


# ---------------------------------------------------------------------------- incentives


def test_critical_illness_cap_rises_after_four_continuous_years(book):
    seven = critical_illness_raise(book, BEIJING, date(2028, 1, 1), 7)
    assert seven["raise_min_fen"] == 300_000 and seven["confidence"] == "range"
    assert "3,000.00元" in seven["text"] and "零报销" in seven["text"]
    # The raise accrues from 2025 on: in 2026 seventeen continuous years count twice (2025, 2026).
    assert critical_illness_raise(book, BEIJING, date(2026, 1, 1), 17)["raise_min_fen"] == 200_000
    assert critical_illness_raise(book, BEIJING, date(2026, 1, 1), 4)["raise_min_fen"] == 0
    before = critical_illness_raise(book, BEIJING, date(2024, 6, 1), 7)
    assert before["raise_min_fen"] is None and before["confidence"] == "unknown" and before["rule_id"] is None
