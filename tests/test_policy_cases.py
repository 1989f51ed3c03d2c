"""Runs every case file in tests/policy_cases through the engine (the CLI's and API's path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from yibao.policy.cases import load_cases, run_case
from yibao.policy.loading import load_book

CASES_DIR = Path(__file__).parent / "policy_cases"
CASES = load_cases(CASES_DIR)


@pytest.mark.parametrize("case", CASES, ids=[f"{case.file}:{case.name}" for case in CASES])
def test_case(case):
    result = run_case(load_book(), case)
    assert result.ok, "\n".join(result.problems)


def test_every_table_row_of_the_facts_has_at_least_two_cases():
    rows = {
        "110000": "credit", "310000": "credit", "440300": "credit", "350200": "credit", "340000": "credit",
        "620000": "credit", "370000": "credit", "410000": "credit", "360000": "credit",
    }
    counts: dict[tuple[str, str], int] = {}
    book = load_book()
    for case in CASES:
        result = run_case(book, case)
        for rule_id in result.rule_ids:
            region, rest = rule_id.split(":", 1)
            counts[(region, rest.split("@")[0])] = counts.get((region, rest.split("@")[0]), 0) + 1
    for region in rows:
        assert counts.get((region, "credit.retiree"), 0) >= 2, region
    for region in ("110000", "310000", "120000", "500000", "440300", "440100", "330100", "320100", "national"):
        assert counts.get((region, "lifetime.employee"), 0) >= 2, region
    for reason in ("death", "abandon", "remote", "refused", "illness", "emigration"):
        assert counts.get(("310000", f"withdrawal.{reason}"), 0) >= 1, reason
    assert counts.get(("national", "continuity.suspension_gap"), 0) >= 2
    assert counts.get(("national", "channels"), 0) >= 2


def test_boundary_cases_are_present():
    names = " ".join(case.name for case in CASES)
    for needle in ("恰好70周岁", "恰好75周岁", "2022-12-31退休", "2023-01-01退休", "2013-12-31参保", "2014-01-01参保"):
        assert needle in names, needle
    confidences = {case.output.get("confidence") for case in CASES}
    assert {"stated", "range", "conflicting", "unknown"} <= confidences
