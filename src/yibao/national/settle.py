"""Pharmacy (2101 pre-settlement, 2102 settlement, 2103 cancel) and outpatient (2206, 2207,
2208) settlement of the personal-account part, and 2601 reversal by the original msgid.

The pooled fund's share is outside yibao: ``fund_pay_sumamt`` is 0 and the bill is paid from
the personal account (``acct_used_flag`` 1: the patient's own account up to its balance, then,
for a member of a family-sharing binding, the holder's account: ``acct_mulaid_pay``) and the
rest in cash (``psn_cash_pay``). Money moves only through the payments service: a settlement
is one or two institution payments with receipt numbers derived from its ``setl_id`` and
idempotency keys derived from its msgid, and a cancel is their refunds, keyed on the
settlement, so a settlement is paid once and refunded once whatever is repeated or raced.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import SimpleNamespace

from sqlalchemy import BigInteger, Connection, cast, delete, func, select, update

from yibao.errors import AccountNotActive, IdempotencyConflict, InsufficientBalance, InvalidInput, NotFound, YibaoError
from yibao.family.bindings import current_account, paying_binding
from yibao.family.limits import FamilyLimitExceeded, spent_in_year, yearly_limit_fen
from yibao.ledger.kinds import AccountStatus
from yibao.national import codes, fields, messages, persons, visits
from yibao.national.calls import Call
from yibao.national.envelope import MAX_MSGID
from yibao.national.signin import sign_time
from yibao.payments.errors import NoFamilyBinding, NoPersonalAccount
from yibao.payments.identify import Credential
from yibao.payments.keys import PENDING, POSTED
from yibao.payments.orders import Payer, PaymentOrder, RefundOrder
from yibao.payments.service import PaymentResult, RefundResult
from yibao.store.db import insert_or_skip, read_connection
from yibao.store.models import (
    institution_payments,
    institution_refunds,
    national_fee_lines,
    national_settlements,
)

PHARMACY = {"2101": "2102", "2102": "2102"}  # message → the settlement message it prices or makes
OUTPATIENT = {"2206": "2207", "2207": "2207"}
CANCELS = {"2103": "2102", "2208": "2207"}  # cancel message → the settlement message it cancels
CLR_TYPE = {"2102": codes.CLR_TYPE_PHARMACY, "2207": codes.CLR_TYPE_OUTPATIENT}
SETTLEMENT_NAMES = {"2102": "药店结算", "2207": "门诊结算"}
MAX_LINES = 1000
DRUG_LINE_TEXT = (
    ("rxno", 30), ("rx_circ_flag", 3), ("fee_ocur_time", 19), ("med_list_codg", 50), ("medins_list_codg", 150),
    ("bilg_dr_codg", 30), ("bilg_dr_name", 50),
)
RACE_RETRIES = 3
FAMILY_REFUSALS = (NoFamilyBinding, NoPersonalAccount, InsufficientBalance, AccountNotActive, FamilyLimitExceeded)


@dataclass(frozen=True)
class Bill:
    infno: str  # the settlement message: 2102 or 2207
    path: str
    person: object  # the patient's row
    person_id: int
    identification_id: int
    cert_type: str
    mdtrt_id: str
    med_type: str
    insutype: str
    medfee_fen: int
    use_account: bool
    invono: str
    lines: list
    fee_line_ids: tuple = ()  # an outpatient visit's uploaded lines (2204) being settled


@dataclass(frozen=True)
class Split:
    own_fen: int = 0
    family_fen: int = 0


# ---------------------------------------------------------------------------- reading the bill


def _bill(conn: Connection, call: Call) -> Bill:
    pharmacy = call.env.infno in PHARMACY
    path = "input.druginfo" if pharmacy else "input.data"
    node = fields.node(call.data, "druginfo" if pharmacy else "data", "input")
    psn = fields.text(node, "psn_no", path, limit=30)
    cert_type = fields.code(node, "mdtrt_cert_type", path, codes.CERT_TYPES)
    cert_no = fields.text(node, "mdtrt_cert_no", path, required=pharmacy, limit=200)
    med_type = fields.text(node, "med_type", path, limit=6)
    insutype = fields.text(node, "insutype", path, limit=6)
    medfee = fields.amount_fen(node, "medfee_sumamt", path, positive=True)
    use_account = fields.flag(node, "acct_used_flag", path)
    invono = fields.text(node, "invono", path, required=False, limit=30)
    lines, fee_lines, mdtrt_id = [], [], ""
    if pharmacy:
        lines = _drug_lines(call.data)
    else:
        mdtrt_id = fields.text(node, "mdtrt_id", path, limit=30)
        batch = fields.text(node, "chrg_bchno", path, required=False, limit=30)
        fields.code(node, "psn_setlway", path, {"01", "02", "0201", "0202"})
    person = persons.identified(conn, call, psn, cert_type, cert_no, path)
    visit = None if pharmacy else visits.visit_of(conn, call, mdtrt_id, person.id)
    if visit is not None:
        fee_lines = visits.lines_to_settle(conn, visit.id, batch)
        lines = [line.detail for line in fee_lines]
    if insutype != codes.INSUTYPE_BY_INSURANCE[person.insurance_type]:
        raise fields.bad(f"{path}.insutype", "险种类型与该参保人的参保信息不符")
    if use_account and not person.account_use:
        raise InvalidInput(
            "凭身份证号或未验证服务密码的社保卡不能使用个人账户支付：请扫医保电子凭证或刷社保卡并输入服务密码，或改为不使用个人账户结算",
            field=f"{path}.acct_used_flag", code="national_account_needs_presence",
        )
    if lines and sum(line["det_item_fee_fen"] for line in lines) != medfee:
        total = fields.yuan(sum(line["det_item_fee_fen"] for line in lines))
        raise fields.bad(f"{path}.medfee_sumamt", f"应等于明细金额之和 {total} 元")
    return Bill(
        infno=PHARMACY.get(call.env.infno) or OUTPATIENT[call.env.infno], path=path, person=person, person_id=person.id,
        identification_id=person.identification_id, cert_type=cert_type,
        mdtrt_id=mdtrt_id or f"{person.identification_id:020d}", med_type=med_type, insutype=insutype, medfee_fen=medfee,
        use_account=use_account, invono=invono, lines=lines, fee_line_ids=tuple(line.id for line in fee_lines),
    )


def _drug_lines(data: dict) -> list[dict]:
    lines, seen = [], set()
    for index, row in enumerate(fields.rows(data, "drugdetail", "input", limit=MAX_LINES)):
        path = f"input.drugdetail[{index}]"
        serial = fields.text(row, "feedetl_sn", path, limit=30)
        if serial in seen:
            raise fields.bad(f"{path}.feedetl_sn", "明细流水号重复")
        seen.add(serial)
        lines.append(fields.fee_line(row, path, DRUG_LINE_TEXT))
    return lines


# ---------------------------------------------------------------------------- what would be paid


def _split(conn: Connection, call: Call, bill: Bill) -> Split:
    """What the accounts would pay now: the patient's own, then a family holder's."""
    if not bill.use_account:
        return Split()
    own = _own_account(bill)
    own_fen = min(bill.medfee_fen, own.balance_fen) if own is not None else 0
    return Split(own_fen, _family_share(conn, call, bill.person_id, bill.medfee_fen - own_fen))


def _own_account(bill: Bill):
    """The patient's open personal account (id, status, balance_fen), as read with the identification."""
    person = bill.person
    account = None if person.account_id is None else SimpleNamespace(
        id=person.account_id, status=person.account_status, balance_fen=person.account_balance_fen
    )
    if account is not None and account.status == AccountStatus.FROZEN.value:
        raise AccountNotActive(
            "个人账户已冻结，不能使用个人账户支付；可改为不使用个人账户结算", field=f"{bill.path}.acct_used_flag"
        )
    return account


def _family_share(conn: Connection, call: Call, person_id: int, rest_fen: int) -> int:
    if rest_fen <= 0:
        return 0
    binding = paying_binding(conn, person_id)
    holder = current_account(conn, binding.holder_person_id) if binding is not None else None
    if holder is None or holder.status != AccountStatus.ACTIVE.value:
        return 0
    left = holder.balance_fen
    limit = yearly_limit_fen(call.book, holder.region_code, call.today)
    if limit is not None:
        used = spent_in_year(conn, holder_person_id=binding.holder_person_id, account_id=holder.id, year=call.today.year)
        left = min(left, max(0, limit - used))
    return min(rest_fen, left)


# ---------------------------------------------------------------------------- 2101 / 2206


def presettle(call: Call) -> dict:
    with read_connection(call.engine) as conn:
        bill = _bill(conn, call)
        split = _split(conn, call, bill)
    balance = (bill.person.account_balance_fen or 0) - split.own_fen
    figures = Figures(bill.medfee_fen, split.own_fen + split.family_fen, split.family_fen, balance)
    info = _setlinfo(call, bill, figures, setl_id=None, settled_at=call.received_at)
    return {"setlinfo": info, "setldetail": _setldetail(figures), **_cut(bill)}


# ---------------------------------------------------------------------------- 2102 / 2207


def settle(call: Call) -> dict:
    with read_connection(call.engine) as conn:
        bill = _bill(conn, call)
        split = _split(conn, call, bill)  # a frozen own account is refused before anything is written
    quick = _claim_with_own_payment(call, bill) if split.own_fen > 0 and not call.seen else None
    if quick is not None:
        row, own = quick
        paid = _with_family(call, bill, row, own, fresh=True)
    else:
        row, fresh = _claim(call, bill)
        if row.status == "reversed":  # a crash kept its answer, and a reversal came before it was sent again
            raise messages.AlreadyReversed(field="msgid")
        paid = _pay(call, bill, row, fresh=fresh) if row.status == PENDING else None
    if paid is not None:
        call.finish.append(lambda conn: _mark_settled(conn, row.id, bill, paid))
        figures = Figures(bill.medfee_fen, paid.acct_pay_fen, paid.family_fen, _balance_after(call, bill, paid))
    else:  # settled before a crash lost its answer: said again from the record
        with read_connection(call.engine) as conn:
            figures = _row_figures(conn, row)
    number = setl_id(call, row)
    call.audit.update(setl_id=number)
    info = _setlinfo(call, bill, figures, setl_id=number, settled_at=row.settled_at)
    return {"setlinfo": info, "setldetail": _setldetail(figures), **_cut(bill)}


def _claim(call: Call, bill: Bill):
    """The settlement's row (pending when new) and whether this request made it; the msgid is
    claimed in the same transaction (see messages)."""
    with call.engine.begin() as conn:
        messages.claim(conn, call.payee.id, call.env, call.received_at)
        row = _insert_settlement(conn, call, bill)
        if row is not None:
            return row, True
        return _settlement_by_msgid(conn, call.payee.id, call.env.msgid), False


def _claim_with_own_payment(call: Call, bill: Bill):
    """The common case in the fewest commits: the msgid, the settlement and the own payment's
    reservation in one transaction. Any refusal or race (None) leaves it to the careful path,
    which claims on its own and resumes whatever was done."""
    claimed = {}

    def claim_then_order(conn: Connection) -> PaymentOrder:
        if not messages.claim(conn, call.payee.id, call.env, call.received_at):
            raise IdempotencyConflict(field="msgid")  # an earlier try: the careful path resumes it
        claimed["row"] = _insert_settlement(conn, call, bill)
        return replace(order, receipt_no=setl_id(call, claimed["row"]), prepare=None)

    order = PaymentOrder(
        receipt_no="待定", amount_fen=bill.medfee_fen, idempotency_key=f"national:{call.env.msgid}:{Payer.SELF.value}",
        credential=_credential(bill.person_id, bill.identification_id), allow_partial=True, payer=Payer.SELF, prepare=claim_then_order,
    )
    try:
        own = call.payments().pay(call.institution, order, client=call.client, payee=call.payee, fresh=True)
    except YibaoError:
        return None
    return claimed["row"], own


def _insert_settlement(conn: Connection, call: Call, bill: Bill):
    """The new settlement's row (as written: no need to read it back), or None when the msgid has one already."""
    values = {
        "institution_id": call.payee.id, "msgid": call.env.msgid, "infno": bill.infno, "person_id": bill.person_id,
        "identification_id": bill.identification_id, "mdtrt_id": bill.mdtrt_id, "insutype": bill.insutype,
        "med_type": bill.med_type, "clr_type": CLR_TYPE[bill.infno], "invono": bill.invono,
        "medfee_fen": bill.medfee_fen, "acct_pay_fen": 0, "mulaid_fen": 0, "cash_fen": bill.medfee_fen,
        "lines": bill.lines, "status": PENDING, "business_date": call.today, "settled_at": call.received_at,
    }
    row_id = insert_or_skip(conn, national_settlements, values)
    if row_id is None:
        return None
    _take_fee_lines(conn, row_id, bill)
    unset = {column.name: None for column in national_settlements.c if column.name not in values}
    return SimpleNamespace(**(unset | values | {"id": row_id}))


def _credential(person_id: int, identification_id: int) -> Credential:
    """The person as the settlement's own identification (1101) names them: the same on every retry."""
    return Credential.identified(person_id, f"national-identification:{identification_id}")


def _take_fee_lines(conn: Connection, settlement_id: int, bill: Bill) -> None:
    """The visit's lines belong to this settlement from its claim: a concurrent one cannot settle them too."""
    if not bill.fee_line_ids:
        return
    taken = conn.execute(
        update(national_fee_lines)
        .where(national_fee_lines.c.id.in_(bill.fee_line_ids), national_fee_lines.c.settlement_id.is_(None))
        .values(settlement_id=settlement_id)
    ).rowcount
    if taken != len(bill.fee_line_ids):
        raise InvalidInput("费用明细已在另一笔结算中，请重新预结算", field=f"{bill.path}.mdtrt_id", code="national_fees_taken")


def _free_fee_lines(conn: Connection, settlement_id: int) -> None:
    conn.execute(
        update(national_fee_lines).where(national_fee_lines.c.settlement_id == settlement_id).values(settlement_id=None)
    )


@dataclass(frozen=True)
class Paid:
    own: PaymentResult | None
    family: PaymentResult | None

    @property
    def own_fen(self) -> int:
        return self.own.paid_fen if self.own is not None else 0

    @property
    def family_fen(self) -> int:
        return self.family.paid_fen if self.family is not None else 0

    @property
    def acct_pay_fen(self) -> int:
        return self.own_fen + self.family_fen


def _pay(call: Call, bill: Bill, row, *, fresh: bool) -> Paid:
    """Pay a pending settlement's parts, each safe to repeat (``fresh``: no part can exist yet)."""
    own = None
    if bill.use_account:
        try:
            credential = _credential(row.person_id, row.identification_id)
            own = _pay_part(call, row, Payer.SELF, setl_id(call, row), credential, bill.medfee_fen, bill, fresh=fresh)
        except YibaoError:
            _drop_if_unpaid(call, row)
            raise
    return _with_family(call, bill, row, own, fresh=fresh)


def _with_family(call: Call, bill: Bill, row, own: PaymentResult | None, *, fresh: bool) -> Paid:
    """After the own payment: the rest from a family-sharing holder's account, where there is one."""
    own_fen = own.paid_fen if own is not None else 0
    family = None
    if bill.use_account and own_fen < bill.medfee_fen:
        credential = _credential(row.person_id, row.identification_id)
        family = _pay_family(call, row, setl_id(call, row), credential, bill.medfee_fen - own_fen, bill, fresh=fresh)
    return Paid(own, family)


def _mark_settled(conn: Connection, settlement_id: int, bill: Bill, paid: Paid) -> None:
    conn.execute(
        update(national_settlements)
        .where(national_settlements.c.id == settlement_id, national_settlements.c.status == PENDING)
        .values(
            status="settled", acct_pay_fen=paid.acct_pay_fen, mulaid_fen=paid.family_fen,
            cash_fen=bill.medfee_fen - paid.acct_pay_fen,
            self_payment_id=paid.own.payment_id if paid.own is not None else None,
            family_payment_id=paid.family.payment_id if paid.family is not None else None,
        )
    )


def _balance_after(call: Call, bill: Bill, paid: Paid) -> int:
    """The patient's balance right after this settlement's own payment, not after later ones."""
    if paid.own is not None and paid.own.balance_fen is not None:
        return paid.own.balance_fen
    with read_connection(call.engine) as conn:  # a payment finished after a crash: its balance then is gone
        own = current_account(conn, bill.person_id)
    return own.balance_fen if own is not None else 0


def _pay_part(
    call: Call, row, payer: Payer, receipt: str, credential: Credential, amount_fen: int, bill: Bill, *, fresh: bool
):
    """One payment of the settlement (None when the account pays nothing); a concurrent payment
    that took the balance between reading and posting makes it try again with what is left."""
    key = f"national:{row.msgid}:{payer.value}"
    for _ in range(RACE_RETRIES):
        existing = None if fresh else _payment_by_key(call, key)
        order = PaymentOrder(
            receipt_no=receipt if payer is Payer.SELF else f"{receipt}F",
            amount_fen=existing.amount_fen if existing is not None else amount_fen, idempotency_key=key,
            credential=credential, allow_partial=True, payer=payer,
        )
        try:
            return call.payments().pay(call.institution, order, client=call.client)
        except NoPersonalAccount:
            return None
        except InsufficientBalance:
            with call.engine.connect() as conn:
                account = current_account(conn, bill.person_id) if payer is Payer.SELF else None
            if payer is Payer.FAMILY or account is None or account.balance_fen == 0:
                return None
    return None


def _pay_family(call: Call, row, receipt: str, credential: Credential, rest_fen: int, bill: Bill, *, fresh: bool):
    existing = None if fresh else _payment_by_key(call, f"national:{row.msgid}:{Payer.FAMILY.value}")
    if existing is None:
        with read_connection(call.engine) as conn:
            rest_fen = _family_share(conn, call, bill.person_id, rest_fen)
        if rest_fen == 0:
            return None
    try:
        return _pay_part(call, row, Payer.FAMILY, receipt, credential, rest_fen, bill, fresh=fresh)
    except FAMILY_REFUSALS:
        return None  # the family account cannot pay now: the rest is paid in cash


def _drop_if_unpaid(call: Call, row) -> None:
    """A settlement refused before any money moved leaves nothing behind (its msgid answers the refusal)."""
    with call.engine.begin() as conn:
        if _payment_by_key(call, f"national:{row.msgid}:{Payer.SELF.value}", conn) is None:
            _free_fee_lines(conn, row.id)
            conn.execute(delete(national_settlements).where(
                national_settlements.c.id == row.id, national_settlements.c.status == PENDING
            ))


def _payment_by_key(call: Call, key: str, conn: Connection | None = None):
    query = select(institution_payments).where(
        institution_payments.c.institution_id == call.payee.id, institution_payments.c.idempotency_key == key
    )
    if conn is not None:
        return conn.execute(query).one_or_none()
    with call.engine.connect() as own:
        return own.execute(query).one_or_none()


# ---------------------------------------------------------------------------- 2103 / 2208 / 2601


def cancel(call: Call) -> dict:
    data = fields.node(call.data, "data", "input")
    path = "input.data"
    number = fields.text(data, "setl_id", path, limit=30)
    psn = fields.text(data, "psn_no", path, limit=30)
    mdtrt_id = fields.text(data, "mdtrt_id", path, required=False, limit=30)
    with call.engine.connect() as conn:
        row = _settlement_by_setl_id(conn, call, number, f"{path}.setl_id")
    wanted = CANCELS[call.env.infno]
    if row.infno != wanted:
        raise fields.bad(f"{path}.setl_id", f"该结算不是{SETTLEMENT_NAMES[wanted]}")
    if persons.person_of(psn, f"{path}.psn_no") != row.person_id:
        raise fields.bad(f"{path}.psn_no", "与原结算的人员编号不符")
    if mdtrt_id and mdtrt_id != row.mdtrt_id:
        raise fields.bad(f"{path}.mdtrt_id", "与原结算的就诊ID不符")
    row, balance = reverse(call, row)
    with read_connection(call.engine) as conn:
        figures = _row_figures(conn, row, sign=-1, balance_fen=balance)
    return {"setlinfo": _recorded_info(call, row, figures, row.reversed_at), "setldetail": _setldetail(figures)}


def settlement_info(call: Call) -> dict:
    """5203: a settlement as recorded (after a timeout the HIS asks whether it happened);
    ``refd_setl_flag`` 1 when it was cancelled or reversed; ``balc`` is the balance now."""
    data = fields.node(call.data, "data", "input")
    path = "input.data"
    number = fields.text(data, "setl_id", path, limit=30)
    psn = fields.text(data, "psn_no", path, limit=30)
    with read_connection(call.engine) as conn:
        row = _settlement_by_setl_id(conn, call, number, f"{path}.setl_id")
        if persons.person_of(psn, f"{path}.psn_no") != row.person_id:
            raise fields.bad(f"{path}.psn_no", "与该结算的人员编号不符")
        if row.status == PENDING:
            raise InvalidInput(
                "该结算尚未完成：请以原报文ID重发，或以冲正交易撤销", field=f"{path}.setl_id", code="national_settlement_pending"
            )
        figures = _row_figures(conn, row)
    call.audit.update(setl_id=number)
    return {"setlinfo": _recorded_info(call, row, figures, row.settled_at), "setldetail": _setldetail(figures)}


def reverse_message(call: Call) -> dict:
    """2601: undo the original message named by ``omsgid`` + ``oinfno``, whatever became of it."""
    data = fields.node(call.data, "data", "input")
    path = "input.data"
    psn = fields.text(data, "psn_no", path, limit=30)
    omsgid = fields.text(data, "omsgid", path, limit=MAX_MSGID)
    oinfno = fields.text(data, "oinfno", path, limit=6)
    person_id = persons.person_of(psn, f"{path}.psn_no")
    call.person_id = person_id
    call.audit.update(omsgid=omsgid, oinfno=oinfno)
    if oinfno in CANCELS:
        raise InvalidInput("结算撤销交易不能冲正；如需收费，请重新结算", field=f"{path}.oinfno", code="national_not_reversible")
    with call.engine.begin() as conn:
        original = messages.find(conn, call.payee.id, omsgid)
        if original is None and messages.tombstone(conn, call.payee.id, omsgid, oinfno, call.received_at):
            return {}  # never arrived: it is refused if it comes
    with call.engine.connect() as conn:
        original = messages.find(conn, call.payee.id, omsgid)
        settlement = _settlement_by_msgid(conn, call.payee.id, omsgid)
    if original.tombstone:
        return {}
    if original.infno != oinfno:
        raise fields.bad(f"{path}.oinfno", "与原报文的交易编号不符")
    if original.answer is None and settlement is None:
        raise InvalidInput("原交易正在办理，请稍后再冲正", field=f"{path}.omsgid", code="national_original_in_progress")
    if settlement is not None:
        if settlement.person_id != person_id:
            raise fields.bad(f"{path}.psn_no", "与原交易的人员编号不符")
        reverse(call, settlement)
    return {}


def reverse(call: Call, row):
    """Refund a settlement's payments (once, whichever message asks) and mark it reversed; the
    settlement, and the patient's balance right after the refund (None: not refunded now)."""
    if row.status == PENDING:  # a settlement a crash left half-done is finished first, then undone
        with call.engine.connect() as conn:
            bill = _bill_of_row(conn, row)
        paid = _pay(call, bill, row, fresh=False)
        with call.engine.begin() as conn:
            _mark_settled(conn, row.id, bill, paid)
            row = _settlement(conn, row.id)
    if row.family_payment_id is not None:
        _refund(call, row, row.family_payment_id)
    own = _refund(call, row, row.self_payment_id) if row.self_payment_id is not None else None
    with call.engine.begin() as conn:
        _free_fee_lines(conn, row.id)  # the visit's lines may be settled again
        conn.execute(
            update(national_settlements)
            .where(national_settlements.c.id == row.id, national_settlements.c.status != "reversed")
            .values(
                status="reversed", reversal_msgid=call.env.msgid, reversal_infno=call.env.infno,
                reversed_on=call.today, reversed_at=call.received_at,
            )
        )
        return _settlement(conn, row.id), own.balance_fen if own is not None else None


def _refund(call: Call, row, payment_id: int) -> RefundResult | None:
    with call.engine.connect() as conn:
        payment = conn.execute(select(institution_payments).where(institution_payments.c.id == payment_id)).one()
        key = f"national:{row.msgid}:refund:{payment.id}"
        existing = conn.execute(select(institution_refunds).where(
            institution_refunds.c.institution_id == call.payee.id, institution_refunds.c.idempotency_key == key
        )).one_or_none()
        others = conn.execute(
            select(cast(func.coalesce(func.sum(institution_refunds.c.amount_fen), 0), BigInteger)).where(
                institution_refunds.c.payment_id == payment.id, institution_refunds.c.idempotency_key != key
            )
        ).scalar_one()
    amount = existing.amount_fen if existing is not None else payment.paid_fen - int(others)
    if amount <= 0 or payment.status != POSTED:
        return None
    order = RefundOrder(receipt_no=payment.receipt_no, amount_fen=amount, idempotency_key=key)
    try:
        return call.payments().refund(call.institution, order, client=call.client)
    except AccountNotActive:
        raise AccountNotActive(
            "原支付的个人账户已注销或冻结，不能原路退回；请参保人到医保经办机构办理", field="input.data.setl_id"
        ) from None


def _bill_of_row(conn: Connection, row) -> Bill:
    return Bill(
        infno=row.infno, path="input.data", person=persons.person_row(conn, row.person_id), person_id=row.person_id,
        identification_id=row.identification_id,
        cert_type="", mdtrt_id=row.mdtrt_id, med_type=row.med_type, insutype=row.insutype,
        medfee_fen=row.medfee_fen, use_account=_used_account(conn, row), invono=row.invono, lines=row.lines,
    )


def _used_account(conn: Connection, row) -> bool:
    """A pending settlement asked for the account if a payment was reserved for it."""
    return conn.execute(select(institution_payments.c.id).where(
        institution_payments.c.institution_id == row.institution_id,
        institution_payments.c.idempotency_key.in_([f"national:{row.msgid}:self", f"national:{row.msgid}:family"]),
    ).limit(1)).first() is not None


# ---------------------------------------------------------------------------- finding settlements


def setl_id(call: Call, row) -> str:
    """The institution's region (6), the business day (8) and the settlement's number (10)."""
    return f"{call.payee.region_code}{row.business_date:%Y%m%d}{row.id:010d}"


def _settlement_by_setl_id(conn: Connection, call: Call, number: str, field: str):
    row = None
    if len(number) == 24 and number.isdigit():
        row = conn.execute(select(national_settlements).where(
            national_settlements.c.id == int(number[-10:]), national_settlements.c.institution_id == call.payee.id,
        )).one_or_none()
    if row is None or setl_id(call, row) != number:
        raise NotFound("本机构没有该结算ID的结算", field=field, code="national_settlement_not_found")
    call.person_id = row.person_id
    return row


def _settlement_by_msgid(conn: Connection, institution_id: int, msgid: str):
    return conn.execute(select(national_settlements).where(
        national_settlements.c.institution_id == institution_id, national_settlements.c.msgid == msgid
    )).one_or_none()


def _settlement(conn: Connection, row_id: int):
    return conn.execute(select(national_settlements).where(national_settlements.c.id == row_id)).one()


# ---------------------------------------------------------------------------- the answers


@dataclass(frozen=True)
class Figures:
    medfee_fen: int
    acct_pay_fen: int
    mulaid_fen: int
    balance_fen: int
    sign: int = 1

    @property
    def cash_fen(self) -> int:
        return self.medfee_fen - self.acct_pay_fen


def _row_figures(conn: Connection, row, sign: int = 1, balance_fen: int | None = None) -> Figures:
    """A recorded settlement's figures; the balance as given (right after its own posting), else as it is now."""
    if balance_fen is None:
        own = current_account(conn, row.person_id)
        balance_fen = own.balance_fen if own is not None else 0
    return Figures(row.medfee_fen, row.acct_pay_fen, row.mulaid_fen, balance_fen, sign)


def _amounts(figures: Figures) -> dict:
    s = figures.sign
    zero = fields.yuan(0)
    return {
        "medfee_sumamt": fields.yuan(s * figures.medfee_fen), "fulamt_ownpay_amt": zero, "overlmt_selfpay": zero,
        "preselfpay_amt": zero, "inscp_scp_amt": zero, "act_pay_dedc": zero, "hifp_pay": zero,
        "pool_prop_selfpay": zero, "cvlserv_pay": zero, "hifes_pay": zero, "hifmi_pay": zero, "hifob_pay": zero,
        "hifdm_pay": zero, "maf_pay": zero, "oth_pay": zero, "fund_pay_sumamt": zero,
        "psn_part_amt": fields.yuan(s * figures.medfee_fen), "acct_pay": fields.yuan(s * figures.acct_pay_fen),
        "psn_cash_pay": fields.yuan(s * figures.cash_fen), "hosp_part_amt": zero,
        "balc": fields.yuan(figures.balance_fen), "acct_mulaid_pay": fields.yuan(s * figures.mulaid_fen),
    }


def _setlinfo(call: Call, bill: Bill, figures: Figures, *, setl_id: str | None, settled_at) -> dict:
    info = {"mdtrt_id": bill.mdtrt_id}
    if setl_id is not None:
        info["setl_id"] = setl_id
    person = bill.person
    base = persons.base_info(person, call.today, full_certno=bill.cert_type == codes.CERT_ID_NUMBER)
    info |= {
        "psn_no": base["psn_no"], "psn_name": base["psn_name"], "psn_cert_type": base["psn_cert_type"],
        "certno": base["certno"], "gend": base["gend"], "naty": base["naty"], "brdy": base["brdy"], "age": base["age"],
        "insutype": bill.insutype,
        "psn_type": codes.psn_type(person.insurance_type, person.employment, person.birth_date, call.today),
        "cvlserv_flag": "0", "setl_time": sign_time(settled_at), "mdtrt_cert_type": bill.cert_type,
        "med_type": bill.med_type, **_amounts(figures), "medins_setl_id": call.env.msgid,
        "clr_optins": call.payee.region_code, "clr_way": codes.CLR_WAY_BY_ITEM, "clr_type": CLR_TYPE[bill.infno],
        "exp_content": "",
    }
    return info


def _recorded_info(call: Call, row, figures: Figures, at) -> dict:
    """A recorded settlement as 2103/2208 (its cancel, ``at`` the cancel's time) and 5203 say it."""
    amounts = _amounts(figures)
    return {
        "mdtrt_id": row.mdtrt_id, "setl_id": setl_id(call, row), "psn_no": persons.psn_no(row.person_id),
        "insutype": row.insutype, "med_type": row.med_type, "clr_optins": call.payee.region_code,
        "clr_type": row.clr_type, "setl_time": sign_time(at), **amounts, "medins_setl_id": row.msgid,
        # 2103 and 5203 name the person's part psn_pay / cash_payamt; 2208's table spells pdn_cash_pay.
        "psn_pay": amounts["psn_part_amt"], "cash_payamt": amounts["psn_cash_pay"],
        "pdn_cash_pay": amounts["psn_cash_pay"], "refd_setl_flag": "1" if row.status == "reversed" else "0",
    }


def _setldetail(figures: Figures) -> list[dict]:
    if figures.acct_pay_fen == 0:
        return []
    code, name = codes.FUND_PAY_TYPE_ACCOUNT
    amount = fields.yuan(figures.sign * figures.acct_pay_fen)
    return [{
        "fund_pay_type": code, "inscp_scp_amt": fields.yuan(0), "crt_payb_lmt_amt": fields.yuan(0),
        "fund_payamt": amount, "fund_pay_type_name": name, "setl_proc_info": "",
    }]


def _cut(bill: Bill) -> dict:
    """detlcutinfo for a pharmacy bill: one split line per drug line."""
    if bill.infno != "2102":
        return {}
    return {"detlcutinfo": [fields.line_split(line) for line in bill.lines]}
