"""What a run did: counts and amounts by region, rule and kind, skips by reason; JSON and text."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from yibao.credit.evaluation import ChunkPlan
from yibao.credit.month import label
from yibao.credit.reasons import Skip
from yibao.domain.money import Money
from yibao.domain.regions import regions
from yibao.errors import InvalidInput
from yibao.ledger.kinds import TxKind


@dataclass
class Tally:
    credited: int = 0
    amount_fen: int = 0

    def add(self, count: int, amount_fen: int) -> None:
        self.credited += count
        self.amount_fen += amount_fen

    def as_dict(self) -> dict:
        return {"credited": self.credited, "amount_fen": self.amount_fen}


@dataclass
class RunReport:
    month: date
    dry_run: bool
    rule_names: list[str]
    run_id: int | None = None
    already_credited: int = 0  # accounts credited for this month before this run started
    accounts_read: int = 0
    chunks: int = 0
    seconds: float = 0.0
    total: Tally = field(default_factory=Tally)
    by_region: dict[str, Tally] = field(default_factory=dict)
    by_rule: dict[str, Tally] = field(default_factory=dict)
    by_kind: dict[str, Tally] = field(default_factory=dict)
    skipped: Counter = field(default_factory=Counter)  # Skip -> accounts
    skipped_by_region: Counter = field(default_factory=Counter)  # (Skip, region code) -> accounts

    @property
    def credited(self) -> int:
        return self.total.credited

    @property
    def amount_fen(self) -> int:
        return self.total.amount_fen

    def add_closed(self, count: int) -> None:
        if count:
            self.skipped[Skip.CLOSED] += count

    def add(self, plan: ChunkPlan) -> None:
        self.chunks += 1
        self.accounts_read += len(plan.all_reasons)
        self.total.add(plan.credited, int(plan.amount_fen.sum()))
        for region, count, amount in _sums(plan.region, plan.amount_fen):
            self.by_region.setdefault(f"{region:06d}", Tally()).add(count, amount)
        for rule, count, amount in _sums(plan.rule, plan.amount_fen):
            self.by_rule.setdefault(self.rule_names[rule], Tally()).add(count, amount)
        for annual, count, amount in _sums(plan.annual.astype(np.int64), plan.amount_fen):
            kind = TxKind.ANNUAL_CREDIT if annual else TxKind.MONTHLY_CREDIT
            self.by_kind.setdefault(kind.value, Tally()).add(count, amount)
        skipped = plan.all_reasons != Skip.CREDITED
        pairs = np.stack([plan.all_reasons[skipped].astype(np.int64), plan.all_regions[skipped].astype(np.int64)])
        if pairs.shape[1]:
            keys, counts = np.unique(pairs, axis=1, return_counts=True)
            for reason, region, count in zip(keys[0].tolist(), keys[1].tolist(), counts.tolist()):
                self.skipped[Skip(reason)] += count
                self.skipped_by_region[Skip(reason), f"{region:06d}"] += count

    def as_dict(self) -> dict:
        return {
            "month": f"{self.month:%Y-%m}",
            "dry_run": self.dry_run,
            "run_id": self.run_id,
            "credited": self.credited,
            "amount_fen": self.amount_fen,
            "amount": Money(self.amount_fen).format(),
            "already_credited": self.already_credited,
            "accounts_read": self.accounts_read,
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
            "skipped": {reason.key: count for reason, count in sorted(self.skipped.items())},
            "skipped_total": sum(self.skipped.values()),
            "skipped_reasons": {reason.key: reason.label for reason in sorted(self.skipped)},
            "skipped_by_region": self._skipped_by_region(),
            "by_region": {code: {"name": region_name(code)} | tally.as_dict() for code, tally in sorted(self.by_region.items())},
            "by_rule": {rule: tally.as_dict() for rule, tally in sorted(self.by_rule.items())},
            "by_kind": {kind: tally.as_dict() for kind, tally in sorted(self.by_kind.items())},
        }

    def _skipped_by_region(self) -> dict[str, dict[str, int]]:
        result: dict[str, dict[str, int]] = {}
        for (reason, region), count in sorted(self.skipped_by_region.items()):
            result.setdefault(reason.key, {})[region] = count
        return result

    def headline(self) -> str:
        verb = "将划入（试运行，未写入）" if self.dry_run else "已划入"
        return f"{label(self.month)}个人账户划入：{verb} {self.credited:,} 个账户，合计 {Money(self.amount_fen).format()}"


def region_name(code: str) -> str:
    try:
        return regions().get(code).name
    except InvalidInput:
        return code


def _sums(keys: np.ndarray, amounts: np.ndarray):
    """(key, count, integer sum) per distinct key; integer arithmetic throughout."""
    if not len(keys):
        return []
    order = np.argsort(keys, kind="stable")
    distinct, starts, counts = np.unique(keys[order], return_index=True, return_counts=True)
    sums = np.add.reduceat(amounts[order], starts)
    return zip(distinct.tolist(), counts.tolist(), sums.tolist())
