"""Refusals specific to payments at institutions (each with a stable code and a Chinese message)."""

from __future__ import annotations

from yibao.errors import InvalidInput, NotFound, YibaoError
from yibao.security.errors import Forbidden


class NotDesignated(Forbidden):
    code = "not_designated"
    default_message = "该机构不是定点医药机构，不能使用医保个人账户支付"


class CardRefused(InvalidInput):
    """One answer for an unknown card, a card without a PIN and a wrong PIN: never say which."""

    code = "card_pin_invalid"
    default_message = "社保卡号或服务密码不正确"


class ReceiptTaken(YibaoError):
    code = "receipt_taken"
    default_message = "该收据号已用于另一笔支付"


class PaymentNotFound(NotFound):
    code = "payment_not_found"
    default_message = "本机构没有该收据号的支付记录"


class RefundTooLarge(InvalidInput):
    code = "refund_exceeds_payment"
    default_message = "退费合计不能超过原支付金额"


class NoPersonalAccount(InvalidInput):
    code = "no_personal_account"
    default_message = "该参保人没有可用的职工医保个人账户"


class NoFamilyBinding(InvalidInput):
    code = "no_family_binding"
    default_message = "该参保人没有已生效的家庭共济绑定，不能使用家属账户支付"
