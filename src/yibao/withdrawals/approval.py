"""Staff decisions on a submitted case, and the payout that follows approval.

Above the threshold (``WithdrawalSettings``) a case needs two approvals by two different
people, the second by a supervisor (复核人员). Nobody approves a case they prepared (uploaded
its documents at the counter, named the heirs, recorded the death, refused the balance at
transfer-in): ``security.four_eyes``. Each heir is paid to their verified bank account, named
masked in the posting's memo. The payout, the closing of the account and
the case's new status are one database transaction: the account row is locked first
(``SELECT … FOR UPDATE``; SQLite serialises writers), so a pharmacy payment or a credit
arriving at the same moment either lands before and is paid out with the rest, or waits
and then finds the account closed. Nothing can slip in between payout and closing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction

from sqlalchemy import Connection, select, update

from yibao.domain import bank_account
from yibao.errors import InvalidInput
from yibao.ledger.accounts import set_status, system_account
from yibao.ledger.kinds import AccountKind, AccountStatus, TxKind
from yibao.ledger.ledger import Leg, TransactionRequest, post_within
from yibao.security import four_eyes
from yibao.security.errors import Forbidden
from yibao.security.four_eyes import CaseKind, Part
from yibao.security.permissions import Permission
from yibao.store.models import accounts, heirs
from yibao.withdrawals import shares
from yibao.withdrawals.cases import Actor, Applicant, CaseConflict, CaseStatus, heirs_of, move, reason_label, visible_case


@dataclass(frozen=True)
class Decision:
    approve: bool
    note: str
    policy_flag_acknowledged: bool = False


@dataclass(frozen=True)
class Outcome:
    status: CaseStatus
    paid_fen: int | None = None


def reference(case_id: int) -> str:
    return f"WD{case_id}"


def payable_fen(conn: Connection, case) -> int:
    """What approval would pay now: a transfer's fixed amount, or the account's whole balance."""
    if case["fixed_amount_fen"] is not None:
        return case["fixed_amount_fen"]
    return conn.execute(select(accounts.c.balance_fen).where(accounts.c.id == case["account_id"])).scalar_one()


def decide(
    conn: Connection, case_id: int, staff: Actor, decision: Decision, *, threshold_fen: int, today: date, now: datetime
) -> Outcome:
    case = visible_case(conn, case_id, staff, lock=True)
    status = CaseStatus(case["status"])
    if not status.is_open:
        raise CaseConflict("该申请已办结，不能再审批", field="case_id", code="case_closed")
    if status is CaseStatus.COLLECTING:
        raise CaseConflict("申请尚未提交，材料齐全并提交后才能审批", field="case_id", code="case_not_submitted")
    if not decision.approve:
        move(conn, case, status, CaseStatus.REJECTED, rejected_by=staff.id, decision_note=decision.note)
        return Outcome(CaseStatus.REJECTED)
    if case["policy_allowed"] is None and not decision.policy_flag_acknowledged:
        raise InvalidInput(
            "政策资料对此原因说法矛盾或未说明，请核实当地规定后勾选“已核实政策”再审批",
            field="policy_flag_acknowledged", code="policy_flag_unacknowledged",
        )
    if status is CaseStatus.APPROVED_ONCE:
        _check_second_approver(case, staff)
        four_eyes.approved(conn, CaseKind.WITHDRAWAL, case_id, staff.id, Part.SECOND_APPROVAL, now, field="case_id")
        move(conn, case, status, CaseStatus.APPROVED_ONCE, second_approver_id=staff.id, second_approved_at=now,
             decision_note=decision.note)
        return _pay(conn, case, status, today)
    four_eyes.approved(conn, CaseKind.WITHDRAWAL, case_id, staff.id, Part.FIRST_APPROVAL, now, field="case_id")
    move(conn, case, status, CaseStatus.SUBMITTED, first_approver_id=staff.id, first_approved_at=now,
         decision_note=decision.note)
    if payable_fen(conn, case) > threshold_fen:
        move(conn, case, CaseStatus.SUBMITTED, CaseStatus.APPROVED_ONCE)
        return Outcome(CaseStatus.APPROVED_ONCE)
    return _pay(conn, case, CaseStatus.SUBMITTED, today)


def _check_second_approver(case, staff: Actor) -> None:
    if case["first_approver_id"] == staff.id:
        raise CaseConflict("超过限额的提取须由另一位工作人员复核，同一人不能两次审批", field="case_id", code="same_approver")
    if not staff.may(Permission.WITHDRAWAL_SECOND_APPROVE):
        raise Forbidden("超过限额的提取须由复核人员复核", code="supervisor_required")


# ---------------------------------------------------------------------------- payout


def _pay(conn: Connection, case, status: CaseStatus, today: date) -> Outcome:
    if case["fixed_amount_fen"] is not None:
        paid = _pay_fixed(conn, case, today)
    else:
        paid = _pay_balance_and_close(conn, case, today)
    move(conn, case, status, CaseStatus.PAID, paid_fen=paid, paid_on=today)
    return Outcome(CaseStatus.PAID, paid)


def _pay_fixed(conn: Connection, case, today: date) -> int:
    """A balance held in clearing (the new region refused it) goes to the person."""
    amount = case["fixed_amount_fen"]
    if amount > 0:
        _post_payout(conn, case, case["account_id"], amount, f"withdrawal:{case['id']}", today, _payout_memo(case))
    return amount


def _payout_memo(case) -> str:
    """The reason, and the person's bank account masked (cases opened before 0016 name none)."""
    paid_to = f"，{case['bank_name']} {bank_account.mask(case['bank_account'])}" if case["bank_account"] else ""
    return f"余额支取（{reason_label(case['reason'])}{paid_to}）"


def _pay_balance_and_close(conn: Connection, case, today: date) -> int:
    account = conn.execute(
        select(accounts.c.status, accounts.c.balance_fen).where(accounts.c.id == case["account_id"]).with_for_update()
    ).one()
    if account.status == AccountStatus.CLOSED.value:
        raise CaseConflict("该账户已注销，不能再支取", field="case_id", code="account_closed")
    if case["applicant"] == Applicant.HEIR and account.status == AccountStatus.FROZEN.value:
        # Frozen at the death so that nobody spends it; the heirs' payout is the one debit
        # allowed, inside this transaction, which closes the account before it commits.
        set_status(conn, case["account_id"], AccountStatus.ACTIVE, today)
    balance = account.balance_fen
    if case["applicant"] == Applicant.HEIR:
        _pay_heirs(conn, case, balance, today)
    elif balance > 0:
        _post_payout(conn, case, case["account_id"], balance, f"withdrawal:{case['id']}", today, _payout_memo(case))
    set_status(conn, case["account_id"], AccountStatus.CLOSED, today)
    return balance


def _pay_heirs(conn: Connection, case, balance: int, today: date) -> None:
    listed = heirs_of(conn, case["id"])
    parts = shares.split(balance, [Fraction(heir["share_numerator"], heir["share_denominator"]) for heir in listed])
    for heir, amount in zip(listed, parts):
        transaction_id = None
        if amount > 0:  # a tiny balance split many ways leaves some heirs 0 fen: no posting
            transaction_id = _post_payout(
                conn, case, case["account_id"], amount, f"withdrawal:{case['id']}:heir:{heir['id']}", today,
                f"继承支付（份额{heir['share_numerator']}/{heir['share_denominator']}，"
                f"{heir['bank_name']} {bank_account.mask(heir['bank_account'])}）",
            )
        conn.execute(update(heirs).where(heirs.c.id == heir["id"]).values(paid_fen=amount, transaction_id=transaction_id))


def _post_payout(conn: Connection, case, from_account: int, amount: int, key: str, today: date, memo: str) -> int:
    payout = system_account(conn, AccountKind.PAYOUT, case["region_code"], opened_on=today)
    request = TransactionRequest(
        TxKind.WITHDRAWAL, key, (Leg(from_account, -amount), Leg(payout, amount)), today, memo, reference(case["id"])
    )
    return post_within(conn, request).transaction_id
