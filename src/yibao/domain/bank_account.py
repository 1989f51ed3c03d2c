"""A bank account that money is paid out to: number checked, held in the payee's own name.

The number is 12-30 digits (spaces and hyphens between groups allowed when typed). A bank
card number (16-19 digits) carries a Luhn check digit, which catches a mistyped or swapped
digit; longer or shorter account numbers (passbooks, company accounts) have no public check
to verify. The holder's name must be the payee's: a payout never goes to someone else's
account. Shown and written into postings masked (first 4 and last 4 digits).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stdnum import luhn

from yibao.errors import InvalidInput

MIN_DIGITS, MAX_DIGITS = 12, 30
CARD_DIGITS = range(16, 20)
MAX_BANK_NAME = 60
_SEPARATORS = re.compile(r"[\s\-]")


@dataclass(frozen=True)
class BankAccount:
    bank_name: str
    number: str

    @classmethod
    def parse(cls, bank_name: str, number: str, holder_name: str, *, payee_name: str, field: str = "") -> BankAccount:
        """``field`` is the prefix of the fields named in refusals (e.g. ``heirs.0.``)."""
        bank = (bank_name or "").strip()
        if not 2 <= len(bank) <= MAX_BANK_NAME:
            raise InvalidInput(f"请填写开户银行（2-{MAX_BANK_NAME}个字符）", field=f"{field}bank_name", code="bank_name")
        digits = _SEPARATORS.sub("", number or "")
        if not (digits.isascii() and digits.isdigit() and MIN_DIGITS <= len(digits) <= MAX_DIGITS):
            raise InvalidInput(
                f"银行账号应为{MIN_DIGITS}-{MAX_DIGITS}位数字", field=f"{field}bank_account", code="bank_account_format"
            )
        if len(digits) in CARD_DIGITS and not luhn.is_valid(digits):
            raise InvalidInput("银行卡号校验位不正确，请核对后重新输入", field=f"{field}bank_account", code="bank_account_checksum")
        if (holder_name or "").strip() != (payee_name or "").strip():
            raise InvalidInput("开户人姓名须与收款人姓名一致", field=f"{field}account_holder", code="account_holder_mismatch")
        return cls(bank, digits)

    @property
    def masked(self) -> str:
        return mask(self.number)


def mask(number: str) -> str:
    return f"{number[:4]}****{number[-4:]}"
