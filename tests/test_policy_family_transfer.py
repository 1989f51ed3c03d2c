"""`yibao policy family` and `yibao policy transfer` (and their API twins): the two topics the seed
articles ask about that had no policy command. Every figure comes from the data, dated."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient

from test_policy_cli import answer, policy
from yibao.policy.loading import load_book
from yibao.policy.service import ask
from yibao.store.db import make_engine
from yibao.web.app import create_app

TODAY = date(2025, 6, 15)


@pytest.fixture(scope="module")
def book():
    return load_book()


def test_family_relations_widen_on_2024_07_01(book):
    before = ask(book, "family", {"region": "310000", "on": "2024-06-30"}, TODAY)
    after = ask(book, "family", {"region": "310000", "on": "2024-07-01"}, TODAY)
    assert [each["label"] for each in before["relations"]] == ["配偶", "父母", "子女"]
    assert {"兄弟姐妹", "孙子女、外孙子女"} <= {each["label"] for each in after["relations"]}
    assert before["confidence"] == after["confidence"] == "range" and after["allowed"] is True
    assert after["resident_premium_fen"] == 40_000 and after["resident_premium_year"] == 2024
    assert after["yearly_limit_fen"] is None and after["yearly_limit"].startswith("暂无资料")  # unknown, never a number
    assert len(after["rule_ids"]) == 3


def test_family_before_any_rule_says_so(book):
    early = ask(book, "family", {"region": "110000", "on": "2020-01-01"}, TODAY)
    assert early["relations"] == [] and early["allowed"] is None and early["confidence"] == "unknown"


def test_transfer_deadlines_skip_weekends_and_national_day(book):
    found = ask(book, "transfer", {"region": "上海", "to_region": "深圳", "applied_on": "2025-09-26"}, TODAY)
    assert (found["out_working_days"], found["in_working_days"], found["total_working_days"]) == (10, 5, 15)
    # 28 September and 11 October 2025 are working Sundays/Saturdays; 1–8 October are holidays.
    assert (found["out_by"], found["in_by"]) == ("2025-10-16", "2025-10-23")
    assert found["to_region"] == {"code": "440300", "name": "深圳市"} and "余额随本人转移" in found["rule"]
    plain = ask(book, "transfer", {"region": "110000"}, TODAY)
    assert plain["out_by"] is None and plain["total_working_days"] == 15


def test_transfer_before_the_2021_rules_is_unknown(book):
    early = ask(book, "transfer", {"region": "110000", "applied_on": "2021-01-04"}, TODAY)
    assert early["total_working_days"] is None and early["confidence"] == "unknown" and early["out_by"] is None


def test_the_cli_answers_in_words_and_json():
    assert answer("family", "--region", "沪", "--on", "2025-01-01")["relations"][0]["key"] == "spouse"
    shown = policy("transfer", "--region", "上海", "--to", "深圳", "--applied-on", "2025-09-26")
    assert shown.returncode == 0 and "最迟 2025-10-16 转出，2025-10-23 转入" in shown.stdout
    bad = policy("transfer", "--region", "上海", "--applied-on", "2025-13-01")
    assert bad.returncode != 0 and "受理日期应为真实存在的日期" in bad.stderr


def test_the_api_serves_both(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'api.sqlite3'}")
    with TestClient(create_app(engine)) as client:
        family = client.get("/api/v1/policy/family", params={"region": "110000", "on": "2025-01-01"})
        transfer = client.get("/api/v1/policy/transfer", params={"region": "110000", "to_region": "沪",
                                                                  "applied_on": "2025-09-26"})
        refused = client.get("/api/v1/policy/transfer", params={"region": "110000", "applied_on": "昨天"})
    assert family.status_code == 200 and family.json()["question"] == "family"
    assert transfer.status_code == 200 and transfer.json()["in_by"] == "2025-10-23"
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "applied_on"
