"""What yibao needs from a payment gateway, and how the configured one is loaded."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from yibao.config import Settings
from yibao.errors import YibaoError

SIMULATOR = "simulator"


@dataclass(frozen=True)
class Checkout:
    """Where the payer goes to pay: a page to redirect to, and what a QR code should carry."""

    pay_url: str
    qr_text: str


@dataclass(frozen=True)
class PaidTrade:
    """One payment the gateway took for an order (an order may, rarely, be paid twice)."""

    order_no: str
    trade_no: str
    amount_fen: int
    paid_at: datetime


@dataclass(frozen=True)
class NoticeAnswer:
    """What the gateway expects back from a notice (its own protocol's "success"/"fail")."""

    status_code: int
    media_type: str
    body: str


class BadNotice(YibaoError):
    """A notice whose signature or content does not check: nothing is recorded."""

    code = "gateway_notice_invalid"
    default_message = "支付通知验签失败"


class GatewayUnavailable(YibaoError):
    code = "gateway_unavailable"
    default_message = "支付渠道暂时无法连接，请稍后再试"


class GatewayNotAllowed(YibaoError):
    code = "gateway_not_allowed"
    default_message = "网上缴费暂未开通，请到当地医保经办机构窗口缴费"


class Gateway(Protocol):
    name: str

    def checkout(
        self, *, order_no: str, amount_fen: int, subject: str, notify_url: str, return_url: str, expires_at: datetime
    ) -> Checkout: ...

    def read_notice(self, headers: Mapping[str, str], body: bytes) -> PaidTrade:
        """The paid trade a notice reports, after checking its signature; raises :class:`BadNotice`."""

    def notice_answer(self, accepted: bool) -> NoticeAnswer: ...

    def query(self, order_no: str) -> list[PaidTrade]:
        """Every trade that paid this order (usually none or one)."""

    def close(self, order_no: str) -> None:
        """No payment may be taken for this order any more (an expired order)."""

    def refund(self, *, order_no: str, trade_no: str, refund_no: str, amount_fen: int, reason: str) -> None:
        """Give a trade's money back; the same ``refund_no`` twice refunds once."""


def check_gateway(settings: Settings) -> None:
    """The simulator takes no real money: it may only run in development (the demo, tests)."""
    if settings.payment_gateway == SIMULATOR and settings.env != "development":
        raise GatewayNotAllowed(field="YIBAO_PAYMENT_GATEWAY")


def load_gateway(settings: Settings, key: bytes, now: Callable[[], datetime]) -> Gateway:
    check_gateway(settings)
    if settings.payment_gateway == SIMULATOR:
        from yibao.gateway.simulator import SimulatorGateway

        return SimulatorGateway.for_settings(settings, key, now)
    module_name, _, class_name = settings.payment_gateway.partition(":")
    return getattr(importlib.import_module(module_name), class_name)(settings)
