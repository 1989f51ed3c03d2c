"""Policy overlays: an agency's own data read after the shipped files (policy/loading.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from yibao.config import get_settings
from yibao.policy import loading
from yibao.policy.enrolment import resident_premium
from yibao.policy.loading import PolicyDataError, load_book, read_with_overlays

DEMO_OVERLAY = Path(__file__).parents[1] / "src" / "yibao" / "demo" / "policy"

SHENZHEN_PREMIUM = """region: "440300"
name: 深圳市
parameters:
  family.resident_premium:
    description: 居民医保个人缴费标准
    values:
      - from: 2026-01-01
        until: 2026-12-31
        confidence: stated
        unit: 元/年
        amount: "430"
        sources: [本地公告]
        note: 本地公告的2026年度标准。
"""
LOCAL_SOURCES = """本地公告:
  title: 某市2026年度城乡居民医保缴费公告
  publisher: 某市医疗保障局
  date: "2025-09"
  kind: public
"""


def write(directory: Path, **files: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name.replace("__", ".")).write_text(text, encoding="utf-8")
    return directory


@pytest.fixture
def local(tmp_path) -> Path:
    return write(tmp_path / "local", **{"440300__yaml": SHENZHEN_PREMIUM, "sources__yaml": LOCAL_SOURCES})


def test_an_overlay_replaces_a_parameter_of_its_region_and_adds_sources(local):
    book = load_book(overlays=[local])
    figure = resident_premium(book, "440300", 2026)
    assert figure.amount_fen == 43_000 and figure.confidence == "stated"
    assert figure.rule_id == "440300:family.resident_premium@2026-01-01"
    assert book.sources["本地公告"].publisher == "某市医疗保障局"
    # Whole parameter replaced: the overlay's history has no 2025 value, so Shenzhen's 2025 is not borrowed.
    assert resident_premium(book, "440300", 2025).amount_fen is None
    # Other parameters of the region and other regions are kept.
    shipped = load_book(overlays=())
    assert set(shipped.files["440300"].parameters) < set(book.files["440300"].parameters)
    assert resident_premium(book, "110000", 2025).amount_fen == 40_000
    assert resident_premium(shipped, "440300", 2026).amount_fen is None


def test_later_overlays_win(local, tmp_path):
    later = write(tmp_path / "later", **{"440300__yaml": SHENZHEN_PREMIUM.replace('"430"', '"450"')})
    assert resident_premium(load_book(overlays=[local, later]), "440300", 2026).amount_fen == 45_000


def test_a_bad_overlay_file_is_reported_with_its_name(tmp_path):
    bad = write(tmp_path / "bad", **{"440300__yaml": SHENZHEN_PREMIUM})  # cites a source it does not register
    with pytest.raises(PolicyDataError) as error:
        load_book(overlays=[bad])
    findings = error.value.findings
    assert [f.code for f in findings] == ["unknown_source"]
    assert findings[0].file == str(bad / "440300.yaml")
    assert str(bad / "440300.yaml") in error.value.message


def test_broken_yaml_a_missing_directory_and_a_clashing_source_are_reported(tmp_path, local):
    broken = write(tmp_path / "broken", **{"110000__yaml": "region: [unclosed"})
    clash = write(tmp_path / "clash", **{"sources__yaml": LOCAL_SOURCES.replace("某市医疗保障局", "别的机构")})
    result = read_with_overlays(None, [broken, tmp_path / "nowhere", local, clash])
    assert [(Path(f.file).name, f.code) for f in result.findings] == [
        ("110000.yaml", "yaml"), ("nowhere", "missing_overlay"), ("sources.yaml", "duplicate_source"),
    ]


def test_load_book_without_arguments_reads_the_configured_overlays(monkeypatch, local, tmp_path):
    other = write(tmp_path / "other", **{"440300__yaml": SHENZHEN_PREMIUM.replace('"430"', '"440"')})
    monkeypatch.setenv("YIBAO_POLICY_OVERLAYS", f"{local}, {other}")
    get_settings.cache_clear()
    try:
        assert loading.configured_overlays() == (str(local), str(other))
        assert resident_premium(load_book(), "440300", 2026).amount_fen == 44_000
    finally:
        monkeypatch.delenv("YIBAO_POLICY_OVERLAYS")
        get_settings.cache_clear()
    assert resident_premium(load_book(), "440300", 2026).amount_fen is None


def test_an_explicit_directory_gets_only_the_overlays_passed_with_it(monkeypatch, local):
    monkeypatch.setenv("YIBAO_POLICY_OVERLAYS", str(local))
    get_settings.cache_clear()
    try:
        directory = loading.default_directory()
        assert resident_premium(load_book(directory), "440300", 2026).amount_fen is None
        assert resident_premium(load_book(directory, [local]), "440300", 2026).amount_fen == 43_000
    finally:
        get_settings.cache_clear()


def test_the_demo_overlay_cites_only_the_demo_source_for_invented_figures():
    book = load_book(overlays=[DEMO_OVERLAY])
    assert book.sources["演示数据"].title == "演示用虚构数据（非真实政策）"
    assert book.sources["演示数据"].kind == "demo"
    for year, fen in ((2024, 40_000), (2025, 40_000)):
        figure = resident_premium(book, "110000", year)
        assert (figure.amount_fen, figure.sources) == (fen, ("居民医保个人缴费标准（全国）",))
    for year in (2026, 2027):
        figure = resident_premium(book, "110000", year)
        assert figure.amount_fen is not None and figure.sources == ("演示数据",) and figure.confidence == "range"
    demo_values = [v for v in book.all_values() if "演示数据" in v.sources]
    assert demo_values and all(v.sources == ("演示数据",) and v.confidence.value == "range" for v in demo_values)
    assert resident_premium(book, "110000", 2028).amount_fen is None


def test_the_demo_script_sets_the_overlay_for_the_demo_only():
    script = (Path(__file__).parents[1] / "scripts" / "demo").read_text(encoding="utf-8")
    assert "YIBAO_POLICY_OVERLAYS" in script and "src/yibao/demo/policy" in script
    assert get_settings().policy_overlays == ""  # nothing configured by default
