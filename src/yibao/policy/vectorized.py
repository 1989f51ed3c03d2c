"""The credit rule over a whole population at once (the monthly credit run), with NumPy.

The data files are compiled into small lookup tables indexed by *slot* = (region, period,
category): regions are integer codes mapped to a dense index with one array lookup, periods
are the intervals between every start/end date in the credit parameters (so each row may
carry its own date), categories are resident / retiree / in-service / flexible. Each row
then needs a handful of gathers and integer arithmetic; money stays integer fen.

A row with no rule in force, a conflicting rule, or a missing basis (average pension or
contribution base) is *unknown*: ``known`` is False and every amount is ``UNKNOWN_FEN``
(-1), never a silent 0. Results equal :func:`yibao.policy.credit.evaluate_credit` row for
row (property-tested).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from yibao.errors import InvalidInput
from yibao.policy.credit import AVERAGE_PENSION, CreditRequest, credit_resolution, ratio_of
from yibao.policy.parameters import Confidence, PolicyBook, weakest
from yibao.policy.rules import BASIS_POINTS, PERIOD_MONTHS, CreditRule

UNKNOWN_FEN = -1
NO_BASE = -1
INSURANCE_CODES = {"employee": 0, "resident": 1}
STATUS_CODES = {"working": 0, "retired": 1}
CONFIDENCE_CODES = {level: code for code, level in enumerate(Confidence)}
PERIOD_CODES = {"month": 0, "year": 1}
# Category of a row: which credit parameter applies (mirrors credit_resolution).
RESIDENT, RETIREE, IN_SERVICE, FLEXIBLE = range(4)
CATEGORIES = 4
_NEVER = np.iinfo(np.int64).max
# Region codes of the table are province or prefecture codes (last two digits 00), so the
# lookup is indexed by code // 100: 10,000 entries, small enough to stay in the CPU cache.
_REGION_PREFIXES = 10_000
CHUNK = 1 << 16  # rows per pass: keeps every temporary array inside the CPU cache


def to_ymd(days: np.ndarray) -> np.ndarray:
    """``datetime64[D]`` → int32 ``yyyymmdd`` (so full years of age are one subtraction)."""
    days = np.asarray(days, dtype="datetime64[D]")
    years = days.astype("datetime64[Y]").astype(np.int32) + 1970
    months = days.astype("datetime64[M]")
    month_numbers = months.astype(np.int32) % 12 + 1
    day_numbers = (days - months.astype("datetime64[D]")).astype(np.int32) + 1
    return (years * 10_000 + month_numbers * 100 + day_numbers).astype(np.int32)


def ymd(day: date) -> int:
    return day.year * 10_000 + day.month * 100 + day.day


@dataclass
class Population:
    """Columns of the population; ``on`` is one date for all or one per row."""

    region: np.ndarray  # int32 6-digit region codes
    birth: np.ndarray  # int32 yyyymmdd
    on: np.ndarray | int  # int32 yyyymmdd
    status: np.ndarray  # int8, STATUS_CODES
    insurance: np.ndarray  # int8, INSURANCE_CODES
    base: np.ndarray  # int64 fen; NO_BASE when not known
    flexible: np.ndarray | None = None  # bool

    def __len__(self) -> int:
        return len(self.region)


@dataclass
class CreditColumns:
    known: np.ndarray  # bool: one exact amount
    amount_fen: np.ndarray  # int64, UNKNOWN_FEN unless known
    amount_min_fen: np.ndarray  # int64, UNKNOWN_FEN when not even a range is known
    amount_max_fen: np.ndarray
    monthly_equivalent_fen: np.ndarray
    period: np.ndarray  # int8, PERIOD_CODES
    confidence: np.ndarray  # int8, CONFIDENCE_CODES
    rule: np.ndarray  # int32 index into CompiledCredit.rule_ids, -1 when no value in force


def allocate(n: int) -> CreditColumns:
    return CreditColumns(
        known=np.empty(n, dtype=bool),
        amount_fen=np.empty(n, dtype=np.int64),
        amount_min_fen=np.empty(n, dtype=np.int64),
        amount_max_fen=np.empty(n, dtype=np.int64),
        monthly_equivalent_fen=np.empty(n, dtype=np.int64),
        period=np.empty(n, dtype=np.int8),
        confidence=np.empty(n, dtype=np.int8),
        rule=np.empty(n, dtype=np.int32),
    )


class CompiledCredit:
    """Lookup tables of the credit rule for every region, period and category."""

    def __init__(self, book: PolicyBook, average_pension: dict[str, int] | None = None):
        self.book = book
        self.average_pension = dict(average_pension or {})
        self.regions = list(book.regions)
        self.breaks = self._breaks()
        self.periods = len(self.breaks) + 1
        self.rule_ids: list[str] = []
        self.brackets = max(
            (len(v.rule.brackets) for v in book.all_values() if isinstance(v.rule, CreditRule)), default=1
        )
        self.region_slot = np.full(_REGION_PREFIXES, -1, dtype=np.int32)
        for index, region in enumerate(self.regions):
            self.region_slot[int(region.code) // 100] = index * self.periods * CATEGORIES
        self._build_tables()
        # Brackets on the contribution base with more than one bracket (flexible tiers) need a
        # per-row choice between age and base; without them every threshold is an age.
        self.base_tiers = bool((self.on_base & (self.threshold[1 :: self.brackets] != _NEVER)).any()) if self.brackets > 1 else False
        self.age_threshold = np.minimum(self.threshold, np.iinfo(np.int32).max).astype(np.int32)

    def _breaks(self) -> np.ndarray:
        days = set()
        for value in self.book.all_values():
            if value.parameter.startswith("credit.") or value.parameter == AVERAGE_PENSION:
                days.add(ymd(value.start))
                if value.end is not None:
                    days.add(ymd(value.end + timedelta(days=1)))
        return np.array(sorted(days), dtype=np.int32)

    def _period_start(self, period: int) -> date:
        if period == 0:
            return date.min
        raw = int(self.breaks[period - 1])
        return date(raw // 10_000, raw // 100 % 100, raw % 100)

    def _build_tables(self) -> None:
        """Per slot: rule, period, months, brackets on base; per bracket: everything else.

        Amounts that do not depend on the row (fixed amounts, ratios of a known average
        pension) are computed here once; only ratios of the contribution base remain per row.
        """
        slots = len(self.regions) * self.periods * CATEGORIES
        size = slots * self.brackets
        self.rule = np.full(slots, -1, dtype=np.int32)
        self.period = np.zeros(slots, dtype=np.int8)
        self.months = np.ones(slots, dtype=np.int64)
        self.on_base = np.zeros(slots, dtype=bool)
        self.threshold = np.full(size, _NEVER, dtype=np.int64)
        self.const_low = np.zeros(size, dtype=np.int64)
        self.const_high = np.zeros(size, dtype=np.int64)
        self.base_bp_low = np.zeros(size, dtype=np.int64)
        self.base_bp_high = np.zeros(size, dtype=np.int64)
        self.needs_base = np.zeros(size, dtype=bool)
        self.bracket_unknown = np.ones(size, dtype=bool)
        self.bracket_confidence = np.full(size, CONFIDENCE_CODES[Confidence.UNKNOWN], dtype=np.int8)
        for r, region in enumerate(self.regions):
            for p in range(self.periods):
                day = self._period_start(p)
                for c in range(CATEGORIES):
                    self._fill(((r * self.periods) + p) * CATEGORIES + c, region, day, c)

    def _fill(self, slot: int, region, day: date, category: int) -> None:
        request = CreditRequest(
            region, day, day,
            "resident" if category == RESIDENT else "employee",
            "retired" if category == RETIREE else "working",
            flexible=category == FLEXIBLE,
        )
        resolution, _fallback = credit_resolution(self.book, request)
        value = resolution.value
        first = slot * self.brackets
        if value is None:
            return
        self.rule[slot] = self._rule_index(value.id)
        self.bracket_confidence[first:first + self.brackets] = CONFIDENCE_CODES[value.confidence]
        if value.rule is None:  # conflicting or unknown: no amount
            return
        rule: CreditRule = value.rule
        self.period[slot] = PERIOD_CODES[rule.period]
        self.months[slot] = PERIOD_MONTHS[rule.period]
        self.on_base[slot] = rule.bracket_on == "base"
        pension_fen, pension_confidence = self._pension(region, day, value.confidence) if rule.basis == "average_pension" else (None, None)
        for j, bracket in enumerate(rule.brackets):
            at = first + j
            self.threshold[at] = bracket.threshold
            self.bracket_unknown[at] = False
            self.needs_base[at] = rule.bracket_on == "base"
            if bracket.amount_fen is not None:
                self.const_low[at] = self.const_high[at] = bracket.amount_fen
            elif rule.basis == "contribution_base":
                self.needs_base[at] = True
                self.base_bp_low[at], self.base_bp_high[at] = bracket.ratio.low_bp, bracket.ratio.high_bp
            elif pension_fen is None:
                self.bracket_unknown[at] = True
                self.bracket_confidence[at] = CONFIDENCE_CODES[Confidence.UNKNOWN]
            else:
                self.const_low[at] = ratio_of(pension_fen, bracket.ratio.low_bp)
                self.const_high[at] = ratio_of(pension_fen, bracket.ratio.high_bp)
                self.bracket_confidence[at] = CONFIDENCE_CODES[pension_confidence]
        # Thresholds past the last bracket never match, so rows stay in the last real bracket.

    def _pension(self, region, day: date, confidence: Confidence) -> tuple[int | None, Confidence]:
        """The average pension for a ratio rule, and the confidence of the resulting amount."""
        if region.code in self.average_pension:
            return self.average_pension[region.code], confidence
        pension = self.book.resolve(AVERAGE_PENSION, region, day)
        if pension.value is None or pension.value.rule is None:
            return None, Confidence.UNKNOWN
        return pension.value.rule.amount_fen, weakest(confidence, pension.value.confidence)

    def _rule_index(self, rule_id: str) -> int:
        if rule_id not in self.rule_ids:
            self.rule_ids.append(rule_id)
        return self.rule_ids.index(rule_id)

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, population: Population, chunk: int = CHUNK, out: CreditColumns | None = None) -> CreditColumns:
        """Every row's credit. ``out`` lets a monthly run reuse its result columns."""
        n = len(population)
        self._validate(population)
        out = out if out is not None else allocate(n)
        for start in range(0, n, chunk):
            self._evaluate_chunk(population, slice(start, min(n, start + chunk)), out)
        return out

    def _validate(self, population: Population) -> None:
        region = np.asarray(population.region)
        unknown = ((region % 100) != 0) | (region < 0) | (region >= _REGION_PREFIXES * 100)
        unknown[~unknown] = np.take(self.region_slot, region[~unknown] // 100) < 0
        if unknown.any():
            codes = sorted({int(code) for code in population.region[unknown][:5]})
            raise InvalidInput(f"未知的地区代码：{codes}", field="region", code="unknown_region")
        if (np.asarray(population.birth) > np.asarray(population.on)).any():
            raise InvalidInput("有人的出生日期晚于计算日期", field="birth", code="birth_after_date")

    def _evaluate_chunk(self, pop: Population, rows: slice, out: CreditColumns) -> None:
        on = pop.on if np.isscalar(pop.on) else pop.on[rows]
        base = pop.base[rows]
        age = (on - pop.birth[rows]) // 10_000
        period = np.searchsorted(self.breaks, on, side="right").astype(np.int32)
        slot = np.take(self.region_slot, pop.region[rows] // 100) + period * CATEGORIES + self._category(pop, rows)
        bracket = self._bracket(slot * self.brackets, age, base, slot)
        bp_low = np.take(self.base_bp_low, bracket)
        from_base = (base * bp_low + BASIS_POINTS // 2) // BASIS_POINTS
        low = np.take(self.const_low, bracket) + from_base
        bp_high = np.take(self.base_bp_high, bracket)
        if not np.array_equal(bp_high, bp_low):
            from_base = (base * bp_high + BASIS_POINTS // 2) // BASIS_POINTS
        high = np.take(self.const_high, bracket) + from_base
        no_base = np.take(self.needs_base, bracket) & (base < 0)
        missing = np.take(self.bracket_unknown, bracket) | no_base
        exact = ~missing & (low == high)
        out.known[rows] = exact
        amount = out.amount_fen[rows]
        np.copyto(amount, np.where(exact, low, UNKNOWN_FEN))
        np.copyto(out.amount_min_fen[rows], np.where(missing, UNKNOWN_FEN, low))
        np.copyto(out.amount_max_fen[rows], np.where(missing, UNKNOWN_FEN, high))
        self._per_month(amount, np.take(self.months, slot), out.monthly_equivalent_fen[rows])
        np.take(self.period, slot, out=out.period[rows])
        confidence = out.confidence[rows]
        np.take(self.bracket_confidence, bracket, out=confidence)
        confidence[no_base] = CONFIDENCE_CODES[Confidence.UNKNOWN]
        np.take(self.rule, slot, out=out.rule[rows])

    def _bracket(self, first: np.ndarray, age: np.ndarray, base: np.ndarray, slot: np.ndarray) -> np.ndarray:
        """Index of each row's bracket: the last whose inclusive lower threshold ≤ its key."""
        bracket = first
        if self.base_tiers:
            key = np.where(np.take(self.on_base, slot), base, age)
            for j in range(1, self.brackets):
                bracket = bracket + (key >= np.take(self.threshold, first + j))
            return bracket
        for j in range(1, self.brackets):
            bracket = bracket + (age >= np.take(self.age_threshold, first + j))
        return bracket

    @staticmethod
    def _per_month(amount: np.ndarray, months: np.ndarray, monthly: np.ndarray) -> None:
        """Monthly equivalent, rounded half-up; only yearly rows need a division."""
        np.copyto(monthly, amount)
        yearly = np.flatnonzero((months != 1) & (amount >= 0))
        if yearly.size:
            m = months[yearly]
            monthly[yearly] = (2 * amount[yearly] + m) // (2 * m)

    # Row category from insurance * 4 + retired * 2 + flexible (see _category).
    _CATEGORY_TABLE = np.array([IN_SERVICE, FLEXIBLE, RETIREE, RETIREE, RESIDENT, RESIDENT, RESIDENT, RESIDENT], dtype=np.int32)

    @classmethod
    def _category(cls, pop: Population, rows: slice) -> np.ndarray:
        index = pop.insurance[rows].astype(np.int32) * 4 + pop.status[rows] * 2
        if pop.flexible is not None:
            index = index + pop.flexible[rows]
        return np.take(cls._CATEGORY_TABLE, index)
