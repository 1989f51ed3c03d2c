"""A payment gateway simulator: the whole flow of a real one, without money.

Two sides, as with a real gateway:

* :class:`SimulatedPlatform` is the gateway company. It keeps its own books (a small SQLite file
  in the data directory, apart from yibao's database, so it outlives a killed server as a real
  gateway would), shows a cashier page where the payer confirms, and after a payment sends a
  signed notice to yibao's notify address, again and again until yibao acknowledges it.
* :class:`SimulatorGateway` is yibao's client of it (what a vendor SDK would be): checkout,
  verification of notices, query, close, refund.

Notices are JSON signed with HMAC-SHA256 over ``timestamp + "\\n" + body`` with a secret derived
from the server key (the "merchant key"); the expected answer is ``{"code": "SUCCESS"}``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    insert,
    select,
    update,
)

from yibao.config import Settings
from yibao.errors import InvalidInput, NotFound
from yibao.gateway.base import SIMULATOR, BadNotice, Checkout, NoticeAnswer, PaidTrade

log = logging.getLogger("yibao.gateway.simulator")

CASHIER_PATH = "/gateway-sim/pay"
SIGNATURE_HEADER = "x-sim-signature"
TIMESTAMP_HEADER = "x-sim-timestamp"
# Seconds between the deliveries of one notice until yibao acknowledges it (then every last one).
RETRY_SECONDS = (0, 1, 2, 5, 10, 30, 60)
MAX_DELIVERIES = 30

_books = MetaData()
sim_orders = Table(
    "sim_orders", _books,
    Column("order_no", String(32), primary_key=True),
    Column("amount_fen", BigInteger, nullable=False),
    Column("subject", String(100), nullable=False),
    Column("notify_url", String(300), nullable=False),
    Column("return_url", String(300), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("closed", Boolean, nullable=False, default=False),
)
sim_trades = Table(
    "sim_trades", _books,
    Column("trade_no", String(64), primary_key=True),
    Column("order_no", String(32), nullable=False, index=True),
    Column("amount_fen", BigInteger, nullable=False),
    Column("paid_at", DateTime(timezone=True), nullable=False),
    Column("acknowledged", Boolean, nullable=False, default=False),
    Column("refund_no", String(32)),
    Column("refunded_at", DateTime(timezone=True)),
)

Poster = Callable[[str, dict[str, str], bytes], tuple[int, str]]
Now = Callable[[], datetime]


def merchant_secret(key: bytes) -> bytes:
    return hmac.new(key, b"yibao-gateway-simulator", hashlib.sha256).digest()


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return hmac.new(secret, timestamp.encode() + b"\n" + body, hashlib.sha256).hexdigest()


def _post_over_http(url: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (our own notify address)
            return answer.status, answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


class SimulatedPlatform:
    """The simulated gateway company; one per books file in a process."""

    _platforms: dict[Path, SimulatedPlatform] = {}
    _lock = threading.Lock()

    def __init__(self, path: Path, secret: bytes, *, now: Now, background: bool = True):
        self.secret = secret
        self.now = now  # the serving process's clock: a test's fixed day is the gateway's day too
        self.background = background
        self.post: Poster = _post_over_http
        self.engine = _books_engine(path)
        _books.create_all(self.engine)
        if background:
            self._redeliver_unacknowledged()

    @classmethod
    def at(cls, path: Path, secret: bytes, *, now: Now, background: bool = True) -> SimulatedPlatform:
        with cls._lock:
            platform = cls._platforms.get(path)
            if platform is None or platform.secret != secret:
                platform = cls._platforms[path] = cls(path, secret, now=now, background=background)
            platform.now, platform.background = now, background
            return platform

    # -------------------------------------------------------------- merchant API (called by yibao)

    def open_order(self, *, order_no: str, amount_fen: int, subject: str, notify_url: str, return_url: str,
                   expires_at: datetime) -> None:
        with self.engine.begin() as conn:
            known = conn.execute(select(sim_orders.c.amount_fen).where(sim_orders.c.order_no == order_no)).first()
            if known is None:
                conn.execute(insert(sim_orders).values(
                    order_no=order_no, amount_fen=amount_fen, subject=subject, notify_url=notify_url,
                    return_url=return_url, expires_at=expires_at, closed=False,
                ))
            elif known.amount_fen != amount_fen:
                raise InvalidInput("同一订单号金额不一致", field="order_no", code="gateway_order_changed")

    def trades(self, order_no: str) -> list[PaidTrade]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(sim_trades).where(sim_trades.c.order_no == order_no).order_by(sim_trades.c.paid_at)
            ).mappings().all()
        return [PaidTrade(row["order_no"], row["trade_no"], row["amount_fen"], _utc(row["paid_at"])) for row in rows]

    def close(self, order_no: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(sim_orders).where(sim_orders.c.order_no == order_no).values(closed=True))

    def refund(self, *, trade_no: str, refund_no: str, amount_fen: int) -> None:
        with self.engine.begin() as conn:
            trade = conn.execute(select(sim_trades).where(sim_trades.c.trade_no == trade_no)).mappings().first()
            if trade is None:
                raise NotFound("支付渠道没有这笔交易", field="trade_no", code="gateway_trade_not_found")
            if trade["refund_no"] not in (None, refund_no) or amount_fen != trade["amount_fen"]:
                raise InvalidInput("这笔交易已退款或退款金额不符", field="refund_no", code="gateway_refund_conflict")
            if trade["refund_no"] is None:
                conn.execute(update(sim_trades).where(sim_trades.c.trade_no == trade_no).values(
                    refund_no=refund_no, refunded_at=self.now()))

    def refunded(self, trade_no: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(sim_trades.c.refund_no).where(sim_trades.c.trade_no == trade_no)).scalar() is not None

    # -------------------------------------------------------------- the payer's side (cashier page)

    def order(self, order_no: str) -> Mapping | None:
        with self.engine.connect() as conn:
            return conn.execute(select(sim_orders).where(sim_orders.c.order_no == order_no)).mappings().first()

    def pay(self, order_no: str, *, again: bool = False) -> PaidTrade:
        """The payer confirms; ``again`` pays an order that was paid already (a double payment)."""
        now = self.now()
        with self.engine.begin() as conn:
            order = conn.execute(select(sim_orders).where(sim_orders.c.order_no == order_no)).mappings().first()
            if order is None:
                raise NotFound("订单不存在", field="order_no", code="gateway_order_not_found")
            if order["closed"] or _utc(order["expires_at"]) <= now:
                raise InvalidInput("订单已关闭或已超时，不能支付", field="order_no", code="gateway_order_closed")
            paid = conn.execute(select(sim_trades.c.trade_no).where(sim_trades.c.order_no == order_no)).first()
            if paid is not None and not again:
                raise InvalidInput("订单已支付，请勿重复支付", field="order_no", code="gateway_order_paid")
            # 28 digits, as gateways number their trades: a prefix, the day, random digits.
            trade = PaidTrade(order_no, "4200" + now.strftime("%Y%m%d") + f"{secrets.randbelow(10**16):016d}",
                              order["amount_fen"], now)
            conn.execute(insert(sim_trades).values(
                trade_no=trade.trade_no, order_no=order_no, amount_fen=trade.amount_fen, paid_at=now, acknowledged=False))
        if self.background:
            self._deliver_in_background(trade.trade_no)
        return trade

    # -------------------------------------------------------------- notices

    def notice(self, trade_no: str) -> tuple[str, dict[str, str], bytes]:
        """The notice of a trade as it is sent: address, headers, body (freshly signed)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(sim_trades, sim_orders.c.notify_url).join(sim_orders, sim_orders.c.order_no == sim_trades.c.order_no)
                .where(sim_trades.c.trade_no == trade_no)
            ).mappings().one()
        body = json.dumps({
            "event": "TRANSACTION.SUCCESS", "order_no": row["order_no"], "trade_no": trade_no,
            "amount_fen": row["amount_fen"], "paid_at": _utc(row["paid_at"]).isoformat(),
        }, ensure_ascii=False).encode()
        timestamp = str(int(time.time()))
        headers = {"content-type": "application/json", TIMESTAMP_HEADER: timestamp,
                   SIGNATURE_HEADER: sign(self.secret, timestamp, body)}
        return row["notify_url"], headers, body

    def deliver(self, trade_no: str) -> bool:
        """Send a trade's notice once; True when yibao acknowledged it."""
        url, headers, body = self.notice(trade_no)
        try:
            status, text = self.post(url, headers, body)
        except OSError as error:
            log.info("notice %s not delivered: %s", trade_no, error)
            return False
        if status == 200 and _acknowledged(text):
            with self.engine.begin() as conn:
                conn.execute(update(sim_trades).where(sim_trades.c.trade_no == trade_no).values(acknowledged=True))
            return True
        return False

    def unacknowledged(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(sim_trades.c.trade_no).where(sim_trades.c.acknowledged.is_(False))).scalars())

    def _deliver_in_background(self, trade_no: str) -> None:
        threading.Thread(target=self._deliver_until_acknowledged, args=(trade_no,), daemon=True,
                         name=f"gateway-notice-{trade_no}").start()

    def _deliver_until_acknowledged(self, trade_no: str) -> None:
        for attempt in range(MAX_DELIVERIES):
            time.sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])
            if self.deliver(trade_no):
                return

    def _redeliver_unacknowledged(self) -> None:
        # A gateway keeps sending what its merchant never acknowledged, also after the merchant restarts.
        for trade_no in self.unacknowledged():
            self._deliver_in_background(trade_no)


class SimulatorGateway:
    """yibao's client of the simulated platform."""

    name = SIMULATOR

    def __init__(self, platform: SimulatedPlatform, secret: bytes):
        self.platform = platform
        self.secret = secret

    @classmethod
    def for_settings(cls, settings: Settings, key: bytes, now: Now) -> SimulatorGateway:
        secret = merchant_secret(key)
        path = Path(settings.data_dir) / "gateway-simulator.sqlite3"
        platform = SimulatedPlatform.at(
            path.resolve(), secret, now=now, background=settings.gateway_simulator_notices == "background")
        return cls(platform, secret)

    def checkout(self, *, order_no: str, amount_fen: int, subject: str, notify_url: str, return_url: str,
                 expires_at: datetime) -> Checkout:
        self.platform.open_order(order_no=order_no, amount_fen=amount_fen, subject=subject, notify_url=notify_url,
                                 return_url=return_url, expires_at=expires_at)
        base = notify_url.split("/api/", 1)[0]
        url = f"{base}{CASHIER_PATH}/{order_no}"
        return Checkout(pay_url=url, qr_text=url)

    def read_notice(self, headers: Mapping[str, str], body: bytes) -> PaidTrade:
        timestamp = headers.get(TIMESTAMP_HEADER, "")
        signature = headers.get(SIGNATURE_HEADER, "")
        if not timestamp or not hmac.compare_digest(sign(self.secret, timestamp, body), signature):
            raise BadNotice(field="signature")
        try:
            data = json.loads(body)
            return PaidTrade(str(data["order_no"]), str(data["trade_no"]), int(data["amount_fen"]),
                             _utc(datetime.fromisoformat(data["paid_at"])))
        except (ValueError, KeyError, TypeError):
            raise BadNotice("支付通知内容无法识别", field="body") from None

    def notice_answer(self, accepted: bool) -> NoticeAnswer:
        if accepted:
            return NoticeAnswer(200, "application/json", '{"code": "SUCCESS"}')
        return NoticeAnswer(500, "application/json", '{"code": "FAIL", "message": "稍后重试"}')

    def query(self, order_no: str) -> list[PaidTrade]:
        return self.platform.trades(order_no)

    def close(self, order_no: str) -> None:
        self.platform.close(order_no)

    def refund(self, *, order_no: str, trade_no: str, refund_no: str, amount_fen: int, reason: str) -> None:
        self.platform.refund(trade_no=trade_no, refund_no=refund_no, amount_fen=amount_fen)


def _acknowledged(text: str) -> bool:
    try:
        return json.loads(text).get("code") == "SUCCESS"
    except (ValueError, AttributeError):
        return False


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _books_engine(path: Path) -> Engine:
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _wal(connection, _record) -> None:  # readers and the notice threads beside the cashier's writes
        connection.execute("PRAGMA journal_mode=WAL")

    return engine
