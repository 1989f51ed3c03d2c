"""The national interface's server side, message by message, on SQLite and PostgreSQL.

Envelopes, authentication (API key and TIF signature), sign-in, identification by each
credential, settlement and its cancels and reversals, idempotency by msgid, reconciliation,
cumulative figures, family sharing and the audit log. Each scenario ends with the ledger's
own check (``yibao db check``) clean. The end-to-end walk with a client written from the
interface sheet against a running server is in test_national_flow.py.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from api_support import (
    CARD_PIN,
    START,
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
from yibao.ledger.check import check_ledger
from yibao.national.gateway import issue_tif_secret
from yibao.store.models import accounts, audit_log, national_messages, national_settlements

URL = "/fsi/api/rsfComIfsService/callService"


class Counter:
    """A pharmacy's software talking to the interface."""

    def __init__(self, world, code: str, headers: dict):
        self.world, self.code, self.headers = world, code, headers
        self.sign_no = ""
        self.sent = 0

    def envelope(self, infno: str, data: dict, *, msgid: str | None = None, **overrides) -> dict:
        self.sent += 1
        body = {
            "infno": infno, "msgid": msgid or f"{self.code}20250615100000{self.sent:04d}", "mdtrtarea_admvs": "110000",
            "insuplc_admdvs": "110000", "recer_sys_code": "SY", "dev_no": "", "dev_safe_info": "", "cainfo": "",
            "signtype": "", "infver": "V1.0", "opter_type": "1", "opter": "0001", "opter_name": "收银员甲",
            "inf_time": "2025-06-15 10:00:00", "fixmedins_code": self.code, "fixmedins_name": "测试药店",
            "sign_no": self.sign_no, "input": data,
        }
        return body | overrides

    def post(self, body, *, url: str = URL, headers: dict | None = None) -> dict:
        response = self.world.client.post(url, content=json.dumps(body, default=str), headers=self.headers if headers is None else headers)
        assert response.status_code == 200, response.text
        return json.loads(response.text, parse_float=Decimal)

    def send(self, infno: str, data: dict, **overrides) -> dict:
        return self.post(self.envelope(infno, data, **overrides))

    def ok(self, infno: str, data: dict, **overrides) -> dict:
        answer = self.send(infno, data, **overrides)
        assert answer["infcode"] == 0, answer
        return answer["output"]

    def sign_in(self) -> str:
        self.sign_no = self.ok("9001", {"signIn": {"opter_no": "0001", "mac": "00-16-3E-00-00-01", "ip": "10.0.0.8"}})[
            "signinoutb"]["sign_no"]
        return self.sign_no

    def read_voucher(self, person) -> dict:
        payload = self.world.voucher(person)
        info = self.ok("1101", {"data": {"mdtrt_cert_type": "01", "mdtrt_cert_no": payload, "card_sn": "", "begntime": "",
                                         "psn_cert_type": "01", "certno": "", "psn_name": ""}})
        info["payload"] = payload
        return info


def purchase(info: dict, yuan: str, *, flag: str = "1", lines: list[str] | None = None, insutype: str = "310") -> dict:
    lines = lines or [yuan]
    return {
        "druginfo": {
            "psn_no": info["baseinfo"]["psn_no"], "mdtrt_cert_type": "01", "mdtrt_cert_no": info["payload"],
            "begntime": "2025-06-15 10:00:00", "medfee_sumamt": Decimal(yuan), "invono": "FP0001", "insutype": insutype,
            "dise_codg": "", "dise_name": "", "acct_used_flag": flag, "med_type": "41",
        },
        "drugdetail": [
            {"feedetl_sn": f"{n}", "rxno": "", "rx_circ_flag": "0", "fee_ocur_time": "2025-06-15 09:58:00",
             "med_list_codg": "XA01ABD075A002010100483", "medins_list_codg": f"YP{n:04d}", "det_item_fee_sumamt": Decimal(amount),
             "cnt": Decimal("1"), "pric": Decimal(amount)}
            for n, amount in enumerate(lines, 1)
        ],
    }


def outpatient(info: dict, yuan: str, *, flag: str = "1", invono: str = "") -> dict:
    return {"data": {
        "psn_no": info["baseinfo"]["psn_no"], "mdtrt_cert_type": "01", "mdtrt_cert_no": info["payload"], "med_type": "11",
        "medfee_sumamt": Decimal(yuan), "psn_setlway": "01", "mdtrt_id": "MZ20250615001", "chrg_bchno": "CB001",
        "acct_used_flag": flag, "insutype": "310", "invono": invono,
    }}


class World:
    def __init__(self, engine, client, clock):
        self.engine, self.client, self.clock = engine, client, clock
        self.alice = add_insured(engine, 1, balance_fen=10_000)  # 100.00 yuan
        self.bob = add_insured(engine, 2, balance_fen=50_000)
        self.pharmacy = Counter(self, "P001", {"X-Api-Key": add_designated_pharmacy(engine, "P001")})
        self.other = Counter(self, "P002", {"X-Api-Key": add_designated_pharmacy(engine, "P002")})

    def voucher(self, person) -> str:
        token = login(self.client, person).json()["access_token"]
        return self.client.post("/api/v1/me/evoucher", headers=bearer(token)).json()["payload"]

    def balance(self, person) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(accounts.c.balance_fen).where(accounts.c.id == person.account_id)).scalar_one()

    def messages(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(national_messages)).scalar_one()


@pytest.fixture
def world(engine):
    clock = FixedClock(START)
    with client_for(engine, security(clock)) as client:
        yield World(engine, client, clock)
    with engine.connect() as conn:
        report = check_ledger(conn)
    assert report.ok, report.as_dict()


def fen(value: Decimal) -> int:
    return int(value * 100)


# ---------------------------------------------------------------------------- the pharmacy's day


def test_read_the_balance_settle_a_purchase_cancel_it_and_reconcile_the_day(world):
    counter = world.pharmacy
    counter.sign_in()
    info = counter.read_voucher(world.alice)
    assert info["baseinfo"]["psn_name"] == world.alice.name
    assert info["baseinfo"]["certno"] != world.alice.id_number and info["baseinfo"]["certno"].endswith(world.alice.id_number[-4:])
    assert info["idetinfo"] == []
    [insurance] = info["insuinfo"]
    assert (insurance["insutype"], insurance["psn_insu_stas"], insurance["insuplc_admdvs"]) == ("310", "1", "110000")
    assert insurance["balc"] == Decimal("100.00")

    priced = counter.ok("2101", purchase(info, "36.50", lines=["12.50", "24.00"]))["setlinfo"]
    assert "setl_id" not in priced and fen(priced["acct_pay"]) == 3650 and fen(priced["balc"]) == 6350
    assert world.balance(world.alice) == 10_000  # a pre-settlement changes nothing

    settled = counter.ok("2102", purchase(info, "36.50", lines=["12.50", "24.00"]))
    setl = settled["setlinfo"]
    assert (fen(setl["medfee_sumamt"]), fen(setl["acct_pay"]), fen(setl["psn_cash_pay"]), fen(setl["fund_pay_sumamt"])) == (3650, 3650, 0, 0)
    assert fen(setl["balc"]) == 6350 == world.balance(world.alice)
    assert setl["clr_type"] == "41" and setl["medins_setl_id"].startswith("P001")
    assert [line["feedetl_sn"] for line in settled["detlcutinfo"]] == ["1", "2"]
    assert settled["setldetail"][0]["fund_pay_type"] == "310200" and fen(settled["setldetail"][0]["fund_payamt"]) == 3650
    with world.engine.connect() as conn:
        lines = conn.execute(select(national_settlements.c.lines)).scalar_one()
    assert [line["det_item_fee_fen"] for line in lines] == [1250, 2400]

    day = world.clock.today().isoformat()
    totals = {"insutype": "310", "clr_type": "41", "setl_optins": "110000", "stmt_begndate": day, "stmt_enddate": day,
              "medfee_sumamt": Decimal("36.50"), "fund_pay_sumamt": Decimal("0"), "acct_pay": Decimal("36.50"),
              "fixmedins_setl_cnt": 1}
    assert counter.ok("3201", {"data": totals})["stmtinfo"]["stmt_rslt"] == "0"

    cancelled = counter.ok("2103", {"data": {"setl_id": setl["setl_id"], "mdtrt_id": setl["mdtrt_id"], "psn_no": setl["psn_no"]}})
    undone = cancelled["setlinfo"]
    assert (fen(undone["acct_pay"]), fen(undone["psn_pay"]), fen(undone["cash_payamt"])) == (-3650, -3650, 0)
    assert fen(undone["balc"]) == 10_000 == world.balance(world.alice)

    # The day now nets to nothing; the pharmacy's old figures no longer agree, and the answer says where.
    stale = counter.ok("3201", {"data": totals})["stmtinfo"]
    assert stale["stmt_rslt"] == "1"
    assert "结算笔数不符：医保方0笔，医药机构1笔" in stale["stmt_rslt_dscr"] and "个人账户支付金额不符" in stale["stmt_rslt_dscr"]
    netted = totals | {"medfee_sumamt": 0, "acct_pay": 0, "fixmedins_setl_cnt": 0}
    assert counter.ok("3201", {"data": netted})["stmtinfo"] == {"setl_optins": "110000", "stmt_rslt": "0", "stmt_rslt_dscr": "对账一致"}


def test_a_bill_over_the_balance_pays_the_balance_and_the_rest_in_cash(world):
    counter = world.pharmacy
    counter.sign_in()
    info = counter.read_voucher(world.alice)
    setl = counter.ok("2102", purchase(info, "130.20"))["setlinfo"]
    assert (fen(setl["acct_pay"]), fen(setl["psn_cash_pay"]), fen(setl["psn_part_amt"]), fen(setl["balc"])) == (10_000, 3020, 13_020, 0)
    cash_only = counter.ok("2102", purchase(info, "8.00"))["setlinfo"]  # nothing left: all in cash
    assert (fen(cash_only["acct_pay"]), fen(cash_only["psn_cash_pay"])) == (0, 800)
    not_used = counter.ok("2102", purchase(counter.read_voucher(world.bob), "20.00", flag="0"))["setlinfo"]
    assert (fen(not_used["acct_pay"]), fen(not_used["psn_cash_pay"])) == (0, 2000)
    assert world.balance(world.bob) == 50_000


def test_a_repeated_msgid_answers_the_first_answer_and_moves_nothing(world):
    counter = world.pharmacy
    counter.sign_in()
    info = counter.read_voucher(world.alice)
    body = counter.envelope("2102", purchase(info, "10.00"))
    first = world.client.post(URL, json=json.loads(json.dumps(body, default=str)), headers=counter.headers).text
    again = world.client.post(URL, json=json.loads(json.dumps(body, default=str)), headers=counter.headers).text
    assert again == first and world.balance(world.alice) == 9_000
    changed = counter.post(body | {"input": purchase(info, "20.00")})
    assert changed["infcode"] == -1 and changed["err_field"] == "msgid" and "另一笔交易" in changed["err_msg"]
    assert world.balance(world.alice) == 9_000
    # The same msgid from another institution is another message.
    with world.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(national_settlements)).scalar_one() == 1


# ---------------------------------------------------------------------------- envelopes and callers


BAD_ENVELOPES = [
    ("not json", lambda body: "{not json", "body"),
    ("a list", lambda body: "[]", "body"),
    ("no infno", lambda body: {k: v for k, v in body.items() if k != "infno"}, "infno"),
    ("no msgid", lambda body: {k: v for k, v in body.items() if k != "msgid"}, "msgid"),
    ("no fixmedins_code", lambda body: {k: v for k, v in body.items() if k != "fixmedins_code"}, "fixmedins_code"),
    ("no inf_time", lambda body: {k: v for k, v in body.items() if k != "inf_time"}, "inf_time"),
    ("bad opter_type", lambda body: body | {"opter_type": "7"}, "opter_type"),
    ("unknown infno", lambda body: body | {"infno": "9999"}, "infno"),
    ("input a list", lambda body: body | {"input": [1]}, "input"),
    ("encrypted", lambda body: body | {"enc_type": "SM4", "input": "bXlzZWNyZXQ="}, "enc_type"),
    ("missing node", lambda body: body | {"input": {"data": {}}}, "input.signIn"),
    ("missing opter_no", lambda body: body | {"input": {"signIn": {"mac": "x", "ip": "y"}}}, "input.signIn.opter_no"),
]


@pytest.mark.parametrize("case, spoil, field", BAD_ENVELOPES, ids=[case[0] for case in BAD_ENVELOPES])
def test_a_bad_envelope_is_answered_with_the_field_and_changes_nothing(world, case, spoil, field):
    counter = world.pharmacy
    body = spoil(counter.envelope("9001", {"signIn": {"opter_no": "0001", "mac": "m", "ip": "i"}}))
    response = world.client.post(URL, content=body if isinstance(body, str) else json.dumps(body), headers=counter.headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    answer = response.json()
    assert answer["infcode"] == -1 and answer["err_field"] == field, answer
    assert answer["err_msg"] and all("\u4e00" <= ch <= "\u9fff" for ch in answer["err_msg"][:2]), answer["err_msg"]
    assert len(answer["inf_refmsgid"]) == 30 and len(answer["refmsg_time"]) == 17 == len(answer["respond_time"])
    with world.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(national_messages).where(national_messages.c.infcode == 0)).scalar_one() == 0


def test_infno_in_the_address_and_input_as_a_string_are_accepted(world):
    counter = world.pharmacy
    body = counter.envelope("9001", json.dumps({"signIn": {"opter_no": "0001", "mac": "m", "ip": "i"}}))
    del body["infno"]
    answer = counter.post(body, url=f"{URL}/9001")
    assert answer["infcode"] == 0 and len(answer["output"]["signinoutb"]["sign_no"]) == 30
    mismatch = counter.post(counter.envelope("9001", {"signIn": {"opter_no": "1"}}), url=f"{URL}/1101")
    assert mismatch["infcode"] == -1 and mismatch["err_field"] == "infno"


def tif_headers(code: str, secret: str, *, stamp: int, nonce: str) -> dict:
    signature = hashlib.sha256(f"{stamp}{secret}{nonce}{stamp}".encode()).hexdigest()
    return {"x-tif-paasid": code, "x-tif-timestamp": str(stamp), "x-tif-nonce": nonce, "x-tif-signature": signature}


def test_callers_are_known_by_api_key_or_tif_signature_and_only_as_themselves(world):
    counter = world.pharmacy
    sign_in = {"signIn": {"opter_no": "0001", "mac": "m", "ip": "i"}}
    refused = counter.post(counter.envelope("9001", sign_in), headers={})
    assert (refused["infcode"], refused["err_code"]) == (-1, "api_key_required")
    assert counter.post(counter.envelope("9001", sign_in), headers={"X-Api-Key": "ybk_wrong"})["err_code"] == "invalid_api_key"
    # Another institution's code in the envelope: refused, whichever key is used.
    posing = counter.post(counter.envelope("9001", sign_in, fixmedins_code="P002"))
    assert (posing["infcode"], posing["err_field"]) == (-1, "fixmedins_code")

    with world.engine.begin() as conn:
        secret = issue_tif_secret(conn, world.client.app.state.security.key, "P001")
    now = int(world.clock.now().timestamp())
    signed = tif_headers("P001", secret, stamp=now, nonce="n-0001")
    assert counter.post(counter.envelope("9001", sign_in), headers=signed)["infcode"] == 0
    replayed = counter.post(counter.envelope("9001", sign_in), headers=signed)
    assert (replayed["infcode"], replayed["err_code"]) == (-1, "tif_nonce_replayed")
    stale = counter.post(counter.envelope("9001", sign_in), headers=tif_headers("P001", secret, stamp=now - 301, nonce="n-2"))
    assert stale["err_code"] == "tif_timestamp"
    forged = counter.post(counter.envelope("9001", sign_in), headers=tif_headers("P001", "guessed", stamp=now, nonce="n-3"))
    assert forged["err_code"] == "tif_signature"
    other_secret = counter.post(counter.envelope("9001", sign_in), headers=tif_headers("P002", secret, stamp=now, nonce="n-4"))
    assert other_secret["err_code"] == "tif_signature"
    with world.engine.begin() as conn:
        rotated = issue_tif_secret(conn, world.client.app.state.security.key, "P001")
    assert rotated != secret
    assert counter.post(counter.envelope("9001", sign_in), headers=tif_headers("P001", secret, stamp=now, nonce="n-5"))["err_code"] == "tif_signature"


def test_an_institution_that_is_not_designated_is_refused(world):
    key = add_pharmacy(world.engine, "P009")
    counter = Counter(world, "P009", {"X-Api-Key": key})
    answer = counter.send("9001", {"signIn": {"opter_no": "1", "mac": "m", "ip": "i"}})
    assert answer["infcode"] == -1 and "不是定点医药机构" in answer["err_msg"]


def test_messages_need_a_live_sign_in_of_the_same_institution(world):
    counter = world.pharmacy
    payload = {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": world.alice.id_number, "psn_name": world.alice.name}}
    assert counter.send("1101", payload)["err_field"] == "sign_no"
    sign_no = counter.sign_in()
    assert counter.send("1101", payload)["infcode"] == 0
    world.other.sign_no = sign_no  # another institution's sign_no is not its own
    assert world.other.send("1101", payload)["err_field"] == "sign_no"
    assert counter.ok("9002", {"signOut": {"sign_no": sign_no, "opter_no": "0001"}})["signoutoutb"]["sign_time"]
    assert counter.send("1101", payload)["err_code"] == "national_sign_in_required"


# ---------------------------------------------------------------------------- identification


def test_the_id_number_reads_but_only_a_present_person_pays_from_the_account(world):
    counter = world.pharmacy
    counter.sign_in()
    wrong_name = counter.send("1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": world.alice.id_number, "psn_name": "王五"}})
    assert (wrong_name["infcode"], wrong_name["err_field"]) == (-1, "input.data.psn_name")
    info = counter.ok("1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": world.alice.id_number, "psn_name": world.alice.name}})
    assert info["baseinfo"]["certno"] == world.alice.id_number  # the institution typed it
    bill = purchase(info | {"payload": world.alice.id_number}, "10.00")
    bill["druginfo"]["mdtrt_cert_type"] = "02"
    refused = counter.send("2102", bill)
    assert (refused["infcode"], refused["err_code"]) == (-1, "national_account_needs_presence")
    bill["druginfo"]["acct_used_flag"] = "0"
    assert fen(counter.ok("2102", bill)["setlinfo"]["psn_cash_pay"]) == 1000
    assert world.balance(world.alice) == 10_000


def test_the_card_with_its_service_pin_pays_from_the_account(world):
    set_card_pin(world.engine, world.alice.person_id)
    counter = world.pharmacy
    counter.sign_in()
    card = {"mdtrt_cert_type": "03", "mdtrt_cert_no": world.alice.card_number, "card_sn": ""}
    wrong = counter.send("1101", {"data": card | {"expContent": {"card_pin": "000000"}}})
    assert (wrong["infcode"], wrong["err_code"]) == (-1, "card_pin_invalid")
    info = counter.ok("1101", {"data": card | {"expContent": json.dumps({"card_pin": CARD_PIN})}})
    bill = purchase(info | {"payload": world.alice.card_number}, "10.00")
    bill["druginfo"]["mdtrt_cert_type"] = "03"
    assert fen(counter.ok("2102", bill)["setlinfo"]["acct_pay"]) == 1000


def test_an_identification_serves_only_its_institution_and_only_for_a_while(world):
    counter = world.pharmacy
    counter.sign_in()
    world.other.sign_in()
    info = counter.read_voucher(world.alice)
    assert world.other.send("2102", purchase(info, "5.00"))["err_code"] == "national_not_identified"
    spent = counter.send("1101", {"data": {"mdtrt_cert_type": "01", "mdtrt_cert_no": info["payload"]}})
    assert spent["infcode"] == -1  # the e-voucher is single use
    later(world.clock, hours=5)
    counter.sign_in()
    assert counter.send("2102", purchase(info, "5.00"))["err_code"] == "national_not_identified"
    assert world.balance(world.alice) == 10_000


# ---------------------------------------------------------------------------- outpatient and reversal


def test_outpatient_settlement_its_cancel_and_a_reversal_by_msgid(world):
    counter = world.pharmacy
    counter.sign_in()
    info = counter.read_voucher(world.alice)
    assert fen(counter.ok("2206", outpatient(info, "40.00"))["setlinfo"]["acct_pay"]) == 4000
    setl = counter.ok("2207", outpatient(info, "40.00", invono="MZ1"))["setlinfo"]
    assert (setl["clr_type"], fen(setl["balc"])) == ("11", 6000)
    cancelled = counter.ok("2208", {"data": {"setl_id": setl["setl_id"], "mdtrt_id": setl["mdtrt_id"], "psn_no": setl["psn_no"]}})
    assert fen(cancelled["setlinfo"]["pdn_cash_pay"]) == fen(cancelled["setlinfo"]["psn_cash_pay"]) == 0
    assert world.balance(world.alice) == 10_000
    again = counter.ok("2208", {"data": {"setl_id": setl["setl_id"], "mdtrt_id": setl["mdtrt_id"], "psn_no": setl["psn_no"]}})
    assert fen(again["setlinfo"]["acct_pay"]) == -4000 and world.balance(world.alice) == 10_000  # refunded once

    body = counter.envelope("2207", outpatient(info, "25.00", invono="MZ2"))
    assert counter.post(body)["infcode"] == 0 and world.balance(world.alice) == 7_500
    reversal = {"data": {"psn_no": info["baseinfo"]["psn_no"], "omsgid": body["msgid"], "oinfno": "2207"}}
    assert counter.ok("2601", reversal) == {} and world.balance(world.alice) == 10_000
    assert counter.ok("2601", reversal) == {} and world.balance(world.alice) == 10_000
    wrong_kind = counter.send("2601", {"data": reversal["data"] | {"oinfno": "2102"}})
    assert wrong_kind["err_field"] == "input.data.oinfno"


def test_a_reversal_that_overtakes_its_original_stops_it(world):
    counter = world.pharmacy
    counter.sign_in()
    info = counter.read_voucher(world.alice)
    late = counter.envelope("2102", purchase(info, "30.00"))
    reversal = {"data": {"psn_no": info["baseinfo"]["psn_no"], "omsgid": late["msgid"], "oinfno": "2102"}}
    assert counter.ok("2601", reversal) == {}
    refused = counter.post(late)
    assert (refused["infcode"], refused["err_code"]) == (-1, "national_reversed_before_arrival")
    assert world.balance(world.alice) == 10_000


def test_a_cancel_is_not_reversed_and_unknown_settlements_are_not_found(world):
    counter = world.pharmacy
    counter.sign_in()
    info = counter.read_voucher(world.alice)
    psn = info["baseinfo"]["psn_no"]
    assert counter.send("2601", {"data": {"psn_no": psn, "omsgid": "X1", "oinfno": "2103"}})["err_code"] == "national_not_reversible"
    missing = counter.send("2103", {"data": {"setl_id": "110000202506150000009999", "mdtrt_id": "", "psn_no": psn}})
    assert missing["err_code"] == "national_settlement_not_found"
    setl = counter.ok("2102", purchase(info, "5.00"))["setlinfo"]
    world.other.sign_in()
    foreign = world.other.send("2103", {"data": {"setl_id": setl["setl_id"], "mdtrt_id": "", "psn_no": psn}})
    assert foreign["err_code"] == "national_settlement_not_found"  # another institution's settlement does not exist for it
    crossed = counter.send("2208", {"data": {"setl_id": setl["setl_id"], "mdtrt_id": setl["mdtrt_id"], "psn_no": psn}})
    assert crossed["err_field"] == "input.data.setl_id"


# ---------------------------------------------------------------------------- amounts, lines, family


@pytest.mark.parametrize("spoil, field", [
    (lambda bill: bill["druginfo"].update(medfee_sumamt=Decimal("10.001")), "input.druginfo.medfee_sumamt"),
    (lambda bill: bill["druginfo"].update(medfee_sumamt=Decimal("0")), "input.druginfo.medfee_sumamt"),
    (lambda bill: bill["druginfo"].update(medfee_sumamt=Decimal("11.00")), "input.druginfo.medfee_sumamt"),  # lines say 10
    (lambda bill: bill["druginfo"].update(acct_used_flag="2"), "input.druginfo.acct_used_flag"),
    (lambda bill: bill["druginfo"].update(insutype="390"), "input.druginfo.insutype"),
    (lambda bill: bill["druginfo"].update(psn_no="abc"), "input.druginfo.psn_no"),
    (lambda bill: bill["drugdetail"].append(dict(bill["drugdetail"][0])), "input.drugdetail[1].feedetl_sn"),
])
def test_a_bad_bill_names_its_field_and_pays_nothing(world, spoil, field):
    counter = world.pharmacy
    counter.sign_in()
    bill = purchase(counter.read_voucher(world.alice), "10.00")
    spoil(bill)
    answer = counter.send("2102", bill)
    assert (answer["infcode"], answer["err_field"]) == (-1, field), answer
    assert world.balance(world.alice) == 10_000


def test_a_resident_relative_pays_from_the_holders_account_as_mutual_aid(world):
    holder, relative = world.bob, add_resident(world.engine, 3)
    holder_token = login(world.client, holder).json()["access_token"]
    created = world.client.post("/api/v1/me/family", headers=bearer(holder_token), json={"id_number": relative.id_number, "relation": "parent"})
    relative_token = login(world.client, relative).json()["access_token"]
    consented = world.client.post(f"/api/v1/me/family/{created.json()['binding_id']}/consent", headers=bearer(relative_token))
    assert consented.status_code == 200, consented.text
    counter = world.pharmacy
    counter.sign_in()
    info = counter.read_voucher(relative)
    assert info["insuinfo"][0]["insutype"] == "390" and info["insuinfo"][0]["balc"] == Decimal("0.00")
    setl = counter.ok("2102", purchase(info, "25.00", insutype="390"))["setlinfo"]
    assert (fen(setl["acct_pay"]), fen(setl["acct_mulaid_pay"]), fen(setl["psn_cash_pay"])) == (2500, 2500, 0)
    assert world.balance(holder) == 47_500
    counter.ok("2103", {"data": {"setl_id": setl["setl_id"], "mdtrt_id": setl["mdtrt_id"], "psn_no": setl["psn_no"]}})
    assert world.balance(holder) == 50_000


def test_cumulative_figures_of_the_year(world):
    counter = world.pharmacy
    counter.sign_in()
    info = counter.read_voucher(world.alice)
    first = counter.ok("2102", purchase(info, "12.00"))["setlinfo"]
    counter.ok("2102", purchase(info, "3.00"))
    counter.ok("2103", {"data": {"setl_id": first["setl_id"], "mdtrt_id": first["mdtrt_id"], "psn_no": first["psn_no"]}})
    figures = counter.ok("5206", {"data": {"psn_no": info["baseinfo"]["psn_no"], "cum_ym": "202506"}})["cuminfo"]
    by_code = {row["cum_type_code"]: row["cum"] for row in figures}
    assert by_code == {"ACCT_PAY": Decimal("3.00"), "ACCT_MULAID_PAY": Decimal("0.00"), "MEDFEE_SUMAMT": Decimal("3.00"),
                       "SETL_CNT": Decimal("1")}
    assert {row["year"] for row in figures} == {"2025"} and {row["insutype"] for row in figures} == {"310"}
    world.other.sign_in()
    assert world.other.send("5206", {"data": {"psn_no": info["baseinfo"]["psn_no"]}})["err_code"] == "national_not_identified"


# ---------------------------------------------------------------------------- the audit log


def test_every_message_is_audited_with_its_institution_operator_and_person_without_full_id_numbers(world):
    counter = world.pharmacy
    counter.sign_in()
    counter.ok("1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": world.alice.id_number, "psn_name": world.alice.name}})
    counter.send("2102", {"druginfo": {}})
    with world.engine.connect() as conn:
        rows = conn.execute(select(audit_log).where(audit_log.c.action == "national.message").order_by(audit_log.c.id)).mappings().all()
    assert [row["detail"]["infno"] for row in rows] == ["9001", "1101", "2102"]
    assert {row["actor_id"] for row in rows} == {"P001"} and {row["detail"]["opter"] for row in rows} == {"0001"}
    assert rows[1]["subject_person_id"] == world.alice.person_id and rows[1]["detail"]["infcode"] == 0
    assert rows[2]["detail"]["infcode"] == -1 and rows[2]["detail"]["error"] == "缺少人员编号（input.druginfo.psn_no）"
    assert all(row["detail"]["msgid"].startswith("P001") for row in rows)
    assert world.alice.id_number not in json.dumps([dict(row["detail"]) for row in rows], ensure_ascii=False)


def test_identifications_expire_after_the_setting(world):
    counter = world.pharmacy
    counter.sign_in()
    info = counter.read_voucher(world.alice)
    later(world.clock, seconds=world.client.app.state.security.settings.national_identification_seconds - 60)
    assert counter.send("2101", purchase(info, "1.00"))["infcode"] == 0
    later(world.clock, seconds=120)
    assert counter.send("2101", purchase(info, "1.00"))["err_code"] == "national_not_identified"
    assert timedelta(seconds=world.client.app.state.security.settings.national_identification_seconds) >= timedelta(hours=1)


def test_an_outpatient_visit_registered_with_its_fee_lines_settles_exactly_those_lines(world):
    counter = world.pharmacy
    counter.sign_in()
    info = counter.read_voucher(world.alice)
    psn = info["baseinfo"]["psn_no"]
    registered = counter.ok("2201", {"data": {
        "psn_no": psn, "insutype": "310", "begntime": "2025-06-15 09:30:00", "mdtrt_cert_type": "01",
        "mdtrt_cert_no": info["payload"], "ipt_otp_no": "MZ0001", "atddr_no": "D01", "dr_name": "王医生",
        "dept_code": "A01", "dept_name": "内科", "caty": "A03"}})["data"]
    visit = registered["mdtrt_id"]
    assert len(visit) == 20 and registered["ipt_otp_no"] == "MZ0001"
    counter.ok("2203", {"mdtrtinfo": {"mdtrt_id": visit, "psn_no": psn, "med_type": "11", "begntime": "2025-06-15 09:30:00",
                                      "dise_codg": "J06.900", "dise_name": "急性上呼吸道感染"}, "diseinfo": []})

    def line(serial: str, batch: str, yuan: str) -> dict:
        return {"feedetl_sn": serial, "mdtrt_id": visit, "psn_no": psn, "chrg_bchno": batch, "det_item_fee_sumamt": Decimal(yuan),
                "cnt": Decimal("1"), "pric": Decimal(yuan), "med_list_codg": "001201000010000-120100001", "fee_ocur_time": "2025-06-15 09:40:00"}

    uploaded = counter.ok("2204", {"feedetail": [line("1", "CB1", "12.00"), line("2", "CB1", "8.00")]})["result"]
    assert [row["feedetl_sn"] for row in uploaded] == ["1", "2"]
    counter.ok("2204", {"feedetail": [line("1", "CB1", "12.00"), line("3", "CB2", "5.00")]})  # line 1 again: kept once
    counter.ok("2205", {"data": {"mdtrt_id": visit, "chrg_bchno": "CB2", "psn_no": psn}})
    bill = outpatient(info, "25.00", invono="MZ9")
    bill["data"] |= {"mdtrt_id": visit, "chrg_bchno": "CB1"}
    wrong = counter.send("2206", bill)
    assert (wrong["infcode"], wrong["err_field"]) == (-1, "input.data.medfee_sumamt") and "20.00" in wrong["err_msg"]
    bill["data"]["medfee_sumamt"] = Decimal("20.00")
    setl = counter.ok("2207", bill)["setlinfo"]
    assert (setl["mdtrt_id"], fen(setl["acct_pay"])) == (visit, 2000)
    with world.engine.connect() as conn:
        assert [row["feedetl_sn"] for row in conn.execute(select(national_settlements.c.lines)).scalar_one()] == ["1", "2"]
    assert counter.send("2207", bill)["err_code"] == "national_fees_settled"
    assert counter.send("2202", {"data": {"psn_no": psn, "mdtrt_id": visit, "ipt_otp_no": "MZ0001"}})["err_code"] == "national_visit_settled"
    counter.ok("2208", {"data": {"setl_id": setl["setl_id"], "mdtrt_id": visit, "psn_no": psn}})
    counter.ok("2202", {"data": {"psn_no": psn, "mdtrt_id": visit, "ipt_otp_no": "MZ0001"}})
    assert counter.send("2206", bill)["err_code"] == "national_visit_cancelled"
    assert world.balance(world.alice) == 10_000


@pytest.mark.parametrize("then", ["sent again", "reversed"])
def test_a_settlement_a_crash_interrupted_is_finished_by_its_msgid_or_undone_by_a_reversal(world, monkeypatch, then):
    from yibao.national import settle

    counter = world.pharmacy
    counter.sign_in()
    info = counter.read_voucher(world.alice)
    body = counter.envelope("2102", purchase(info, "150.00"))  # over the balance: the family part is looked at next
    real = settle._pay_family

    def crash(*args, **kwargs):
        raise RuntimeError("the server died between the payments")

    monkeypatch.setattr(settle, "_pay_family", crash)
    with pytest.raises(RuntimeError):
        world.client.post(URL, json=json.loads(json.dumps(body, default=str)), headers=counter.headers)
    assert world.balance(world.alice) == 0  # the own payment went through; the settlement is pending
    with world.engine.connect() as conn:
        assert conn.execute(select(national_settlements.c.status)).scalar_one() == "pending"
        assert check_ledger(conn, stale_after_seconds=-3600).warnings[0].code == "national_settlement_pending"
    monkeypatch.setattr(settle, "_pay_family", real)
    if then == "sent again":
        setl = counter.post(body)["output"]["setlinfo"]
        assert (fen(setl["acct_pay"]), fen(setl["psn_cash_pay"])) == (10_000, 5_000) and world.balance(world.alice) == 0
    else:
        reversal = {"data": {"psn_no": info["baseinfo"]["psn_no"], "omsgid": body["msgid"], "oinfno": "2102"}}
        assert counter.ok("2601", reversal) == {} and world.balance(world.alice) == 10_000
        assert counter.post(body)["err_code"] == "national_reversed_before_arrival"
    with world.engine.connect() as conn:
        assert conn.execute(select(national_settlements.c.status)).scalar_one() == ("settled" if then == "sent again" else "reversed")
        assert check_ledger(conn, stale_after_seconds=-3600).warnings == []


def test_a_settlement_can_be_looked_up_after_a_timeout_and_says_when_it_was_undone(world):
    counter = world.pharmacy
    counter.sign_in()
    info = counter.read_voucher(world.alice)
    setl = counter.ok("2102", purchase(info, "12.34"))["setlinfo"]
    query = {"data": {"psn_no": setl["psn_no"], "setl_id": setl["setl_id"], "mdtrt_id": setl["mdtrt_id"]}}
    found = counter.ok("5203", query)["setlinfo"]
    assert (fen(found["acct_pay"]), fen(found["psn_pay"]), fen(found["cash_payamt"]), found["refd_setl_flag"]) == (1234, 1234, 0, "0")
    assert found["medins_setl_id"] == setl["medins_setl_id"] and fen(found["balc"]) == 10_000 - 1234
    counter.ok("2103", query)
    assert counter.ok("5203", query)["setlinfo"]["refd_setl_flag"] == "1"
    world.other.sign_in()
    assert world.other.send("5203", query)["err_code"] == "national_settlement_not_found"
