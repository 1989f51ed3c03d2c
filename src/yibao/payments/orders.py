"""What an institution asks for: a payment or a refund, with the digest that makes retries safe.

The same idempotency key with the same order answers the first result; with a different
order it is refused. The digest covers everything that makes the order what it is, and
nothing secret (see ``Credential.fingerprint``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import Connection

from yibao.domain.money import MAX_FEN
from yibao.errors import InvalidInput
from yibao.payments.identify import Credential

MAX_RECEIPT_LENGTH = 64
MAX_KEY_LENGTH = 128


class Payer(StrEnum):
    SELF = "self"  # the patient's own personal account
    FAMILY = "family"  # the account of the holder the patient is bound to (家庭共济)

    @property
    def label(self) -> str:
        return "本人账户" if self is Payer.SELF else "家庭共济账户"


def _digest(fields: dict) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _check_text(value: str, field: str, limit: int, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit or not value.isprintable():
        raise InvalidInput(f"{what}应为1-{limit}个可打印字符", field=field, code=f"{field}_format")
    return value.strip()


def _check_amount(amount_fen: int) -> int:
    if type(amount_fen) is not int or not 0 < amount_fen <= MAX_FEN:
        raise InvalidInput("金额应为大于零的整数（分）", field="amount_fen", code="amount_not_positive")
    return amount_fen


@dataclass(frozen=True)
class PaymentOrder:
    receipt_no: str
    amount_fen: int
    idempotency_key: str
    credential: Credential
    allow_partial: bool = False
    payer: Payer = Payer.SELF
    # Run first in the reservation's transaction: writes the caller's own records with the payment
    # (committed or rolled back with it) and gives the order to reserve (e.g. with a receipt number
    # that those records made). Not part of what the order is.
    prepare: Callable[[Connection], PaymentOrder] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "receipt_no", _check_text(self.receipt_no, "receipt_no", MAX_RECEIPT_LENGTH, "收据号"))
        object.__setattr__(self, "idempotency_key", _check_text(self.idempotency_key, "idempotency_key", MAX_KEY_LENGTH, "幂等键"))
        object.__setattr__(self, "payer", Payer(self.payer))
        _check_amount(self.amount_fen)

    def request_hash(self) -> str:
        return _digest({
            "receipt_no": self.receipt_no, "amount_fen": self.amount_fen, "allow_partial": self.allow_partial,
            "payer": self.payer.value, "credential": self.credential.fingerprint(),
        })


@dataclass(frozen=True)
class RefundOrder:
    receipt_no: str  # the original payment's
    amount_fen: int
    idempotency_key: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "receipt_no", _check_text(self.receipt_no, "receipt_no", MAX_RECEIPT_LENGTH, "收据号"))
        object.__setattr__(self, "idempotency_key", _check_text(self.idempotency_key, "idempotency_key", MAX_KEY_LENGTH, "幂等键"))
        _check_amount(self.amount_fen)

    def request_hash(self) -> str:
        return _digest({"receipt_no": self.receipt_no, "amount_fen": self.amount_fen})
