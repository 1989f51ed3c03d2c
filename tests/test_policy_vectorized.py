"""The vectorized credit rule gives exactly the per-person answer, row for row."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from yibao.domain.money import Money
from yibao.errors import InvalidInput
from yibao.policy.credit import CreditRequest, evaluate_credit
from yibao.policy.loading import default_directory, load_book
from yibao.policy.vectorized import (
    CONFIDENCE_CODES,
    INSURANCE_CODES,
    NO_BASE,
    PERIOD_CODES,
    STATUS_CODES,
    UNKNOWN_FEN,
    CompiledCredit,
    Population,
    to_ymd,
    ymd,
)

SHIPPED = load_book()
CODES = [region.code for region in SHIPPED.regions]
# Regions with their own rules or inheriting them, plus any region of the table.
INTERESTING = ["110000", "310000", "440300", "350200", "340000", "340100", "620100", "370000", "370100", "410100", "360000", "420100", "440100", "440000"]


def tiered_book(directory: Path):
    """The shipped data plus flexible tiers on the contribution base, a yearly base rule and dated pensions."""
    target = directory / "policy"
    shutil.copytree(Path(str(default_directory())), target)
    path = target / "440300.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    common = {"unit": "元/月", "sources": ["004_53d393b2020152ef.txt"], "note": "测试用档次。"}
    document["parameters"]["credit.flexible"] = {"description": "灵活就业档次", "values": [
        {"from": date(2025, 1, 1), "until": date(2025, 12, 31), "confidence": "stated", "period": "month", "basis": "contribution_base",
         "brackets": [{"min_base": "0", "amount": "50.00"}, {"min_base": "4000.00", "ratio": "1.5%"}, {"min_base": "9000.00", "ratio": "2%~2.5%"}], **common},
        {"from": date(2026, 1, 1), "confidence": "stated", "period": "year", "basis": "contribution_base",
         "brackets": [{"min_base": "0", "ratio": "12.33%"}], **common, "unit": "元/年"},
    ]}
    document["parameters"]["average_pension"] = {"description": "人均养老金", "values": [
        {"from": date(2025, 1, 1), "until": date(2025, 12, 31), "confidence": "stated", "amount": "8928.57", **common},
        {"from": date(2026, 1, 1), "confidence": "range", "amount": "9100.00", **common},
    ]}
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_book(target)


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    return {"shipped": SHIPPED, "tiered": tiered_book(tmp_path_factory.mktemp("tiered"))}


person = st.fixed_dictionaries({
    "region": st.one_of(st.sampled_from(INTERESTING), st.sampled_from(CODES)),
    "birth": st.dates(date(1915, 1, 1), date(2010, 12, 31)),
    "age_days": st.integers(0, 110 * 366),
    "status": st.sampled_from(["working", "retired"]),
    "insurance": st.sampled_from(["employee", "employee", "resident"]),
    "base": st.one_of(st.none(), st.integers(0, 5_000_000), st.sampled_from([400_000, 900_000, 899_999])),
    "flexible": st.booleans(),
})


def row_date(p) -> date:
    return min(p["birth"] + timedelta(days=p["age_days"]), date(2027, 12, 31))


def scalar(book, p, pensions):
    region = book.regions.get(p["region"])
    on = max(row_date(p), p["birth"])
    pension = Money(pensions[p["region"]]) if p["region"] in pensions else None
    base = Money(p["base"]) if p["base"] is not None else None
    return evaluate_credit(book, CreditRequest(region, p["birth"], on, p["insurance"], p["status"], pension, base, p["flexible"]))


def columns(people) -> Population:
    return Population(
        region=np.array([int(p["region"]) for p in people], dtype=np.int32),
        birth=to_ymd(np.array([p["birth"] for p in people], dtype="datetime64[D]")),
        on=np.array([ymd(max(row_date(p), p["birth"])) for p in people], dtype=np.int32),
        status=np.array([STATUS_CODES[p["status"]] for p in people], dtype=np.int8),
        insurance=np.array([INSURANCE_CODES[p["insurance"]] for p in people], dtype=np.int8),
        base=np.array([NO_BASE if p["base"] is None else p["base"] for p in people], dtype=np.int64),
        flexible=np.array([p["flexible"] for p in people], dtype=bool),
    )


def fen(value: int | None) -> int:
    return UNKNOWN_FEN if value is None else value


@settings(max_examples=60, deadline=None)
@given(
    people=st.lists(person, min_size=1, max_size=40),
    pensions=st.dictionaries(st.sampled_from(INTERESTING), st.integers(100_000, 1_500_000), max_size=6),
    which=st.sampled_from(["shipped", "tiered"]),
    chunk=st.sampled_from([1, 7, 1 << 16]),
)
def test_vectorized_equals_per_person(books, people, pensions, which, chunk):
    book = books[which]
    compiled = CompiledCredit(book, average_pension=pensions)
    result = compiled.evaluate(columns(people), chunk=chunk)
    for row, p in enumerate(people):
        expected = scalar(book, p, pensions)
        got = {
            "amount": int(result.amount_fen[row]),
            "min": int(result.amount_min_fen[row]),
            "max": int(result.amount_max_fen[row]),
            "monthly": int(result.monthly_equivalent_fen[row]),
            "period": int(result.period[row]),
            "confidence": int(result.confidence[row]),
            "rule": compiled.rule_ids[result.rule[row]] if result.rule[row] >= 0 else None,
            "known": bool(result.known[row]),
        }
        want = {
            "amount": fen(expected.amount_fen),
            "min": fen(expected.amount_min_fen),
            "max": fen(expected.amount_max_fen),
            "monthly": fen(expected.monthly_equivalent_fen),
            "period": PERIOD_CODES[expected.period],
            "confidence": CONFIDENCE_CODES[expected.confidence],
            "rule": expected.rule_id,
            "known": expected.amount_fen is not None,
        }
        assert got == want, (p, expected)


def test_a_date_without_a_rule_is_unknown_not_zero():
    compiled = CompiledCredit(SHIPPED)
    population = Population(
        region=np.array([110000, 110000], dtype=np.int32),
        birth=np.array([19500301, 19500301], dtype=np.int32),
        on=np.array([20241231, 20250101], dtype=np.int32),
        status=np.array([1, 1], dtype=np.int8),
        insurance=np.array([0, 0], dtype=np.int8),
        base=np.array([NO_BASE, NO_BASE], dtype=np.int64),
    )
    result = compiled.evaluate(population)
    assert result.known.tolist() == [False, True]
    assert result.amount_fen.tolist() == [UNKNOWN_FEN, 11_000]
    assert result.confidence[0] == CONFIDENCE_CODES[next(c for c in CONFIDENCE_CODES if c.value == "unknown")]


def test_unknown_region_codes_and_births_after_the_date_are_refused():
    compiled = CompiledCredit(SHIPPED)

    def population(region, birth):
        return Population(np.array([region], dtype=np.int32), np.array([birth], dtype=np.int32), 20250601,
                          np.array([1], dtype=np.int8), np.array([0], dtype=np.int8), np.array([NO_BASE], dtype=np.int64))

    for code in (990000, 110105, -1):
        with pytest.raises(InvalidInput) as error:
            compiled.evaluate(population(code, 19500101))
        assert error.value.field == "region"
    with pytest.raises(InvalidInput) as error:
        compiled.evaluate(population(110000, 20250602))
    assert error.value.code == "birth_after_date"


def test_ymd_conversion_matches_python_dates():
    days = [date(1952, 2, 29), date(2000, 12, 31), date(1970, 1, 1), date(1915, 3, 7)]
    assert to_ymd(np.array(days, dtype="datetime64[D]")).tolist() == [ymd(day) for day in days]
