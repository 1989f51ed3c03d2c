"""Payment gateways (支付渠道) for paying contributions online.

A gateway is a plug-in (``YIBAO_PAYMENT_GATEWAY=package.module:Class``), as the SMS sender is:
it opens a checkout for an order, verifies the gateway's signed asynchronous notices, answers
queries, closes unpaid orders and refunds. ``simulator`` (development and tests) plays a real
gateway's flow in-process: a cashier page with a QR code, a signed notice sent to yibao and
repeated until yibao acknowledges it, queries, closing and refunds.
"""

from yibao.gateway.base import (
    BadNotice,
    Checkout,
    Gateway,
    GatewayNotAllowed,
    GatewayUnavailable,
    PaidTrade,
    load_gateway,
)

__all__ = ["BadNotice", "Checkout", "Gateway", "GatewayNotAllowed", "GatewayUnavailable", "PaidTrade", "load_gateway"]
