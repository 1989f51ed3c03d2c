"""Errors of sign-in and authorization, each with the HTTP status the web API answers."""

from __future__ import annotations

from yibao.errors import YibaoError


class AccessError(YibaoError):
    """Base for the errors below; ``status_code`` and ``headers`` are used by the web channel."""

    status_code = 403
    headers: dict[str, str] = {}


class Unauthenticated(AccessError):
    code = "unauthenticated"
    default_message = "请先登录"
    status_code = 401
    headers = {"WWW-Authenticate": "Bearer"}


class InvalidToken(Unauthenticated):
    code = "invalid_token"
    default_message = "登录已过期或令牌无效，请重新登录"


class BadCredentials(Unauthenticated):
    """One message for every wrong sign-in detail: never say which part was wrong."""

    code = "bad_credentials"
    default_message = "身份证号、社保卡号或密码不正确"


class Forbidden(AccessError):
    code = "forbidden"
    default_message = "无权访问"
    status_code = 403


class PasswordChangeRequired(Forbidden):
    code = "password_change_required"
    default_message = "您的密码是初始密码或过于简单，请先修改密码"


class InsufficientScope(Forbidden):
    code = "insufficient_scope"
    default_message = "该应用未获得此项授权"


class _RetryLater(AccessError):
    def __init__(self, message: str | None = None, *, retry_after: int, field: str | None = None):
        super().__init__(message, field=field)
        self.retry_after = max(1, int(retry_after))
        self.headers = {"Retry-After": str(self.retry_after)}


class LockedOut(_RetryLater):
    code = "locked_out"
    default_message = "错误次数过多，登录已锁定15分钟，请稍后再试"
    status_code = 423
    after_check = False  # True: the secret was checked, was wrong, and was the last allowed try


class RateLimited(_RetryLater):
    code = "rate_limited"
    default_message = "请求过于频繁，请稍后再试"
    status_code = 429
