"""Family payments in a person's details (明细): the holder sees whom they paid for, the member sees who paid.

A family payment moves money on the holder's account only, so the member's own postings
never show it. ``with_paid_for`` adds those postings to the member's list, and ``notes``
says on each line who the other person is (masked name and relation).
"""

from __future__ import annotations

from sqlalchemy import Connection, Select, and_, select, union_all

from yibao.domain.person import mask_name
from yibao.family.relations import INVERSE, label
from yibao.store.models import family_bindings, family_payments, persons, postings


def with_paid_for(own: Select, person_id: int, columns, joined, filters) -> Select:
    """``own`` (the person's own postings) plus the postings of relatives' accounts that paid for the person."""
    paid_for = (
        select(*columns)
        .select_from(
            joined.join(
                family_payments,
                and_(
                    family_payments.c.transaction_id == postings.c.transaction_id,
                    family_payments.c.account_id == postings.c.account_id,
                ),
            )
        )
        .where(family_payments.c.member_person_id == person_id, *filters)
    )
    return union_all(own, paid_for)


def notes(conn: Connection, person_id: int, transaction_ids: list[int]) -> dict[int, str]:
    """For each family transaction among ``transaction_ids``, the line's note as ``person_id`` should read it."""
    if not transaction_ids:
        return {}
    rows = conn.execute(
        select(
            family_payments.c.transaction_id, family_payments.c.holder_person_id, family_payments.c.member_person_id,
            family_payments.c.purpose, family_payments.c.premium_year, family_bindings.c.relation,
        )
        .join(family_bindings, family_bindings.c.id == family_payments.c.binding_id)
        .where(
            family_payments.c.transaction_id.in_(transaction_ids),
            (family_payments.c.holder_person_id == person_id) | (family_payments.c.member_person_id == person_id),
        )
    ).all()
    others = {row.holder_person_id if row.member_person_id == person_id else row.member_person_id for row in rows}
    names = dict(conn.execute(select(persons.c.id, persons.c.name).where(persons.c.id.in_(others))).all()) if others else {}
    return {row.transaction_id: _note(row, person_id, names) for row in rows}


def paid_by(conn: Connection, member_id: int, lines: dict[int, int]) -> dict[int, str]:
    """For the member's lines on a relative's account (transaction id → that account's posting):
    who paid, e.g. 由家人（张*）的个人账户支付, or where a refund went back to."""
    if not lines:
        return {}
    rows = conn.execute(
        select(family_payments.c.transaction_id, persons.c.name)
        .join(persons, persons.c.id == family_payments.c.holder_person_id)
        .where(family_payments.c.transaction_id.in_(list(lines)), family_payments.c.member_person_id == member_id)
    ).all()
    return {
        row.transaction_id: (f"由家人（{mask_name(row.name)}）的个人账户支付" if lines[row.transaction_id] < 0
                             else f"已退回家人（{mask_name(row.name)}）的个人账户")
        for row in rows
    }


def _note(row, person_id: int, names: dict[int, str]) -> str:
    as_holder = row.holder_person_id == person_id
    other = row.member_person_id if as_holder else row.holder_person_id
    relation = row.relation if as_holder else INVERSE[row.relation]
    who = f"亲属{mask_name(names.get(other, ''))}（{label(relation)}）"
    if row.purpose == "premium":
        return f"为{who}代缴{row.premium_year}年度城乡居民医保费" if as_holder else f"由{who}的个人账户代缴{row.premium_year}年度城乡居民医保费"
    if row.purpose == "refund":
        return f"为{who}支付的费用退回本账户" if as_holder else f"退费退回{who}的个人账户"
    return f"家庭共济：为{who}支付" if as_holder else f"家庭共济：由{who}的个人账户支付，本人账户未扣款"
