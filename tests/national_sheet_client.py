"""A client of the national medical-insurance platform interface (国家医保信息平台 定点医药机构接口),
written from the public fact sheet alone, as a pharmacy's or hospital's system would send it.

It imports nothing of the server: what it sends is what the fact sheet describes (request envelope
§1.1, msgid §1.3, TIF gateway headers §0, message bodies §2), so the tests driving it check the server
against the sheet rather than against itself. Amounts go out as JSON numbers with two decimals and
come back as ``Decimal`` (``parse_float=Decimal``); money is never a float here.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

import httpx2 as httpx

SERVICE_PATH = "/fsi/api/rsfComIfsService/callService"
CENT = Decimal("0.01")


def yuan(fen: int) -> Decimal:
    """An amount in fen as yuan with two decimals, as the interface carries amounts."""
    return (Decimal(fen) / 100).quantize(CENT)


def fen(amount: Decimal | int | str) -> int:
    """A yuan amount from an answer back to whole fen; refuses anything finer than a fen."""
    value = Decimal(str(amount)) if not isinstance(amount, Decimal) else amount
    cents = value * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"{amount!r} is not a whole number of fen")
    return int(cents)


def to_json(value) -> str:
    """JSON text of the request: Decimals as JSON numbers (two decimals for amounts), never through float."""
    if isinstance(value, Decimal):
        # Amounts get exactly two decimals; anything finer (a quantity, or a wrong amount) goes out
        # as it is, never rounded here, so the server sees what the caller meant.
        return format(value.quantize(CENT) if value == value.quantize(CENT) else value, "f")
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(key), ensure_ascii=False)}:{to_json(item)}" for key, item in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(to_json(item) for item in value) + "]"
    if isinstance(value, float):
        raise TypeError("amounts are Decimal, never float")
    return json.dumps(value, ensure_ascii=False)


def tif_headers(paasid: str, secret: str, *, now: float | None = None, nonce: str | None = None) -> dict[str, str]:
    """The TIF gateway headers: signature = lowercase hex SHA-256 of timestamp + secret + nonce + timestamp."""
    timestamp = str(int(time.time() if now is None else now))
    nonce = nonce or secrets.token_hex(16)
    signature = hashlib.sha256((timestamp + secret + nonce + timestamp).encode()).hexdigest()
    return {"x-tif-paasid": paasid, "x-tif-timestamp": timestamp, "x-tif-nonce": nonce, "x-tif-signature": signature}


def clock_text(moment: datetime | date) -> str:
    if isinstance(moment, datetime):
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.isoformat()


class Reply(dict):
    """The parsed response envelope, with what was sent and the raw bytes that came back."""

    def __init__(self, envelope: dict, *, request: dict, raw: bytes, status_code: int):
        super().__init__(envelope)
        self.request, self.raw, self.status_code = request, raw, status_code
        self.msgid, self.infno = request["msgid"], request["infno"]

    @property
    def ok(self) -> bool:
        return self.status_code == 200 and self.get("infcode") == 0

    @property
    def output(self):
        return self.get("output")

    def raw_output(self) -> str:
        """The ``output`` value exactly as the server wrote it (for byte-for-byte comparisons)."""
        text = self.raw.decode("utf-8")
        decoder = json.JSONDecoder()
        # Only top-level keys matter: walk the envelope's members in order and stop at "output".
        index = text.index("{") + 1
        while True:
            index = _skip_space(text, index)
            key, index = decoder.raw_decode(text, index)
            index = _skip_space(text, index) + 1  # the colon
            index = _skip_space(text, index)
            value_start = index
            _, index = decoder.raw_decode(text, index)
            if key == "output":
                return text[value_start:index]
            index = _skip_space(text, index)
            if text[index] != ",":
                raise KeyError("output")
            index += 1


_SPACE = re.compile(r"\s*")


def _skip_space(text: str, index: int) -> int:
    return _SPACE.match(text, index).end()


@dataclass
class DrugLine:
    """One line of ``drugdetail`` (2101/2102)."""

    amount: Decimal
    med_list_codg: str = "XA01ABD075A002010100483"
    medins_list_codg: str = "YP0001"
    cnt: Decimal = Decimal("1")
    rxno: str = ""
    rx_circ_flag: str = "0"


@dataclass
class SheetClient:
    """One designated institution talking to the interface: one method per message.

    ``auth`` is ``"api-key"`` (header ``X-Api-Key``) or ``"tif"`` (TIF gateway headers with
    ``tif_secret``, paasid = the institution code); ``url_shape`` is ``"body"`` (infno from the
    body only) or ``"path"`` (``…/callService/{infno}``).
    """

    base_url: str
    fixmedins_code: str
    fixmedins_name: str = "某某大药房"
    api_key: str | None = field(default=None, repr=False)
    tif_secret: str | None = field(default=None, repr=False)
    auth: str = "api-key"
    url_shape: str = "body"
    mdtrtarea_admvs: str = "110000"
    recer_sys_code: str = "YBXT"
    opter: str = "001"
    opter_name: str = "收款员"
    content_type: str = "application/json"
    http: httpx.Client | None = field(default=None, repr=False)
    sign_no: str = ""
    insuplc: dict[str, str] = field(default_factory=dict, repr=False)  # psn_no → insuplc_admdvs from 1101
    _used: set[str] = field(default_factory=set, repr=False)
    _used_second: str = field(default="", repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.auth not in ("api-key", "tif") or self.url_shape not in ("body", "path"):
            raise ValueError("auth is api-key or tif; url_shape is body or path")
        if self.http is None:
            self.http = httpx.Client(timeout=30)

    # ----------------------------------------------------------------- envelope and transport

    def new_msgid(self) -> str:
        """fixmedins_code + yyyyMMddHHmmss + 4 random digits, never twice in one second from this client."""
        with self._lock:
            while True:
                stamp = datetime.now().strftime("%Y%m%d%H%M%S")
                if stamp != self._used_second:
                    self._used_second, self._used = stamp, set()
                if len(self._used) < 9000:
                    break
                time.sleep(0.05)  # this second's serials are spent
            while True:
                serial = str(1000 + secrets.randbelow(9000))
                if serial not in self._used:
                    self._used.add(serial)
                    return self.fixmedins_code + stamp + serial

    def envelope(self, infno: str, input_: dict, *, msgid: str | None = None) -> dict:
        psn_no = _psn_no(input_)
        return {
            "infno": infno,
            "msgid": msgid or self.new_msgid(),
            "mdtrtarea_admvs": self.mdtrtarea_admvs,
            # the insured person's division once 1101 told it; the local one before that
            "insuplc_admdvs": self.insuplc.get(psn_no, self.mdtrtarea_admvs) if psn_no else self.mdtrtarea_admvs,
            "recer_sys_code": self.recer_sys_code,
            "dev_no": "",
            "dev_safe_info": "",
            "cainfo": "",
            "signtype": "",
            "infver": "V1.0",
            "opter_type": "1",
            "opter": self.opter,
            "opter_name": self.opter_name,
            "inf_time": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
            "fixmedins_code": self.fixmedins_code,
            "fixmedins_name": self.fixmedins_name,
            "sign_no": "" if infno == "9001" else self.sign_no,
            "input": input_,
        }

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": self.content_type}
        if self.auth == "api-key":
            headers["X-Api-Key"] = self.api_key or ""
        else:
            headers.update(tif_headers(self.fixmedins_code, self.tif_secret or ""))
        return headers

    def url(self, infno: str) -> str:
        return self.base_url.rstrip("/") + SERVICE_PATH + (f"/{infno}" if self.url_shape == "path" else "")

    def send(self, envelope: dict, *, headers: dict[str, str] | None = None) -> Reply:
        """POST one envelope as it is (again, for a retry); any HTTP status comes back in the Reply."""
        infno = envelope["infno"]
        answer = self.http.post(self.url(infno), content=to_json(envelope).encode("utf-8"), headers=headers or self.headers())
        try:
            parsed = json.loads(answer.content, parse_float=Decimal)
        except ValueError:
            parsed = {}
        if not isinstance(parsed, dict):
            parsed = {"output": parsed}
        return Reply(parsed, request=envelope, raw=answer.content, status_code=answer.status_code)

    def call(self, infno: str, input_: dict, *, msgid: str | None = None) -> Reply:
        return self.send(self.envelope(infno, input_, msgid=msgid))

    # ----------------------------------------------------------------- 9001 / 9002 sign-in, sign-out

    def sign_in(self, *, opter_no: str = "001", mac: str = "00-16-3E-00-00-01", ip: str = "127.0.0.1") -> Reply:
        reply = self.call("9001", {"signIn": {"opter_no": opter_no, "mac": mac, "ip": ip}})
        if reply.ok:
            self.sign_no = reply.output["signinoutb"]["sign_no"]
        return reply

    def sign_out(self, *, opter_no: str = "001") -> Reply:
        return self.call("9002", {"signOut": {"sign_no": self.sign_no, "opter_no": opter_no}})

    # ----------------------------------------------------------------- 1101 person information

    def person_info(self, cert_no: str, *, cert_type: str = "01", psn_cert_type: str = "01", certno: str = "",
                    psn_name: str = "", card_sn: str = "", msgid: str | None = None) -> Reply:
        reply = self.call("1101", {"data": {
            "mdtrt_cert_type": cert_type, "mdtrt_cert_no": cert_no, "card_sn": card_sn, "begntime": "",
            "psn_cert_type": psn_cert_type, "certno": certno, "psn_name": psn_name,
        }}, msgid=msgid)
        if reply.ok:
            psn_no = reply.output["baseinfo"]["psn_no"]
            rows = reply.output.get("insuinfo") or []
            if rows and rows[0].get("insuplc_admdvs"):
                self.insuplc[psn_no] = rows[0]["insuplc_admdvs"]
        return reply

    # ----------------------------------------------------------------- 2101 / 2102 / 2103 pharmacy

    def _druginfo(self, infno: str, psn_no: str, cert_no: str, lines: Iterable[DrugLine], *, acct_used_flag: str,
                  insutype: str, cert_type: str, invono: str | None, msgid: str | None) -> Reply:
        lines = list(lines)
        total = sum((line.amount for line in lines), Decimal("0"))
        now = datetime.now()
        druginfo = {
            "psn_no": psn_no, "mdtrt_cert_type": cert_type, "mdtrt_cert_no": cert_no, "begntime": clock_text(now),
            "medfee_sumamt": total, "insutype": insutype, "dise_codg": "", "dise_name": "",
            "acct_used_flag": acct_used_flag, "med_type": "41",
        }
        if invono is not None:  # 2102 only
            druginfo["invono"] = invono
        detail = [
            {
                "feedetl_sn": f"{n:04d}", "rxno": line.rxno, "rx_circ_flag": line.rx_circ_flag,
                "fee_ocur_time": clock_text(now), "med_list_codg": line.med_list_codg,
                "medins_list_codg": line.medins_list_codg, "det_item_fee_sumamt": line.amount,
                "cnt": line.cnt, "pric": (line.amount / line.cnt).quantize(CENT), "sin_dos_dscr": "", "used_frqu_dscr": "",
                "prd_days": 1, "medc_way_dscr": "", "bilg_dr_codg": "", "bilg_dr_name": "", "tcmdrug_used_way": "",
            }
            for n, line in enumerate(lines, start=1)
        ]
        return self.call(infno, {"druginfo": druginfo, "drugdetail": detail}, msgid=msgid)

    def drug_presettle(self, psn_no: str, cert_no: str, lines: Iterable[DrugLine], *, acct_used_flag: str = "1",
                       insutype: str = "310", cert_type: str = "01", msgid: str | None = None) -> Reply:
        return self._druginfo("2101", psn_no, cert_no, lines, acct_used_flag=acct_used_flag, insutype=insutype,
                              cert_type=cert_type, invono=None, msgid=msgid)

    def drug_settle(self, psn_no: str, cert_no: str, lines: Iterable[DrugLine], *, acct_used_flag: str = "1",
                    insutype: str = "310", cert_type: str = "01", invono: str = "", msgid: str | None = None) -> Reply:
        return self._druginfo("2102", psn_no, cert_no, lines, acct_used_flag=acct_used_flag, insutype=insutype,
                              cert_type=cert_type, invono=invono or f"FP{secrets.randbelow(10**10):010d}", msgid=msgid)

    def drug_cancel(self, setl_id: str, mdtrt_id: str, psn_no: str, *, msgid: str | None = None) -> Reply:
        return self.call("2103", {"data": {"setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": psn_no}}, msgid=msgid)

    # ----------------------------------------------------------------- 2206 / 2207 / 2208 outpatient

    def _outpatient(self, infno: str, psn_no: str, cert_no: str, medfee_sumamt: Decimal, *, acct_used_flag: str,
                    insutype: str, cert_type: str, mdtrt_id: str, chrg_bchno: str, invono: str | None,
                    msgid: str | None) -> Reply:
        data = {
            "psn_no": psn_no, "mdtrt_cert_type": cert_type, "mdtrt_cert_no": cert_no, "med_type": "11",
            "medfee_sumamt": medfee_sumamt, "psn_setlway": "01", "mdtrt_id": mdtrt_id, "chrg_bchno": chrg_bchno,
            "acct_used_flag": acct_used_flag, "insutype": insutype,
        }
        if invono is not None:  # 2207 only
            data["invono"] = invono
        return self.call(infno, {"data": data}, msgid=msgid)

    def outpatient_presettle(self, psn_no: str, cert_no: str, medfee_sumamt: Decimal, *, acct_used_flag: str = "1",
                             insutype: str = "310", cert_type: str = "01", mdtrt_id: str = "MZ0001",
                             chrg_bchno: str = "CB0001", msgid: str | None = None) -> Reply:
        return self._outpatient("2206", psn_no, cert_no, medfee_sumamt, acct_used_flag=acct_used_flag, insutype=insutype,
                                cert_type=cert_type, mdtrt_id=mdtrt_id, chrg_bchno=chrg_bchno, invono=None, msgid=msgid)

    def outpatient_settle(self, psn_no: str, cert_no: str, medfee_sumamt: Decimal, *, acct_used_flag: str = "1",
                          insutype: str = "310", cert_type: str = "01", mdtrt_id: str = "MZ0001",
                          chrg_bchno: str = "CB0001", invono: str = "", msgid: str | None = None) -> Reply:
        return self._outpatient("2207", psn_no, cert_no, medfee_sumamt, acct_used_flag=acct_used_flag, insutype=insutype,
                                cert_type=cert_type, mdtrt_id=mdtrt_id, chrg_bchno=chrg_bchno,
                                invono=invono or f"FP{secrets.randbelow(10**10):010d}", msgid=msgid)

    def outpatient_cancel(self, setl_id: str, mdtrt_id: str, psn_no: str, *, msgid: str | None = None) -> Reply:
        return self.call("2208", {"data": {"setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": psn_no}}, msgid=msgid)

    # ----------------------------------------------------------------- 2601 reversal, 3201 totals, 5206 cumulative

    def reverse(self, psn_no: str, omsgid: str, oinfno: str, *, msgid: str | None = None) -> Reply:
        return self.call("2601", {"data": {"psn_no": psn_no, "omsgid": omsgid, "oinfno": oinfno}}, msgid=msgid)

    def reconcile(self, *, insutype: str, clr_type: str, setl_optins: str, begin: date, end: date,
                  medfee_sumamt: Decimal, fund_pay_sumamt: Decimal, acct_pay: Decimal, count: int,
                  msgid: str | None = None) -> Reply:
        return self.call("3201", {"data": {
            "insutype": insutype, "clr_type": clr_type, "setl_optins": setl_optins,
            "stmt_begndate": begin.isoformat(), "stmt_enddate": end.isoformat(), "medfee_sumamt": medfee_sumamt,
            "fund_pay_sumamt": fund_pay_sumamt, "acct_pay": acct_pay, "fixmedins_setl_cnt": count,
        }}, msgid=msgid)

    def cumulative(self, psn_no: str, cum_ym: str, *, msgid: str | None = None) -> Reply:
        return self.call("5206", {"data": {"psn_no": psn_no, "cum_ym": cum_ym}}, msgid=msgid)

    def close(self) -> None:
        self.http.close()


def _psn_no(input_: dict) -> str | None:
    for node in input_.values():
        if isinstance(node, dict) and node.get("psn_no"):
            return node["psn_no"]
    return None
