"""The log SMS sender writes sign-in codes to the server log: development only."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from api_support import settings
from yibao.security.sms import LogSmsSender, SmsSenderNotAllowed, load_sender


class Provider:
    """A provider plugged in as ``module:Class``: built with the settings."""

    def __init__(self, settings):
        self.sent = []

    def send(self, phone: str, text: str) -> None:
        self.sent.append((phone, text))


def test_the_log_sender_is_refused_outside_development():
    for production in (settings(), settings(env="production"), settings(env="production", sms_sender="log")):
        with pytest.raises(SmsSenderNotAllowed) as refused:
            load_sender(production)
        assert "YIBAO_ENV=development" in refused.value.message and refused.value.field == "YIBAO_SMS_SENDER"


def test_development_may_log_codes_and_production_plugs_in_a_provider():
    assert isinstance(load_sender(settings(env="development")), LogSmsSender)
    provider = load_sender(settings(sms_sender="test_sms_sender:Provider"))
    provider.send("13800000001", "验证码")
    assert provider.sent == [("13800000001", "验证码")]


def test_serve_refuses_to_start_with_the_log_sender_in_production(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in ("YIBAO_ENV", "YIBAO_SMS_SENDER")}
    env |= {"YIBAO_DATABASE_URL": f"sqlite:///{tmp_path / 'new.sqlite3'}", "COLUMNS": "200"}
    upgraded = subprocess.run([sys.executable, "-m", "yibao.cli", "db", "upgrade"], env=env, capture_output=True, timeout=300)
    assert upgraded.returncode == 0, upgraded.stderr
    result = subprocess.run(
        [sys.executable, "-m", "yibao.cli", "serve", "--port", "9"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert "sms_sender_not_allowed" in result.stderr and "YIBAO_ENV=development" in result.stderr
