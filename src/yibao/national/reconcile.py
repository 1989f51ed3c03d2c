"""3201 totals reconciliation (对总账) and 5206 a person's cumulative figures.

3201 compares the institution's totals for a period with yibao's: settlements made in the
period count +1 with their amounts, cancels and reversals made in the period count −1 with
their amounts negated (a settlement cancelled the same day nets to zero). The personal-account
figure is the ledger's: the postings on the institution's settlement account of those
settlements' payments and refunds; the settlement records must agree with it too.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import BigInteger, Connection, and_, cast, func, or_, select, union_all

from yibao.domain.money import Money
from yibao.ledger.accounts import system_account_code
from yibao.ledger.kinds import AccountKind
from yibao.national import codes, fields, persons
from yibao.national.calls import Call
from yibao.payments.keys import POSTED
from yibao.store.models import (
    accounts,
    institution_payments,
    institution_refunds,
    national_settlements,
    postings,
)

PATH = "input.data"
MAX_PERIOD = timedelta(days=366)


# ---------------------------------------------------------------------------- 3201


def totals(call: Call) -> dict:
    data = fields.node(call.data, "data", "input")
    insutype = fields.text(data, "insutype", PATH, limit=6)
    clr_type = fields.text(data, "clr_type", PATH, limit=6)
    optins = fields.text(data, "setl_optins", PATH, limit=6)
    first = fields.day(data, "stmt_begndate", PATH)
    last = fields.day(data, "stmt_enddate", PATH)
    if last < first or last - first > MAX_PERIOD:
        raise fields.bad(f"{PATH}.stmt_enddate", "结束日期应不早于开始日期，且对账期间不超过一年")
    theirs = {
        "count": fields.whole(data, "fixmedins_setl_cnt", PATH),
        "medfee": fields.amount_fen(data, "medfee_sumamt", PATH, signed=True),
        "fund": fields.amount_fen(data, "fund_pay_sumamt", PATH, signed=True),
        "acct": fields.amount_fen(data, "acct_pay", PATH, signed=True),
    }
    with call.engine.connect() as conn:
        ours = _our_totals(conn, call, insutype, clr_type, first, last)
    differences = _differences(ours, theirs)
    call.audit.update(stmt_begndate=first.isoformat(), stmt_enddate=last.isoformat(), balanced=not differences)
    return {"stmtinfo": {
        "setl_optins": optins,
        "stmt_rslt": codes.STMT_UNBALANCED if differences else codes.STMT_BALANCED,
        "stmt_rslt_dscr": "；".join(differences) if differences else "对账一致",
    }}


def _our_totals(conn: Connection, call: Call, insutype: str, clr_type: str, first: date, last: date) -> dict:
    s = national_settlements.c
    mine = and_(s.institution_id == call.payee.id, s.insutype == insutype, s.clr_type == clr_type, s.status != "pending")
    made = conn.execute(
        select(func.count(), _sum(s.medfee_fen), _sum(s.acct_pay_fen)).where(mine, s.business_date.between(first, last))
    ).one()
    undone = conn.execute(
        select(func.count(), _sum(s.medfee_fen), _sum(s.acct_pay_fen)).where(mine, s.reversed_on.between(first, last))
    ).one()
    return {
        "count": made[0] - undone[0], "medfee": int(made[1]) - int(undone[1]), "fund": 0,
        "acct": _ledger_account_pay(conn, call, mine, first, last), "acct_records": int(made[2]) - int(undone[2]),
    }


def _ledger_account_pay(conn: Connection, call: Call, mine, first: date, last: date) -> int:
    s = national_settlements.c
    paid = select(institution_payments.c.id).where(or_(
        institution_payments.c.id.in_(select(s.self_payment_id).where(mine)),
        institution_payments.c.id.in_(select(s.family_payment_id).where(mine)),
    ))
    transactions = union_all(
        select(institution_payments.c.transaction_id.label("tx")).where(institution_payments.c.id.in_(paid)),
        select(institution_refunds.c.transaction_id.label("tx")).where(
            institution_refunds.c.payment_id.in_(paid), institution_refunds.c.status == POSTED
        ),
    ).subquery()
    code = system_account_code(AccountKind.INSTITUTION, call.payee.region_code, call.payee.code)
    total = conn.execute(
        select(_sum(postings.c.amount_fen))
        .select_from(postings.join(accounts, accounts.c.id == postings.c.account_id))
        .where(
            accounts.c.code == code, postings.c.business_date.between(first, last),
            postings.c.transaction_id.in_(select(transactions.c.tx)),
        )
    ).scalar_one()
    return int(total)


def _sum(column):
    return cast(func.coalesce(func.sum(column), 0), BigInteger)


def _differences(ours: dict, theirs: dict) -> list[str]:
    said = []
    if ours["count"] != theirs["count"]:
        said.append(f"结算笔数不符：医保方{ours['count']}笔，医药机构{theirs['count']}笔")
    for key, what in (("medfee", "医疗费用总额"), ("fund", "基金支付总额"), ("acct", "个人账户支付金额")):
        if ours[key] != theirs[key]:
            said.append(f"{what}不符：医保方{_yuan(ours[key])}，医药机构{_yuan(theirs[key])}")
    if ours["acct"] != ours["acct_records"]:
        said.append(f"医保方结算记录的个人账户支付{_yuan(ours['acct_records'])}与账本{_yuan(ours['acct'])}不一致，请联系医保经办机构")
    return said


def _yuan(fen: int) -> str:
    return ("-" if fen < 0 else "") + Money(abs(fen)).format()


# ---------------------------------------------------------------------------- 5206


def cumulative(call: Call) -> dict:
    data = fields.node(call.data, "data", "input")
    psn = fields.text(data, "psn_no", PATH, limit=30)
    month = fields.text(data, "cum_ym", PATH, required=False, limit=6)
    if month and (len(month) != 6 or not month.isdigit() or not 1 <= int(month[4:]) <= 12):
        raise fields.bad(f"{PATH}.cum_ym", "累计年月格式应为 yyyyMM")
    month = month or f"{call.today:%Y%m}"
    with call.engine.connect() as conn:
        person = persons.identified(conn, call, psn, "", "", PATH)
        year = int(month[:4])
        first, last = date(year, 1, 1), min(date(year, 12, 31), _month_end(month))
        figures = _year_figures(conn, person.id, first, last)
    insutype = codes.INSUTYPE_BY_INSURANCE[person.insurance_type]
    return {"cuminfo": [
        {"insutype": insutype, "year": str(year), "cum_ym": month, "cum_type_code": code, "cum": value}
        for code, value in figures
    ]}


def _month_end(month: str) -> date:
    year, number = int(month[:4]), int(month[4:])
    following = date(year + (number == 12), number % 12 + 1, 1)
    return following - timedelta(days=1)


# The cumulative kinds yibao answers (the national table leaves the codes to the platform):
CUM_ACCT_PAY = "ACCT_PAY"  # paid from the person's own account at designated institutions, net of refunds
CUM_MULAID_PAY = "ACCT_MULAID_PAY"  # paid for the person from family-sharing holders' accounts, net
CUM_MEDFEE = "MEDFEE_SUMAMT"  # medical costs settled through this interface, cancels deducted
CUM_SETL_CNT = "SETL_CNT"  # settlements through this interface, cancels deducted


def _year_figures(conn: Connection, person_id: int, first: date, last: date) -> list[tuple[str, object]]:
    p, r = institution_payments.c, institution_refunds.c
    own, family = p.payer_person_id == person_id, p.payer_person_id != person_id
    figures = []
    for code, whose in ((CUM_ACCT_PAY, own), (CUM_MULAID_PAY, family)):
        paid = conn.execute(select(_sum(p.paid_fen)).where(
            p.person_id == person_id, whose, p.status == POSTED, p.business_date.between(first, last)
        )).scalar_one()
        refunded = conn.execute(
            select(_sum(r.amount_fen)).select_from(institution_refunds.join(institution_payments, p.id == r.payment_id))
            .where(p.person_id == person_id, whose, r.status == POSTED, r.business_date.between(first, last))
        ).scalar_one()
        figures.append((code, fields.yuan(int(paid) - int(refunded))))
    s = national_settlements.c
    made = conn.execute(select(func.count(), _sum(s.medfee_fen)).where(
        s.person_id == person_id, s.status != "pending", s.business_date.between(first, last)
    )).one()
    undone = conn.execute(select(func.count(), _sum(s.medfee_fen)).where(
        s.person_id == person_id, s.reversed_on.between(first, last)
    )).one()
    figures.append((CUM_MEDFEE, fields.yuan(int(made[1]) - int(undone[1]))))
    figures.append((CUM_SETL_CNT, fields.yuan((made[0] - undone[0]) * 100)))
    return figures
