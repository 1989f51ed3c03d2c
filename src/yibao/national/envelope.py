"""The request and response envelopes (§1 of the interface): parsing, and the answer's shape.

Accepted as observed from clients: ``infno`` in the body or in the URL, ``input`` as an object
or as a JSON-encoded string, ``msgid`` of any length up to 64 (some clients do not send 30),
``inf_time`` as ``yyyy-MM-dd HH:mm:ss`` or ``yyyyMMddHHmmss``, codes as strings or numbers,
unknown extra fields. Refused: encrypted input (SM4), which yibao does not take.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from yibao.clock import CHINA
from yibao.errors import InvalidInput
from yibao.national import fields

INFNO = re.compile(r"[0-9A-Za-z]{4,6}")
MAX_MSGID = 64
OPTER_TYPES = {"1": "经办人", "2": "自助终端", "3": "移动终端"}
SUCCESS, FAILURE = 0, -1


@dataclass(frozen=True)
class Envelope:
    infno: str
    msgid: str
    mdtrtarea_admvs: str
    insuplc_admdvs: str
    opter_type: str
    opter: str
    opter_name: str
    fixmedins_code: str
    fixmedins_name: str
    sign_no: str
    input: dict
    request_hash: str  # of infno and input: what makes a repeated msgid the same request


def parse(body: bytes, path_infno: str | None) -> Envelope:
    try:
        raw = json.loads(body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("报文不是有效的 JSON", field="body", code="national_json_invalid") from None
    if not isinstance(raw, dict):
        raise InvalidInput("报文应为 JSON 对象", field="body", code="national_json_invalid")
    infno = _infno(raw, path_infno)
    if raw.get("enc_type") or raw.get("encType"):
        raise fields.bad("enc_type", "不支持加密报文，请以明文发送")
    msgid = fields.text(raw, "msgid", limit=MAX_MSGID)
    for name in ("mdtrtarea_admvs", "recer_sys_code", "infver", "inf_time", "fixmedins_name"):
        if name not in raw:
            raise fields.missing(name)
    fields.day(raw, "inf_time", "")
    return Envelope(
        infno=infno, msgid=msgid,
        mdtrtarea_admvs=fields.text(raw, "mdtrtarea_admvs", required=False, limit=6),
        insuplc_admdvs=fields.text(raw, "insuplc_admdvs", required=False, limit=6),
        opter_type=fields.code(raw, "opter_type", "", OPTER_TYPES),
        opter=fields.text(raw, "opter", limit=30), opter_name=fields.text(raw, "opter_name", limit=50),
        fixmedins_code=fields.text(raw, "fixmedins_code", limit=32),
        fixmedins_name=fields.text(raw, "fixmedins_name", required=False, limit=200),
        sign_no=fields.text(raw, "sign_no", required=False, limit=30),
        input=_input(raw), request_hash=_digest({"infno": infno, "input": raw.get("input")}),
    )


def _infno(raw: dict, path_infno: str | None) -> str:
    body_infno = fields.text(raw, "infno", required=path_infno is None, limit=6)
    if path_infno is not None and not INFNO.fullmatch(path_infno):
        raise fields.bad("infno", "地址中的交易编号无效")
    if body_infno and path_infno and body_infno != path_infno:
        raise fields.bad("infno", "报文中的交易编号与地址中的不一致")
    infno = body_infno or path_infno
    if not INFNO.fullmatch(infno):
        raise fields.bad("infno", "应为4-6位交易编号")
    return infno


def _input(raw: dict) -> dict:
    value = raw.get("input")
    if isinstance(value, str) and value.strip():
        try:
            value = json.loads(value, parse_float=Decimal)
        except ValueError:
            raise fields.bad("input", "应为 JSON 对象") from None
    if value is None or value == "":
        raise fields.missing("input")
    if not isinstance(value, dict):
        raise fields.bad("input", "应为 JSON 对象")
    return value


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


# ---------------------------------------------------------------------------- the answer


def stamp(at: datetime) -> str:
    """``yyyyMMddHHmmssSSS`` in China time (refmsg_time, respond_time)."""
    local = at.astimezone(CHINA)
    return local.strftime("%Y%m%d%H%M%S") + f"{local.microsecond // 1000:03d}"


def refmsgid(admdvs: str, at: datetime, serial: int | None = None) -> str:
    """Receiver's division (6) + yyyyMMddHHmmss (14) + serial (10) = 30 characters."""
    number = serial if serial is not None else secrets.randbelow(10**10)
    return f"{(admdvs or '000000')[:6]:0>6}{at.astimezone(CHINA):%Y%m%d%H%M%S}{number % 10**10:010d}"


def answer(
    *, infcode: int, output: dict | None, err_msg: str, received_at: datetime, responded_at: datetime, admdvs: str,
    serial: int | None = None, error: InvalidInput | None = None,
) -> dict:
    body = {
        "infcode": infcode,
        "inf_refmsgid": refmsgid(admdvs, received_at, serial),
        "refmsg_time": stamp(received_at),
        "respond_time": stamp(responded_at),
        "err_msg": err_msg,
        "warn_msg": "",
        "enctype": "",
        "signtype": "",
        "cainfo": "",
        "output": output if output is not None else {},
    }
    if error is not None:  # for programs: the stable code and the field at fault (extra fields clients ignore)
        body["err_code"], body["err_field"] = error.code, error.field or ""
    return body


_MARK = secrets.token_hex(8)
_MARKED = re.compile(rf'"{_MARK}(-?[0-9]+(?:\.[0-9]+)?)"')


def to_json(body: dict) -> str:
    """JSON text with Decimal amounts as JSON numbers carrying their two decimals (never via float)."""
    def mark(value):
        if isinstance(value, Decimal):
            return f"{_MARK}{value}"
        raise TypeError(f"not JSON: {type(value).__name__}")

    return _MARKED.sub(r"\1", json.dumps(body, ensure_ascii=False, default=mark, separators=(",", ":")))
