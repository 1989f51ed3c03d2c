"""Errors with a stable machine code, a Chinese message for people and the field at fault.

Every layer raises these; channels turn them into their own shape (JSON, a voice prompt,
a red line on a form) without inventing new wording.
"""

from __future__ import annotations


class YibaoError(Exception):
    """Base error: ``code`` is for programs, ``message`` (Chinese) is for people."""

    code = "error"
    default_message = "操作失败"

    def __init__(self, message: str | None = None, *, field: str | None = None, code: str | None = None):
        self.message = message or self.default_message
        self.field = field
        if code:
            self.code = code
        super().__init__(f"{self.field}: {self.message}" if self.field else self.message)

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "field": self.field}


class InvalidInput(YibaoError, ValueError):
    """A value supplied by a person or a program does not pass validation."""

    code = "invalid_input"
    default_message = "输入有误"


class NotFound(YibaoError, LookupError):
    code = "not_found"
    default_message = "未找到"


class InsufficientBalance(YibaoError):
    code = "insufficient_balance"
    default_message = "余额不足"


class AccountNotActive(YibaoError):
    code = "account_not_active"
    default_message = "账户已冻结或已注销，不能记账"


class IdempotencyConflict(YibaoError):
    """Same idempotency key, different request: a client bug we refuse to hide."""

    code = "idempotency_conflict"
    default_message = "同一幂等键已用于内容不同的请求"


class LedgerInvariantBroken(YibaoError, AssertionError):
    """Raised when a ledger invariant would be broken; never expected in normal operation."""

    code = "ledger_invariant"
    default_message = "账务不平衡，已拒绝"
