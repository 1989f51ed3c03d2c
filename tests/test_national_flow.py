"""The national interface end to end: the real server (``yibao serve``) in a subprocess, driven by
a client written from the public fact sheet (``national_sheet_client``), on SQLite and PostgreSQL.

Each scenario checks the envelopes, the amounts to the fen against the database, and ends with
``yibao db check`` clean. People come from ``api_support``; e-vouchers are issued the way a person
gets one (sign in, ``POST /api/v1/me/evoucher``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import httpx2 as httpx
import pytest
from sqlalchemy import Engine, select

from api_support import REGION, TEST_KEY, Insured, add_designated_pharmacy, add_insured, add_resident, bearer
from national_sheet_client import DrugLine, Reply, SheetClient, fen, tif_headers, yuan
from yibao.payments.institutions import set_designated
from yibao.security.institutions import InstitutionKind, add_institution
from yibao.store.models import accounts

ZERO = Decimal("0.00")
STAMP_17 = re.compile(r"[0-9]{17}")


# ---------------------------------------------------------------------------- the served world


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def add_designated_hospital(engine: Engine, code: str = "H002") -> str:
    with engine.begin() as conn:
        _, key = add_institution(conn, code=code, name="某某医院", kind=InstitutionKind.HOSPITAL, region_code=REGION)
        set_designated(conn, code, True)
    return key


@dataclass
class Served:
    """A running ``yibao serve`` on the test's database, and what the tests need around it."""

    base: str
    env: dict[str, str] = field(repr=False)
    engine: Engine
    keys: dict[str, str] = field(repr=False)
    tokens: dict[int, str] = field(default_factory=dict, repr=False)
    clients: list[SheetClient] = field(default_factory=list, repr=False)

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "yibao.cli", *args], env=self.env, capture_output=True, text=True,
                              timeout=300)

    def tif_secret(self, code: str) -> str:
        done = self.cli("institution", "tif-secret", code, "--json")
        assert done.returncode == 0, done.stderr + done.stdout
        answer = json.loads(done.stdout)
        assert answer["paasid"] == code and answer["secret"]
        return answer["secret"]

    def client(self, code: str, *, auth: str = "api-key", url_shape: str = "body") -> SheetClient:
        name = "某某医院" if code.startswith("H") else "某某大药房"
        client = SheetClient(
            self.base, code, name, api_key=self.keys[code], auth=auth, url_shape=url_shape,
            tif_secret=self.tif_secret(code) if auth == "tif" else None,
        )
        self.clients.append(client)
        return client

    def voucher(self, person: Insured) -> str:
        """A fresh e-voucher payload (60 s, single use), asked for as the person's app asks."""
        if person.person_id not in self.tokens:
            login = httpx.post(self.base + "/api/v1/auth/login", json={
                "id_number": person.id_number, "card_number": person.card_number, "password": person.password,
            })
            assert login.status_code == 200, login.text
            self.tokens[person.person_id] = login.json()["access_token"]
        answer = httpx.post(self.base + "/api/v1/me/evoucher", headers=bearer(self.tokens[person.person_id]))
        assert answer.status_code == 200, answer.text
        return answer.json()["payload"]

    def balance_fen(self, person: Insured) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(accounts.c.balance_fen).where(accounts.c.id == person.account_id)).scalar_one()

    def assert_db_check_clean(self) -> None:
        done = self.cli("db", "check", "--json")
        assert done.returncode == 0, done.stdout + done.stderr


@dataclass
class People:
    alice: Insured  # 1,234.56
    bob: Insured  # 50.00
    carol: Insured  # 100.00
    dave: Insured  # 100.00
    resident: Insured  # residents' insurance, no personal account


@pytest.fixture
def people(engine) -> People:
    return People(
        alice=add_insured(engine, 1, balance_fen=123_456), bob=add_insured(engine, 2, balance_fen=5_000),
        carol=add_insured(engine, 3, balance_fen=10_000), dave=add_insured(engine, 4, balance_fen=10_000),
        resident=add_resident(engine, 5),
    )


@pytest.fixture
def served(engine, database_url, people, tmp_path):
    keys = {"P001": add_designated_pharmacy(engine, "P001"), "H002": add_designated_hospital(engine, "H002")}
    env = {name: value for name, value in os.environ.items() if not name.startswith("YIBAO_")} | {
        "YIBAO_DATABASE_URL": database_url,
        "YIBAO_SECRET_KEY": TEST_KEY,
        "YIBAO_DATA_DIR": str(tmp_path),
        "YIBAO_RATE_LIMIT_PER_MINUTE": "0",
        "YIBAO_ENV": "development",  # the default "log" SMS sender is refused in production
    }
    port = free_port()
    log = tempfile.TemporaryFile("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "yibao.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    world = Served(f"http://127.0.0.1:{port}", env, engine, keys)
    try:
        wait_until_healthy(world.base, process, log)
        yield world
    finally:
        for client in world.clients:
            client.close()
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def wait_until_healthy(base: str, process: subprocess.Popen, log, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise AssertionError(f"yibao serve exited with {process.returncode}:\n{log.read()[-4000:]}")
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("yibao serve did not answer /health")


# ---------------------------------------------------------------------------- checks


def assert_success(reply: Reply) -> dict:
    """HTTP 200, infcode 0 (a JSON number), empty err_msg, the receiver's id and 17-digit times."""
    assert reply.status_code == 200, reply.raw[:500]
    assert reply["infcode"] == 0 and type(reply["infcode"]) is int, reply.raw[:500]
    assert reply["err_msg"] == ""
    assert isinstance(reply["inf_refmsgid"], str) and len(reply["inf_refmsgid"]) == 30
    assert STAMP_17.fullmatch(reply["refmsg_time"]) and STAMP_17.fullmatch(reply["respond_time"])
    assert reply["refmsg_time"] <= reply["respond_time"]
    return reply.output


def assert_refused(reply: Reply) -> None:
    """A business refusal: HTTP 200, infcode -1 and a Chinese err_msg."""
    assert reply.status_code == 200, reply.raw[:500]
    assert reply["infcode"] == -1 and type(reply["infcode"]) is int, reply.raw[:500]
    assert re.search(r"[\u4e00-\u9fff]", reply["err_msg"]), reply["err_msg"]


def assert_not_accepted(reply: Reply) -> None:
    """Refused one way or the other (the sheet leaves the HTTP status of an auth failure open)."""
    assert not reply.ok, reply.raw[:500]
    if reply.status_code == 200:
        assert reply["infcode"] == -1


def assert_split(setlinfo: dict, *, total: Decimal, acct: Decimal, balc: Decimal) -> None:
    """The account pays ``acct``, cash the rest, the fund nothing; amounts exact to the fen."""
    for name in ("medfee_sumamt", "fund_pay_sumamt", "psn_part_amt", "acct_pay", "psn_cash_pay", "balc"):
        assert isinstance(setlinfo[name], (Decimal, int)), (name, setlinfo[name])
    assert setlinfo["medfee_sumamt"] == total
    assert setlinfo["fund_pay_sumamt"] == ZERO
    assert setlinfo["acct_pay"] == acct
    assert setlinfo["psn_cash_pay"] == total - acct
    assert setlinfo["acct_pay"] + setlinfo["psn_cash_pay"] == setlinfo["medfee_sumamt"]
    assert setlinfo["psn_part_amt"] == total
    assert setlinfo["balc"] == balc


def person_of(client: SheetClient, served: Served, person: Insured) -> tuple[str, str, dict]:
    """1101 by e-voucher: (psn_no, the voucher payload used, the answer's output)."""
    payload = served.voucher(person)
    output = assert_success(client.person_info(payload))
    return output["baseinfo"]["psn_no"], payload, output


def balc_1101(client: SheetClient, served: Served, person: Insured) -> Decimal:
    return person_of(client, served, person)[2]["insuinfo"][0]["balc"]


def period() -> tuple[date, date]:
    """A statement period around today that holds this test's settlements whatever the server's time zone."""
    today = date.today()
    return today - timedelta(days=1), today + timedelta(days=1)


# ---------------------------------------------------------------------------- scenarios


def test_pharmacy_flow_with_api_key(served, people):
    """9001 → 1101 → 2101 → 2102 → 2103 → 2102 → 3201 → 5206 → 9002, with X-Api-Key and infno in the body."""
    alice, client = people.alice, served.client("P001")
    signed = assert_success(client.sign_in())["signinoutb"]
    assert signed["sign_no"] and re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", signed["sign_time"])

    psn_no, payload, info = person_of(client, served, alice)
    base = info["baseinfo"]
    # The server masks the certificate number (institutions see the minimum, as with the e-voucher);
    # the sheet gives the field without saying so either way.
    assert base["psn_name"] == alice.name
    assert base["certno"] in (alice.id_number, alice.id_number[:6] + "********" + alice.id_number[-4:])
    assert base["brdy"] == f"{alice.id_number[6:10]}-{alice.id_number[10:12]}-{alice.id_number[12:14]}"
    assert base["gend"] and isinstance(base["age"], (int, Decimal))
    row = info["insuinfo"][0]
    assert (row["insutype"], row["psn_insu_stas"], row["insuplc_admdvs"]) == ("310", "1", REGION)
    assert row["balc"] == Decimal("1234.56") and info["idetinfo"] == []
    balance = 123_456

    lines = [DrugLine(yuan(1_250)), DrugLine(yuan(3_099), medins_list_codg="YP0002")]
    total = yuan(1_250 + 3_099)
    preview = assert_success(client.drug_presettle(psn_no, payload, lines))["setlinfo"]
    assert "setl_id" not in preview or not preview["setl_id"]
    assert_split(preview, total=total, acct=total, balc=yuan(balance - 4_349))
    assert served.balance_fen(alice) == balance  # a pre-settlement moves nothing

    settled = client.drug_settle(psn_no, payload, lines)
    output = assert_success(settled)
    setl = output["setlinfo"]
    assert setl["setl_id"] and setl["mdtrt_id"] and setl["psn_no"] == psn_no
    assert setl["medins_setl_id"] == settled.msgid and setl["clr_type"] == "41"
    assert_split(setl, total=total, acct=total, balc=yuan(balance - 4_349))
    assert [line["feedetl_sn"] for line in output["detlcutinfo"]] == ["0001", "0002"]
    assert [line["det_item_fee_sumamt"] for line in output["detlcutinfo"]] == [yuan(1_250), yuan(3_099)]
    assert isinstance(output["setldetail"], list)
    balance -= 4_349
    assert served.balance_fen(alice) == balance

    cancelled = assert_success(client.drug_cancel(setl["setl_id"], setl["mdtrt_id"], psn_no))["setlinfo"]
    assert (cancelled["acct_pay"], cancelled["psn_pay"], cancelled["cash_payamt"]) == (-total, -total, ZERO)
    assert cancelled["medfee_sumamt"] == -total
    balance += 4_349
    assert cancelled["balc"] == yuan(balance) and served.balance_fen(alice) == balance

    again = client.drug_settle(psn_no, payload, [DrugLine(yuan(888))])
    assert_split(assert_success(again)["setlinfo"], total=yuan(888), acct=yuan(888), balc=yuan(balance - 888))
    balance -= 888

    # One settlement stands: 2102 + 2102 − 2103 in the period.
    begin, end = period()
    totals = {"insutype": "310", "clr_type": "41", "setl_optins": REGION, "begin": begin, "end": end}
    even = assert_success(client.reconcile(**totals, medfee_sumamt=yuan(888), fund_pay_sumamt=ZERO, acct_pay=yuan(888),
                                           count=1))["stmtinfo"]
    assert even["stmt_rslt"] == "0" and even["setl_optins"] == REGION
    uneven = assert_success(client.reconcile(**totals, medfee_sumamt=yuan(888 + 4_349), fund_pay_sumamt=ZERO,
                                             acct_pay=yuan(888 + 4_349), count=2))["stmtinfo"]
    assert uneven["stmt_rslt"] == "1" and uneven["stmt_rslt_dscr"]

    assert isinstance(assert_success(client.cumulative(psn_no, date.today().strftime("%Y%m")))["cuminfo"], list)
    assert balc_1101(client, served, alice) == yuan(balance) and served.balance_fen(alice) == balance
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", assert_success(client.sign_out())["signoutoutb"]["sign_time"])
    served.assert_db_check_clean()


def test_outpatient_flow_with_tif_headers_on_the_infno_path(served, people):
    """9001 → 1101 → 2206 → 2207 → 2208 → 2207 → 2601 → 3201, with TIF headers and ``/callService/{infno}``."""
    bob, client = people.bob, served.client("H002", auth="tif", url_shape="path")
    assert_success(client.sign_in())
    psn_no, payload, info = person_of(client, served, bob)
    assert info["insuinfo"][0]["balc"] == Decimal("50.00")

    # More than the balance: the account pays all it has, the rest is cash.
    fee = yuan(5_678)
    preview = assert_success(client.outpatient_presettle(psn_no, payload, fee, mdtrt_id="MZ0001", chrg_bchno="CB0001"))
    assert_split(preview["setlinfo"], total=fee, acct=yuan(5_000), balc=ZERO)
    assert served.balance_fen(bob) == 5_000

    settled = client.outpatient_settle(psn_no, payload, fee, mdtrt_id="MZ0001", chrg_bchno="CB0001")
    setl = assert_success(settled)["setlinfo"]
    assert setl["setl_id"] and setl["medins_setl_id"] == settled.msgid and setl["clr_type"] == "11"
    assert_split(setl, total=fee, acct=yuan(5_000), balc=ZERO)
    assert served.balance_fen(bob) == 0

    cancelled = assert_success(client.outpatient_cancel(setl["setl_id"], setl["mdtrt_id"], psn_no))["setlinfo"]
    assert cancelled["acct_pay"] == yuan(-5_000) and cancelled["medfee_sumamt"] == -fee
    assert cancelled["pdn_cash_pay"] == cancelled["psn_cash_pay"] == yuan(-678)
    assert cancelled["balc"] == Decimal("50.00") and served.balance_fen(bob) == 5_000

    second = client.outpatient_settle(psn_no, payload, yuan(2_000), mdtrt_id="MZ0002", chrg_bchno="CB0002")
    assert second.msgid != settled.msgid
    assert_split(assert_success(second)["setlinfo"], total=yuan(2_000), acct=yuan(2_000), balc=yuan(3_000))
    assert served.balance_fen(bob) == 3_000

    assert assert_success(client.reverse(psn_no, second.msgid, "2207")) == {}
    assert served.balance_fen(bob) == 5_000
    assert balc_1101(client, served, bob) == Decimal("50.00")

    # Two settlements, two reversals (2208, 2601): nothing stands.
    begin, end = period()
    stmt = assert_success(client.reconcile(insutype="310", clr_type="11", setl_optins=REGION, begin=begin, end=end,
                                           medfee_sumamt=ZERO, fund_pay_sumamt=ZERO, acct_pay=ZERO, count=0))["stmtinfo"]
    assert stmt["stmt_rslt"] == "0"
    served.assert_db_check_clean()


def test_the_account_flag_and_a_short_balance(served, people):
    """acct_used_flag "0" leaves the account alone; "1" takes what the balance holds and no more."""
    bob, client = people.bob, served.client("P001")
    assert_success(client.sign_in())
    psn_no, payload, _ = person_of(client, served, bob)

    cash_only = client.drug_settle(psn_no, payload, [DrugLine(yuan(1_234))], acct_used_flag="0")
    assert_split(assert_success(cash_only)["setlinfo"], total=yuan(1_234), acct=ZERO, balc=Decimal("50.00"))
    assert served.balance_fen(bob) == 5_000

    short = client.drug_settle(psn_no, payload, [DrugLine(yuan(3_000)), DrugLine(yuan(5_000))], acct_used_flag="1")
    assert_split(assert_success(short)["setlinfo"], total=yuan(8_000), acct=yuan(5_000), balc=ZERO)
    assert served.balance_fen(bob) == 0

    empty = client.outpatient_settle(psn_no, payload, yuan(500), acct_used_flag="1")
    assert_split(assert_success(empty)["setlinfo"], total=yuan(500), acct=ZERO, balc=ZERO)
    assert balc_1101(client, served, bob) == ZERO and served.balance_fen(bob) == 0
    served.assert_db_check_clean()


def test_a_residents_member_has_no_account_to_pay_from(served, people):
    client = served.client("P001")
    assert_success(client.sign_in())
    psn_no, payload, info = person_of(client, served, people.resident)
    row = info["insuinfo"][0]
    assert row["insutype"] == "390" and row["balc"] == ZERO
    settled = client.drug_settle(psn_no, payload, [DrugLine(yuan(1_500))], insutype="390", acct_used_flag="1")
    assert_split(assert_success(settled)["setlinfo"], total=yuan(1_500), acct=ZERO, balc=ZERO)
    served.assert_db_check_clean()


def test_a_repeated_msgid_answers_the_first_answer_again(served, people):
    """A retry (the same envelope, msgid included) gets the first answer again and moves no money."""
    alice, client = people.alice, served.client("P001")
    assert_success(client.sign_in())
    psn_no, payload, _ = person_of(client, served, alice)

    first = client.drug_settle(psn_no, payload, [DrugLine(yuan(2_345))])
    assert_split(assert_success(first)["setlinfo"], total=yuan(2_345), acct=yuan(2_345), balc=yuan(123_456 - 2_345))
    repeat = client.send(first.request)
    assert_success(repeat)
    assert repeat.raw_output() == first.raw_output()
    assert served.balance_fen(alice) == 123_456 - 2_345
    # The same msgid for another sale settles nothing.
    assert_not_accepted(client.drug_settle(psn_no, payload, [DrugLine(yuan(9_999))], msgid=first.msgid))
    assert served.balance_fen(alice) == 123_456 - 2_345

    visit = client.outpatient_settle(psn_no, payload, yuan(1_000), mdtrt_id="MZ0009", chrg_bchno="CB0009")
    assert_success(visit)
    assert client.send(visit.request).raw_output() == visit.raw_output()
    assert served.balance_fen(alice) == 123_456 - 3_345
    reversal = client.reverse(psn_no, visit.msgid, "2207")
    assert_success(reversal)
    assert client.send(reversal.request).raw_output() == reversal.raw_output()
    assert served.balance_fen(alice) == 123_456 - 2_345
    assert balc_1101(client, served, alice) == yuan(123_456 - 2_345)
    served.assert_db_check_clean()


def test_two_settlements_at_once_never_overdraw(served, people):
    """Two 2102 for the same person together, more than the balance between them: one is paid whole
    from the account, the other gets what is left (or nothing) and the rest in cash."""
    client = served.client("P001")
    assert_success(client.sign_in())
    for person in (people.carol, people.dave):
        psn_no, payload, _ = person_of(client, served, person)
        start = served.balance_fen(person)
        barrier, replies = threading.Barrier(2), [None, None]

        def settle(slot: int) -> None:
            barrier.wait()
            replies[slot] = client.drug_settle(psn_no, payload, [DrugLine(yuan(7_000))])

        threads = [threading.Thread(target=settle, args=(slot,)) for slot in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert replies[0].msgid != replies[1].msgid
        paid = sorted((assert_success(reply)["setlinfo"] for reply in replies), key=lambda setl: -setl["acct_pay"])
        whole, rest = paid
        assert whole["acct_pay"] == yuan(7_000) and whole["psn_cash_pay"] == ZERO
        assert rest["acct_pay"] in (yuan(start - 7_000), ZERO)
        assert rest["acct_pay"] + rest["psn_cash_pay"] == yuan(7_000)
        end = served.balance_fen(person)
        assert end >= 0 and end == start - fen(whole["acct_pay"]) - fen(rest["acct_pay"])
        # Each answer's balc is the balance right after its own payment, whichever answered first.
        assert whole["balc"] == yuan(start - 7_000) and rest["balc"] == yuan(end)
    served.assert_db_check_clean()


def test_refusals_are_http_200_with_infcode_minus_one(served, people):
    alice, client = people.alice, served.client("P001")
    assert_success(client.sign_in())
    psn_no, payload, _ = person_of(client, served, alice)

    envelope = client.envelope("2102", {"druginfo": {
        "psn_no": psn_no, "mdtrt_cert_type": "01", "mdtrt_cert_no": payload, "begntime": "", "medfee_sumamt": yuan(1_000),
        "invono": "FP1", "insutype": "310", "dise_codg": "", "dise_name": "", "acct_used_flag": "1", "med_type": "41",
    }, "drugdetail": [{"feedetl_sn": "0001", "rxno": "", "rx_circ_flag": "0", "fee_ocur_time": "2025-06-15 10:00:00",
                       "med_list_codg": "X", "medins_list_codg": "Y", "det_item_fee_sumamt": yuan(900),
                       "cnt": Decimal("1"), "pric": yuan(900)}]})
    assert_refused(client.send(envelope))  # medfee_sumamt is not the sum of the lines

    assert_refused(client.drug_settle(psn_no, payload, [DrugLine(Decimal("1.005"))]))  # finer than a fen
    assert_refused(client.outpatient_settle(psn_no, payload, yuan(-500)))
    assert_refused(client.drug_settle(psn_no, payload, [DrugLine(ZERO)]))
    assert_refused(client.drug_cancel("NOSUCHSETL", "NOSUCHMDTRT", psn_no))
    assert_refused(client.person_info("not a voucher"))

    # Another institution's code with this institution's key.
    other = client.envelope("1101", {"data": {
        "mdtrt_cert_type": "01", "mdtrt_cert_no": served.voucher(alice), "card_sn": "", "begntime": "",
        "psn_cert_type": "01", "certno": "", "psn_name": "",
    }})
    other["fixmedins_code"] = "H002"
    assert_not_accepted(client.send(other))
    assert served.balance_fen(alice) == 123_456
    served.assert_db_check_clean()


def test_tif_headers_are_checked(served, people):
    client = served.client("P001", auth="tif", url_shape="path")
    secret = client.tif_secret
    assert_success(client.sign_in())

    def envelope():
        return client.envelope("9001", {"signIn": {"opter_no": "001", "mac": "00-16-3E-00-00-01", "ip": "127.0.0.1"}})

    forged = tif_headers("P001", secret + "x") | {"Content-Type": "application/json"}
    assert_not_accepted(client.send(envelope(), headers=forged))
    stale = tif_headers("P001", secret, now=time.time() - 600) | {"Content-Type": "application/json"}
    assert_not_accepted(client.send(envelope(), headers=stale))
    once = tif_headers("P001", secret) | {"Content-Type": "text/plain"}
    assert_success(client.send(envelope(), headers=once))
    assert_not_accepted(client.send(envelope(), headers=once))  # the nonce was used
    someone_else = tif_headers("H002", secret) | {"Content-Type": "application/json"}
    assert_not_accepted(client.send(envelope(), headers=someone_else))
    served.assert_db_check_clean()
