"""Contribution orders: creating one (at most one live order per person and funding year),
reading them for the people they concern, and their states."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import Connection, insert, or_, select, update

from yibao.clock import CHINA
from yibao.errors import NotFound, YibaoError
from yibao.security.context import as_utc
from yibao.store.db import insert_unique
from yibao.store.models import contribution_orders

PREMIUM = "resident_premium"
FLEXIBLE = "flexible"
PURPOSE_LABELS = {PREMIUM: "城乡居民医保个人缴费", FLEXIBLE: "灵活就业人员医保缴费"}


class Status(StrEnum):
    OPEN = "open"
    PAID = "paid"
    POSTED = "posted"
    EXPIRED = "expired"
    REFUNDED = "refunded"

    @property
    def label(self) -> str:
        return {
            "open": "待支付", "paid": "已支付，正在入账", "posted": "缴费成功", "expired": "已过期（未支付）",
            "refunded": "已退款",
        }[self.value]


class OrderNotFound(NotFound):
    code = "order_not_found"
    default_message = "未找到该缴费订单"


class AlreadyPaid(YibaoError):
    code = "already_paid"
    default_message = "这一年度的医保费已经缴纳，无需重复缴费"


@dataclass(frozen=True)
class Order:
    id: int
    order_no: str
    purpose: str
    person_id: int
    payer_person_id: int
    payer_role: str
    region_code: str
    funding_year: int | None
    lines: tuple[dict, ...]  # flexible: one per month {month "YYYY-MM", base_fen, rate_bp, monthly_fen, account_fen}
    tier_key: str | None
    amount_fen: int
    rule_ids: tuple[str, ...]
    gateway: str
    channel: str
    status: Status
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    trade_no: str | None
    posted_at: datetime | None
    transaction_id: int | None
    benefit_starts_on: date | None
    waiting_months: int | None
    refund_no: str | None
    refund_reason: str | None
    refunded_at: datetime | None

    @property
    def months(self) -> tuple[str, ...]:
        return tuple(line["month"] for line in self.lines)

    @property
    def purpose_label(self) -> str:
        return PURPOSE_LABELS[self.purpose]

    @property
    def what(self) -> str:
        """What the order pays for, in words: "2027年度" or "2026年10月—2026年12月（3个月）"."""
        if self.purpose == PREMIUM:
            return f"{self.funding_year}年度"
        first, last = self.months[0], self.months[-1]
        span = _month_words(first) if first == last else f"{_month_words(first)}—{_month_words(last)}"
        return f"{span}（{len(self.months)}个月）"

    def expired_by(self, now: datetime) -> bool:
        return self.status is Status.OPEN and self.expires_at <= now


def _month_words(month: str) -> str:
    year, number = month.split("-")
    return f"{year}年{int(number)}月"


def live_key(purpose: str, year: int | None) -> str:
    return f"premium:{year}" if purpose == PREMIUM else FLEXIBLE


def new_order_no(now: datetime) -> str:
    """22 digits, as people read them off a receipt: the China time to the second, then 8 random
    digits (no hint of how many orders there are; who may see an order is checked per person)."""
    return now.astimezone(CHINA).strftime("%Y%m%d%H%M%S") + f"{secrets.randbelow(10**8):08d}"


def _order(row) -> Order:
    values = dict(row)
    values.pop("live_key")
    values["lines"] = tuple(values.pop("months") or ())
    values["rule_ids"] = tuple(values["rule_ids"] or ())
    values["status"] = Status(values["status"])
    values.pop("refund_transaction_id")
    for name in ("created_at", "expires_at", "paid_at", "posted_at", "refunded_at"):
        if values[name] is not None:
            values[name] = as_utc(values[name])
    return Order(**values)


def find(conn: Connection, order_no: str, *, lock: bool = False) -> Order | None:
    query = select(contribution_orders).where(contribution_orders.c.order_no == order_no)
    row = conn.execute(query.with_for_update() if lock else query).mappings().first()
    return _order(row) if row is not None else None


def visible(conn: Connection, order_no: str, person_id: int) -> Order:
    """The order when this person paid it or is the insured; otherwise "not found"."""
    order = find(conn, order_no)
    if order is None or person_id not in (order.person_id, order.payer_person_id):
        raise OrderNotFound(field="order_no")
    return order


def of_person(conn: Connection, person_id: int, limit: int = 50) -> list[Order]:
    """Orders the person paid or that pay for them, newest first."""
    rows = conn.execute(
        select(contribution_orders)
        .where(or_(contribution_orders.c.person_id == person_id, contribution_orders.c.payer_person_id == person_id))
        .order_by(contribution_orders.c.id.desc()).limit(limit)
    ).mappings()
    return [_order(row) for row in rows]


def live(conn: Connection, person_id: int, key: str) -> Order | None:
    row = conn.execute(
        select(contribution_orders).where(contribution_orders.c.person_id == person_id, contribution_orders.c.live_key == key)
    ).mappings().first()
    return _order(row) if row is not None else None


def posted_years(conn: Connection, person_id: int) -> set[int]:
    return set(conn.execute(
        select(contribution_orders.c.funding_year).where(
            contribution_orders.c.person_id == person_id, contribution_orders.c.purpose == PREMIUM,
            contribution_orders.c.status.in_([Status.PAID.value, Status.POSTED.value]),
        )
    ).scalars())


@dataclass(frozen=True)
class NewOrder:
    purpose: str
    person_id: int
    payer_person_id: int
    payer_role: str
    region_code: str
    amount_fen: int
    rule_ids: tuple[str, ...]
    gateway: str
    channel: str
    funding_year: int | None = None
    lines: tuple[dict, ...] = ()
    tier_key: str | None = None


def insert_order(conn: Connection, new: NewOrder, *, now: datetime, minutes: int) -> Order | None:
    """The new open order, or None when the person already has a live one for the same period."""
    key = live_key(new.purpose, new.funding_year)
    taken = _Taken()
    try:
        insert_unique(conn, insert(contribution_orders).values(
            order_no=new_order_no(now), purpose=new.purpose, person_id=new.person_id,
            payer_person_id=new.payer_person_id, payer_role=new.payer_role, region_code=new.region_code,
            live_key=key, funding_year=new.funding_year, months=list(new.lines) or None, tier_key=new.tier_key,
            amount_fen=new.amount_fen, rule_ids=list(new.rule_ids), gateway=new.gateway, channel=new.channel,
            status=Status.OPEN.value, created_at=now, expires_at=now + timedelta(minutes=minutes),
        ).returning(contribution_orders.c.id), taken=taken)
    except _Taken:
        return None
    return live(conn, new.person_id, key)


class _Taken(Exception):
    """The person's live order for the period exists (a concurrent or earlier request)."""


def mark_paid(conn: Connection, order: Order, *, trade_no: str, paid_at: datetime) -> bool:
    """open → paid; False when the order was no longer open (expired, paid by another trade)."""
    return conn.execute(
        update(contribution_orders)
        .where(contribution_orders.c.id == order.id, contribution_orders.c.status == Status.OPEN.value)
        .values(status=Status.PAID.value, trade_no=trade_no, paid_at=paid_at)
    ).rowcount == 1


def mark_expired(conn: Connection, order: Order) -> bool:
    return conn.execute(
        update(contribution_orders)
        .where(contribution_orders.c.id == order.id, contribution_orders.c.status == Status.OPEN.value)
        .values(status=Status.EXPIRED.value, live_key=None)
    ).rowcount == 1


def open_past(conn: Connection, now: datetime, limit: int = 500) -> list[str]:
    return list(conn.execute(
        select(contribution_orders.c.order_no)
        .where(contribution_orders.c.status == Status.OPEN.value, contribution_orders.c.expires_at <= now)
        .order_by(contribution_orders.c.id).limit(limit)
    ).scalars())


def paid_not_posted(conn: Connection, limit: int = 500) -> list[str]:
    return list(conn.execute(
        select(contribution_orders.c.order_no).where(contribution_orders.c.status == Status.PAID.value)
        .order_by(contribution_orders.c.id).limit(limit)
    ).scalars())
