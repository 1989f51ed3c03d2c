"""What ``yibao db check`` asks of the national interface's settlements.

A settlement's personal-account figures are its payments' (own and family), and a cancelled
or reversed settlement's payments are refunded in full. A settlement left pending (a crash
between its claim and its payments) is a warning: the institution finishes it by sending the
same msgid again, or undoes it with 2601.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, and_, cast, func, literal, or_, select

from yibao.payments.keys import POSTED
from yibao.store.models import institution_payments, institution_refunds, national_settlements

s = national_settlements.c


def _paid(alias):
    return func.coalesce(alias.c.paid_fen, literal(0))


def findings() -> list[tuple]:
    own, family = institution_payments.alias("own_payment"), institution_payments.alias("family_payment")
    figures = (
        select(s.id.label("settlement_id"), s.institution_id, s.msgid, s.acct_pay_fen, s.mulaid_fen)
        .outerjoin(own, own.c.id == s.self_payment_id)
        .outerjoin(family, family.c.id == s.family_payment_id)
        .where(
            s.status != "pending",
            or_(
                s.acct_pay_fen != _paid(own) + _paid(family), s.mulaid_fen != _paid(family),
                and_(own.c.id.is_not(None), own.c.status != POSTED),
                and_(family.c.id.is_not(None), family.c.status != POSTED),
            ),
        )
    )
    refunded = (
        select(institution_refunds.c.payment_id, cast(func.sum(institution_refunds.c.amount_fen), BigInteger).label("refunded_fen"))
        .where(institution_refunds.c.status == POSTED)
        .group_by(institution_refunds.c.payment_id)
        .subquery()
    )
    paid = institution_payments
    not_refunded = (
        select(s.id.label("settlement_id"), s.msgid, paid.c.id.label("payment_id"), paid.c.paid_fen)
        .join(paid, or_(paid.c.id == s.self_payment_id, paid.c.id == s.family_payment_id))
        .outerjoin(refunded, refunded.c.payment_id == paid.c.id)
        .where(s.status == "reversed", func.coalesce(refunded.c.refunded_fen, 0) != paid.c.paid_fen)
    )
    return [
        ("national_settlement_mismatch", "国家接口结算的个人账户支付金额与其支付记录不一致", figures),
        ("national_reversal_not_refunded", "已撤销或冲正的国家接口结算，其个人账户支付未全额退回", not_refunded),
    ]


def warnings(cutoff: datetime) -> list[tuple]:
    stale = select(s.id.label("settlement_id"), s.institution_id, s.msgid, s.settled_at).where(
        s.status == "pending", s.settled_at < cutoff
    )
    return [("national_settlement_pending", "国家接口结算长时间未完成：请机构以原报文ID重发，或以冲正交易（2601）撤销", stale)]
