"""The yearly limit on what a holder's account pays for relatives, where a region sets one.

``family.payment_limit`` is policy data per region; the national value is ``unknown`` (no
source gives a limit), and then nothing is enforced. When a region's file gives an amount,
a holder's family spending in the calendar year (payments at institutions net of their
refunds, premiums paid, and payments still being posted) may not go beyond it.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Connection, cast, func, select

from yibao.domain.money import Money
from yibao.errors import InvalidInput
from yibao.policy.parameters import PolicyBook
from yibao.store.models import family_payments, institution_payments, postings


class FamilyLimitExceeded(InvalidInput):
    code = "family_limit_exceeded"


def yearly_limit_fen(book: PolicyBook, region_code: str, day: date) -> int | None:
    value = book.resolve("family.payment_limit", book.regions.get(region_code), day).value
    return value.rule.amount_fen if value is not None and value.rule is not None else None


def check_yearly_limit(
    conn: Connection, book: PolicyBook, *, holder_person_id: int, account_id: int, region_code: str, day: date,
    amount_fen: int,
) -> None:
    limit = yearly_limit_fen(book, region_code, day)
    if limit is None:
        return
    used = spent_in_year(conn, holder_person_id=holder_person_id, account_id=account_id, year=day.year)
    if used + amount_fen > limit:
        left = max(0, limit - used)
        raise FamilyLimitExceeded(
            f"超出参保地家庭共济年度限额{Money(limit).format()}，本年还可支付{Money(left).format()}", field="amount_fen"
        )


def spent_in_year(conn: Connection, *, holder_person_id: int, account_id: int, year: int) -> int:
    first, last = date(year, 1, 1), date(year, 12, 31)
    posted = conn.execute(
        select(cast(func.coalesce(func.sum(postings.c.amount_fen), 0), BigInteger))
        .select_from(postings.join(family_payments, family_payments.c.transaction_id == postings.c.transaction_id))
        .where(
            family_payments.c.holder_person_id == holder_person_id,
            postings.c.account_id == account_id,
            postings.c.business_date.between(first, last),
        )
    ).scalar_one()
    being_posted = conn.execute(
        select(cast(func.coalesce(func.sum(institution_payments.c.paid_fen), 0), BigInteger)).where(
            institution_payments.c.payer_person_id == holder_person_id,
            institution_payments.c.binding_id.is_not(None),
            institution_payments.c.status == "pending",
            institution_payments.c.business_date.between(first, last),
        )
    ).scalar_one()
    return -int(posted) + int(being_posted)
