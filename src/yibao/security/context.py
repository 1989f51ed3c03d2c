"""Everything sign-in and authorization need at run time, built once per application.

Tests build their own with a fixed clock and small settings; the web app builds the
default one from the environment.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import cached_property

from yibao.clock import Clock, SystemClock
from yibao.config import Settings, get_settings
from yibao.gateway.base import Gateway, load_gateway
from yibao.security.counters import CounterStore, make_counters
from yibao.security.lockout import Lockout
from yibao.security.ratelimit import RateLimiter
from yibao.security.secret_key import load_secret_key
from yibao.security.sms import SmsSender, load_sender


class Security:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        counters: CounterStore | None = None,
        sms: SmsSender | None = None,
        gateway: Gateway | None = None,
    ):
        self.settings = settings or get_settings()
        self.clock = clock or SystemClock()
        self.counters = counters or make_counters(self.settings.redis_url, self.clock)
        self.limiter = RateLimiter(self.counters)
        self._sms = sms
        self._gateway = gateway

    def now(self) -> datetime:
        return self.clock.now().astimezone(timezone.utc)

    @cached_property
    def key(self) -> bytes:
        return load_secret_key(self.settings)

    @cached_property
    def sms(self) -> SmsSender:
        return self._sms or load_sender(self.settings)

    @cached_property
    def gateway(self) -> Gateway:
        """The payment gateway for contributions paid online (loaded on first use)."""
        return self._gateway or load_gateway(self.settings, self.key, self.now)

    def lockout(self, scope: str) -> Lockout:
        return Lockout(
            self.counters,
            self.key,
            scope=scope,
            max_failures=self.settings.login_max_failures,
            seconds=self.settings.lockout_seconds,
        )


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored here is UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment
