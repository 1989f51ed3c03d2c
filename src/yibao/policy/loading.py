"""Reading the policy data files: the shipped ones, or a directory a policy officer edits.

An agency adds its own figures without editing the package through overlays
(``YIBAO_POLICY_OVERLAYS``, comma-separated directories), read in order after the base data:
an overlay ``<region>.yaml`` (or ``national.yaml``) replaces whole parameters of that region
by name and keeps the others; an overlay ``sources.yaml`` adds sources.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import yaml

from yibao.config import get_settings
from yibao.domain.regions import RegionTable, regions
from yibao.errors import YibaoError
from yibao.policy.parameters import PolicyBook, RegionPolicy
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
    files: dict[str, RegionPolicy] = {}
    names = _region_file_names(directory)
    for name, policy in _region_files(directory, names, table, set(sources), findings, label=str):
        if policy.code in files:
            findings.append(Finding(name, "region", f"地区 {policy.code} 有两个文件", "duplicate_region"))
            continue
        files[policy.code] = policy
    if "national" not in files:
        findings.append(Finding("national.yaml", "", "缺少全国一般规定文件 national.yaml", "missing_national"))
    return LoadResult(PolicyBook(files, sources, table), findings, [SOURCES_FILE, *names])


def read_with_overlays(directory: Path | Traversable | None, overlays: Sequence[Path | str]) -> LoadResult:
    """The base data, then each overlay directory in order (later overlays win)."""
    result = read_directory(directory)
    for overlay in overlays:
        result = apply_overlay(result, Path(overlay))
    return result


def apply_overlay(base: LoadResult, directory: Path) -> LoadResult:
    """Replace whole parameters by name and add sources; findings name the overlay's files."""

    def label(name: str) -> str:  # findings must say which overlay file
        return str(directory / name)

    findings = list(base.findings)
    if not directory.is_dir():
        findings.append(Finding(str(directory), "", "政策数据覆盖目录不存在", "missing_overlay"))
        return LoadResult(base.book, findings, base.files)
    sources = dict(base.book.sources)
    if (directory / SOURCES_FILE).is_file():
        sources |= _overlay_sources(directory, sources, findings)
    files = dict(base.book.files)
    names = _region_file_names(directory)
    for name, policy in _region_files(directory, names, base.book.regions, set(sources), findings, label):
        kept = files.get(policy.code)
        parameters = {**kept.parameters, **policy.parameters} if kept else policy.parameters
        files[policy.code] = RegionPolicy(policy.code, policy.name, parameters)
    book = PolicyBook(files, sources, base.book.regions)
    return LoadResult(book, findings, [*base.files, *(label(name) for name in [SOURCES_FILE, *names])])


def _overlay_sources(directory: Path, known: dict, findings: list[Finding]) -> dict:
    name = str(directory / SOURCES_FILE)
    added, source_findings = parse_sources(_read_yaml(directory / SOURCES_FILE, name, findings), name)
    findings += source_findings
    for source_id, source in list(added.items()):
        if source_id in known and known[source_id] != source:
            findings.append(Finding(name, source_id, "来源编号已被使用且内容不同，请换一个编号", "duplicate_source"))
            del added[source_id]
    return added


def _region_file_names(directory) -> list[str]:
    return sorted(entry.name for entry in directory.iterdir() if entry.name.endswith(".yaml") and entry.name != SOURCES_FILE)


def _region_files(directory, names, table, source_ids, findings, label):
    """(file name, parsed region) for every file that parses; findings carry ``label(name)``."""
    for name in names:
        raw = _read_yaml(directory / name, label(name), findings)
        if raw is None:
            continue
        policy, file_findings = parse_region_file(raw, name, table, source_ids)
        findings += [replace(finding, file=label(name)) for finding in file_findings]
        if policy is not None:
            yield name, policy


def _read_yaml(path, name: str, findings: list[Finding]):
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        findings.append(Finding(name, "", "文件不存在", "missing_file"))
    except yaml.YAMLError as error:
        findings.append(Finding(name, "", f"YAML 格式错误：{error}", "yaml"))
    return None


def configured_overlays() -> tuple[str, ...]:
    """The overlay directories of this deployment (``YIBAO_POLICY_OVERLAYS``), in order."""
    return tuple(part.strip() for part in get_settings().policy_overlays.split(",") if part.strip())


def load_book(directory: Path | Traversable | None = None, overlays: Sequence[Path | str] | None = None) -> PolicyBook:
    """A book that passed the schema; raises :class:`PolicyDataError` otherwise.

    Without arguments: the shipped data with this deployment's overlays. A directory given
    explicitly (a policy officer's working copy) gets only the overlays passed with it.
    """
    if overlays is None:
        overlays = configured_overlays() if directory is None else ()
    if directory is None:
        return _shipped_book(tuple(str(overlay) for overlay in overlays))
    return _checked(read_with_overlays(directory, overlays))


@lru_cache(maxsize=8)
def _shipped_book(overlays: tuple[str, ...] = ()) -> PolicyBook:
    return _checked(read_with_overlays(None, overlays))


def _checked(result: LoadResult) -> PolicyBook:
    if result.findings:
        raise PolicyDataError(result.findings)
    return result.book
