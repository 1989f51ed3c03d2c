"""Paying at a designated pharmacy: identification, idempotency, refusals, refunds and the daily settlement.

Every scenario runs end to end through the API on SQLite and PostgreSQL and ends with the
ledger's own invariant check (``yibao db check``) clean.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
from sqlalchemy import func, select

from api_support import (
    CARD_PIN,
    START,
    TODAY,
    add_designated_pharmacy,
    add_insured,
    add_pharmacy,
    add_resident,
    bearer,
    client_for,
    later,
    login,
    security,
    set_card_pin,
)
from yibao.clock import FixedClock
from yibao.ledger.accounts import set_status, system_account
from yibao.ledger.check import check_ledger
from yibao.ledger.kinds import AccountKind, AccountStatus, TxKind
from yibao.ledger.ledger import Ledger
from yibao.payments.identify import Credential
from yibao.errors import YibaoError
from yibao.payments.orders import PaymentOrder, RefundOrder
from yibao.payments import service as payment_service
from yibao.payments.resume import resume_pending
from yibao.payments.service import Payments
from yibao.payments.settlement import daily_settlement
from yibao.policy.loading import load_book
from yibao.security import evoucher
from yibao.security.principal import Kind, Principal
from yibao.store.db import make_engine
from yibao.store.models import (
    accounts,
    audit_log,
    institution_payments,
    institution_refunds,
    institutions,
    ledger_transactions,
    postings,
)

PAYMENTS = "/api/v1/institution/payments"
REFUNDS = "/api/v1/institution/refunds"
SETTLEMENT = "/api/v1/institution/settlement"


@pytest.fixture
def world(engine):
    clock = FixedClock(START)
    alice, bob = add_insured(engine, 1, balance_fen=123_456), add_insured(engine, 2, balance_fen=50_000)
    set_card_pin(engine, alice.person_id)
    pharmacy, hospital = add_designated_pharmacy(engine, "P001"), add_designated_pharmacy(engine, "H002")
    with client_for(engine, security(clock)) as client:
        yield World(engine, client, clock, alice, bob, {"X-Api-Key": pharmacy}, {"X-Api-Key": hospital})
    with engine.connect() as conn:
        report = check_ledger(conn)
    assert report.ok, report.as_dict()  # `yibao db check` is clean after every scenario


class World:
    def __init__(self, engine, client, clock, alice, bob, pharmacy, hospital):
        self.engine, self.client, self.clock = engine, client, clock
        self.alice, self.bob, self.pharmacy, self.hospital = alice, bob, pharmacy, hospital
        self._keys = 0

    def voucher(self, person) -> str:
        headers = bearer(login(self.client, person).json()["access_token"])
        answer = self.client.post("/api/v1/me/evoucher", headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()["payload"]

    def pay(self, headers=None, *, key: str | None = None, **body):
        self._keys += 1
        body.setdefault("receipt_no", f"R{self._keys:04d}")
        body.setdefault("idempotency_key", key or f"key-{self._keys}")
        return self.client.post(PAYMENTS, headers=headers or self.pharmacy, json=body)

    def refund(self, receipt_no: str, amount_fen: int, key: str, headers=None):
        return self.client.post(REFUNDS, headers=headers or self.pharmacy,
                                json={"receipt_no": receipt_no, "amount_fen": amount_fen, "idempotency_key": key})

    def balance(self, person) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(accounts.c.balance_fen).where(accounts.c.id == person.account_id)).scalar_one()

    def transactions(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(ledger_transactions)).scalar_one()

    def audit(self, action: str) -> list[dict]:
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.id)).mappings()]


def error(answer) -> str:
    return answer.json()["error"]["code"]


# ---------------------------------------------------------------------------- identification


def test_an_evoucher_pays_from_the_personal_account_into_the_pharmacy_account(world):
    answer = world.pay(payload=world.voucher(world.alice), amount_fen=2_345, receipt_no="R-1")
    assert answer.status_code == 200, answer.text
    paid = answer.json()
    assert paid["paid_fen"] == 2_345 and paid["cash_due_fen"] == 0 and paid["paid"] == "23.45元"
    assert paid["payer"] == "self" and paid["name_masked"] == world.alice.name[0] + "*"
    assert world.alice.id_number not in answer.text and paid["id_number_masked"].endswith(world.alice.id_number[-4:])
    assert world.balance(world.alice) == 123_456 - 2_345
    with world.engine.connect() as conn:
        legs = conn.execute(
            select(postings.c.amount_fen, accounts.c.code, ledger_transactions.c.kind, ledger_transactions.c.reference)
            .join(accounts, accounts.c.id == postings.c.account_id)
            .join(ledger_transactions, ledger_transactions.c.id == postings.c.transaction_id)
            .where(postings.c.transaction_id == paid["transaction_id"])
        ).all()
    assert sorted((leg.amount_fen, leg.code) for leg in legs) == [(-2_345, None), (2_345, "institution:110000:P001")]
    assert {(leg.kind, leg.reference) for leg in legs} == {(TxKind.SPENDING.value, "R-1")}
    entry = world.audit("institution.payment")[-1]
    assert entry["actor_kind"] == "institution" and entry["actor_id"] == "P001"
    assert entry["subject_person_id"] == world.alice.person_id and entry["detail"]["paid_fen"] == 2_345
    details = world.client.get("/api/v1/me/details", headers=bearer(login(world.client, world.alice).json()["access_token"]))
    assert details.json()["items"][0]["reference"] == "R-1" and details.json()["items"][0]["amount_fen"] == -2_345


def test_card_number_and_pin_pay_and_five_wrong_pins_lock_the_card(world):
    card = {"card_number": world.alice.card_number, "amount_fen": 1_000}
    for attempt in range(4):
        wrong = world.pay(**card, pin="000001")
        assert wrong.status_code == 422 and error(wrong) == "card_pin_invalid", wrong.text
    fifth = world.pay(**card, pin="000001")
    assert fifth.status_code == 423 and error(fifth) == "card_locked" and "Retry-After" in fifth.headers
    locked = world.pay(**card, pin=CARD_PIN)  # even the right PIN waits out the lock
    assert locked.status_code == 423
    assert world.balance(world.alice) == 123_456
    failures = world.audit("institution.card_pin_failed")
    assert len(failures) == 5 and {entry["subject_person_id"] for entry in failures} == {world.alice.person_id}
    later(world.clock, minutes=15, seconds=1)
    answer = world.pay(**card, pin=CARD_PIN)
    assert answer.status_code == 200, answer.text
    assert world.balance(world.alice) == 122_456


def test_an_unknown_card_gets_the_same_answer_as_a_wrong_pin(world):
    for card_number in ("X99999999", world.bob.card_number):  # Bob has no PIN set
        answer = world.pay(card_number=card_number, pin=CARD_PIN, amount_fen=100)
        assert answer.status_code == 422 and answer.json()["error"] == {
            "code": "card_pin_invalid", "message": "社保卡号或服务密码不正确", "field": "pin"}
    for bad in ({"card_number": world.alice.card_number, "pin": "12ab"}, {"amount_fen": 100}, {"card_number": world.alice.card_number}):
        body = {"amount_fen": 100} | bad
        answer = world.pay(**body)
        assert answer.status_code == 422 and error(answer) in {"pin_format", "credential_required"}, answer.text


def test_an_expired_or_used_voucher_is_refused(world):
    stale = world.voucher(world.alice)
    later(world.clock, seconds=61)
    expired = world.pay(payload=stale, amount_fen=100)
    assert expired.status_code == 422 and error(expired) == "evoucher_invalid"
    fresh = world.voucher(world.alice)
    assert world.pay(payload=fresh, amount_fen=100).status_code == 200
    reused = world.pay(payload=fresh, amount_fen=100)  # a new receipt and key: a second use of the voucher
    assert reused.status_code == 422 and error(reused) == "evoucher_invalid"
    assert world.balance(world.alice) == 123_456 - 100


def test_an_institution_that_is_not_designated_cannot_take_payments(world):
    plain = {"X-Api-Key": add_pharmacy(world.engine, "P009")}
    payload = world.voucher(world.alice)
    refused = world.pay(plain, payload=payload, amount_fen=100)
    assert refused.status_code == 403 and error(refused) == "not_designated"
    assert world.balance(world.alice) == 123_456
    # Nothing was spent: the same voucher still pays at a designated pharmacy.
    assert world.pay(payload=payload, amount_fen=100).status_code == 200
    assert world.client.post(PAYMENTS, headers={"X-Api-Key": "ybk_wrong"}, json={}).status_code == 401


# ---------------------------------------------------------------------------- idempotency


def test_the_same_key_and_body_answer_the_same_result_and_post_once(world):
    body = {"payload": world.voucher(world.alice), "amount_fen": 1_500, "receipt_no": "R-77"}
    first = world.client.post(PAYMENTS, headers=world.pharmacy | {"Idempotency-Key": "k-77"}, json=body)
    before = world.transactions()
    again = world.client.post(PAYMENTS, headers=world.pharmacy | {"Idempotency-Key": "k-77"}, json=body)
    in_body = world.client.post(PAYMENTS, headers=world.pharmacy, json=body | {"idempotency_key": "k-77"})
    assert first.status_code == again.status_code == in_body.status_code == 200
    assert again.json() == first.json() == in_body.json()
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert world.transactions() == before and world.balance(world.alice) == 123_456 - 1_500


def test_the_same_key_with_another_body_is_refused(world):
    payload = world.voucher(world.alice)
    assert world.pay(key="k-1", payload=payload, amount_fen=1_000, receipt_no="R-1").status_code == 200
    for changed in ({"amount_fen": 1_001, "receipt_no": "R-1"}, {"amount_fen": 1_000, "receipt_no": "R-2"},
                    {"amount_fen": 1_000, "receipt_no": "R-1", "allow_partial": True}):
        conflict = world.pay(key="k-1", payload=payload, **changed)
        assert conflict.status_code == 409 and error(conflict) == "idempotency_conflict", changed
    mismatch = world.client.post(PAYMENTS, headers=world.pharmacy | {"Idempotency-Key": "a"},
                                 json={"payload": payload, "amount_fen": 1, "receipt_no": "R-3", "idempotency_key": "b"})
    assert mismatch.status_code == 422 and error(mismatch) == "idempotency_key_mismatch"
    missing = world.client.post(PAYMENTS, headers=world.pharmacy, json={"payload": payload, "amount_fen": 1, "receipt_no": "R-3"})
    assert missing.status_code == 422 and error(missing) == "idempotency_key_missing"
    assert world.balance(world.alice) == 123_456 - 1_000


def test_a_receipt_number_is_unique_per_institution(world):
    assert world.pay(payload=world.voucher(world.alice), amount_fen=100, receipt_no="R-1").status_code == 200
    payload = world.voucher(world.alice)
    taken = world.pay(payload=payload, amount_fen=100, receipt_no="R-1")
    assert taken.status_code == 409 and error(taken) == "receipt_taken"
    # Another institution may use the same number; the refused voucher was not spent.
    assert world.pay(world.hospital, payload=payload, amount_fen=100, receipt_no="R-1").status_code == 200


def test_a_crash_after_the_reservation_is_finished_by_the_retry(world, engine):
    class CrashingOnce(Ledger):
        crashed = False

        def transfer(self, **kwargs):
            if not CrashingOnce.crashed:
                CrashingOnce.crashed = True
                raise RuntimeError("connection lost")
            return super().transfer(**kwargs)

    sec = world.client.app.state.security
    institution = Principal(Kind.INSTITUTION, _institution_id(engine, "P001"), client_id="P001", region_code="110000")
    order = PaymentOrder("R-9", 700, "crash-key", Credential.parse(payload=world.voucher(world.alice), card_number=None, pin=None))
    payments = Payments(engine, sec, load_book(), CrashingOnce(engine))
    with pytest.raises(RuntimeError):
        payments.pay(institution, order)
    with engine.connect() as conn:
        assert conn.execute(select(institution_payments.c.status)).scalar_one() == "pending"
    assert world.balance(world.alice) == 123_456
    finished = payments.pay(institution, order)  # the same voucher: already spent, yet the retry completes
    assert finished.replayed and finished.paid_fen == 700 and world.balance(world.alice) == 123_456 - 700
    assert payments.pay(institution, order).transaction_id == finished.transaction_id
    with engine.connect() as conn:
        assert conn.execute(select(institution_payments.c.status)).scalar_one() == "posted"


def test_concurrent_refunds_of_one_payment_never_exceed_it(world, engine):
    assert world.pay(payload=world.voucher(world.alice), amount_fen=5_000, receipt_no="R-C").status_code == 200
    institution = Principal(Kind.INSTITUTION, _institution_id(engine, "P001"), client_id="P001", region_code="110000")
    payments = Payments(engine, world.client.app.state.security, load_book())

    def refund(n: int) -> str:
        try:
            payments.refund(institution, RefundOrder("R-C", 1_000, f"concurrent-{n}"))
            return "refunded"
        except YibaoError as error:
            return error.code

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(refund, range(8)))
    assert sorted(outcomes) == ["refund_exceeds_payment"] * 3 + ["refunded"] * 5
    assert world.balance(world.alice) == 123_456


def test_the_same_payment_sent_twice_at_once_posts_once(world, engine):
    institution = Principal(Kind.INSTITUTION, _institution_id(engine, "P001"), client_id="P001", region_code="110000")
    payments = Payments(engine, world.client.app.state.security, load_book())
    order = PaymentOrder("R-T", 900, "twin-key", Credential.parse(payload=world.voucher(world.alice), card_number=None, pin=None))
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: payments.pay(institution, order), range(4)))
    assert len({result.transaction_id for result in results}) == 1 and sum(not result.replayed for result in results) == 1
    assert world.balance(world.alice) == 123_456 - 900


def _institution_id(engine, code: str) -> int:
    with engine.connect() as conn:
        return conn.execute(select(institutions.c.id).where(institutions.c.code == code)).scalar_one()


# ---------------------------------------------------------------------------- balance and account status


def test_not_enough_balance_is_refused_and_changes_nothing(world):
    payload = world.voucher(world.alice)
    before = world.transactions()
    refused = world.pay(payload=payload, amount_fen=200_000, receipt_no="R-1")
    assert refused.status_code == 409 and error(refused) == "insufficient_balance"
    assert "1,234.56元" in refused.json()["error"]["message"] and "2,000.00元" in refused.json()["error"]["message"]
    assert world.transactions() == before and world.balance(world.alice) == 123_456
    refusal = world.audit("institution.payment_refused")[-1]
    assert refusal["subject_person_id"] == world.alice.person_id and refusal["detail"]["code"] == "insufficient_balance"
    # The voucher, the receipt number and the key are all still free.
    partial = world.pay(payload=payload, amount_fen=200_000, receipt_no="R-1", allow_partial=True)
    assert partial.status_code == 200, partial.text
    assert partial.json()["paid_fen"] == 123_456 and partial.json()["cash_due_fen"] == 200_000 - 123_456
    assert partial.json()["cash_due"] == "765.44元" and world.balance(world.alice) == 0
    empty = world.pay(payload=world.voucher(world.alice), amount_fen=100, allow_partial=True)
    assert empty.status_code == 409 and error(empty) == "insufficient_balance" and "余额为0" in empty.json()["error"]["message"]


def test_frozen_and_closed_accounts_and_people_without_an_account_cannot_pay(world, engine):
    with engine.begin() as conn:
        set_status(conn, world.alice.account_id, AccountStatus.FROZEN, TODAY)
    frozen = world.pay(payload=world.voucher(world.alice), amount_fen=100)
    assert frozen.status_code == 409 and error(frozen) == "account_not_active" and "冻结" in frozen.json()["error"]["message"]
    ledger = Ledger(engine)
    with engine.begin() as conn:
        set_status(conn, world.alice.account_id, AccountStatus.ACTIVE, TODAY)
        payout = system_account(conn, AccountKind.PAYOUT, "110000", opened_on=TODAY)
    ledger.transfer(kind=TxKind.WITHDRAWAL, from_account=world.alice.account_id, to_account=payout, amount_fen=123_456,
                    idempotency_key="t-withdraw", business_date=TODAY)
    with engine.begin() as conn:
        set_status(conn, world.alice.account_id, AccountStatus.CLOSED, TODAY)
    closed = world.pay(payload=world.voucher(world.alice), amount_fen=100)
    assert closed.status_code == 409 and error(closed) == "account_not_active" and "注销" in closed.json()["error"]["message"]
    resident = add_resident(engine, 7)
    none = world.pay(payload=world.voucher(resident), amount_fen=100)
    assert none.status_code == 422 and error(none) == "no_personal_account"


# ---------------------------------------------------------------------------- refunds


def test_refunds_go_back_to_the_account_and_never_exceed_the_payment(world):
    assert world.pay(payload=world.voucher(world.alice), amount_fen=5_000, receipt_no="R-5").status_code == 200
    first = world.refund("R-5", 2_000, "refund-1")
    assert first.status_code == 200, first.text
    assert first.json()["refunded_total_fen"] == 2_000 and first.json()["refundable_fen"] == 3_000
    assert world.balance(world.alice) == 123_456 - 3_000
    too_much = world.refund("R-5", 3_001, "refund-2")
    assert too_much.status_code == 422 and error(too_much) == "refund_exceeds_payment"
    assert "最多还可退30.00元" in too_much.json()["error"]["message"]
    rest = world.refund("R-5", 3_000, "refund-2")  # the refused key was left unused
    assert rest.status_code == 200 and rest.json()["refundable_fen"] == 0
    assert world.refund("R-5", 1, "refund-3").status_code == 422
    replay = world.refund("R-5", 2_000, "refund-1")
    assert replay.status_code == 200 and replay.json() == first.json() and replay.headers["Idempotent-Replayed"] == "true"
    conflict = world.refund("R-5", 1_999, "refund-1")
    assert conflict.status_code == 409 and error(conflict) == "idempotency_conflict"
    assert world.balance(world.alice) == 123_456
    with world.engine.connect() as conn:
        kinds = conn.execute(select(ledger_transactions.c.kind, func.count()).group_by(ledger_transactions.c.kind)).all()
    assert dict(kinds)[TxKind.REFUND.value] == 2
    assert {entry["subject_person_id"] for entry in world.audit("institution.refund")} == {world.alice.person_id}


def test_an_institution_cannot_refund_another_institutions_receipt(world):
    assert world.pay(payload=world.voucher(world.alice), amount_fen=5_000, receipt_no="R-5").status_code == 200
    foreign = world.refund("R-5", 100, "refund-h", headers=world.hospital)
    assert foreign.status_code == 404 and error(foreign) == "payment_not_found"
    unknown = world.refund("R-404", 100, "refund-x")
    assert unknown.status_code == 404
    assert world.balance(world.alice) == 123_456 - 5_000


def test_a_refund_to_a_closed_account_is_refused(world, engine):
    assert world.pay(payload=world.voucher(world.bob), amount_fen=50_000, receipt_no="R-all").status_code == 200
    with engine.begin() as conn:
        set_status(conn, world.bob.account_id, AccountStatus.CLOSED, TODAY)
    refused = world.refund("R-all", 100, "refund-closed")
    assert refused.status_code == 409 and error(refused) == "account_not_active"
    with engine.begin() as conn:
        assert conn.execute(select(func.count()).select_from(institution_refunds)).scalar_one() == 0


# ---------------------------------------------------------------------------- settlement


def _ledger_day(engine, code: str, day: date) -> tuple[int, int, int, int]:
    """Straight from the ledger: count and total of credits, count and total of debits on the account that day."""
    with engine.connect() as conn:
        amounts = conn.execute(
            select(postings.c.amount_fen).join(accounts, accounts.c.id == postings.c.account_id)
            .where(accounts.c.code == code, postings.c.business_date == day)
        ).scalars().all()
    credits, debits = [a for a in amounts if a > 0], [a for a in amounts if a < 0]
    return len(credits), sum(credits), len(debits), -sum(debits)


def test_the_daily_settlement_equals_the_ledger(world, engine):
    for person, amount in ((world.alice, 1_000), (world.bob, 2_500), (world.alice, 333)):
        assert world.pay(payload=world.voucher(person), amount_fen=amount).status_code == 200
    assert world.pay(world.hospital, payload=world.voucher(world.bob), amount_fen=9_999).status_code == 200
    assert world.refund("R0002", 500, "refund-a").status_code == 200
    later(world.clock, days=1)
    assert world.refund("R0001", 1_000, "refund-b").status_code == 200  # next day: tomorrow's report
    today = world.client.get(SETTLEMENT, headers=world.pharmacy, params={"date": TODAY.isoformat()})
    assert today.status_code == 200, today.text
    report = today.json()
    count, paid, refunds, refunded = _ledger_day(engine, "institution:110000:P001", TODAY)
    assert (report["payments_count"], report["paid_fen"], report["refunds_count"], report["refunded_fen"]) == (count, paid, refunds, refunded)
    assert (count, paid, refunds, refunded) == (3, 3_833, 1, 500)
    assert report["net_fen"] == report["ledger_net_fen"] == 3_333 and report["reconciled"] is True
    assert report["net"] == "33.33元"
    tomorrow = world.client.get(SETTLEMENT, headers=world.pharmacy, params={"date": "2025-06-16"}).json()
    assert (tomorrow["payments_count"], tomorrow["refunds_count"], tomorrow["net_fen"]) == (0, 1, -1_000)
    assert tomorrow["ledger_net_fen"] == -1_000 and tomorrow["reconciled"] is True
    hospital = world.client.get(SETTLEMENT, headers=world.hospital, params={"date": TODAY.isoformat()}).json()
    assert (hospital["payments_count"], hospital["paid_fen"]) == (1, 9_999) == _ledger_day(engine, "institution:110000:H002", TODAY)[:2]
    assert world.client.get(SETTLEMENT, headers=world.pharmacy, params={"date": "June"}).status_code == 422


# ---------------------------------------------------------------------------- the command line


def test_institution_add_marks_a_designated_institution(database_url):
    def add(*args: str) -> subprocess.CompletedProcess:
        env = os.environ | {"YIBAO_DATABASE_URL": database_url, "COLUMNS": "200"}
        return subprocess.run([sys.executable, "-m", "yibao.cli", "institution", "add", *args], env=env,
                              capture_output=True, text=True, timeout=120)

    designated = add("P100", "--name", "定点大药房", "--region", "110000", "--designated")
    plain = add("P101", "--name", "普通药房", "--region", "110000")
    assert designated.returncode == 0 and plain.returncode == 0, designated.stderr + plain.stderr
    assert "定点医药机构" in designated.stdout and "非定点" in plain.stdout
    engine = make_engine(database_url)
    with engine.connect() as conn:
        flags = dict(conn.execute(select(institutions.c.code, institutions.c.designated)).all())
    engine.dispose()
    assert flags == {"P100": True, "P101": False}


def test_payments_refused_in_a_race_give_their_vouchers_back_and_are_audited_as_refusals(world, engine):
    # 32 payments of 300 against 1,000, each with its own voucher, all reserved before any posts
    # (the reservation does not lock the balance): three post, the others are refused when posting.
    carol = add_insured(engine, 3, balance_fen=1_000)
    sec = world.client.app.state.security
    institution = Principal(Kind.INSTITUTION, _institution_id(engine, "P001"), client_id="P001", region_code="110000")
    together = threading.Barrier(32)

    class PostingTogether(Ledger):
        def transfer(self, **kwargs):
            try:
                together.wait(timeout=20)
            except threading.BrokenBarrierError:
                pass
            return super().transfer(**kwargs)

    payments = Payments(engine, sec, load_book(), PostingTogether(engine))
    with engine.begin() as conn:
        vouchers = [
            evoucher.issue(conn, sec.key, person_id=carol.person_id, issued_to="person", now=sec.now(), ttl_seconds=60).payload
            for _ in range(32)
        ]

    def pay(n: int) -> str:
        order = PaymentOrder(f"R-RACE-{n}", 300, f"race-{n}", Credential.parse(payload=vouchers[n], card_number=None, pin=None))
        try:
            payments.pay(institution, order)
            return "posted"
        except YibaoError as refusal:
            return refusal.code

    with ThreadPoolExecutor(max_workers=32) as pool:
        outcomes = list(pool.map(pay, range(32)))
    assert sorted(set(outcomes)) == ["insufficient_balance", "posted"] and outcomes.count("posted") == 3
    assert world.balance(carol) == 100
    paid = [entry for entry in world.audit("institution.payment") if entry["subject_person_id"] == carol.person_id]
    refused = [entry for entry in world.audit("institution.payment_refused") if entry["subject_person_id"] == carol.person_id]
    assert len(paid) == 3 and len(refused) == 29
    assert {entry["detail"]["code"] for entry in refused} == {"insufficient_balance"}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(institution_payments)).scalar_one() == 3
    # Every refused voucher works again, for an amount the account still holds.
    refused_voucher = vouchers[outcomes.index("insufficient_balance")]
    again = world.pay(payload=refused_voucher, amount_fen=100)
    assert again.status_code == 200, again.text
    assert world.balance(carol) == 0


# ---------------------------------------------------------------------------- crashes: db check and payments resume


def yibao(database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"YIBAO_DATABASE_URL": database_url}
    return subprocess.run([sys.executable, "-m", "yibao.cli", *args], env=env, capture_output=True, text=True, timeout=120)


def test_a_crash_between_posting_and_marking_is_found_by_db_check_and_finished_by_resume(world, engine, database_url, monkeypatch):
    institution = Principal(Kind.INSTITUTION, _institution_id(engine, "P001"), client_id="P001", region_code="110000")
    payments = Payments(engine, world.client.app.state.security, load_book())
    order = PaymentOrder("R-HALF", 700, "half-key", Credential.parse(payload=world.voucher(world.alice), card_number=None, pin=None))

    def crash(*_args, **_kwargs):
        raise RuntimeError("the process died after posting")

    monkeypatch.setattr(payment_service, "_mark_posted", crash)
    with pytest.raises(RuntimeError):
        payments.pay(institution, order)
    monkeypatch.undo()
    assert world.balance(world.alice) == 123_456 - 700  # charged, but the payment is still pending
    with engine.connect() as conn:
        payment_id, status = conn.execute(select(institution_payments.c.id, institution_payments.c.status)).one()
        assert status == "pending" and not daily_settlement(conn, institution.subject_id, TODAY).reconciled

    checked = yibao(database_url, "db", "check", "--json")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    findings = {finding["code"]: finding for finding in json.loads(checked.stdout)["findings"]}
    assert list(findings) == ["payment_half_written"]
    assert [example["payment_id"] for example in findings["payment_half_written"]["examples"]] == [payment_id]

    resumed = yibao(database_url, "payments", "resume", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert [(row["kind"], row["id"]) for row in json.loads(resumed.stdout)["finished"]] == [("payment", payment_id)]
    assert yibao(database_url, "db", "check").returncode == 0
    again = json.loads(yibao(database_url, "payments", "resume", "--json").stdout)
    assert again == {"finished": [], "dropped": [], "waiting": 0}  # nothing left: running it twice changes nothing
    with engine.connect() as conn:
        assert conn.execute(select(institution_payments.c.status)).scalar_one() == "posted"
        assert daily_settlement(conn, institution.subject_id, TODAY).reconciled
    entry = world.audit("institution.payment")[-1]
    assert entry["detail"]["payment_id"] == payment_id and entry["detail"]["resumed"] is True
    assert payments.pay(institution, order).replayed  # the institution's retry gets the same payment
    assert world.balance(world.alice) == 123_456 - 700


def test_a_payment_cut_off_before_posting_is_dropped_when_stale_and_its_voucher_works_again(world, engine):
    class Dying(Ledger):
        def transfer(self, **kwargs):
            raise RuntimeError("the process died before posting")

    sec = world.client.app.state.security
    institution = Principal(Kind.INSTITUTION, _institution_id(engine, "P001"), client_id="P001", region_code="110000")
    payload = world.voucher(world.alice)
    order = PaymentOrder("R-CUT", 700, "cut-key", Credential.parse(payload=payload, card_number=None, pin=None))
    with pytest.raises(RuntimeError):
        Payments(engine, sec, load_book(), Dying(engine)).pay(institution, order)
    assert resume_pending(engine, now=sec.now(), older_than_seconds=300).as_dict() == {"finished": [], "dropped": [], "waiting": 1}
    with engine.connect() as conn:
        fresh, stale = check_ledger(conn), check_ledger(conn, stale_after_seconds=0)
    assert fresh.ok and not fresh.warnings  # possibly still in flight
    assert stale.ok and [warning.code for warning in stale.warnings] == ["payment_pending_stale"]

    dropped = resume_pending(engine, now=sec.now(), older_than_seconds=0)
    assert [row.receipt_no for row in dropped.dropped] == ["R-CUT"] and not dropped.finished
    assert world.audit("institution.payment_dropped")[-1]["detail"]["code"] == "stale_pending"
    assert not world.audit("institution.payment")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(institution_payments)).scalar_one() == 0
    # The voucher, the receipt number and the key are free again.
    paid = world.pay(payload=payload, amount_fen=700, receipt_no="R-CUT", key="cut-key")
    assert paid.status_code == 200, paid.text
    assert world.balance(world.alice) == 123_456 - 700


def test_the_server_finishes_half_written_payments_when_it_starts(world, engine, monkeypatch):
    institution = Principal(Kind.INSTITUTION, _institution_id(engine, "P001"), client_id="P001", region_code="110000")
    payments = Payments(engine, world.client.app.state.security, load_book())
    order = PaymentOrder("R-START", 500, "start-key", Credential.parse(payload=world.voucher(world.alice), card_number=None, pin=None))
    monkeypatch.setattr(payment_service, "_mark_posted", lambda *_args, **_kwargs: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        payments.pay(institution, order)
    monkeypatch.undo()
    with client_for(engine, security(world.clock)):
        pass  # start and stop: the start resumes, the stop waits for it
    with engine.connect() as conn:
        assert conn.execute(select(institution_payments.c.status)).scalar_one() == "posted"
        assert daily_settlement(conn, institution.subject_id, TODAY).reconciled
