"""The province → city choices of the region picker (template ``portal/_region_picker.html``).

Every region of the region table is offered, not only those the policy data has rules for:
the engine answers for any of them (a city without its own rules gets its province's or the
national ones, and says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from yibao.domain.regions import regions


@dataclass(frozen=True)
class RegionChoice:
    code: str
    label: str
    search: str  # what the picker's filter matches: names, short names and the code


@dataclass(frozen=True)
class ProvinceGroup:
    name: str
    choices: tuple[RegionChoice, ...]


@lru_cache(maxsize=2)
def region_groups(pooling_only: bool = False) -> tuple[ProvinceGroup, ...]:
    """One group per province: the province itself first (全省), then its cities by code.

    ``pooling_only`` keeps the pooling regions (统筹区) a transfer can go to: a province that pools
    at its own level alone, else its cities that do.
    """
    table = regions()
    groups = []
    for province in table.provinces():
        cities = [region for region in table if region.parent_code == province.code]
        own = RegionChoice(province.code, f"{province.name}（全省）" if cities else province.name, _search(province))
        if pooling_only:
            choices = (RegionChoice(province.code, province.name, _search(province)),) if province.pools_at_own_level else tuple(
                _city(city, province) for city in table.prefectures_of(province.code) if city.pools_at_own_level
            )
        else:
            choices = (own, *(_city(city, province) for city in cities))
        if choices:
            groups.append(ProvinceGroup(province.name, choices))
    return tuple(groups)


def _city(city, province) -> RegionChoice:
    return RegionChoice(city.code, city.name, f"{_search(city)} {province.name} {province.short_name}")


def _search(region) -> str:
    return " ".join(sorted(region.aliases | {region.code}))
