"""The daily settlement report of one institution (日结对账): payments, refunds, net, and the ledger's word.

The figures come from the payment and refund records; ``ledger_net_fen`` is the sum of the
ledger's postings on the institution's settlement account that day. They agree unless
something wrote to that account outside this module (``reconciled`` says whether they do).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import BigInteger, Connection, cast, func, select

from yibao.ledger.accounts import system_account_code
from yibao.ledger.kinds import AccountKind
from yibao.payments.institutions import institution_row
from yibao.payments.keys import POSTED
from yibao.store.models import accounts, institution_payments, institution_refunds, postings



@dataclass(frozen=True)
class Settlement:
    day: date
    payments_count: int
    paid_fen: int
    refunds_count: int
    refunded_fen: int
    ledger_net_fen: int

    @property
    def net_fen(self) -> int:
        return self.paid_fen - self.refunded_fen

    @property
    def reconciled(self) -> bool:
        return self.net_fen == self.ledger_net_fen


def _count_and_sum(conn: Connection, table, amount_column, institution_id: int, day: date) -> tuple[int, int]:
    count, total = conn.execute(
        select(func.count(), cast(func.coalesce(func.sum(amount_column), 0), BigInteger)).where(
            table.c.institution_id == institution_id, table.c.business_date == day, table.c.status == POSTED
        )
    ).one()
    return int(count), int(total)


def daily_settlement(conn: Connection, institution_id: int, day: date) -> Settlement:
    payee = institution_row(conn, institution_id)
    payments_count, paid = _count_and_sum(conn, institution_payments, institution_payments.c.paid_fen, institution_id, day)
    refunds_count, refunded = _count_and_sum(conn, institution_refunds, institution_refunds.c.amount_fen, institution_id, day)
    code = system_account_code(AccountKind.INSTITUTION, payee.region_code, payee.code)
    ledger_net = conn.execute(
        select(cast(func.coalesce(func.sum(postings.c.amount_fen), 0), BigInteger))
        .select_from(postings.join(accounts, accounts.c.id == postings.c.account_id))
        .where(accounts.c.code == code, postings.c.business_date == day)
    ).scalar_one()
    return Settlement(day, payments_count, paid, refunds_count, refunded, int(ledger_net))
