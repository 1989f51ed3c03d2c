"""Reading the policy data files: the shipped ones, or a directory a policy officer edits."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import yaml

from yibao.domain.regions import RegionTable, regions
from yibao.errors import YibaoError
from yibao.policy.parameters import PolicyBook
from yibao.policy.schema import Finding, parse_region_file, parse_sources

SOURCES_FILE = "sources.yaml"


class PolicyDataError(YibaoError):
    """The data files do not pass the schema; the engine never answers from such data."""

    code = "policy_data_invalid"
    default_message = "政策数据文件有误，请运行 yibao policy check 查看"

    def __init__(self, findings: list[Finding]):
        first = findings[0]
        super().__init__(f"政策数据文件有误（共{len(findings)}处），如 {first.file} {first.where}：{first.message}")
        self.findings = findings


@dataclass(frozen=True)
class LoadResult:
    book: PolicyBook
    findings: list[Finding]
    files: list[str]


def default_directory() -> Traversable:
    return resources.files("yibao").joinpath("data/policy")


def read_directory(directory: Path | Traversable | None = None, region_table: RegionTable | None = None) -> LoadResult:
    """Parse every file; keep going after problems so that all of them are reported."""
    directory = directory if directory is not None else default_directory()
    table = region_table or regions()
    findings: list[Finding] = []
    sources, source_findings = parse_sources(_read_yaml(directory / SOURCES_FILE, SOURCES_FILE, findings), SOURCES_FILE)
    findings += source_findings
    files = {}
    names = sorted(entry.name for entry in directory.iterdir() if entry.name.endswith(".yaml") and entry.name != SOURCES_FILE)
    for name in names:
        raw = _read_yaml(directory / name, name, findings)
        if raw is None:
            continue
        policy, file_findings = parse_region_file(raw, name, table, set(sources))
        findings += file_findings
        if policy is None:
            continue
        if policy.code in files:
            findings.append(Finding(name, "region", f"地区 {policy.code} 有两个文件", "duplicate_region"))
            continue
        files[policy.code] = policy
    if "national" not in files:
        findings.append(Finding("national.yaml", "", "缺少全国一般规定文件 national.yaml", "missing_national"))
    return LoadResult(PolicyBook(files, sources, table), findings, [SOURCES_FILE, *names])


def _read_yaml(path, name: str, findings: list[Finding]):
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        findings.append(Finding(name, "", "文件不存在", "missing_file"))
    except yaml.YAMLError as error:
        findings.append(Finding(name, "", f"YAML 格式错误：{error}", "yaml"))
    return None


def load_book(directory: Path | Traversable | None = None) -> PolicyBook:
    """A book that passed the schema; raises :class:`PolicyDataError` otherwise."""
    if directory is None:
        return _shipped_book()
    result = read_directory(directory)
    if result.findings:
        raise PolicyDataError(result.findings)
    return result.book


@lru_cache(maxsize=1)
def _shipped_book() -> PolicyBook:
    result = read_directory()
    if result.findings:
        raise PolicyDataError(result.findings)
    return result.book
