"""A paid order posted exactly once: the ledger, the records it pays for, its new status.

One database transaction locks the order, posts the money from the gateway's account
(``payout:<region>:gateway-<name>``, money taken in from outside) to the region's pooled fund
(and, for a flexible employee, the personal-account part of the months already due to the
person's account), writes the contribution records, marks the order posted and tells the
people concerned. The ledger key is the order number: a second attempt (the gateway's repeated
notice, the resume step after a crash) finds the order posted and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, insert, select, update

from yibao import notifications
from yibao.clock import CHINA
from yibao.collection import orders
from yibao.collection.orders import FLEXIBLE, PREMIUM, Order, Status
from yibao.collection.quotes import covered_years
from yibao.domain.money import Money
from yibao.ledger.accounts import system_account
from yibao.ledger.kinds import AccountKind, AccountStatus, TxKind
from yibao.ledger.ledger import Leg, TransactionRequest, post_within
from yibao.policy import enrolment
from yibao.policy.parameters import PolicyBook
from yibao.security import audit
from yibao.store.models import accounts, contribution_orders, contributions, monthly_credits

POSTED_NOTICE = "collection.posted"


@dataclass(frozen=True)
class Posted:
    order: Order
    outgoing: list  # notifications to send after the commit


def gateway_account(conn: Connection, gateway: str, region_code: str, day: date) -> int:
    return system_account(conn, AccountKind.PAYOUT, region_code, suffix=f"gateway-{gateway}", opened_on=day)


def post_paid(conn: Connection, book: PolicyBook, order_no: str, *, now: datetime) -> Posted | None:
    """Post the order when it is paid and not yet posted; None when there is nothing to do."""
    order = orders.find(conn, order_no, lock=True)
    if order is None or order.status is not Status.PAID:
        return None
    paid_on = order.paid_at.astimezone(CHINA).date()
    values: dict = {"status": Status.POSTED.value, "posted_at": now}
    if order.purpose == PREMIUM:
        # Covered years without this one: the order counts as paid already (status paid).
        covered = covered_years(conn, order.person_id, paid_on) - {order.funding_year}
        benefit = enrolment.benefit_start(book, order.region_code, order.funding_year, paid_on, covered)
        values |= {"benefit_starts_on": benefit.starts_on, "waiting_months": benefit.waiting_months}
        legs = _premium_legs(conn, order, paid_on)
        kind, told = TxKind.RESIDENT_PREMIUM, _premium_text(order, benefit)
    else:
        legs = _flexible_legs(conn, order, paid_on)
        kind, told = TxKind.FLEXIBLE_CONTRIBUTION, _flexible_text(order)
        values["live_key"] = None  # the next months may be ordered now
    posted = post_within(conn, TransactionRequest(
        kind=kind, idempotency_key=f"collection:{order.order_no}", legs=tuple(legs), business_date=paid_on,
        memo=f"{order.purpose_label}（{order.what}）", reference=order.order_no,
    ))
    values["transaction_id"] = posted.transaction_id
    if order.purpose == FLEXIBLE:
        _record_months(conn, order, paid_on, posted.transaction_id)
    conn.execute(update(contribution_orders).where(contribution_orders.c.id == order.id).values(**values))
    audit.record(conn, actor=None, action=POSTED_NOTICE, at=now, subject_person_id=order.person_id,
                 detail={"order_no": order.order_no, "amount_fen": order.amount_fen, "purpose": order.purpose})
    outgoing = [notifications.notify(conn, person_id, kind=POSTED_NOTICE, text=told, now=now)
                for person_id in {order.person_id, order.payer_person_id}]
    return Posted(orders.find(conn, order_no), outgoing)


def _premium_legs(conn: Connection, order: Order, day: date) -> list[Leg]:
    source = gateway_account(conn, order.gateway, order.region_code, day)
    pool = system_account(conn, AccountKind.POOL, order.region_code, opened_on=day)
    return [Leg(source, -order.amount_fen), Leg(pool, order.amount_fen)]


def _flexible_legs(conn: Connection, order: Order, day: date) -> list[Leg]:
    """The months due by the payment day go to the personal account now; later months' account
    part stays in the pool until the monthly credit run credits them in their month."""
    source = gateway_account(conn, order.gateway, order.region_code, day)
    pool = system_account(conn, AccountKind.POOL, order.region_code, opened_on=day)
    account_id = _open_account(conn, order.person_id)
    to_account = sum(line["account_fen"] for line in _to_credit(conn, order, day, account_id))
    legs = [Leg(source, -order.amount_fen), Leg(pool, order.amount_fen - to_account)]
    if to_account:
        legs.append(Leg(account_id, to_account))
    return legs


def _to_credit(conn: Connection, order: Order, day: date, account_id: int | None) -> list[dict]:
    """The months due by ``day`` with an account part that the account has not been credited for."""
    if account_id is None:
        return []
    this_month = day.replace(day=1)
    due = [line for line in order.lines if _month(line["month"]) <= this_month and line["account_fen"] > 0]
    credited = set(conn.execute(
        select(monthly_credits.c.month).where(
            monthly_credits.c.account_id == account_id, monthly_credits.c.month.in_([_month(line["month"]) for line in due]))
    ).scalars()) if due else set()
    return [line for line in due if _month(line["month"]) not in credited]


def _record_months(conn: Connection, order: Order, day: date, transaction_id: int) -> None:
    account_id = _open_account(conn, order.person_id)
    credit_now = {line["month"] for line in _to_credit(conn, order, day, account_id)}
    this_month = day.replace(day=1)
    for line in order.lines:
        month = _month(line["month"])
        conn.execute(insert(contributions).values(
            person_id=order.person_id, month=month, insurance_type="employee", base_fen=line["base_fen"],
            employer_rate_bp=0, individual_rate_bp=line["rate_bp"], employer_fen=0,
            individual_fen=line["monthly_fen"], account_fen=line["account_fen"], employer_name=None, flexible=True,
            paid_on=day, is_makeup=month < this_month,
        ))
        if line["month"] in credit_now:
            # The month's credit happened here: the credit run must not credit it again.
            conn.execute(insert(monthly_credits).values({
                "month": month, "account_id": account_id, "amount_fen": line["account_fen"],
                "transaction_id": transaction_id, "rule": "contribution",
            }))


def _open_account(conn: Connection, person_id: int) -> int | None:
    return conn.execute(
        select(accounts.c.id).where(accounts.c.person_id == person_id, accounts.c.kind == AccountKind.PERSONAL.value,
                                    accounts.c.status != AccountStatus.CLOSED.value)
    ).scalar_one_or_none()


def _month(text: str) -> date:
    return date.fromisoformat(text + "-01")


def _premium_text(order: Order, benefit: enrolment.BenefitStart) -> str:
    return (f"已收到{order.what}城乡居民医保个人缴费{Money(order.amount_fen).format()}（订单号{order.order_no}）。"
            f"{benefit.text}")


def _flexible_text(order: Order) -> str:
    return f"已收到灵活就业人员医保缴费{Money(order.amount_fen).format()}，缴费月份：{order.what}（订单号{order.order_no}）。"
