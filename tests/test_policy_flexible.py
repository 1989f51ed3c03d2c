"""Flexible employees' rules: tiers, months payable, resumption (policy/flexible.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yibao.domain.contribution import add_months
from yibao.domain.money import Money
from yibao.policy.continuity import continuity_answer, parse_continuity_request
from yibao.policy.credit import CreditRequest, evaluate_credit
from yibao.policy.flexible import flexible_tiers, payable_months, resumption
from yibao.policy.loading import load_book

BEIJING = "110000"
TODAY = date(2026, 12, 5)
DEMO_OVERLAY = Path(__file__).parents[1] / "src" / "yibao" / "demo" / "policy"


@pytest.fixture(scope="module")
def book():
    return load_book(overlays=())


@pytest.fixture(scope="module")
def demo_book():
    return load_book(overlays=[DEMO_OVERLAY])


def overlay(directory: Path, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "110000.yaml").write_text(f'region: "110000"\nname: 北京市\nparameters:\n{body}', encoding="utf-8")
    return directory


def test_no_tiers_nationally_answered_as_unknown(book):
    choice = flexible_tiers(book, BEIJING, TODAY)
    assert choice.tiers == ()
    assert choice.confidence == "unknown"
    assert choice.rule_id == "national:flexible.tiers@2021-04-22"
    assert "咨询" in choice.note


def test_demo_tiers_with_payment_and_account_credit_from_the_credit_engine(demo_book):
    choice = flexible_tiers(demo_book, BEIJING, TODAY)
    assert [(t.key, t.label, t.base_fen, t.rate_bp, t.monthly_fen) for t in choice.tiers] == [
        ("60", "60%档", 420_000, 1_000, 42_000),
        ("100", "100%档", 700_000, 1_000, 70_000),
        ("300", "300%档", 2_100_000, 1_000, 210_000),
    ]
    for tier in choice.tiers:
        request = CreditRequest(demo_book.regions.get(BEIJING), TODAY, TODAY, "employee", "working",
                                base=Money(tier.base_fen), flexible=True)
        assert tier.account_fen == evaluate_credit(demo_book, request).amount_fen  # 2% of the base nationally
        assert tier.account_rule_id == "national:credit.in_service@2021-04-22"
    assert choice.confidence == "range"
    assert choice.sources[0] == "演示数据"
    assert len(set(choice.sources)) == len(choice.sources)


def test_local_tiers_round_half_up_and_use_the_local_flexible_credit(tmp_path):
    local = load_book(overlays=[overlay(tmp_path / "o", """  flexible.tiers:
    description: 档次
    values:
      - from: 2025-01-01
        confidence: range
        unit: 元/月
        rate: "8.25%"
        tiers:
          - {key: low, label: 低档, base: "4321.10"}
          - {key: high, label: 高档, base: "9000", rate: "11%"}
        sources: [各地医保部门公开问答]
        note: 示例档次。
  credit.flexible:
    description: 灵活就业人员划入
    values:
      - from: 2025-01-01
        confidence: range
        unit: 元/月
        period: month
        basis: contribution_base
        brackets:
          - {min_base: "0", ratio: "1%"}
        sources: [各地医保部门公开问答]
        note: 示例：缴费基数的1%。
""")])
    low, high = flexible_tiers(local, BEIJING, TODAY).tiers
    assert low.monthly_fen == 35_649  # 432110 × 8.25% = 35649.075 → half-up
    assert high.rate_bp == 1_100 and high.monthly_fen == 99_000
    assert low.account_fen == 4_321 and high.account_fen == 9_000  # the local 1%, not the national 2%
    assert low.account_rule_id == "110000:credit.flexible@2025-01-01"


def test_payable_months_make_up_inside_the_arrears_window(book):
    paid = frozenset({date(2026, 8, 1), date(2026, 10, 1)})
    months = payable_months(book, BEIJING, TODAY, paid, date(2026, 1, 1))
    assert months.makeup == (date(2026, 9, 1), date(2026, 11, 1))  # oldest first, paid months left out
    assert months.ahead == (date(2026, 12, 1),)  # months ahead unknown nationally: only this month
    assert months.makeup_window_months == 3
    assert months.confidence == "range"
    assert months.rule_id == "national:continuity.arrears_window@2025-01-01"


def test_payable_months_never_before_the_first_month(book, demo_book):
    assert payable_months(book, BEIJING, TODAY, frozenset(), date(2026, 11, 20)).makeup == (date(2026, 11, 1),)
    assert payable_months(book, BEIJING, TODAY, frozenset(), None).makeup == ()
    ahead = payable_months(demo_book, BEIJING, TODAY, frozenset({date(2027, 2, 1)}), None).ahead
    assert ahead == (date(2026, 12, 1), date(2027, 1, 1), date(2027, 3, 1), date(2027, 4, 1), date(2027, 5, 1))


def test_unknown_arrears_window_offers_no_make_up(tmp_path):
    local = load_book(overlays=[overlay(tmp_path / "o", """  continuity.arrears_window:
    description: 补缴期
    values:
      - from: 2025-01-01
        confidence: unknown
        unit: 月
        sources: [各地医保部门公开问答]
        note: 资料未给出。
""")])
    months = payable_months(local, BEIJING, TODAY, frozenset(), date(2020, 1, 1))
    assert months.makeup == () and months.makeup_window_months is None and months.confidence == "unknown"
    assert "资料未说明" in months.note


@settings(max_examples=60, deadline=None)
@given(
    offsets=st.frozensets(st.integers(min_value=-12, max_value=6), max_size=10),
    first=st.one_of(st.none(), st.integers(min_value=-24, max_value=3)),
)
def test_payable_months_are_unpaid_ordered_and_inside_the_windows(demo_book, offsets, first):
    current = date(2026, 12, 1)
    paid = frozenset(add_months(current, k) for k in offsets)
    first_month = add_months(current, first) if first is not None else None
    months = payable_months(demo_book, BEIJING, TODAY, paid, first_month)
    assert not (set(months.makeup) | set(months.ahead)) & paid
    assert list(months.makeup) == sorted(months.makeup) and list(months.ahead) == sorted(months.ahead)
    assert all(add_months(current, -3) <= m < current for m in months.makeup)
    assert all(current <= m <= add_months(current, 5) for m in months.ahead)
    if first_month is not None:
        assert all(m >= first_month for m in months.makeup + months.ahead)


def test_resumption_unknown_names_the_channels_to_ask(book):
    answer = resumption(book, BEIJING, TODAY)
    assert answer["months"] is None and answer["confidence"] == "unknown"
    assert answer["channels"] == ["电话12333", "服务大厅窗口"]
    assert "电话12333、服务大厅窗口" in answer["text"]
    assert answer["rule_id"] == "national:continuity.resumption@2025-01-01"


def test_resumption_known_gives_the_months(tmp_path):
    local = load_book(overlays=[overlay(tmp_path / "o", """  continuity.resumption:
    description: 恢复待遇
    values:
      - from: 2025-01-01
        confidence: range
        unit: 月
        months: 1
        sources: [各地医保部门公开问答]
        note: 示例：补缴次月恢复。
""")])
    answer = resumption(local, BEIJING, TODAY)
    assert answer["months"] == 1 and answer["channels"] == [] and "示例" in answer["text"]


def test_continuity_answer_names_the_channels_when_resumption_is_unknown(book):
    request = parse_continuity_request({"region": "京", "paid": "2026-01,2026-02,2026-03,2026-04", "on": "2026-09-10"}, book)
    restore = continuity_answer(book, request)["restore"]
    item = next(step for step in restore if step["key"] == "resumption")
    assert item["confidence"] == "unknown"
    assert "可通过电话12333、服务大厅窗口咨询" in item["text"]
