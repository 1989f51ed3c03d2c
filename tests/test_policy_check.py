"""`yibao policy check` and the data-only workflow of a policy officer."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml

from yibao.policy.check import check_policy
from yibao.policy.credit import evaluate_credit, parse_credit_request
from yibao.policy.loading import PolicyDataError, default_directory, load_book

CASES_DIR = Path(__file__).parent / "policy_cases"


@pytest.fixture
def data_dir(tmp_path) -> Path:
    target = tmp_path / "policy"
    shutil.copytree(Path(str(default_directory())), target)
    return target


def edit(directory: Path, name: str, change) -> None:
    path = directory / name
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")


def codes(report) -> set[str]:
    return {finding.code for finding in report.findings}


def beijing_credit(directory: Path | None, on: str) -> int | None:
    book = load_book(directory)
    request = parse_credit_request(
        {"region": "京", "birth": "1950-03-01", "on": on, "insurance": "employee", "status": "retired"}, book
    )
    return evaluate_credit(book, request).amount_fen


def test_shipped_data_passes_and_every_stated_value_has_a_case():
    report = check_policy(None, CASES_DIR)
    assert report.ok, [finding.as_dict() for finding in report.findings]
    assert report.cases and all(result.ok for result in report.cases)


def raise_beijing_from_2026(document) -> None:
    values = document["parameters"]["credit.retiree"]["values"]
    values[0]["until"] = date(2025, 12, 31)
    values.append({
        "from": date(2026, 1, 1),
        "confidence": "stated",
        "unit": "元/月",
        "period": "month",
        "brackets": [{"min_age": 0, "amount": "120.00"}, {"min_age": 70, "amount": "130.00"}],
        "sources": ["003_9774d15e83d10c03.txt"],
        "note": "示例：2026年起提高划入标准。",
    })


def test_a_policy_officer_adds_a_dated_value_by_editing_data_only(data_dir, tmp_path):
    edit(data_dir, "110000.yaml", raise_beijing_from_2026)
    assert beijing_credit(data_dir, "2025-12-31") == 11_000
    assert beijing_credit(data_dir, "2026-01-01") == 13_000
    assert beijing_credit(None, "2026-01-01") == 11_000  # the shipped data is untouched

    report = check_policy(data_dir, CASES_DIR)
    assert [f.where for f in report.findings] == ["110000:credit.retiree@2026-01-01"]
    assert codes(report) == {"stated_without_case"}

    cases = tmp_path / "cases"
    shutil.copytree(CASES_DIR, cases)
    (cases / "credit_beijing_2026.yaml").write_text(
        "- name: 北京 2026年起 75周岁 每月130元\n"
        "  question: credit\n"
        "  input: {region: 京, birth: 1950-03-01, on: 2026-01-01, insurance: employee, status: retired}\n"
        "  output: {amount_fen: 13000}\n",
        encoding="utf-8",
    )
    assert check_policy(data_dir, cases).ok


def test_overlapping_values_are_reported(data_dir):
    def overlap(document):
        raise_beijing_from_2026(document)
        del document["parameters"]["credit.retiree"]["values"][0]["until"]

    edit(data_dir, "110000.yaml", overlap)
    assert "dates_overlap" in codes(check_policy(data_dir, CASES_DIR))
    with pytest.raises(PolicyDataError):
        load_book(data_dir)


def test_unordered_values_are_reported(data_dir):
    def unordered(document):
        raise_beijing_from_2026(document)
        document["parameters"]["credit.retiree"]["values"].reverse()

    edit(data_dir, "110000.yaml", unordered)
    assert "dates_unordered" in codes(check_policy(data_dir, CASES_DIR))


def test_until_before_from_is_reported(data_dir):
    edit(data_dir, "110000.yaml", lambda d: d["parameters"]["credit.retiree"]["values"][0].update(until=date(2024, 1, 1)))
    assert "dates_unordered" in codes(check_policy(data_dir, CASES_DIR))


def test_missing_and_unregistered_sources_are_reported(data_dir):
    edit(data_dir, "310000.yaml", lambda d: d["parameters"]["credit.retiree"]["values"][0].pop("sources"))
    edit(data_dir, "370000.yaml", lambda d: d["parameters"]["credit.retiree"]["values"][0].update(sources=["某网站"]))
    assert {"missing_sources", "unknown_source"} <= codes(check_policy(data_dir, CASES_DIR))


def test_unknown_region_code_and_wrong_name_are_reported(data_dir):
    (data_dir / "990000.yaml").write_text((data_dir / "340000.yaml").read_text(encoding="utf-8").replace('"340000"', '"990000"'), encoding="utf-8")
    edit(data_dir, "370000.yaml", lambda d: d.update(name="山西省"))
    assert {"unknown_region", "region_name"} <= codes(check_policy(data_dir, CASES_DIR))


def test_a_float_amount_is_refused(data_dir):
    edit(data_dir, "620000.yaml", lambda d: d["parameters"]["credit.retiree"]["values"][0]["brackets"][0].update(amount=120.0))
    report = check_policy(data_dir, CASES_DIR)
    assert any("带引号" in finding.message for finding in report.findings)


def test_conflicting_needs_two_claims_and_unknown_parameters_are_refused(data_dir):
    edit(data_dir, "310000.yaml", lambda d: d["parameters"]["withdrawal.emigration"]["values"][0]["claims"].pop())
    edit(data_dir, "110000.yaml", lambda d: d["parameters"].update({"credit.bonus": {"values": []}}))
    assert {"conflicting_claims", "unknown_parameter"} <= codes(check_policy(data_dir, CASES_DIR))


def test_a_stated_value_without_a_case_is_reported(data_dir, tmp_path):
    cases = tmp_path / "cases"
    shutil.copytree(CASES_DIR, cases)
    (cases / "credit_provinces.yaml").unlink()
    report = check_policy(data_dir, cases)
    uncovered = {f.where for f in report.findings if f.code == "stated_without_case"}
    assert uncovered == {"340000:credit.retiree@2025-01-01", "620000:credit.retiree@2025-01-01", "370000:credit.retiree@2025-01-01"}


def test_missing_cases_directory_fails_the_check(tmp_path):
    assert "cases_missing" in codes(check_policy(None, tmp_path / "nowhere"))
