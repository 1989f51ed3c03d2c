"""``yibao policy check``: the data files pass the schema, and every stated value has a case.

A stated value counts as covered when at least one case's answer lists its id in
``rule_ids`` (the case exercised it), and that case passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yibao.policy.cases import CaseResult, load_cases, run_cases
from yibao.policy.loading import read_directory
from yibao.policy.parameters import Confidence
from yibao.policy.schema import Finding

# The case files live beside the tests of a source checkout (where policy officers edit the
# data); from any other directory, --cases names them.
_CHECKOUT_CASES = Path(__file__).resolve().parents[3] / "tests" / "policy_cases"
DEFAULT_CASES = _CHECKOUT_CASES if _CHECKOUT_CASES.is_dir() else Path("tests/policy_cases")


@dataclass(frozen=True)
class CheckReport:
    files: list[str]
    values: int
    findings: list[Finding]
    cases: list[CaseResult]

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "files": self.files,
            "values": self.values,
            "cases": len(self.cases),
            "cases_failed": sum(not result.ok for result in self.cases),
            "findings": [finding.as_dict() for finding in self.findings],
        }


def check_policy(data_dir: Path | None = None, cases_dir: Path | None = DEFAULT_CASES) -> CheckReport:
    loaded = read_directory(data_dir)
    findings = list(loaded.findings)
    values = loaded.book.all_values()
    results: list[CaseResult] = []
    if findings:
        return CheckReport(loaded.files, len(values), findings, results)
    if cases_dir is None or not Path(cases_dir).is_dir():
        findings.append(Finding(str(cases_dir), "", "找不到测试用例目录，无法确认每个明确数值都有测试用例（用 --cases 指定）", "cases_missing"))
        return CheckReport(loaded.files, len(values), findings, results)
    try:
        results = run_cases(loaded.book, load_cases(Path(cases_dir)))
    except ValueError as error:
        findings.append(Finding(str(cases_dir), "", f"用例文件格式错误：{error}", "case_format"))
        return CheckReport(loaded.files, len(values), findings, results)
    for result in results:
        if not result.ok:
            findings.append(Finding(result.case.file, result.case.name, "用例不通过：" + "；".join(result.problems), "case_failed"))
    covered = {rule_id for result in results if result.ok for rule_id in result.rule_ids}
    for value in values:
        if value.confidence is Confidence.STATED and value.id not in covered:
            file = "national.yaml" if value.region_code == "national" else f"{value.region_code}.yaml"
            findings.append(Finding(file, value.id, "明确（stated）的数值没有测试用例覆盖", "stated_without_case"))
    return CheckReport(loaded.files, len(values), findings, results)
