"""One-off generator for src/yibao/data/regions.csv.

Reads python-stdnum's bundled division list (stdnum/cn/loc.dat, taken from the Chinese
Wikipedia pages on GB/T 2260 codes) and writes one row per CURRENT province-level and
prefecture-level division of mainland China. See src/yibao/data/regions.md.

Run from the repository root:  python scripts/build_regions.py
"""

from __future__ import annotations

import csv
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import stdnum

from yibao.domain.regions import bare_name

OUTPUT = Path(__file__).resolve().parent.parent / "src" / "yibao" / "data" / "regions.csv"
COLUMNS = ("code", "name", "short_name", "level", "parent_code", "pools_at_own_level")

# Left out on purpose: Taiwan (71), Hong Kong (81) and Macau (82) are not part of the
# mainland basic medical-insurance system, so they can never be a pooling region.
EXCLUDED_PROVINCE_PREFIXES = frozenset({"71", "81", "82"})

# ---------------------------------------------------------------------------------------
# POOLING POLICY (统筹层次) — the one policy choice in this table; review it here.
#
# A province listed below pools at PROVINCE level: the province row is the pooling region
# and its prefectures are not. Every other province pools at PREFECTURE level: each of its
# prefectures is a pooling region and the province row is not.
#   * the four municipalities (直辖市) have no prefectures; they pool city-wide;
#   * the five provinces below have a province-wide rule for the retirees' monthly
#     personal-account credit in the policy data (src/yibao/data/policy/, from the seed articles).
# ---------------------------------------------------------------------------------------
PROVINCE_LEVEL_POOLING = {
    "110000": "北京 municipality",
    "120000": "天津 municipality",
    "310000": "上海 municipality",
    "500000": "重庆 municipality",
    "340000": "安徽: fixed 70 yuan/month province-wide (POLICY_FACTS §2)",
    "620000": "甘肃: fixed 120 yuan/month province-wide (POLICY_FACTS §2)",
    "370000": "山东: 100/125 yuan/month by age, province-wide (POLICY_FACTS §2)",
    "410000": "河南: age-uniform amount, province-wide (POLICY_FACTS §2)",
    "360000": "江西: age-uniform amount, province-wide (POLICY_FACTS §2)",
}

# Official one-character abbreviations (简称); the primary one where there are two.
PROVINCE_ABBREVIATIONS = {
    "11": "京", "12": "津", "13": "冀", "14": "晋", "15": "蒙", "21": "辽", "22": "吉",
    "23": "黑", "31": "沪", "32": "苏", "33": "浙", "34": "皖", "35": "闽", "36": "赣",
    "37": "鲁", "41": "豫", "42": "鄂", "43": "湘", "44": "粤", "45": "桂", "46": "琼",
    "50": "渝", "51": "川", "52": "黔", "53": "滇", "54": "藏", "61": "陕", "62": "甘",
    "63": "青", "64": "宁", "65": "新",
}

# Code-allocation buckets, not real prefectures: 市辖区, 县, 市 (municipality buckets) and
# every "…直辖…" group of county-level units administered directly by the province.
PLACEHOLDER_NAMES = frozenset({"市辖区", "县", "市"})
PLACEHOLDER_MARKER = "直辖"

# Entries loc.dat lists without an end year although they no longer exist. 422900 林区 was
# the old parent of 神农架林区 (today 429021, under 湖北's directly administered units).
STALE_ENTRIES = {"422900": "林区: not in current GB/T 2260; 神农架林区 is 429021"}

_VARIANT = re.compile(r"^(?:\[(?P<start>\d*)-(?P<end>\d*)\])?(?P<name>.+)$")
_PROVINCE_LINE = re.compile(r'^(?P<prefix>\d{2}) province="(?P<name>[^"]*)"')
_COUNTY_LINE = re.compile(r'^\s+(?P<suffix>\d{4}) county="(?P<names>[^"]*)"')


@dataclass(frozen=True)
class Division:
    code: str
    name: str


def loc_dat_path() -> Path:
    return Path(os.path.dirname(stdnum.__file__)) / "cn" / "loc.dat"


def current_name(names: str) -> str | None:
    """The name in force today, or None when every variant carries an end year."""
    current = None
    for variant in names.split(","):
        match = _VARIANT.match(variant)
        if match and not match["end"]:
            current = match["name"]
    return current


def read_divisions(path: Path) -> tuple[dict[str, str], list[Division]]:
    """Province names by 2-digit prefix, and every current XXYYZZ entry."""
    provinces: dict[str, str] = {}
    divisions: list[Division] = []
    prefix = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if match := _PROVINCE_LINE.match(line):
            prefix = match["prefix"]
            provinces[prefix] = current_name(match["name"]) or match["name"]
        elif (match := _COUNTY_LINE.match(line)) and prefix is not None:
            name = current_name(match["names"])
            if name is not None:
                divisions.append(Division(prefix + match["suffix"], name))
    return provinces, divisions


def is_prefecture(division: Division) -> bool:
    code, name = division.code, division.name
    return (
        code.endswith("00")
        and not code.endswith("0000")
        and name not in PLACEHOLDER_NAMES
        and PLACEHOLDER_MARKER not in name
        and code not in STALE_ENTRIES
    )


def province_row(prefix: str, name: str) -> dict[str, str]:
    code = prefix + "0000"
    return {
        "code": code,
        "name": name,
        "short_name": PROVINCE_ABBREVIATIONS[prefix],
        "level": "province",
        "parent_code": "",
        "pools_at_own_level": "1" if code in PROVINCE_LEVEL_POOLING else "0",
    }


def prefecture_row(division: Division) -> dict[str, str]:
    province_code = division.code[:2] + "0000"
    return {
        "code": division.code,
        "name": division.name,
        "short_name": bare_name(division.name),
        "level": "prefecture",
        "parent_code": province_code,
        "pools_at_own_level": "0" if province_code in PROVINCE_LEVEL_POOLING else "1",
    }


def build_rows(provinces: dict[str, str], divisions: list[Division]) -> list[dict[str, str]]:
    kept = {p: n for p, n in provinces.items() if p not in EXCLUDED_PROVINCE_PREFIXES}
    rows = [province_row(prefix, name) for prefix, name in kept.items()]
    rows += [prefecture_row(d) for d in divisions if d.code[:2] in kept and is_prefecture(d)]
    return sorted(rows, key=lambda row: row["code"])


def check(rows: list[dict[str, str]]) -> None:
    codes = [row["code"] for row in rows]
    assert len(codes) == len(set(codes)), "duplicate codes"
    assert set(PROVINCE_LEVEL_POOLING) <= set(codes), "pooling policy names an unknown province"
    assert sum(row["level"] == "province" for row in rows) == 31, "expected 31 mainland provinces"
    for row in rows:
        assert "族" not in row["short_name"], f"suffix left in short name: {row}"


def write_csv(rows: list[dict[str, str]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def main() -> int:
    provinces, divisions = read_divisions(loc_dat_path())
    rows = build_rows(provinces, divisions)
    check(rows)
    write_csv(rows, OUTPUT)
    prefectures = sum(row["level"] == "prefecture" for row in rows)
    print(f"wrote {len(rows)} rows ({len(rows) - prefectures} provinces, {prefectures} prefectures) to {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
