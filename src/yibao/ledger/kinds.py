"""Kinds of ledger transactions, with the Chinese labels people see in their details (明细)."""

from __future__ import annotations

from enum import StrEnum

from yibao.domain.account import AccountKind, AccountStatus

__all__ = ["AccountKind", "AccountStatus", "TxKind"]


class TxKind(StrEnum):
    MONTHLY_CREDIT = "monthly_credit"
    ANNUAL_CREDIT = "annual_credit"
    SPENDING = "spending"
    REFUND = "refund"
    FAMILY_PAYMENT = "family_payment"
    # A relative's residents'-insurance premium paid from the holder's account (家庭共济代缴).
    FAMILY_PREMIUM = "family_premium"
    WITHDRAWAL = "withdrawal"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"
    CORRECTION = "correction"
    # Balance carried over from a previous system when an agency migrates to yibao.
    OPENING_BALANCE = "opening_balance"
    # Contributions paid online through a payment gateway (yibao.collection).
    RESIDENT_PREMIUM = "resident_premium"
    FLEXIBLE_CONTRIBUTION = "flexible_contribution"
    CONTRIBUTION_REFUND = "contribution_refund"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    TxKind.MONTHLY_CREDIT: "月度划入",
    TxKind.ANNUAL_CREDIT: "年度划入",
    TxKind.SPENDING: "消费支出",
    TxKind.REFUND: "退费",
    TxKind.FAMILY_PAYMENT: "家庭共济支付",
    TxKind.FAMILY_PREMIUM: "家庭共济代缴居民医保费",
    TxKind.WITHDRAWAL: "余额支取",
    TxKind.TRANSFER_OUT: "转出",
    TxKind.TRANSFER_IN: "转入",
    TxKind.CORRECTION: "冲正调整",
    TxKind.OPENING_BALANCE: "期初余额结转",
    TxKind.RESIDENT_PREMIUM: "城乡居民医保缴费",
    TxKind.FLEXIBLE_CONTRIBUTION: "灵活就业医保缴费",
    TxKind.CONTRIBUTION_REFUND: "缴费退款",
}
