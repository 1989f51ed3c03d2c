"""Policy parameters: dated values with a unit, a confidence, sources and a note.

A region file holds the parameters one region defines; ``national.yaml`` holds the defaults.
A value answers for one region only through :meth:`PolicyBook.resolve`, which walks the
region's chain (city → province → national) and stops at the first file that defines the
parameter: if that file has no value in force on the date, the answer is "unknown" rather
than a value borrowed from a broader level.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from yibao.domain.regions import Region, RegionTable

NATIONAL = "national"
NATIONAL_NAME = "全国"


class Confidence(StrEnum):
    STATED = "stated"
    RANGE = "range"
    CONFLICTING = "conflicting"
    UNKNOWN = "unknown"

    @property
    def label(self) -> str:
        return _CONFIDENCE_LABELS[self]


_CONFIDENCE_LABELS = {
    Confidence.STATED: "资料明确",
    Confidence.RANGE: "仅有全国一般规定或范围",
    Confidence.CONFLICTING: "资料说法矛盾",
    Confidence.UNKNOWN: "资料未说明",
}
# Weakest wins when an answer combines several values.
_STRENGTH = [Confidence.STATED, Confidence.RANGE, Confidence.CONFLICTING, Confidence.UNKNOWN]


def weakest(*levels: Confidence) -> Confidence:
    return max(levels, key=_STRENGTH.index)


class KeyedBy(StrEnum):
    """Which date picks the value in force: the question's date or a date of the person."""

    ON = "on"
    RETIREMENT_DATE = "retirement_date"
    ENROLMENT_DATE = "enrolment_date"

    @property
    def label(self) -> str:
        return {"on": "查询日期", "retirement_date": "退休日期", "enrolment_date": "参保日期"}[self.value]


@dataclass(frozen=True)
class Source:
    id: str
    title: str
    publisher: str
    date: str
    kind: str

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "title": self.title, "publisher": self.publisher, "date": self.date, "kind": self.kind}


@dataclass(frozen=True)
class Claim:
    """One side of a conflicting value, with its own sources."""

    rule: Any
    sources: tuple[str, ...]
    note: str


@dataclass(frozen=True)
class DatedValue:
    parameter: str
    region_code: str
    start: date
    end: date | None
    confidence: Confidence
    unit: str
    sources: tuple[str, ...]
    note: str
    rule: Any = None  # the typed body (see rules.py); None when the value is unknown
    claims: tuple[Claim, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.region_code}:{self.parameter}@{self.start.isoformat()}"

    def in_force(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)

    def period_text(self) -> str:
        until = f"至{self.end.isoformat()}" if self.end else "起"
        return f"{self.start.isoformat()}{until}"


@dataclass(frozen=True)
class ParameterHistory:
    name: str
    region_code: str
    description: str
    keyed_by: KeyedBy
    values: tuple[DatedValue, ...]

    def at(self, day: date) -> DatedValue | None:
        return next((value for value in self.values if value.in_force(day)), None)


@dataclass(frozen=True)
class RegionPolicy:
    code: str
    name: str
    parameters: dict[str, ParameterHistory] = field(default_factory=dict)


@dataclass(frozen=True)
class Resolution:
    """Where a parameter came from for a region, and the value in force (or None)."""

    parameter: str
    asked: Region
    rule_code: str
    rule_name: str
    history: ParameterHistory | None
    value: DatedValue | None
    day: date | None

    @property
    def inherited(self) -> bool:
        return self.rule_code != self.asked.code

    @property
    def confidence(self) -> Confidence:
        return self.value.confidence if self.value else Confidence.UNKNOWN

    def inheritance_text(self) -> str | None:
        if not self.inherited:
            return None
        # The platform's data lacks the rule; the region itself may well have one.
        lacking = f"本平台暂无{self.asked.name}的本地规定资料"
        if self.rule_code == NATIONAL:
            return f"{lacking}，以下按全国范围的一般规定"
        return f"{lacking}，以下按{self.rule_name}的规定"

    @property
    def earliest(self) -> DatedValue | None:
        """The first dated value the data holds for this parameter, if any."""
        return min(self.history.values, key=lambda value: value.start) if self.history and self.history.values else None

    @property
    def before_earliest(self) -> bool:
        """The day falls before every dated value: the rule then in force is simply not in the data."""
        first = self.earliest
        return self.value is None and self.day is not None and first is not None and self.day < first.start

    def missing_text(self) -> str:
        if self.history is None:
            return "资料中没有这项规定"
        if self.before_earliest:
            return (
                f"本平台资料中没有{self.day.isoformat()}时有效的规定"
                f"（已知最早的规定自{self.earliest.start.isoformat()}起）"
            )
        periods = "、".join(value.period_text() for value in self.history.values)
        when = self.day.isoformat() if self.day else "该日期"
        return f"{when}没有已知的有效规定（资料中的规定：{periods}）"


class PolicyBook:
    """All region files, the national defaults and the source registry."""

    def __init__(self, files: dict[str, RegionPolicy], sources: dict[str, Source], regions: RegionTable):
        self.files = files
        self.sources = sources
        self.regions = regions

    def chain(self, region: Region) -> list[str]:
        codes = [region.code]
        if region.province_code != region.code:
            codes.append(region.province_code)
        return [*codes, NATIONAL]

    def history(self, parameter: str, region: Region) -> tuple[str, ParameterHistory | None]:
        for code in self.chain(region):
            policy = self.files.get(code)
            if policy is not None and parameter in policy.parameters:
                return code, policy.parameters[parameter]
        return NATIONAL, None

    def resolve(self, parameter: str, region: Region, day: date | None) -> Resolution:
        code, history = self.history(parameter, region)
        value = history.at(day) if history is not None and day is not None else None
        return Resolution(parameter, region, code, self.name_of(code), history, value, day)

    def name_of(self, code: str) -> str:
        if code == NATIONAL:
            return NATIONAL_NAME
        policy = self.files.get(code)
        return policy.name if policy else self.regions.get(code).name

    def all_values(self) -> list[DatedValue]:
        return [
            value
            for policy in self.files.values()
            for history in policy.parameters.values()
            for value in history.values
        ]
