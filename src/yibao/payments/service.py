"""Paying and refunding at a designated institution: reserve, post through the ledger, mark posted.

1. Reserve (one database transaction): identify the person (spending the e-voucher), pick
   the paying account (the person's own, or the holder of the person's family binding),
   decide the amount, write the payment "pending". Any refusal here rolls everything back:
   the voucher stays unspent, nothing is written but the refusal's audit entry.
2. Post: one ledger transfer whose idempotency key is derived from the row (payments.keys).
   Refused here (the balance or the account changed since step 1, e.g. a concurrent
   payment got there first): the pending row goes, the voucher is given back and the
   refusal is audited, all in one transaction.
3. Mark the row "posted", write the payment's audit entries and, for a family payment,
   link the beneficiary (one transaction): only a payment that happened is audited as one.

A retry with the same idempotency key and order finds the row: posted → the same answer;
pending (a crash between 1 and 3) → steps 2–3 again, which the ledger key makes safe.
``yibao payments resume`` (and the server at start) does steps 2–3 for pending rows whose
transaction was posted, and drops stale ones that were never posted (payments.resume).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import BigInteger, Connection, Engine, cast, delete, func, insert, select, update

from yibao import notifications
from yibao.domain.money import Money
from yibao.errors import AccountNotActive, IdempotencyConflict, InsufficientBalance, YibaoError
from yibao.family import beneficiaries
from yibao.family.bindings import get_for, guardians_told_of_payment, paying_binding
from yibao.family.limits import check_yearly_limit
from yibao.ledger.accounts import system_account_code
from yibao.ledger.kinds import AccountKind, AccountStatus, TxKind
from yibao.ledger.ledger import Ledger
from yibao.payments.errors import NoFamilyBinding, NoPersonalAccount, PaymentNotFound, ReceiptTaken, RefundTooLarge
from yibao.payments.identify import check_card_pin, identify_in
from yibao.payments.institutions import institution_row, require_designated, settlement_account
from yibao.payments.keys import PENDING, POSTED, payment_key, refund_key
from yibao.payments.orders import Payer, PaymentOrder, RefundOrder
from yibao.policy.parameters import PolicyBook
from yibao.security import audit, evoucher
from yibao.security.context import Security
from yibao.security.principal import Kind, Principal
from yibao.store.db import insert_unique
from yibao.store.models import accounts, institution_payments, institution_refunds

PAYMENT_REFUSED, REFUND_REFUSED = "institution.payment_refused", "institution.refund_refused"


@dataclass(frozen=True)
class PaymentResult:
    payment_id: int
    receipt_no: str
    payer: Payer
    person_id: int  # the patient
    amount_fen: int
    paid_fen: int
    business_date: date
    transaction_id: int
    replayed: bool
    balance_fen: int | None = None  # the paying account's balance right after this payment (None: not posted now)

    @property
    def cash_due_fen(self) -> int:
        return self.amount_fen - self.paid_fen


@dataclass(frozen=True)
class RefundResult:
    refund_id: int
    receipt_no: str
    amount_fen: int
    paid_fen: int  # of the original payment
    refunded_total_fen: int  # this refund and the ones before it
    business_date: date
    transaction_id: int
    replayed: bool
    balance_fen: int | None = None  # the paying account's balance right after this refund (None: not posted now)

    @property
    def refundable_fen(self) -> int:
        return self.paid_fen - self.refunded_total_fen


@dataclass
class _Attempt:
    """The people a refused call had already touched, for its audit entry."""

    subjects: list[int] = field(default_factory=list)


class Payments:
    def __init__(self, engine: Engine, sec: Security, book: PolicyBook, ledger: Ledger | None = None):
        self.engine, self.sec, self.book = engine, sec, book
        self.ledger = ledger or Ledger(engine)

    # ------------------------------------------------------------------ paying

    def pay(
        self, institution: Principal, order: PaymentOrder, *, client: str | None = None, payee=None, fresh: bool = False
    ) -> PaymentResult:
        """``payee``: the institution's row, when the caller has read it; ``fresh``: the caller knows that no
        payment has this key yet (a clash with a concurrent twin is still caught when reserving)."""
        existing = None if fresh else self._payment_by_key(institution.subject_id, order.idempotency_key)
        if existing is not None:
            return self._resume_payment(existing, order, institution, client)
        if payee is None:
            with self.engine.connect() as conn:
                payee = institution_row(conn, institution.subject_id)
        require_designated(payee)
        card_person = None
        if order.credential.card_number is not None:
            card_person = check_card_pin(self.engine, self.sec, order.credential, institution=institution, client=client)
        attempt = _Attempt()
        try:
            with self.engine.begin() as conn:
                payment_id = self._reserve(conn, payee, order, card_person, attempt)
        except YibaoError as refusal:
            twin = self._payment_by_key(institution.subject_id, order.idempotency_key)
            if twin is not None:  # the same request, sent twice at once, got there first
                return self._resume_payment(twin, order, institution, client)
            self._audit_refusal(institution, attempt, refusal, PAYMENT_REFUSED, order.receipt_no, client)
            raise
        return self._post_payment(payment_id, institution, client, replayed=False)

    def _reserve(self, conn: Connection, payee, order: PaymentOrder, card_person: int | None, attempt: _Attempt) -> int:
        if order.prepare is not None:  # the caller's own records, in the same transaction as the reservation
            order = order.prepare(conn)
        now, today = self.sec.now(), self.sec.clock.today()
        person_id, voucher_id = identify_in(
            conn, self.sec, order.credential, institution_id=payee.id, now=now, card_person_id=card_person
        )
        attempt.subjects.append(person_id)
        binding_id, payer_id = None, person_id
        if order.payer is Payer.FAMILY:
            binding = paying_binding(conn, person_id)
            if binding is None:
                raise NoFamilyBinding(field="payer")
            binding_id, payer_id = binding.id, binding.holder_person_id
            attempt.subjects.append(payer_id)
        account = _paying_account(conn, payer_id, order.payer)
        paid_fen = _amount_to_pay(order, account.balance_fen)
        if binding_id is not None:
            check_yearly_limit(
                conn, self.book, holder_person_id=payer_id, account_id=account.id, region_code=account.region_code,
                day=today, amount_fen=paid_fen,
            )
        settlement_account(conn, payee, today)  # created on first use, before the ledger needs it
        payment_id = _insert_pending(
            conn, institution_payments,
            {"institution_id": payee.id, "receipt_no": order.receipt_no, "idempotency_key": order.idempotency_key,
             "request_hash": order.request_hash(), "person_id": person_id, "payer_person_id": payer_id,
             "account_id": account.id, "binding_id": binding_id, "amount_fen": order.amount_fen, "paid_fen": paid_fen,
             "business_date": today, "evoucher_id": voucher_id},
            taken=ReceiptTaken(field="receipt_no"),
        )
        return payment_id

    def _post_payment(self, payment_id: int, institution: Principal, client: str | None, *, replayed: bool) -> PaymentResult:
        with self.engine.connect() as conn:
            row = _row(conn, institution_payments, payment_id)
            payee = institution_row(conn, row.institution_id)
            settlement = _settlement_account_id(conn, payee)
        if row.status == PENDING:
            family = row.binding_id is not None
            try:
                posted = self.ledger.transfer(
                    kind=TxKind.FAMILY_PAYMENT if family else TxKind.SPENDING, from_account=row.account_id,
                    to_account=settlement, amount_fen=row.paid_fen, idempotency_key=payment_key(row.id),
                    business_date=row.business_date, memo=f"{payee.name}{'家庭共济支付' if family else '支付'}",
                    reference=row.receipt_no,
                )
            except (InsufficientBalance, AccountNotActive) as refusal:
                # The balance or the account changed since the reservation: free the key, the receipt and the voucher.
                with self.engine.begin() as conn:
                    if drop_payment(conn, row):
                        _audit_payment_refusal(conn, row, institution, refusal.code, self.sec.now(), client)
                raise
            told = []
            with self.engine.begin() as conn:
                finished = finish_payment(conn, row, posted.transaction_id, institution, self.sec.now(), client)
                if finished and family:
                    told = guardians_told_of_payment(
                        conn, get_for(conn, row.binding_id, row.payer_person_id), today=self.sec.clock.today(),
                        now=self.sec.now(), what=f"已用其个人账户在{payee.name}为该未成年人支付{Money(row.paid_fen).format()}",
                    )
            notifications.send(self.sec, told)
            with self.engine.connect() as conn:
                row = _row(conn, institution_payments, payment_id)
            return _payment_result(row, replayed, posted.balances.get(row.account_id))
        return _payment_result(row, replayed)

    def _resume_payment(self, existing, order: PaymentOrder, institution: Principal, client: str | None) -> PaymentResult:
        if existing.request_hash != order.request_hash():
            raise IdempotencyConflict(field="idempotency_key")
        return self._post_payment(existing.id, institution, client, replayed=True)

    def _payment_by_key(self, institution_id: int, key: str):
        with self.engine.connect() as conn:
            return conn.execute(
                select(institution_payments).where(
                    institution_payments.c.institution_id == institution_id, institution_payments.c.idempotency_key == key
                )
            ).one_or_none()

    # ------------------------------------------------------------------ refunding

    def refund(self, institution: Principal, order: RefundOrder, *, client: str | None = None) -> RefundResult:
        existing = self._refund_by_key(institution.subject_id, order.idempotency_key)
        if existing is not None:
            return self._resume_refund(existing, order, institution, client)
        attempt = _Attempt()
        try:
            with self.engine.begin() as conn:
                refund_id = self._reserve_refund(conn, institution, order, attempt)
        except YibaoError as refusal:
            twin = self._refund_by_key(institution.subject_id, order.idempotency_key)
            if twin is not None:
                return self._resume_refund(twin, order, institution, client)
            self._audit_refusal(institution, attempt, refusal, REFUND_REFUSED, order.receipt_no, client)
            raise
        return self._post_refund(refund_id, institution, client, replayed=False)

    def _reserve_refund(self, conn: Connection, institution: Principal, order: RefundOrder, attempt: _Attempt) -> int:
        # Locking the payment row makes concurrent refunds of one payment take turns, so their
        # sum is checked against the payment one at a time (SQLite: BEGIN IMMEDIATE does this).
        payment = conn.execute(
            select(institution_payments)
            .where(
                institution_payments.c.institution_id == institution.subject_id,
                institution_payments.c.receipt_no == order.receipt_no,
                institution_payments.c.status == POSTED,
            )
            .with_for_update()
        ).one_or_none()
        if payment is None:
            raise PaymentNotFound(field="receipt_no")
        attempt.subjects.extend(dict.fromkeys([payment.person_id, payment.payer_person_id]))
        refunded = _refunded_fen(conn, payment.id)
        if refunded + order.amount_fen > payment.paid_fen:
            left = payment.paid_fen - refunded
            raise RefundTooLarge(
                f"退费合计不能超过原支付金额：原支付{Money(payment.paid_fen).format()}，已退{Money(refunded).format()}，"
                f"最多还可退{Money(left).format()}",
                field="amount_fen",
            )
        return _insert_pending(
            conn, institution_refunds,
            {"payment_id": payment.id, "institution_id": institution.subject_id, "idempotency_key": order.idempotency_key,
             "request_hash": order.request_hash(), "amount_fen": order.amount_fen, "business_date": self.sec.clock.today()},
            taken=IdempotencyConflict(field="idempotency_key"),
        )

    def _post_refund(self, refund_id: int, institution: Principal, client: str | None, *, replayed: bool) -> RefundResult:
        with self.engine.connect() as conn:
            refund = _row(conn, institution_refunds, refund_id)
            payment = _row(conn, institution_payments, refund.payment_id)
            payee = institution_row(conn, refund.institution_id)
            settlement = _settlement_account_id(conn, payee)
        balance_fen = None
        if refund.status == PENDING:
            try:
                posted = self.ledger.transfer(
                    kind=TxKind.REFUND, from_account=settlement, to_account=payment.account_id,
                    amount_fen=refund.amount_fen, idempotency_key=refund_key(refund.id),
                    business_date=refund.business_date, memo=f"{payee.name}退费", reference=payment.receipt_no,
                )
            except AccountNotActive as refusal:
                # The paying account was closed since: the money cannot go back through the ledger here.
                with self.engine.begin() as conn:
                    if drop_refund(conn, refund, payment):
                        _audit_refund(conn, refund, payment, institution, REFUND_REFUSED, self.sec.now(), client, code=refusal.code)
                raise
            with self.engine.begin() as conn:
                finish_refund(conn, refund, payment, posted.transaction_id, institution, self.sec.now(), client)
            balance_fen = posted.balances.get(payment.account_id)
        with self.engine.connect() as conn:
            refund = _row(conn, institution_refunds, refund_id)
            total = _refunded_fen(conn, payment.id, up_to=refund.id)
        return RefundResult(
            refund.id, payment.receipt_no, refund.amount_fen, payment.paid_fen, total, refund.business_date,
            refund.transaction_id, replayed, balance_fen,
        )

    def _resume_refund(self, existing, order: RefundOrder, institution: Principal, client: str | None) -> RefundResult:
        if existing.request_hash != order.request_hash():
            raise IdempotencyConflict(field="idempotency_key")
        return self._post_refund(existing.id, institution, client, replayed=True)

    def _refund_by_key(self, institution_id: int, key: str):
        with self.engine.connect() as conn:
            return conn.execute(
                select(institution_refunds).where(
                    institution_refunds.c.institution_id == institution_id, institution_refunds.c.idempotency_key == key
                )
            ).one_or_none()

    # ------------------------------------------------------------------ shared

    def _audit_refusal(
        self, institution: Principal, attempt: _Attempt, refusal: YibaoError, action: str, receipt_no: str,
        client: str | None,
    ) -> None:
        if not attempt.subjects:
            return  # refused before anyone was identified: no person was touched
        with self.engine.begin() as conn:
            for subject in attempt.subjects:
                audit.record(
                    conn, actor=institution, action=action, at=self.sec.now(), subject_person_id=subject, client=client,
                    detail={"receipt_no": receipt_no, "code": refusal.code},
                )


# ---------------------------------------------------------------------------- finishing and dropping rows
# Shared by the service and by ``yibao payments resume``. Each runs inside the caller's
# transaction and acts only on a row that is still pending, so running twice changes nothing.


def institution_actor(conn: Connection, institution_id: int) -> Principal:
    """The institution as the audit log's actor, for work finished on its behalf (resume)."""
    payee = institution_row(conn, institution_id)
    return Principal(Kind.INSTITUTION, payee.id, client_id=payee.code, region_code=payee.region_code)


def finish_payment(
    conn: Connection, row, transaction_id: int, institution: Principal, now, client: str | None, *, resumed: bool = False
) -> bool:
    """Mark a pending payment posted with its transaction, link a family payment's beneficiary and
    audit the payment for each person it touched. False when it was no longer pending."""
    if not _mark_posted(conn, institution_payments, row.id, transaction_id):
        return False
    if row.binding_id is not None:
        beneficiaries.record(
            conn, transaction_id=transaction_id, binding_id=row.binding_id, holder_person_id=row.payer_person_id,
            member_person_id=row.person_id, account_id=row.account_id, purpose=beneficiaries.MEDICAL,
        )
    payer = Payer.FAMILY if row.binding_id is not None else Payer.SELF
    detail = {"payment_id": row.id, "receipt_no": row.receipt_no, "payer": payer.value, "paid_fen": row.paid_fen}
    for subject in dict.fromkeys([row.person_id, row.payer_person_id]):
        audit.record(
            conn, actor=institution, action="institution.payment", at=now, subject_person_id=subject, client=client,
            detail=detail | ({"resumed": True} if resumed else {}),
        )
    return True


def drop_payment(conn: Connection, row) -> bool:
    """Delete a pending payment that was never posted (its key and receipt number are free
    again) and give its voucher back. False when it was no longer pending."""
    dropped = conn.execute(
        delete(institution_payments).where(institution_payments.c.id == row.id, institution_payments.c.status == PENDING)
    ).rowcount
    if dropped and row.evoucher_id is not None:
        evoucher.give_back(conn, row.evoucher_id)
    return bool(dropped)


def finish_refund(
    conn: Connection, refund, payment, transaction_id: int, institution: Principal, now, client: str | None,
    *, resumed: bool = False,
) -> bool:
    if not _mark_posted(conn, institution_refunds, refund.id, transaction_id):
        return False
    if payment.binding_id is not None:
        beneficiaries.record(
            conn, transaction_id=transaction_id, binding_id=payment.binding_id, holder_person_id=payment.payer_person_id,
            member_person_id=payment.person_id, account_id=payment.account_id, purpose=beneficiaries.REFUND,
        )
    _audit_refund(conn, refund, payment, institution, "institution.refund", now, client, resumed=resumed)
    return True


def drop_refund(conn: Connection, refund, payment) -> bool:
    return bool(conn.execute(
        delete(institution_refunds).where(institution_refunds.c.id == refund.id, institution_refunds.c.status == PENDING)
    ).rowcount)


def _audit_payment_refusal(conn: Connection, row, institution: Principal, code: str, now, client: str | None) -> None:
    for subject in dict.fromkeys([row.person_id, row.payer_person_id]):
        audit.record(
            conn, actor=institution, action=PAYMENT_REFUSED, at=now, subject_person_id=subject, client=client,
            detail={"receipt_no": row.receipt_no, "code": code},
        )


def _audit_refund(
    conn: Connection, refund, payment, institution: Principal, action: str, now, client: str | None,
    *, code: str | None = None, resumed: bool = False,
) -> None:
    detail = {"refund_id": refund.id, "payment_id": payment.id, "receipt_no": payment.receipt_no, "amount_fen": refund.amount_fen}
    if code:
        detail = {"receipt_no": payment.receipt_no, "code": code}
    for subject in dict.fromkeys([payment.person_id, payment.payer_person_id]):
        audit.record(
            conn, actor=institution, action=action, at=now, subject_person_id=subject, client=client,
            detail=detail | ({"resumed": True} if resumed else {}),
        )


def _paying_account(conn: Connection, payer_id: int, payer: Payer):
    query = select(accounts.c.id, accounts.c.status, accounts.c.balance_fen, accounts.c.region_code).where(
        accounts.c.person_id == payer_id, accounts.c.kind == AccountKind.PERSONAL.value,
        accounts.c.status != AccountStatus.CLOSED.value,
    )
    if payer is Payer.FAMILY:
        # Family payments of one holder take turns, so the yearly limit is checked on a settled total.
        query = query.with_for_update()
    account = conn.execute(query).one_or_none()
    if account is None:
        if _has_closed_account(conn, payer_id):
            raise AccountNotActive(f"{payer.label}已注销，不能支付", field="payer")
        if payer is Payer.FAMILY:
            raise NoPersonalAccount("家庭共济账户持有人没有可用的个人账户", field="payer")
        raise NoPersonalAccount(
            "该参保人没有职工医保个人账户；如已绑定家庭共济，可使用家属账户支付（payer: family）", field="payer"
        )
    if account.status != AccountStatus.ACTIVE.value:
        raise AccountNotActive(f"{payer.label}已冻结，不能支付", field="payer")
    return account


def _has_closed_account(conn: Connection, person_id: int) -> bool:
    closed = select(accounts.c.id).where(accounts.c.person_id == person_id, accounts.c.status == AccountStatus.CLOSED.value)
    return conn.execute(closed.limit(1)).first() is not None


def _amount_to_pay(order: PaymentOrder, balance_fen: int) -> int:
    """All of it; or, when the institution allows, what the account holds (the rest in cash)."""
    if balance_fen >= order.amount_fen:
        return order.amount_fen
    if order.allow_partial and balance_fen > 0:
        return balance_fen
    if balance_fen == 0:
        raise InsufficientBalance(f"{order.payer.label}余额为0，请以现金支付", field="amount_fen")
    due = Money(order.amount_fen).format()
    if order.payer is Payer.FAMILY:  # the holder's balance is not the counter's business
        raise InsufficientBalance(f"{order.payer.label}余额不足以支付{due}；可选择部分支付，差额以现金支付", field="amount_fen")
    raise InsufficientBalance(
        f"个人账户余额{Money(balance_fen).format()}，不足以支付{due}；可选择部分支付，差额以现金支付", field="amount_fen"
    )


def _insert_pending(conn: Connection, table, values: dict, *, taken: YibaoError) -> int:
    return insert_unique(conn, insert(table).values(status=PENDING, **values).returning(table.c.id), taken=taken)


def _mark_posted(conn: Connection, table, row_id: int, transaction_id: int) -> bool:
    return bool(conn.execute(
        update(table).where(table.c.id == row_id, table.c.status == PENDING).values(status=POSTED, transaction_id=transaction_id)
    ).rowcount)


def _row(conn: Connection, table, row_id: int):
    return conn.execute(select(table).where(table.c.id == row_id)).one()


def _settlement_account_id(conn: Connection, payee) -> int:
    code = system_account_code(AccountKind.INSTITUTION, payee.region_code, payee.code)
    return conn.execute(select(accounts.c.id).where(accounts.c.code == code)).scalar_one()


def _refunded_fen(conn: Connection, payment_id: int, *, up_to: int | None = None) -> int:
    conditions = [institution_refunds.c.payment_id == payment_id]
    if up_to is not None:
        conditions.append(institution_refunds.c.id <= up_to)
    total = conn.execute(
        select(cast(func.coalesce(func.sum(institution_refunds.c.amount_fen), 0), BigInteger)).where(*conditions)
    ).scalar_one()
    return int(total)


def _payment_result(row, replayed: bool, balance_fen: int | None = None) -> PaymentResult:
    return PaymentResult(
        row.id, row.receipt_no, Payer.FAMILY if row.binding_id is not None else Payer.SELF, row.person_id,
        row.amount_fen, row.paid_fen, row.business_date, row.transaction_id, replayed, balance_fen,
    )
