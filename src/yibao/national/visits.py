"""The outpatient visit before its settlement: 2201 registration (the ``mdtrt_id``), 2202 its
cancel, 2203 the visit's information, 2204 fee lines and 2205 their withdrawal.

2206/2207 then price and settle the visit's lines not settled yet (of the ``chrg_bchno`` named,
when it has lines): their sum must be the bill. A HIS that settles without uploading lines,
or with an ``mdtrt_id`` of its own, is answered as before: the bill is the amount sent.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select, update

from yibao.errors import InvalidInput, NotFound
from yibao.national import fields, persons
from yibao.national.calls import Call
from yibao.store.db import insert_unique
from yibao.store.models import national_fee_lines, national_visits

PATH = "input.data"
ALL_BATCHES = "0000"  # 2205: every line not settled yet
MAX_LINES = 1000
LINE_TEXT = (
    ("chrg_bchno", 30), ("rxno", 30), ("rx_circ_flag", 3), ("fee_ocur_time", 19), ("med_list_codg", 50),
    ("medins_list_codg", 150), ("bilg_dept_codg", 30), ("bilg_dept_name", 100), ("bilg_dr_codg", 30),
    ("bilg_dr_name", 50), ("hosp_appr_flag", 3),
)


def mdtrt_id(call: Call, visit) -> str:
    """The institution's region (6) and the visit's number (14)."""
    return f"{call.payee.region_code}{visit.id:014d}"


def register(call: Call) -> dict:
    data = fields.node(call.data, "data", "input")
    psn = fields.text(data, "psn_no", PATH, limit=30)
    insutype = fields.text(data, "insutype", PATH, limit=6)
    cert_type = fields.text(data, "mdtrt_cert_type", PATH, limit=3)
    cert_no = fields.text(data, "mdtrt_cert_no", PATH, required=False, limit=200)
    ipt_otp_no = fields.text(data, "ipt_otp_no", PATH, limit=30)
    fields.day(data, "begntime", PATH)
    with call.engine.begin() as conn:
        person = persons.identified(conn, call, psn, cert_type, cert_no, PATH)
        existing = conn.execute(select(national_visits).where(
            national_visits.c.institution_id == call.payee.id, national_visits.c.msgid == call.env.msgid
        )).one_or_none()
        visit_id = existing.id if existing is not None else insert_unique(
            conn,
            insert(national_visits).values(
                institution_id=call.payee.id, person_id=person.id, identification_id=person.identification_id,
                msgid=call.env.msgid, ipt_otp_no=ipt_otp_no, insutype=insutype, status="open",
                registered_at=call.received_at,
            ).returning(national_visits.c.id),
            taken=InvalidInput("该报文ID正在办理，请稍后重试", field="msgid", code="national_msgid_busy"),
        )
        visit = _visit_by_id(conn, visit_id)
    return {"data": {"mdtrt_id": mdtrt_id(call, visit), "psn_no": psn, "ipt_otp_no": ipt_otp_no}}


def cancel_registration(call: Call) -> dict:
    data = fields.node(call.data, "data", "input")
    with call.engine.begin() as conn:
        visit = _visit(conn, call, data, PATH)
        if _lines(conn, visit.id, settled=True):
            raise InvalidInput("该就诊已有结算，请先撤销结算", field=f"{PATH}.mdtrt_id", code="national_visit_settled")
        conn.execute(update(national_visits).where(national_visits.c.id == visit.id).values(status="cancelled"))
        conn.execute(delete(national_fee_lines).where(national_fee_lines.c.visit_id == visit.id))
    return {}


def visit_information(call: Call) -> dict:
    info = fields.node(call.data, "mdtrtinfo", "input")
    path = "input.mdtrtinfo"
    fields.rows(call.data, "diseinfo", "input", limit=100)
    with call.engine.begin() as conn:
        visit = _visit(conn, call, info, path)
        conn.execute(update(national_visits).where(national_visits.c.id == visit.id).values(
            med_type=fields.text(info, "med_type", path, limit=6),
            dise_codg=fields.text(info, "dise_codg", path, required=False, limit=30),
            dise_name=fields.text(info, "dise_name", path, required=False, limit=300),
        ))
    return {}


def upload_fees(call: Call) -> dict:
    rows = fields.rows(call.data, "feedetail", "input", limit=MAX_LINES, required=True)
    parsed = [_fee_line(row, f"input.feedetail[{index}]") for index, row in enumerate(rows)]
    if len({line["feedetl_sn"] for line in parsed}) != len(parsed):
        raise fields.bad("input.feedetail", "明细流水号重复")
    with call.engine.begin() as conn:
        visit = _visit(conn, call, rows[0], "input.feedetail[0]")
        if {row.get("mdtrt_id") for row in rows} != {rows[0].get("mdtrt_id")}:
            raise fields.bad("input.feedetail", "一次只能上传同一就诊的明细")
        known = {line.feedetl_sn: line for line in _lines(conn, visit.id)}
        for line in parsed:
            if line["feedetl_sn"] in known:  # a line sent again (the same message repeated) is kept once
                continue
            conn.execute(insert(national_fee_lines).values(
                visit_id=visit.id, feedetl_sn=line["feedetl_sn"], chrg_bchno=line["chrg_bchno"],
                amount_fen=line["det_item_fee_fen"], detail=line,
            ))
    return {"result": [_line_result(line) for line in parsed]}


def withdraw_fees(call: Call) -> dict:
    data = fields.node(call.data, "data", "input")
    batch = fields.text(data, "chrg_bchno", PATH, limit=30)
    with call.engine.begin() as conn:
        visit = _visit(conn, call, data, PATH)
        query = delete(national_fee_lines).where(
            national_fee_lines.c.visit_id == visit.id, national_fee_lines.c.settlement_id.is_(None)
        )
        if batch != ALL_BATCHES:
            query = query.where(national_fee_lines.c.chrg_bchno == batch)
        conn.execute(query)
    return {}


# ---------------------------------------------------------------------------- for 2206/2207


def visit_of(conn: Connection, call: Call, number: str, person_id: int):
    """The registered visit an ``mdtrt_id`` names at this institution, or None for one the HIS made up."""
    visit = _visit_by_number(conn, call, number)
    if visit is None:
        return None
    if visit.person_id != person_id:
        raise fields.bad("input.data.mdtrt_id", "与人员编号不符")
    if visit.status != "open":
        raise InvalidInput("该就诊已撤销挂号", field="input.data.mdtrt_id", code="national_visit_cancelled")
    return visit


def lines_to_settle(conn: Connection, visit_id: int, batch: str) -> list:
    """The visit's lines not settled yet: of the batch named when it has any, else all."""
    lines = _lines(conn, visit_id, settled=False)
    if not lines and _lines(conn, visit_id, settled=True):
        raise InvalidInput("该就诊上传的费用明细已全部结算", field="input.data.mdtrt_id", code="national_fees_settled")
    of_batch = [line for line in lines if line.chrg_bchno == batch]
    return of_batch or lines


# ---------------------------------------------------------------------------- shared


def _fee_line(row: dict, path: str) -> dict:
    fields.text(row, "mdtrt_id", path, limit=30)
    fields.text(row, "psn_no", path, limit=30)
    return fields.fee_line(row, path, LINE_TEXT, required=("chrg_bchno",))


def _line_result(line: dict) -> dict:
    return fields.line_split(line) | {"lmt_used_flag": ""}


def _visit(conn: Connection, call: Call, node: dict, path: str):
    number = fields.text(node, "mdtrt_id", path, limit=30)
    person_id = persons.person_of(fields.text(node, "psn_no", path, limit=30), f"{path}.psn_no")
    visit = _visit_by_number(conn, call, number)
    if visit is None or visit.person_id != person_id:
        raise NotFound("本机构没有该就诊ID的挂号", field=f"{path}.mdtrt_id", code="national_visit_not_found")
    if visit.status != "open":
        raise InvalidInput("该就诊已撤销挂号", field=f"{path}.mdtrt_id", code="national_visit_cancelled")
    call.person_id = person_id
    return visit


def _visit_by_number(conn: Connection, call: Call, number: str):
    if len(number) != 20 or not number.isdigit():
        return None
    visit = _visit_by_id(conn, int(number[-14:]))
    if visit is None or visit.institution_id != call.payee.id or mdtrt_id(call, visit) != number:
        return None
    return visit


def _visit_by_id(conn: Connection, visit_id: int):
    return conn.execute(select(national_visits).where(national_visits.c.id == visit_id)).one_or_none()


def _lines(conn: Connection, visit_id: int, *, settled: bool | None = None) -> list:
    query = select(national_fee_lines).where(national_fee_lines.c.visit_id == visit_id)
    if settled is not None:
        column = national_fee_lines.c.settlement_id
        query = query.where(column.is_not(None) if settled else column.is_(None))
    return conn.execute(query.order_by(national_fee_lines.c.id)).all()
