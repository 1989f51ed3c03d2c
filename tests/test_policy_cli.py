"""`yibao policy ...` as a person runs it: a real process, JSON or Chinese text, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CASES_DIR = Path(__file__).parent / "policy_cases"
COMMON = {"region", "confidence", "sources", "disclaimer", "rule"}


def policy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "yibao.cli", "policy", *args],
        env=os.environ | {"COLUMNS": "200"}, capture_output=True, text=True, timeout=120,
    )


def answer(*args: str) -> dict:
    result = policy(*args, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert COMMON <= set(data) and data["disclaimer"] == "本数据仅供参考，具体以当地有关法规为准"
    return data


def test_credit_json_and_text():
    args = ("credit", "--region", "京", "--birth", "1950-03-01", "--on", "2025-06-01", "--insurance", "employee", "--status", "retired")
    data = answer(*args)
    assert data["region"] == {"code": "110000", "name": "北京市"}
    assert (data["amount_fen"], data["period"], data["monthly_equivalent_fen"]) == (11_000, "month", 11_000)
    assert data["sources"] and data["confidence"] == "stated"
    text = policy(*args)
    assert text.returncode == 0 and "每月110.00元" in text.stdout and "仅供参考" in text.stdout


def test_credit_yearly_with_avg_pension_and_base_options():
    data = answer("credit", "--region", "沪", "--birth", "1950-06-01", "--on", "2025-06-01", "--insurance", "employee", "--status", "retired")
    assert (data["amount_fen"], data["period"], data["monthly_equivalent_fen"]) == (189_000, "year", 15_750)
    data = answer("credit", "--region", "440300", "--birth", "1950-06-01", "--on", "2025-06-01", "--insurance", "employee",
                  "--status", "retired", "--avg-pension", "3500.5")
    assert data["amount_fen"] == 9_801  # 3500.50 × 2.8% = 98.014
    data = answer("credit", "--region", "京", "--birth", "1985-06-01", "--on", "2025-06-01", "--insurance", "employee",
                  "--status", "working", "--base", "10000", "--flexible")
    assert data["amount_fen"] == 20_000 and data["confidence"] == "range" and data["fallback"]


def test_lifetime_withdraw_continuity_channels():
    data = answer("lifetime", "--region", "深圳", "--sex", "F", "--cumulative-years", "20", "--actual-years", "12.5", "--retire-on", "2023-01-01")
    assert data["eligible"] is False and data["missing_cumulative_years"] == 5 and data["missing_actual_years"] == 2.5
    assert data["rule"] and data["decided_by"]["date"] == "2023-01-01"
    data = answer("lifetime", "--region", "广州", "--sex", "M", "--cumulative-years", "12", "--actual-years", "12",
                  "--retire-on", "2030-01-01", "--enrolled-on", "2013-12-31")
    assert data["eligible"] is True
    data = answer("withdraw", "--region", "沪", "--reason", "death")
    assert data["allowed"] is True and "死亡证明" in data["documents"]
    assert answer("withdraw", "--region", "沪", "--reason", "emigration")["allowed"] is None
    data = answer("continuity", "--region", "京", "--paid", "2025-01,2025-02", "--on", "2025-06-01")
    assert data["covered"] is False and data["since"] == "2025-06-01"
    data = answer("channels", "--region", "厦门")
    assert data["channels"][0]["key"] == "wechat" and data["inherited"] is True
    for command in (
        ("lifetime", "--region", "京", "--sex", "M", "--cumulative-years", "20", "--actual-years", "10", "--retire-on", "2030-01-01"),
        ("withdraw", "--region", "沪", "--reason", "illness"),
        ("continuity", "--region", "京", "--paid", "2025-01", "--on", "2025-06-01"),
        ("channels", "--region", "京"),
    ):
        text = policy(*command)
        assert text.returncode == 0 and "仅供参考" in text.stdout, text.stderr


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("credit", "--region", "北晶", "--birth", "1950-01-01", "--on", "2025-06-01", "--insurance", "employee", "--status", "retired"), "region"),
        (("credit", "--region", "京", "--birth", "2026-01-01", "--on", "2025-06-01", "--insurance", "employee", "--status", "retired"), "birth"),
        (("credit", "--region", "京", "--birth", "1950-01-01", "--on", "2025-02-29", "--insurance", "employee", "--status", "retired"), "on"),
        (("lifetime", "--region", "京", "--sex", "M", "--cumulative-years", "-2", "--actual-years", "1", "--retire-on", "2030-01-01"), "cumulative_years"),
        (("lifetime", "--region", "京", "--sex", "M", "--cumulative-years", "10", "--actual-years", "11", "--retire-on", "2030-01-01"), "actual_years"),
        (("withdraw", "--region", "沪", "--reason", "lottery"), "reason"),
    ],
)
def test_bad_input_exits_2_with_a_chinese_message_naming_the_field(args, field):
    result = policy(*args)
    assert result.returncode == 2
    assert f"字段：{field}" in result.stderr and "错误" in result.stderr


def test_unknown_region_suggests_close_names():
    result = policy("channels", "--region", "深证")
    assert result.returncode == 2 and "深圳市" in result.stderr


def test_check_passes_on_the_shipped_data_and_fails_on_broken_data(tmp_path):
    result = policy("check", "--cases", str(CASES_DIR), "--json")
    assert result.returncode == 0, result.stdout
    assert json.loads(result.stdout)["ok"] is True
    broken = tmp_path / "policy"
    broken.mkdir()
    (broken / "sources.yaml").write_text("{}\n", encoding="utf-8")
    (broken / "national.yaml").write_text("region: national\nname: 全国\nparameters: {}\n", encoding="utf-8")
    result = policy("check", "--data", str(broken), "--cases", str(CASES_DIR))
    assert result.returncode == 1 and "parameters" in result.stdout
