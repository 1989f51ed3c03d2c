"""The operations people use to pay: create an order, go to the gateway, check, refund.

The portal, the API and the counter call these; each checks who may pay for whom
(``payers``), refuses what the policy data does not allow or does not know, and audits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy import Engine

from yibao.collection import orders, payers, quotes, settle
from yibao.collection.orders import FLEXIBLE, PREMIUM, AlreadyPaid, NewOrder, Order, Status
from yibao.errors import InvalidInput
from yibao.gateway.base import Checkout
from yibao.policy.parameters import PolicyBook
from yibao.security import audit
from yibao.security.context import Security
from yibao.security.principal import Principal

CREATED = "collection.order_created"
NOTIFY_PATH = "/api/v1/gateway/notify/{gateway}"
ORDER_PAGE = "/portal/pay/orders/{order_no}"


@dataclass(frozen=True)
class Acting:
    """Who acts (for the audit log), from where, and whose money pays: the signed-in person's,
    or at the counter the insured person's own, with the clerk as the actor."""

    principal: Principal
    client: str | None
    channel: str  # portal | api | counter
    payer_id: int

    @classmethod
    def person(cls, principal: Principal, client: str | None, channel: str) -> Acting:
        return cls(principal, client, channel, principal.person_id)

    @property
    def person_id(self) -> int:
        return self.payer_id


def checkout(sec: Security, order: Order, base_url: str) -> Checkout:
    """Where to pay an open order (the gateway keeps one order per order number)."""
    base = base_url.rstrip("/")
    return sec.gateway.checkout(
        order_no=order.order_no, amount_fen=order.amount_fen, subject=f"{order.purpose_label}（{order.what}）",
        notify_url=base + NOTIFY_PATH.format(gateway=order.gateway), return_url=base + ORDER_PAGE.format(order_no=order.order_no),
        expires_at=order.expires_at,
    )


def current(engine: Engine, sec: Security, book: PolicyBook, order: Order) -> Order:
    """The order as it stands now: an unpaid one past its deadline is expired first."""
    if order.expired_by(sec.now()):
        settle.expire(engine, sec, book, order)
        with engine.connect() as conn:
            return orders.find(conn, order.order_no)
    return order


def visible_now(engine: Engine, sec: Security, book: PolicyBook, order_no: str, person_id: int) -> Order:
    """The order as it stands now, when this person paid it or is its insured; else "not found"."""
    with engine.connect() as conn:
        order = orders.visible(conn, order_no, person_id)
    return current(engine, sec, book, order)


def premium_order(engine: Engine, sec: Security, book: PolicyBook, acting: Acting, *, person_id: int, year: int) -> Order:
    today = sec.clock.today()
    with engine.connect() as conn:
        payable = payers.role_for(conn, acting.person_id, person_id)
        if payable.insurance_type != "resident":
            raise InvalidInput("该参保人参加的是职工医保，不需要缴纳城乡居民医保费", field="person_id", code="not_resident")
        on_sale = quotes.premium_quotes(conn, book, payable, today)
    quote = next((each for each in on_sale if each.year == year), None)
    if quote is None:
        years = "、".join(f"{each.year}年度" for each in on_sale) or "暂无"
        raise InvalidInput(f"现在不能缴纳{year}年度的医保费（可缴年度：{years}）", field="year", code="year_not_on_sale")
    if quote.state in ("paid", "paid_by_relative", "registered"):
        raise AlreadyPaid(f"{year}年度{quote.state_label}，无需重复缴费", field="year")
    if quote.premium.amount_fen is None:
        raise InvalidInput(f"暂无{year}年度城乡居民医保个人缴费标准的资料，不能在网上缴费。{quote.premium.note}",
                           field="year", code="premium_unknown")
    if quote.order is not None:
        waiting = current(engine, sec, book, quote.order)
        if waiting.status is Status.OPEN:
            return waiting
        if waiting.status is not Status.EXPIRED:
            raise AlreadyPaid(field="year")
    new = NewOrder(
        purpose=PREMIUM, person_id=person_id, payer_person_id=acting.person_id, payer_role=payable.role,
        region_code=payable.region_code, amount_fen=quote.premium.amount_fen,
        rule_ids=tuple(rule for rule in (quote.premium.rule_id,) if rule), gateway=sec.gateway.name,
        channel=acting.channel, funding_year=year,
    )
    return _create(engine, sec, acting, new)


def flexible_order(engine: Engine, sec: Security, book: PolicyBook, acting: Acting, *, tier_key: str,
                   months: list[str]) -> Order:
    today = sec.clock.today()
    with engine.connect() as conn:
        payable = payers.role_for(conn, acting.person_id, acting.person_id)
        quote = quotes.flexible_quote(conn, book, payable, today)
    if quote is None:
        raise InvalidInput("您不是灵活就业参保人员，不能在此缴费", field="tier", code="not_flexible")
    if not quote.tiers.tiers:
        raise InvalidInput(f"本地区资料没有灵活就业人员缴费档次，不能在网上缴费。{quote.tiers.note}", field="tier",
                           code="tiers_unknown")
    tier = quote.tier(tier_key)
    if tier is None:
        raise InvalidInput("请选择缴费档次", field="tier", code="tier_unknown")
    chosen = _months(months, quote.months.makeup + quote.months.ahead)
    if quote.order is not None:
        waiting = current(engine, sec, book, quote.order)
        if waiting.status is Status.OPEN:
            settle.expire(engine, sec, book, replace(waiting, expires_at=sec.now()))  # replaced by this choice
        elif waiting.status is Status.PAID:
            raise InvalidInput("上一笔缴费正在入账，请稍后再试", field="months", code="order_in_progress")
    lines = tuple({"month": month.strftime("%Y-%m"), "base_fen": tier.base_fen, "rate_bp": tier.rate_bp,
                   "monthly_fen": tier.monthly_fen, "account_fen": tier.account_fen or 0} for month in chosen)
    new = NewOrder(
        purpose=FLEXIBLE, person_id=acting.person_id, payer_person_id=acting.person_id, payer_role=payers.SELF,
        region_code=payable.region_code, amount_fen=tier.monthly_fen * len(lines),
        rule_ids=tuple(rule for rule in (tier.rule_id, quote.months.rule_id) if rule), gateway=sec.gateway.name,
        channel=acting.channel, lines=lines, tier_key=tier.key,
    )
    return _create(engine, sec, acting, new)


def _months(raw: list[str], allowed: tuple[date, ...]) -> list[date]:
    by_text = {month.strftime("%Y-%m"): month for month in allowed}
    if not raw:
        raise InvalidInput("请选择要缴费的月份", field="months", code="months_missing")
    unknown = [text for text in raw if text not in by_text]
    if unknown:
        raise InvalidInput(f"这些月份现在不能缴费：{'、'.join(unknown)}", field="months", code="month_not_payable")
    return sorted({by_text[text] for text in raw})


def _create(engine: Engine, sec: Security, acting: Acting, new: NewOrder) -> Order:
    now = sec.now()
    with engine.begin() as conn:
        order = orders.insert_order(conn, new, now=now, minutes=sec.settings.contribution_order_minutes)
        if order is None:  # a concurrent request created the period's order first
            raise InvalidInput("已有一笔缴费订单正在办理，请刷新页面查看", field="year", code="order_in_progress")
        audit.record(conn, actor=acting.principal, action=CREATED, at=now, subject_person_id=new.person_id,
                     client=acting.client, detail={"order_no": order.order_no, "purpose": new.purpose,
                                                   "amount_fen": new.amount_fen, "channel": acting.channel})
    return order
