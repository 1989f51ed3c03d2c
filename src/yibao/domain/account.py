"""Accounts: a personal account belongs to one person in one pooling region."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from yibao.domain.money import Money


class AccountKind(StrEnum):
    PERSONAL = "personal"
    POOL = "pool"  # pooled fund: the source of every credit
    INSTITUTION = "institution"  # settlement with a designated pharmacy or hospital
    # Money between the agency and the outside world: paid out to a person or heir, or taken in
    # (and given back) through a payment gateway ("payout:<region>:gateway-<name>").
    PAYOUT = "payout"
    CLEARING = "clearing"  # transfers between pooling regions in flight

    @property
    def keeps_cached_balance(self) -> bool:
        # System accounts are touched by nearly every transaction; a cached balance row
        # would make every write queue behind it. Their balance is derived from postings.
        return self is AccountKind.PERSONAL


class AccountStatus(StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"  # takes credits, refuses debits
    CLOSED = "closed"  # takes nothing; a person who enrols again gets a new account

    @property
    def label(self) -> str:
        return {"active": "正常", "frozen": "冻结", "closed": "已注销"}[self.value]

    @property
    def takes_credits(self) -> bool:
        return self is not AccountStatus.CLOSED

    @property
    def pays(self) -> bool:
        return self is AccountStatus.ACTIVE


@dataclass(frozen=True)
class Account:
    id: int
    kind: AccountKind
    region_code: str
    status: AccountStatus
    balance: Money
    opened_on: date
    person_id: int | None = None
    closed_on: date | None = None

    def can_pay(self, amount: Money) -> bool:
        return self.status.pays and amount <= self.balance
