"""Kinds of ledger transactions and accounts, with the Chinese labels people see."""

from __future__ import annotations

from enum import StrEnum


class TxKind(StrEnum):
    MONTHLY_CREDIT = "monthly_credit"
    ANNUAL_CREDIT = "annual_credit"
    SPENDING = "spending"
    REFUND = "refund"
    FAMILY_PAYMENT = "family_payment"
    WITHDRAWAL = "withdrawal"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"
    CORRECTION = "correction"
    # Balance carried over from a previous system when an agency migrates to yibao.
    OPENING_BALANCE = "opening_balance"

    @property
    def label(self) -> str:
        return TX_LABELS[self]


TX_LABELS = {
    TxKind.MONTHLY_CREDIT: "月度划入",
    TxKind.ANNUAL_CREDIT: "年度划入",
    TxKind.SPENDING: "消费支出",
    TxKind.REFUND: "退费",
    TxKind.FAMILY_PAYMENT: "家庭共济支付",
    TxKind.WITHDRAWAL: "余额支取",
    TxKind.TRANSFER_OUT: "转出",
    TxKind.TRANSFER_IN: "转入",
    TxKind.CORRECTION: "冲正调整",
    TxKind.OPENING_BALANCE: "期初余额结转",
}


class AccountKind(StrEnum):
    PERSONAL = "personal"
    POOL = "pool"  # pooled fund: the source of every credit
    INSTITUTION = "institution"  # settlement with a designated pharmacy or hospital
    PAYOUT = "payout"  # money paid out to a person or heir
    CLEARING = "clearing"  # transfers between pooling regions in flight

    @property
    def keeps_cached_balance(self) -> bool:
        # System accounts are touched by nearly every transaction; a cached balance row
        # would make every write queue behind it. Their balance is derived from postings.
        return self is AccountKind.PERSONAL


class AccountStatus(StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"  # takes credits, refuses debits
    CLOSED = "closed"  # takes nothing


ACCOUNT_STATUS_LABELS = {
    AccountStatus.ACTIVE: "正常",
    AccountStatus.FROZEN: "冻结",
    AccountStatus.CLOSED: "已注销",
}
