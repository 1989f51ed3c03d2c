"""Vectorized credit rule vs a hand-written NumPy expression of the same arithmetic.

    python bench/policy.py [--people 10000000] [--rounds 5] [--seed 20250601]

1. builds a synthetic population (every region of the region table, births 1935–2000,
   employees and residents, retired and working, contribution bases, 10 % flexible);
2. the engine: ``CompiledCredit.evaluate`` — per-row periods, unknown rows, ranges,
   monthly equivalents, confidence and rule ids;
3. the floor: the amount alone for one date as a single hand-written NumPy expression
   over tables sliced for that date (no per-row dates, no unknown handling, no ranges);
4. checks that both give the same amount wherever the engine knows one, then prints
   person-evaluations per second for both and the ratio engine ÷ floor (goal ≥ 0.5;
   absolute goal ≥ 10 million per second). Medians over ``--rounds``; timings are
   reported, never asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import date

import numpy as np

from yibao.policy.loading import load_book
from yibao.policy.vectorized import (
    CATEGORIES,
    IN_SERVICE,
    RESIDENT,
    RETIREE,
    CompiledCredit,
    allocate,
    Population,
    to_ymd,
    ymd,
)

ON = date(2025, 6, 1)
BENCH_AVERAGE_PENSION_FEN = 370_000  # 3700 yuan: the seeds' worked example, for every ratio region


def build_population(compiled: CompiledCredit, people: int, seed: int) -> Population:
    rng = np.random.default_rng(seed)
    codes = np.array([int(region.code) for region in compiled.regions], dtype=np.int32)
    births = np.datetime64("1935-01-01") + rng.integers(0, 65 * 365, people).astype("timedelta64[D]")
    return Population(
        region=codes[rng.integers(0, len(codes), people)],
        birth=to_ymd(births),
        on=ymd(ON),
        status=(rng.random(people) < 0.35).astype(np.int8),
        insurance=(rng.random(people) < 0.2).astype(np.int8),
        base=rng.integers(400_000, 3_000_000, people).astype(np.int64),
        flexible=rng.random(people) < 0.1,
    )


def floor_tables(compiled: CompiledCredit) -> dict[str, np.ndarray]:
    """The compiled tables for one date and three categories, flattened for the expression."""
    period = int(np.searchsorted(compiled.breaks, ymd(ON), side="right"))
    regions = len(compiled.regions)
    slots = np.array([((r * compiled.periods) + period) * CATEGORIES + c for r in range(regions) for c in range(3)])
    region_row = np.zeros(1_000_000, dtype=np.int32)
    for index, region in enumerate(compiled.regions):
        region_row[int(region.code)] = index * 3
    k = compiled.brackets
    assert k == 2, "the hand-written floor assumes two brackets"
    bracket = (slots[:, None] * k + np.arange(k)).ravel()
    return {
        "region_row": region_row,
        "on_base": compiled.on_base[slots],
        "threshold1": compiled.threshold[slots * k + 1],
        "amount": compiled.const_low[bracket],
        "bp": compiled.base_bp_low[bracket],
        "category": np.array([IN_SERVICE, RETIREE, RESIDENT, RESIDENT], dtype=np.int32),
    }


def floor(pop: Population, t: dict[str, np.ndarray]) -> np.ndarray:
    """Same arithmetic, written by hand: age, category, bracket, fixed amount + ratio of base."""
    age = (pop.on - pop.birth) // 10_000
    row = np.take(t["region_row"], pop.region) + np.take(t["category"], pop.insurance * 2 + pop.status)
    key = np.where(np.take(t["on_base"], row), pop.base, age)
    bracket = row * 2 + (key >= np.take(t["threshold1"], row))
    return np.take(t["amount"], bracket) + (pop.base * np.take(t["bp"], bracket) + 5_000) // 10_000


def timed(function, rounds: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20_250_601)
    args = parser.parse_args()

    book = load_book()
    ratio_regions = {region.code: BENCH_AVERAGE_PENSION_FEN for region in book.regions}
    start = time.perf_counter()
    compiled = CompiledCredit(book, average_pension=ratio_regions)
    compile_seconds = time.perf_counter() - start
    pop = build_population(compiled, args.people, args.seed)
    # Flexible rows fall back to the in-service rule in the shipped data; the floor has no
    # flexible category, so it is given the same population without the column.
    plain = Population(pop.region, pop.birth, pop.on, pop.status, pop.insurance, pop.base)
    tables = floor_tables(compiled)

    engine_seconds, result = timed(lambda: compiled.evaluate(plain), args.rounds)
    floor_seconds, floor_amount = timed(lambda: floor(plain, tables), args.rounds)
    exact = result.known
    if not np.array_equal(result.amount_fen[exact], floor_amount[exact]):
        print("MISMATCH between engine and floor", file=sys.stderr)
        return 1

    engine_rate, floor_rate = args.people / engine_seconds, args.people / floor_seconds
    with_flexible, _ = timed(lambda: compiled.evaluate(pop), args.rounds)
    reused = allocate(args.people)
    compiled.evaluate(plain, out=reused)
    reused_seconds, _ = timed(lambda: compiled.evaluate(plain, out=reused), args.rounds)
    print(f"machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}, NumPy {np.__version__}")
    print(f"people: {args.people:,}; regions: {len(compiled.regions)}; periods: {compiled.periods}; "
          f"compile: {compile_seconds:.2f} s; rounds: {args.rounds} (medians)")
    print(f"rows with an exact amount: {exact.mean():.1%}; range only: {((result.amount_min_fen >= 0) & ~exact).mean():.1%}; "
          f"unknown: {(result.amount_min_fen < 0).mean():.1%}")
    print(f"engine (CompiledCredit.evaluate): {engine_seconds:.3f} s = {engine_rate / 1e6:.1f} million evaluations/s")
    print(f"engine with the flexible column:  {with_flexible:.3f} s = {args.people / with_flexible / 1e6:.1f} million evaluations/s")
    print(f"engine reusing its result columns: {reused_seconds:.3f} s = {args.people / reused_seconds / 1e6:.1f} million evaluations/s")
    print(f"floor (hand-written NumPy):       {floor_seconds:.3f} s = {floor_rate / 1e6:.1f} million evaluations/s")
    print(f"ratio engine / floor: {engine_rate / floor_rate:.2f}  (goal >= 0.5; absolute goal >= 10 million/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
