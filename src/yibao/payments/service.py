"""Paying and refunding at a designated institution: reserve, post through the ledger, mark posted.

1. Reserve (one database transaction): identify the person (spending the e-voucher), pick
   the paying account (the person's own, or the holder of the person's family binding),
   decide the amount, write the payment "pending" and the audit entries. Any refusal here
   rolls everything back: the voucher stays unspent, nothing is written but the refusal's
   audit entry.
2. Post: one ledger transfer whose idempotency key is derived from the row.
3. Mark the row "posted" and, for a family payment, link the beneficiary.

A retry with the same idempotency key and order finds the row: posted → the same answer;
pending (a crash between 1 and 3) → steps 2–3 again, which the ledger key makes safe.
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
from yibao.payments.orders import Payer, PaymentOrder, RefundOrder
from yibao.policy.parameters import PolicyBook
from yibao.security import audit
from yibao.security.context import Security
from yibao.security.principal import Principal
from yibao.store.db import insert_unique
from yibao.store.models import accounts, institution_payments, institution_refunds

PENDING, POSTED = "pending", "posted"


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

    def pay(self, institution: Principal, order: PaymentOrder, *, client: str | None = None) -> PaymentResult:
        existing = self._payment_by_key(institution.subject_id, order.idempotency_key)
        if existing is not None:
            return self._resume_payment(existing, order)
        with self.engine.connect() as conn:
            payee = institution_row(conn, institution.subject_id)
        require_designated(payee)
        card_person = None
        if not order.credential.is_voucher:
            card_person = check_card_pin(self.engine, self.sec, order.credential, institution=institution, client=client)
        attempt = _Attempt()
        try:
            with self.engine.begin() as conn:
                payment_id = self._reserve(conn, institution, payee, order, card_person, attempt, client)
        except YibaoError as refusal:
            twin = self._payment_by_key(institution.subject_id, order.idempotency_key)
            if twin is not None:  # the same request, sent twice at once, got there first
                return self._resume_payment(twin, order)
            self._audit_refusal(institution, attempt, refusal, "institution.payment_refused", order.receipt_no, client)
            raise
        return self._post_payment(payment_id, replayed=False)

    def _reserve(
        self, conn: Connection, institution: Principal, payee, order: PaymentOrder, card_person: int | None,
        attempt: _Attempt, client: str | None,
    ) -> int:
        now, today = self.sec.now(), self.sec.clock.today()
        person_id = identify_in(conn, self.sec, order.credential, institution_id=payee.id, now=now, card_person_id=card_person)
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
             "business_date": today},
            taken=ReceiptTaken(field="receipt_no"),
        )
        detail = {"payment_id": payment_id, "receipt_no": order.receipt_no, "payer": order.payer.value, "paid_fen": paid_fen}
        for subject in attempt.subjects:
            audit.record(
                conn, actor=institution, action="institution.payment", at=now, subject_person_id=subject, client=client,
                detail=detail,
            )
        return payment_id

    def _post_payment(self, payment_id: int, *, replayed: bool) -> PaymentResult:
        with self.engine.connect() as conn:
            row = _row(conn, institution_payments, payment_id)
            payee = institution_row(conn, row.institution_id)
            settlement = _settlement_account_id(conn, payee)
        if row.status == PENDING:
            family = row.binding_id is not None
            try:
                posted = self.ledger.transfer(
                    kind=TxKind.FAMILY_PAYMENT if family else TxKind.SPENDING, from_account=row.account_id,
                    to_account=settlement, amount_fen=row.paid_fen, idempotency_key=f"institution-payment:{row.id}",
                    business_date=row.business_date, memo=f"{payee.name}{'家庭共济支付' if family else '支付'}",
                    reference=row.receipt_no,
                )
            except (InsufficientBalance, AccountNotActive):
                # The balance or the account changed since the reservation: free the key and the receipt.
                self._drop_pending(institution_payments, row.id)
                raise
            told = []
            with self.engine.begin() as conn:
                _mark_posted(conn, institution_payments, row.id, posted.transaction_id)
                if family:
                    beneficiaries.record(
                        conn, transaction_id=posted.transaction_id, binding_id=row.binding_id,
                        holder_person_id=row.payer_person_id, member_person_id=row.person_id,
                        account_id=row.account_id, purpose=beneficiaries.MEDICAL,
                    )
                    told = guardians_told_of_payment(
                        conn, get_for(conn, row.binding_id, row.payer_person_id), today=self.sec.clock.today(),
                        now=self.sec.now(), what=f"已用其个人账户在{payee.name}为该未成年人支付{Money(row.paid_fen).format()}",
                    )
            notifications.send(self.sec, told)
            with self.engine.connect() as conn:
                row = _row(conn, institution_payments, payment_id)
        return _payment_result(row, replayed)

    def _resume_payment(self, existing, order: PaymentOrder) -> PaymentResult:
        if existing.request_hash != order.request_hash():
            raise IdempotencyConflict(field="idempotency_key")
        return self._post_payment(existing.id, replayed=True)

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
            return self._resume_refund(existing, order)
        attempt = _Attempt()
        try:
            with self.engine.begin() as conn:
                refund_id = self._reserve_refund(conn, institution, order, attempt, client)
        except YibaoError as refusal:
            twin = self._refund_by_key(institution.subject_id, order.idempotency_key)
            if twin is not None:
                return self._resume_refund(twin, order)
            self._audit_refusal(institution, attempt, refusal, "institution.refund_refused", order.receipt_no, client)
            raise
        return self._post_refund(refund_id, replayed=False)

    def _reserve_refund(
        self, conn: Connection, institution: Principal, order: RefundOrder, attempt: _Attempt, client: str | None
    ) -> int:
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
        now, today = self.sec.now(), self.sec.clock.today()
        refund_id = _insert_pending(
            conn, institution_refunds,
            {"payment_id": payment.id, "institution_id": institution.subject_id, "idempotency_key": order.idempotency_key,
             "request_hash": order.request_hash(), "amount_fen": order.amount_fen, "business_date": today},
            taken=IdempotencyConflict(field="idempotency_key"),
        )
        detail = {"refund_id": refund_id, "payment_id": payment.id, "receipt_no": order.receipt_no, "amount_fen": order.amount_fen}
        for subject in attempt.subjects:
            audit.record(
                conn, actor=institution, action="institution.refund", at=now, subject_person_id=subject, client=client,
                detail=detail,
            )
        return refund_id

    def _post_refund(self, refund_id: int, *, replayed: bool) -> RefundResult:
        with self.engine.connect() as conn:
            refund = _row(conn, institution_refunds, refund_id)
            payment = _row(conn, institution_payments, refund.payment_id)
            payee = institution_row(conn, refund.institution_id)
            settlement = _settlement_account_id(conn, payee)
        if refund.status == PENDING:
            try:
                posted = self.ledger.transfer(
                    kind=TxKind.REFUND, from_account=settlement, to_account=payment.account_id,
                    amount_fen=refund.amount_fen, idempotency_key=f"institution-refund:{refund.id}",
                    business_date=refund.business_date, memo=f"{payee.name}退费", reference=payment.receipt_no,
                )
            except AccountNotActive:
                # The paying account was closed since: the money cannot go back through the ledger here.
                self._drop_pending(institution_refunds, refund.id)
                raise
            with self.engine.begin() as conn:
                _mark_posted(conn, institution_refunds, refund.id, posted.transaction_id)
                if payment.binding_id is not None:
                    beneficiaries.record(
                        conn, transaction_id=posted.transaction_id, binding_id=payment.binding_id,
                        holder_person_id=payment.payer_person_id, member_person_id=payment.person_id,
                        account_id=payment.account_id, purpose=beneficiaries.REFUND,
                    )
        with self.engine.connect() as conn:
            refund = _row(conn, institution_refunds, refund_id)
            total = _refunded_fen(conn, payment.id, up_to=refund.id)
        return RefundResult(
            refund.id, payment.receipt_no, refund.amount_fen, payment.paid_fen, total, refund.business_date,
            refund.transaction_id, replayed,
        )

    def _resume_refund(self, existing, order: RefundOrder) -> RefundResult:
        if existing.request_hash != order.request_hash():
            raise IdempotencyConflict(field="idempotency_key")
        return self._post_refund(existing.id, replayed=True)

    def _refund_by_key(self, institution_id: int, key: str):
        with self.engine.connect() as conn:
            return conn.execute(
                select(institution_refunds).where(
                    institution_refunds.c.institution_id == institution_id, institution_refunds.c.idempotency_key == key
                )
            ).one_or_none()

    # ------------------------------------------------------------------ shared

    def _drop_pending(self, table, row_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.id == row_id, table.c.status == PENDING))

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


def _mark_posted(conn: Connection, table, row_id: int, transaction_id: int) -> None:
    conn.execute(
        update(table).where(table.c.id == row_id, table.c.status == PENDING).values(status=POSTED, transaction_id=transaction_id)
    )


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


def _payment_result(row, replayed: bool) -> PaymentResult:
    return PaymentResult(
        row.id, row.receipt_no, Payer.FAMILY if row.binding_id is not None else Payer.SELF, row.person_id,
        row.amount_fen, row.paid_fen, row.business_date, row.transaction_id, replayed,
    )
