"""Schema of the policy data files, checked with messages a policy officer can act on.

Every problem becomes a :class:`Finding` (file, place, Chinese message, machine code);
the loader refuses data with findings, ``yibao policy check`` lists them all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from yibao.domain.regions import RegionTable
from yibao.policy.parameters import (
    NATIONAL,
    Claim,
    Confidence,
    DatedValue,
    KeyedBy,
    ParameterHistory,
    RegionPolicy,
    Source,
)
from yibao.policy.rules import PARSERS, PERSON_DATED, BodyError

COMMON_KEYS = {"from", "until", "confidence", "unit", "sources", "note", "claims"}
CLAIM_KEYS = {"sources", "note"}
UNITS = {"元", "元/月", "元/年", "年", "月", "工作日", "无"}
# demo: invented figures a demo deployment carries in a policy overlay, never real policy.
SOURCE_KINDS = {"seed", "public", "demo"}
_SOURCE_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$|^未注明$")


@dataclass(frozen=True)
class Finding:
    file: str
    where: str
    message: str
    code: str

    def as_dict(self) -> dict[str, str]:
        return {"file": self.file, "where": self.where, "message": self.message, "code": self.code}


class _Collector:
    def __init__(self, file: str):
        self.file = file
        self.findings: list[Finding] = []

    def add(self, where: str, message: str, code: str) -> None:
        self.findings.append(Finding(self.file, where, message, code))


# ---------------------------------------------------------------------------- sources


def parse_sources(raw: object, file: str) -> tuple[dict[str, Source], list[Finding]]:
    found = _Collector(file)
    if not isinstance(raw, Mapping):
        found.add("", "来源登记表应为映射：来源编号 → {title, publisher, date, kind}", "schema")
        return {}, found.findings
    sources = {}
    for source_id, entry in raw.items():
        where = str(source_id)
        if not isinstance(entry, Mapping) or set(entry) != {"title", "publisher", "date", "kind"}:
            found.add(where, "来源须有且只有 title、publisher、date、kind 四项", "schema")
            continue
        if not _SOURCE_DATE.match(str(entry["date"])):
            found.add(where, f"来源日期应为 YYYY、YYYY-MM、YYYY-MM-DD 或“未注明”：{entry['date']!r}", "source_date")
            continue
        if entry["kind"] not in SOURCE_KINDS:
            found.add(where, f"来源类别应为 {'、'.join(sorted(SOURCE_KINDS))} 之一：{entry['kind']!r}", "schema")
            continue
        sources[str(source_id)] = Source(str(source_id), str(entry["title"]), str(entry["publisher"]), str(entry["date"]), entry["kind"])
    return sources, found.findings


# ---------------------------------------------------------------------------- region files


def parse_region_file(
    raw: object, file: str, regions: RegionTable, source_ids: set[str]
) -> tuple[RegionPolicy | None, list[Finding]]:
    found = _Collector(file)
    if not isinstance(raw, Mapping) or not {"region", "name", "parameters"} <= set(raw):
        found.add("", "文件须有 region、name、parameters 三项", "schema")
        return None, found.findings
    code, name = str(raw["region"]), str(raw["name"])
    if not _check_region(code, name, file, regions, found):
        return None, found.findings
    parameters = raw["parameters"]
    if not isinstance(parameters, Mapping) or not parameters:
        found.add("parameters", "parameters 应为非空映射", "schema")
        return None, found.findings
    histories = {}
    for parameter, entry in parameters.items():
        history = _parse_history(str(parameter), entry, code, source_ids, found)
        if history is not None:
            histories[history.name] = history
    return RegionPolicy(code, name, histories), found.findings


def _check_region(code: str, name: str, file: str, regions: RegionTable, found: _Collector) -> bool:
    stem = file.rsplit("/", 1)[-1].removesuffix(".yaml")
    if stem != code:
        found.add("region", f"文件名应为 {code}.yaml", "file_name")
    if code == NATIONAL:
        return True
    if code not in regions:
        found.add("region", f"未知的行政区划代码：{code}", "unknown_region")
        return False
    if regions.get(code).name != name:
        found.add("name", f"{code} 是{regions.get(code).name}，不是{name}", "region_name")
    return True


def _parse_history(parameter: str, entry: object, code: str, source_ids: set[str], found: _Collector) -> ParameterHistory | None:
    if parameter not in PARSERS:
        found.add(parameter, f"不认识的参数名（可用：{'、'.join(sorted(PARSERS))}）", "unknown_parameter")
        return None
    if not isinstance(entry, Mapping) or not isinstance(entry.get("values"), list) or not entry["values"]:
        found.add(parameter, "参数须有 description 和非空的 values 列表", "schema")
        return None
    unknown = sorted(set(entry) - {"description", "keyed_by", "values"})
    if unknown:
        found.add(parameter, f"不认识的字段：{'、'.join(unknown)}", "schema")
    keyed_by = _keyed_by(parameter, entry.get("keyed_by", "on"), found)
    values = []
    for index, raw_value in enumerate(entry["values"]):
        value = _parse_value(parameter, code, raw_value, f"{parameter}[{index}]", source_ids, found)
        if value is not None:
            values.append(value)
    if len(values) != len(entry["values"]):
        return None
    _check_dates(parameter, values, found)
    return ParameterHistory(parameter, code, str(entry.get("description", "")), keyed_by, tuple(values))


def _keyed_by(parameter: str, raw: object, found: _Collector) -> KeyedBy:
    try:
        keyed_by = KeyedBy(raw)
    except ValueError:
        found.add(parameter, f"keyed_by 应为 {'、'.join(k.value for k in KeyedBy)}：{raw!r}", "schema")
        return KeyedBy.ON
    if keyed_by is not KeyedBy.ON and parameter not in PERSON_DATED:
        found.add(parameter, "只有缴费年限规定可以按退休或参保日期取值", "schema")
    return keyed_by


def _parse_value(parameter: str, code: str, raw: object, where: str, source_ids: set[str], found: _Collector) -> DatedValue | None:
    if not isinstance(raw, Mapping):
        found.add(where, "每个取值应为映射", "schema")
        return None
    missing = sorted({"from", "confidence", "unit", "sources", "note"} - set(raw))
    if missing:
        found.add(where, f"缺少：{'、'.join(missing)}", "missing_sources" if "sources" in missing else "schema")
        return None
    start, end = _date(raw["from"], where, "from", found), _date(raw.get("until"), where, "until", found)
    confidence = _confidence(raw["confidence"], where, found)
    unit = raw["unit"]
    if unit not in UNITS:
        found.add(where, f"单位应为 {'、'.join(sorted(UNITS))} 之一：{unit!r}", "unit")
    sources = _sources(raw["sources"], where, source_ids, found)
    note = raw["note"] if isinstance(raw["note"], str) and raw["note"].strip() else None
    if note is None:
        found.add(where, "note（简短中文说明）不能为空", "schema")
    if None in (start, confidence, sources, note) or unit not in UNITS or (raw.get("until") is not None and end is None):
        return None
    body = {key: item for key, item in raw.items() if key not in COMMON_KEYS}
    rule, claims = _parse_body(parameter, confidence, body, raw.get("claims"), where, source_ids, found)
    if rule is False:
        return None
    return DatedValue(parameter, code, start, end, confidence, unit, sources, note.strip(), rule, claims)


def _parse_body(parameter, confidence, body, raw_claims, where, source_ids, found):
    parser = PARSERS[parameter]
    if confidence is Confidence.CONFLICTING:
        if body:
            found.add(where, "说法矛盾的取值不写数值，数值写在各 claims 里", "schema")
            return False, ()
        claims = _parse_claims(parser, raw_claims, where, source_ids, found)
        return (None, claims) if claims is not None else (False, ())
    if raw_claims is not None:
        found.add(where, "只有 conflicting 的取值才有 claims", "schema")
        return False, ()
    if confidence is Confidence.UNKNOWN:
        if body:
            found.add(where, f"unknown 的取值不应有数值：{'、'.join(sorted(body))}", "schema")
            return False, ()
        return None, ()
    try:
        return parser(body), ()
    except BodyError as error:
        found.add(where, str(error), "schema")
        return False, ()


def _parse_claims(parser, raw_claims, where, source_ids, found) -> tuple[Claim, ...] | None:
    if not isinstance(raw_claims, list) or len(raw_claims) < 2:
        found.add(where, "conflicting 的取值须列出至少两种说法（claims）", "conflicting_claims")
        return None
    claims = []
    for index, raw in enumerate(raw_claims):
        here = f"{where}.claims[{index}]"
        if not isinstance(raw, Mapping) or not CLAIM_KEYS <= set(raw):
            found.add(here, "每种说法须有 sources 和 note", "missing_sources")
            return None
        sources = _sources(raw["sources"], here, source_ids, found)
        try:
            rule = parser({key: item for key, item in raw.items() if key not in CLAIM_KEYS})
        except BodyError as error:
            found.add(here, str(error), "schema")
            return None
        if sources is None:
            return None
        claims.append(Claim(rule, sources, str(raw["note"]).strip()))
    return tuple(claims)


def _date(raw: object, where: str, key: str, found: _Collector) -> date | None:
    if raw is None:
        return None
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(str(raw))
    except ValueError:
        found.add(where, f"{key} 应为日期 YYYY-MM-DD：{raw!r}", "date")
        return None


def _confidence(raw: object, where: str, found: _Collector) -> Confidence | None:
    try:
        return Confidence(raw)
    except ValueError:
        found.add(where, f"confidence 应为 {'、'.join(c.value for c in Confidence)}：{raw!r}", "confidence")
        return None


def _sources(raw: object, where: str, source_ids: set[str], found: _Collector) -> tuple[str, ...] | None:
    if not isinstance(raw, list) or not raw:
        found.add(where, "每个取值至少要有一个来源（sources）", "missing_sources")
        return None
    unknown = [str(item) for item in raw if str(item) not in source_ids]
    if unknown:
        found.add(where, f"来源未登记（见 sources.yaml）：{'、'.join(unknown)}", "unknown_source")
        return None
    return tuple(str(item) for item in raw)


def _check_dates(parameter: str, values: list[DatedValue], found: _Collector) -> None:
    for index, value in enumerate(values):
        if value.end is not None and value.end < value.start:
            found.add(f"{parameter}[{index}]", f"until（{value.end}）早于 from（{value.start}）", "dates_unordered")
    for index, (earlier, later) in enumerate(zip(values, values[1:]), start=1):
        if later.start <= earlier.start:
            found.add(f"{parameter}[{index}]", f"取值须按 from 从早到晚排列：{later.start} 不晚于 {earlier.start}", "dates_unordered")
        elif earlier.end is None or earlier.end >= later.start:
            found.add(
                f"{parameter}[{index}]",
                f"与前一取值重叠：前一取值{('至' + earlier.end.isoformat()) if earlier.end else '没有 until'}，本取值自{later.start}起；请给前一取值写 until",
                "dates_overlap",
            )
