"""The shipped region table and pooling-region lookup."""

from __future__ import annotations

import pytest

from yibao.domain.regions import (
    PREFECTURE,
    PROVINCE,
    Region,
    RegionTable,
    bare_name,
    is_known_division,
    regions,
)
from yibao.errors import InvalidInput

# (code, full name, pools at own level) for every region POLICY_FACTS.md names.
POLICY_REGIONS = [
    ("110000", "北京市", True),
    ("310000", "上海市", True),
    ("120000", "天津市", True),
    ("500000", "重庆市", True),
    ("440300", "深圳市", True),
    ("440100", "广州市", True),
    ("350200", "厦门市", True),
    ("330100", "杭州市", True),
    ("320100", "南京市", True),
    ("340000", "安徽省", True),
    ("620000", "甘肃省", True),
    ("370000", "山东省", True),
    ("410000", "河南省", True),
    ("360000", "江西省", True),
    ("650100", "乌鲁木齐市", True),
    ("330600", "绍兴市", True),
    ("620100", "兰州市", False),  # Gansu pools province-wide
]


@pytest.fixture(scope="module")
def table() -> RegionTable:
    return regions()


@pytest.mark.parametrize(("code", "name", "pools"), POLICY_REGIONS)
def test_policy_regions_exist_with_name_and_pooling(table, code, name, pools):
    region = table.get(code)
    assert region.name == name
    assert region.pools_at_own_level is pools


def test_regions_is_a_cached_singleton():
    assert regions() is regions()


@pytest.mark.parametrize(("code", "short"), [("310000", "沪"), ("110000", "京"), ("440000", "粤"), ("510000", "川")])
def test_province_abbreviations(table, code, short):
    assert table.get(code).short_name == short


@pytest.mark.parametrize(
    ("code", "short"),
    [("440300", "深圳"), ("222400", "延边"), ("632800", "海西"), ("652700", "博尔塔拉"), ("232700", "大兴安岭")],
)
def test_prefecture_short_names_drop_the_suffix(table, code, short):
    assert table.get(code).short_name == short


@pytest.mark.parametrize(
    ("name", "bare"),
    [("广西壮族自治区", "广西"), ("内蒙古自治区", "内蒙古"), ("新疆维吾尔自治区", "新疆"), ("兴安盟", "兴安"), ("河北省", "河北")],
)
def test_bare_name(name, bare):
    assert bare_name(name) == bare


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("440300", "440300"),
        ("北京市", "110000"),
        ("深圳市", "440300"),
        ("北京", "110000"),
        ("深圳", "440300"),
        ("沪", "310000"),
        ("京", "110000"),
        ("粤", "440000"),
        ("广东", "440000"),
        ("吉林市", "220200"),
        ("吉林省", "220000"),
        (" 上海 ", "310000"),
        ("４４０３００", "440300"),  # full-width digits
    ],
)
def test_find_by_each_form(table, text, code):
    assert table.find(text).code == code


@pytest.mark.parametrize("text", ["吉林", "海南"])
def test_find_ambiguous_text_names_the_field(table, text):
    with pytest.raises(InvalidInput) as caught:
        table.find(text, field="insured_region")
    assert caught.value.code == "ambiguous_region"
    assert caught.value.field == "insured_region"
    assert text in caught.value.message


@pytest.mark.parametrize(
    ("text", "code"), [("火星", "unknown_region"), ("999999", "unknown_region"), ("  ", "region_required")]
)
def test_find_unknown_text_names_the_field(table, text, code):
    with pytest.raises(InvalidInput) as caught:
        table.find(text, field="insured_region")
    assert caught.value.code == code
    assert caught.value.field == "insured_region"


def test_find_default_field(table):
    with pytest.raises(InvalidInput) as caught:
        table.find("火星")
    assert caught.value.field == "region"


@pytest.mark.parametrize("code", ["999999", "110105", "710000", "abc", ""])
def test_get_unknown_code(table, code):
    with pytest.raises(InvalidInput) as caught:
        table.get(code)
    assert caught.value.code == "unknown_region"
    assert caught.value.field == "region_code"
    assert caught.value.message.startswith("未知的行政区划代码")


def test_get_accepts_field_name(table):
    with pytest.raises(InvalidInput) as caught:
        table.get("999999", field="mdtrtarea_admvs")
    assert caught.value.field == "mdtrtarea_admvs"


@pytest.mark.parametrize(
    ("code", "pooling"),
    [
        ("110105", "110000"),  # Beijing district → municipality
        ("110103", "110000"),  # abolished district (崇文区) still maps
        ("110000", "110000"),
        ("440305", "440300"),  # Shenzhen district → Shenzhen
        ("440300", "440300"),
        ("340100", "340000"),  # Hefei → Anhui (provincial pooling)
        ("340104", "340000"),  # a Hefei district → Anhui
        ("620100", "620000"),
        ("419001", "410000"),  # 济源, directly administered, Henan pools provincially
        ("650102", "650100"),
        ("330602", "330600"),
    ],
)
def test_pooling_region_for(table, code, pooling):
    assert table.pooling_region_for(code).code == pooling


@pytest.mark.parametrize(
    ("code", "error_code"),
    [
        ("429004", "unknown_pooling_region"),  # 仙桃: prefecture is a placeholder
        ("132101", "unknown_pooling_region"),  # county of an abolished prefecture
        ("440000", "region_too_broad"),  # Guangdong pools by prefecture
        ("440399", "unknown_region"),
        ("710000", "unknown_region"),
        ("44030", "unknown_region"),
    ],
)
def test_pooling_region_for_errors(table, code, error_code):
    with pytest.raises(InvalidInput) as caught:
        table.pooling_region_for(code, field="insuplc_admdvs")
    assert caught.value.code == error_code
    assert caught.value.field == "insuplc_admdvs"


def test_pooling_regions_are_six_digit_and_unique(table):
    codes = [r.code for r in table.pooling_regions()]
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(codes) == len(set(codes))
    assert "340100" not in codes and "340000" in codes
    assert "440000" not in codes and "440300" in codes


def test_every_prefecture_maps_to_a_pooling_region(table):
    for region in table:
        if region.level == PREFECTURE:
            assert table.pooling_region_for(region.code).pools_at_own_level


def test_table_covers_mainland(table):
    provinces = table.provinces()
    assert len(provinces) == 31
    assert {p.code[:2] for p in provinces}.isdisjoint({"71", "81", "82"})
    prefectures = [r for r in table if r.level == PREFECTURE]
    assert len(prefectures) > 300
    assert all(r.level in {PROVINCE, PREFECTURE} for r in table)


def test_rows_are_consistent(table):
    for region in table:
        if region.is_province:
            assert region.parent_code is None and region.code.endswith("0000")
        else:
            assert region.parent_code == region.province_code in table
            assert not region.code.endswith("0000") and region.code.endswith("00")
            assert "族" not in region.short_name


def test_prefectures_of_provincial_pools_are_not_pooling_regions(table):
    for province in ("340000", "620000", "370000", "410000", "360000"):
        prefectures = table.prefectures_of(province)
        assert prefectures and not any(r.pools_at_own_level for r in prefectures)


def test_municipalities_have_no_prefecture_rows(table):
    for code in ("110000", "120000", "310000", "500000"):
        assert table.prefectures_of(code) == ()


def test_contains_and_iter(table):
    assert "440300" in table
    assert "110105" not in table
    assert 440300 not in table
    codes = [r.code for r in table]
    assert codes == sorted(codes)
    assert len(table) == len(codes)


def test_province_code_property():
    region = Region("440300", "深圳市", "深圳", PREFECTURE, "440000", True)
    assert region.province_code == "440000"


@pytest.mark.parametrize(
    ("code", "known"),
    [
        ("110105", True),
        ("110103", True),  # abolished in 2010, still on old ID cards
        ("440305", True),
        ("659001", True),
        ("119999", False),
        ("999999", False),
        ("11010", False),
        ("abcdef", False),
    ],
)
def test_is_known_division(code, known):
    assert is_known_division(code) is known
