"""SMS sign-in codes and the pluggable sender that delivers them.

The development sender writes the code to the server log (phone number masked) and is
refused unless ``YIBAO_ENV=development``: in production a code in the log is a sign-in for
whoever reads the log. A real provider plugs in through ``YIBAO_SMS_SENDER=package.module:Class``
— a class whose ``__init__`` takes the settings and whose ``send(phone, text)`` delivers or raises.

Codes: 6 digits, stored hashed, valid for 5 minutes, used once; a new code replaces the
older ones; sends are limited per hour (per person here, per client address by the caller).
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import logging
import re
import secrets
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Connection, func, insert, select, update

from yibao.config import Settings
from yibao.errors import YibaoError
from yibao.security.errors import RateLimited
from yibao.store.models import sms_codes

log = logging.getLogger("yibao.sms")

CODE_DIGITS = 6
_CODE = re.compile(r"[0-9]{6}", re.ASCII)


class SmsSender(Protocol):
    def send(self, phone: str, text: str) -> None: ...


class LogSmsSender:
    """Development sender: the message goes to the server log instead of a phone."""

    def __init__(self, _settings: Settings | None = None):
        pass

    def send(self, phone: str, text: str) -> None:
        log.warning("SMS to %s: %s", mask_phone(phone), text)


class SmsSenderNotAllowed(YibaoError):
    code = "sms_sender_not_allowed"
    default_message = (
        "短信发送方式 YIBAO_SMS_SENDER=log（验证码写入服务器日志）只能用于开发环境（YIBAO_ENV=development）；"
        "生产环境请配置短信服务商 YIBAO_SMS_SENDER=package.module:Class"
    )


def check_sender(settings: Settings) -> None:
    """Refuses the log sender outside development (at start-up and before any code is sent)."""
    if settings.sms_sender == "log" and settings.env != "development":
        raise SmsSenderNotAllowed(field="YIBAO_SMS_SENDER")


def load_sender(settings: Settings) -> SmsSender:
    check_sender(settings)
    if settings.sms_sender == "log":
        return LogSmsSender(settings)
    module_name, _, class_name = settings.sms_sender.partition(":")
    return getattr(importlib.import_module(module_name), class_name)(settings)


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"


# Mobile number prefixes in use in mainland China: a derived mask looks like any other.
_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155", "156",
             "157", "158", "159", "166", "176", "177", "178", "180", "181", "182", "183", "185", "186", "187",
             "188", "189", "191", "198", "199")


def decoy_masked_phone(key: bytes, id_number: str) -> str:
    """A masked phone number for an ID number with no phone on record, derived from the server key
    (the same every time and in every flow), so that where a code went tells nothing about whether
    the ID number is registered."""
    digest = hmac.new(key, f"decoy-phone:{id_number}".encode(), hashlib.sha256).digest()
    prefix = _PREFIXES[digest[0] % len(_PREFIXES)]
    return mask_phone(prefix + "0000" + f"{int.from_bytes(digest[1:4], 'big') % 10_000:04d}")


def message(code: str, ttl_seconds: int) -> str:
    return f"【医保个人账户】您的登录验证码为{code}，{ttl_seconds // 60}分钟内有效。请勿告诉他人。"


def reset_message(code: str, ttl_seconds: int) -> str:
    return f"【医保个人账户】您正在重置登录密码，验证码为{code}，{ttl_seconds // 60}分钟内有效。如非本人操作，请忽略并勿告诉他人。"


def is_code_format(code: object) -> bool:
    return isinstance(code, str) and _CODE.fullmatch(code) is not None


def _hash(person_id: int, code: str) -> str:
    # Bound to the person so that a code hash cannot be reused for someone else.
    return hashlib.sha256(f"{person_id}:{code}".encode()).hexdigest()


def issue_code(conn: Connection, person_id: int, *, now: datetime, ttl_seconds: int, max_per_hour: int) -> str:
    """A fresh code for the person (older unused codes stop working); 429 past the hourly limit."""
    sent = conn.execute(
        select(func.count()).select_from(sms_codes).where(
            sms_codes.c.person_id == person_id, sms_codes.c.created_at > now - timedelta(hours=1)
        )
    ).scalar_one()
    if sent >= max_per_hour:
        raise RateLimited("验证码发送次数过多，请一小时后再试", retry_after=3600, field="id_number")
    conn.execute(
        update(sms_codes).where(sms_codes.c.person_id == person_id, sms_codes.c.used_at.is_(None)).values(used_at=now)
    )
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    conn.execute(
        insert(sms_codes).values(
            person_id=person_id,
            code_hash=_hash(person_id, code),
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
        )
    )
    return code


def use_code(conn: Connection, person_id: int, code: str, *, now: datetime) -> bool:
    """True once for a right, live code; the code is spent by the same statement that checks it."""
    row = conn.execute(
        select(sms_codes.c.id, sms_codes.c.code_hash).where(
            sms_codes.c.person_id == person_id, sms_codes.c.used_at.is_(None), sms_codes.c.expires_at > now
        ).order_by(sms_codes.c.id.desc()).limit(1)
    ).first()
    if row is None or not hmac.compare_digest(row.code_hash, _hash(person_id, code)):
        return False
    spent = conn.execute(
        update(sms_codes).where(sms_codes.c.id == row.id, sms_codes.c.used_at.is_(None)).values(used_at=now)
    ).rowcount
    return spent == 1
