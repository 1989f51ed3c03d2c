"""Who gets how much this month, for a whole chunk at once (NumPy).

- residents' insurance: nothing; died before the month: nothing;
- retired by the end of the month: the policy engine's retiree credit
  (:class:`~yibao.policy.vectorized.CompiledCredit`), age on the first day of the month;
  a yearly amount only in the month the region's ``credit.yearly_month`` names;
- everyone else insured as an employee (in service, flexible): the personal-account part
  of that month's contribution (``contributions.account_fen``), as recorded.

Every row ends with either an amount > 0 or a :class:`Skip` reason; nothing is guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from yibao.credit.month import epoch_days, last_day
from yibao.credit.reasons import Skip
from yibao.credit.selection import AccountRows
from yibao.policy.credit import yearly_credit_month
from yibao.policy.parameters import Confidence, PolicyBook
from yibao.policy.vectorized import NO_BASE, PERIOD_CODES, UNKNOWN_FEN, CompiledCredit, Population, to_ymd, ymd

CONTRIBUTION_RULE = "contribution"
_REGION_PREFIXES = 10_000  # region codes are looked up by code // 100, as in the policy engine
_NOT_NAMED = 0


@dataclass
class ChunkPlan:
    """One chunk's decisions: the credited rows, and every row's reason and region."""

    account_id: np.ndarray  # int64, credited rows only (also below)
    amount_fen: np.ndarray  # int64, > 0
    region: np.ndarray  # int32
    annual: np.ndarray  # bool: a yearly amount (annual_credit) rather than a monthly one
    rule: np.ndarray  # int32 index into Evaluator.rule_names
    all_regions: np.ndarray  # int32, every row of the chunk
    all_reasons: np.ndarray  # int8 Skip codes, every row of the chunk

    @property
    def credited(self) -> int:
        return len(self.account_id)


class Evaluator:
    """The month's rules compiled once; :meth:`plan` is then pure array work per chunk."""

    def __init__(self, book: PolicyBook, month: date):
        self.month = month
        self.on = ymd(month)
        self.first_days = epoch_days(month)
        self.last_days = epoch_days(last_day(month))
        self.compiled = CompiledCredit(book)
        self.rule_names = [CONTRIBUTION_RULE, *self.compiled.rule_ids]
        self.region_known = self.compiled.region_slot >= 0
        self.yearly_month = self._yearly_months(book)
        self.missing_reason = self._missing_reasons(book)

    def _yearly_months(self, book: PolicyBook) -> np.ndarray:
        table = np.full(_REGION_PREFIXES, _NOT_NAMED, dtype=np.int8)
        for region in self.compiled.regions:
            table[int(region.code) // 100] = yearly_credit_month(book, region, self.month) or _NOT_NAMED
        return table

    def _missing_reasons(self, book: PolicyBook) -> np.ndarray:
        """Per rule index + 1 (0 = no rule in force): why a row without an amount has none."""
        values = {value.id: value for value in book.all_values()}
        reasons = [Skip.POLICY_UNKNOWN]
        for rule_id in self.compiled.rule_ids:
            value = values[rule_id]
            if value.confidence is Confidence.CONFLICTING:
                reasons.append(Skip.POLICY_CONFLICTING)
            elif value.rule is not None and value.rule.basis == "average_pension":
                reasons.append(Skip.AVERAGE_PENSION_MISSING)
            else:
                reasons.append(Skip.POLICY_UNKNOWN)
        return np.array(reasons, dtype=np.int8)

    def plan(self, rows: AccountRows) -> ChunkPlan:
        n = len(rows)
        reason = np.full(n, Skip.CREDITED, dtype=np.int8)
        amount = np.zeros(n, dtype=np.int64)
        rule = np.zeros(n, dtype=np.int32)
        annual = np.zeros(n, dtype=bool)
        elsewhere = rows.credited_elsewhere
        died = (rows.died_days < self.first_days) & ~elsewhere
        resident = rows.resident & ~died & ~elsewhere
        retiree = rows.retired & (rows.retired_days <= self.last_days) & ~died & ~resident & ~elsewhere
        working = ~(elsewhere | died | resident | retiree)
        reason[elsewhere] = Skip.CREDITED_ELSEWHERE
        reason[died] = Skip.DIED
        reason[resident] = Skip.RESIDENT
        self._from_contributions(rows, working, reason, amount)
        self._from_policy(rows, np.flatnonzero(retiree), reason, amount, rule, annual)
        credited = reason == Skip.CREDITED
        return ChunkPlan(
            account_id=rows.account_id[credited],
            amount_fen=amount[credited],
            region=rows.region[credited],
            annual=annual[credited],
            rule=rule[credited],
            all_regions=rows.region,
            all_reasons=reason,
        )

    @staticmethod
    def _from_contributions(rows: AccountRows, working: np.ndarray, reason: np.ndarray, amount: np.ndarray) -> None:
        paid = rows.contribution_fen
        reason[working & (paid < 0)] = Skip.NO_CONTRIBUTION
        reason[working & (paid == 0)] = Skip.ZERO_CONTRIBUTION
        credited = working & (paid > 0)
        amount[credited] = paid[credited]  # rule index 0 = CONTRIBUTION_RULE

    def _from_policy(self, rows, index, reason, amount, rule, annual) -> None:
        region = rows.region[index]
        in_table = (region % 100 == 0) & (region >= 0) & (region < _REGION_PREFIXES * 100)
        in_table[in_table] = self.region_known[region[in_table] // 100]
        birth = to_ymd(rows.birth_days[index].astype("datetime64[D]"))
        born = birth <= self.on
        reason[index[~in_table]] = Skip.UNKNOWN_REGION
        reason[index[in_table & ~born]] = Skip.BIRTH_AFTER_MONTH
        keep = in_table & born
        index, region, birth = index[keep], region[keep], birth[keep]
        if not len(index):
            return
        n = len(index)
        result = self.compiled.evaluate(
            Population(
                region=region, birth=birth, on=self.on,
                status=np.ones(n, dtype=np.int8), insurance=np.zeros(n, dtype=np.int8),
                base=np.full(n, NO_BASE, dtype=np.int64),
            )
        )
        why = np.full(n, Skip.CREDITED, dtype=np.int8)
        unknown = ~result.known
        missing = unknown & (result.amount_min_fen == UNKNOWN_FEN)
        why[missing] = self.missing_reason[result.rule[missing] + 1]
        why[unknown & ~missing] = Skip.RANGE_ONLY
        why[result.known & (result.amount_fen == 0)] = Skip.ZERO_AMOUNT
        yearly = (why == Skip.CREDITED) & (result.period == PERIOD_CODES["year"])
        named = self.yearly_month[region // 100]
        why[yearly & (named == _NOT_NAMED)] = Skip.YEARLY_MONTH_UNKNOWN
        why[yearly & (named != _NOT_NAMED) & (named != self.month.month)] = Skip.YEARLY_NOT_DUE
        reason[index] = why
        credited = why == Skip.CREDITED
        amount[index[credited]] = result.amount_fen[credited]
        rule[index[credited]] = result.rule[credited] + 1
        annual[index[credited]] = yearly[credited]
