"""Readable test cases for the policy engine (like OpenFisca's YAML tests).

A case file is a YAML list; each case names a ``question``, gives the ``input`` exactly as
a person types it on the command line (option names with ``_`` for ``-``), and either the
expected ``output`` fields (``a.b`` reaches into nested answers) or the expected ``error``
(``code`` and ``field``). Cases run through :func:`yibao.policy.service.ask`, the same path
as the CLI and the API.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from yibao.errors import YibaoError
from yibao.policy.parameters import PolicyBook
from yibao.policy.service import ask

CASE_TODAY = date(2025, 6, 15)  # "today" for questions whose date defaults to today
_MISSING = object()


@dataclass(frozen=True)
class Case:
    file: str
    name: str
    question: str
    input: dict[str, Any]
    output: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None


@dataclass(frozen=True)
class CaseResult:
    case: Case
    problems: tuple[str, ...]
    rule_ids: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def load_cases(directory: Path) -> list[Case]:
    cases = []
    for path in sorted(Path(directory).glob("*.yaml")):
        for index, raw in enumerate(yaml.safe_load(path.read_text(encoding="utf-8")) or []):
            if not isinstance(raw, dict) or not {"name", "question", "input"} <= set(raw) or not ({"output", "error"} & set(raw)):
                raise ValueError(f"{path.name}[{index}]: a case needs name, question, input and output or error")
            cases.append(Case(path.name, str(raw["name"]), raw["question"], raw["input"], raw.get("output") or {}, raw.get("error")))
    return cases


def _as_typed(value: Any) -> Any:
    """Inputs are text, as a person types them; YAML dates and numbers become text again."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, list):
        return [_as_typed(item) for item in value]
    return value.isoformat() if isinstance(value, date) else str(value)


def run_case(book: PolicyBook, case: Case) -> CaseResult:
    # YAML 1.1 reads a bare ``on`` key as the boolean true; case files may write it either way.
    raw = {("on" if key is True else str(key)): _as_typed(value) for key, value in case.input.items()}
    try:
        answer = ask(book, case.question, raw, CASE_TODAY)
    except YibaoError as error:
        if case.error is None:
            return CaseResult(case, (f"unexpected error {error.code} ({error.field}): {error.message}",), ())
        got = error.as_dict()
        problems = tuple(f"error.{key}: expected {want!r}, got {got.get(key)!r}" for key, want in case.error.items() if got.get(key) != want)
        return CaseResult(case, problems, ())
    if case.error is not None:
        return CaseResult(case, (f"expected error {case.error}, got an answer",), tuple(answer["rule_ids"]))
    problems = []
    for key, want in case.output.items():
        got = _lookup(answer, key)
        if got is _MISSING:
            problems.append(f"{key}: not in the answer")
        elif _normal(got) != _normal(want):
            problems.append(f"{key}: expected {want!r}, got {got!r}")
    return CaseResult(case, tuple(problems), tuple(answer["rule_ids"]))


def _lookup(answer: dict[str, Any], key: str) -> Any:
    current: Any = answer
    for part in key.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def _normal(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return [_normal(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def run_cases(book: PolicyBook, cases: Iterable[Case]) -> list[CaseResult]:
    return [run_case(book, case) for case in cases]
