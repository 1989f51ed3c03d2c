"""Runtime settings, read from the environment (prefix ``YIBAO_``)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("var")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YIBAO_", extra="ignore")

    database_url: str = f"sqlite:///{DEFAULT_DATA_DIR / 'yibao.sqlite3'}"
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000

    # Where generated files live (the secret key when none is given).
    data_dir: Path = DEFAULT_DATA_DIR
    # Signs e-vouchers and keys lockout counters. From the environment, or generated once
    # into data_dir; never written into the repository.
    secret_key: SecretStr | None = None
    # Sign-in, sessions and lockout (POLICY_FACTS §1: ID + card number + password, or SMS code).
    session_ttl_seconds: int = 30 * 60
    password_change_ttl_seconds: int = 10 * 60
    # A staff session ends after this long without a request (each request keeps it alive),
    # and at the latest after a working day.
    staff_idle_seconds: int = 15 * 60
    staff_session_max_seconds: int = 10 * 3600
    login_max_failures: int = 5
    lockout_seconds: int = 15 * 60
    sms_code_ttl_seconds: int = 5 * 60
    sms_max_per_hour: int = 5
    # "development" allows what must never run for real people: the "log" SMS sender. The demo
    # sets it; anything else is treated as production.
    env: Literal["development", "production"] = "production"
    # "log" writes codes to the server log (development only); otherwise "package.module:Class".
    sms_sender: str = "log"
    # Requests per minute per client address and per account; 0 turns the limit off.
    rate_limit_per_minute: int = 600
    # Reverse proxies in front of the server, comma-separated addresses or networks ("10.0.0.5,
    # 172.16.0.0/12"). Only a request whose peer is one of them has its X-Forwarded-For (client
    # address) and X-Forwarded-Proto honoured; empty: the peer is the client. Lockouts, rate
    # limits and the audit log key on that address, so a header nobody vouches for must not move it.
    trusted_proxies: str = ""
    # PostgreSQL connections per server process for the direct reads (web/direct.py). More than
    # the database's cores can run at once only adds contention: on 2 cores, 4 per process served
    # 25 % more balance requests than 8, and 2 fewer (docs/benchmarks.md).
    direct_pool_size: int = Field(4, ge=1)
    # Third-party apps (OAuth 2.0) and the e-voucher.
    oauth_code_ttl_seconds: int = 5 * 60
    oauth_access_ttl_seconds: int = 60 * 60
    oauth_refresh_ttl_seconds: int = 30 * 24 * 60 * 60
    evoucher_ttl_seconds: int = 60
    # National interface: a 9001 sign-in's sign_no lasts a working day at most; a person read by
    # 1101 may be settled at that institution for this long (a visit's consultation and pharmacy).
    national_sign_in_seconds: int = Field(24 * 3600, ge=60)
    national_identification_seconds: int = Field(4 * 3600, ge=60)
    # Payments and refunds still pending after this long and never posted were cut off by a crash:
    # `yibao payments resume` and the server at start drop them (posted ones are finished at any age).
    payments_resume_after_seconds: int = Field(300, ge=0)
    # Paying contributions online (residents' premiums, flexible employees' months): "simulator"
    # (development only: the demo and tests) or "package.module:Class". The simulator sends its
    # notices from a background thread ("background") or only when asked ("manual", tests).
    payment_gateway: str = "simulator"
    gateway_simulator_notices: Literal["background", "manual"] = "background"
    # An order not paid within this many minutes expires (the gateway is told to close it).
    contribution_order_minutes: int = Field(30, ge=1)
    # The 12333 phone line. The telephony platform signs each webhook call with this secret
    # (HMAC-SHA256); without it the webhook refuses every call.
    ivr_secret: SecretStr | None = None
    # "text": the platform speaks the prompts itself; "audio": WAV prompts synthesized here (espeak-ng).
    ivr_voice: str = "text"
    ivr_silence_seconds: int = 10  # no key for this long: the prompt is repeated
    ivr_max_silences: int = 3  # silences in a row before the call ends politely
    ivr_max_tries: int = 3  # wrong entries of one kind (ID number, password, menu key) per call
    ivr_call_ttl_seconds: int = 30 * 60  # call state and per-call audio are gone after this
    ivr_espeak: str = "espeak-ng"
    # Self-service kiosk: the session ends after this many seconds without a touch, and in any
    # case this long after the card was inserted; demo card buttons only when turned on.
    kiosk_idle_seconds: int = 60
    kiosk_session_max_seconds: int = 15 * 60
    kiosk_demo_cards: bool = False
    # A TrueType (.ttf/.ttc) font with Chinese glyphs for PDF statements; unset: standard Debian locations.
    pdf_font: Path | None = None
    # Policy overlays: comma-separated directories read after the shipped policy data. A region file there
    # (or national.yaml) replaces that region's parameters of the same name; its sources.yaml adds sources.
    policy_overlays: str = ""

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses_or_networks(cls, value: str) -> str:
        for entry in _comma_list(value):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"not an IP address or network: {entry!r}") from None
        return value

    def trusted_proxy_list(self) -> list[str]:
        return _comma_list(self.trusted_proxies)


def _comma_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()


def normalise_database_url(url: str) -> str:
    """Let people write ``postgresql://`` and still get the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
