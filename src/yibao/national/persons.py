"""1101 person information, and the identification later messages about the person rely on.

The credential is the e-voucher token (01: yibao's e-voucher payload, spent here), the ID
number (02, with the name on it) or the card number (03). An identification lasts
``national_identification_seconds`` at the institution that made it. Only one that proves
the person is at the counter — the e-voucher, or the card with its service PIN (sent in
``expContent.card_pin``, where the card reader's keypad puts it) — lets a settlement pay from
the personal account. The full ID number is answered only to an institution that typed it.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import Connection, and_, insert, select

from yibao.domain.card import CardNumber
from yibao.domain.resident_id import ResidentId
from yibao.errors import InvalidInput, NotFound
from yibao.family.bindings import current_account
from yibao.ledger.kinds import AccountKind, AccountStatus
from yibao.national import codes, fields
from yibao.national.calls import Call
from yibao.payments.identify import Credential, check_card_pin
from yibao.security import evoucher
from yibao.store.db import insert_unique, read_connection
from yibao.store.models import accounts, contributions, national_identifications, persons

PSN_NO = re.compile(r"[0-9]{20}")
PATH = "input.data"


class NotIdentified(InvalidInput):
    code = "national_not_identified"
    default_message = "该参保人未在本机构读取就诊凭证或已超时，请重新获取人员信息"


def psn_no(person_id: int) -> str:
    return f"{person_id:020d}"


def person_of(value: str, field: str) -> int:
    if not PSN_NO.fullmatch(value or ""):
        raise fields.bad(field, "人员编号无效")
    return int(value)


def cert_hash(cert_type: str, cert_no: str) -> str:
    return hashlib.sha256(f"{cert_type}|{cert_no}".encode()).hexdigest()


# ---------------------------------------------------------------------------- 1101


def person_info(call: Call) -> dict:
    data = fields.node(call.data, "data", "input")
    cert_type = fields.code(data, "mdtrt_cert_type", PATH, codes.CERT_TYPES)
    cert_no = fields.text(data, "mdtrt_cert_no", PATH, limit=evoucher.MAX_PAYLOAD_LENGTH)
    existing = _identification_of_message(call)
    if existing is None:
        person_id, cert_no, account_use = _identify(call, data, cert_type, cert_no)
        with call.engine.begin() as conn:
            if cert_type == codes.CERT_EVOUCHER:  # spent with the identification, or not at all
                person_id = evoucher.spend(
                    conn, call.sec.key, cert_no, institution_id=call.payee.id, now=call.received_at
                ).person_id
            _remember(conn, call, person_id, cert_type, cert_no, account_use)
        existing = _identification_of_message(call)
    call.person_id = existing.person_id
    call.audit.update(cert_type=cert_type)
    with read_connection(call.engine) as conn:
        person = person_row(conn, existing.person_id)
        return {
            "baseinfo": base_info(person, call.today, full_certno=cert_type == codes.CERT_ID_NUMBER),
            "insuinfo": insurance_info(conn, person, call.today),
            "idetinfo": [],
        }


def _identify(call: Call, data: dict, cert_type: str, cert_no: str) -> tuple[int | None, str, bool]:
    """The person (None for an e-voucher: found when it is spent), the credential as kept, account use."""
    if cert_type == codes.CERT_EVOUCHER:
        return None, cert_no, True
    with call.engine.connect() as conn:
        if cert_type == codes.CERT_ID_NUMBER:
            number = ResidentId.parse(cert_no, field=f"{PATH}.mdtrt_cert_no").value
            row = conn.execute(select(persons.c.id, persons.c.name).where(persons.c.id_number == number)).first()
            if row is None:
                raise NotFound("未找到该身份证号的参保人", field=f"{PATH}.mdtrt_cert_no", code="person_not_found")
            name = fields.text(data, "psn_name", PATH)
            if name != row.name:
                raise InvalidInput("姓名与身份证号不符", field=f"{PATH}.psn_name", code="national_name_mismatch")
            return row.id, number, False
        card = CardNumber.parse(cert_no, field=f"{PATH}.mdtrt_cert_no").value
        row = conn.execute(select(persons.c.id).where(persons.c.card_number == card)).first()
    pin = _card_pin(data)
    if pin:  # checked (and counted towards the card's lockout) like a PIN typed at any counter
        holder = check_card_pin(
            call.engine, call.sec, Credential.parse(payload=None, card_number=card, pin=pin),
            institution=call.institution, client=call.client,
        )
        return holder, card, True
    if row is None:
        raise NotFound("未找到该社会保障卡的参保人", field=f"{PATH}.mdtrt_cert_no", code="person_not_found")
    return row.id, card, False


def _card_pin(data: dict) -> str:
    extension = data.get("expContent") or data.get("exp_content") or {}
    if isinstance(extension, str):
        try:
            extension = json.loads(extension)
        except ValueError:
            raise fields.bad(f"{PATH}.expContent", "应为 JSON 对象") from None
    return fields.text(extension, "card_pin", f"{PATH}.expContent", required=False, limit=6) if isinstance(extension, dict) else ""


def _remember(conn: Connection, call: Call, person_id: int, cert_type: str, cert_no: str, account_use: bool) -> None:
    ttl = timedelta(seconds=call.sec.settings.national_identification_seconds)
    insert_unique(
        conn,
        insert(national_identifications).values(
            institution_id=call.payee.id, person_id=person_id, msgid=call.env.msgid, cert_type=cert_type,
            cert_hash=cert_hash(cert_type, cert_no), account_use=account_use, identified_at=call.received_at,
            expires_at=call.received_at + ttl,
        ).returning(national_identifications.c.id),
        taken=InvalidInput("该报文ID正在办理，请稍后重试", field="msgid", code="national_msgid_busy"),
    )


def _identification_of_message(call: Call):
    with call.engine.connect() as conn:
        return conn.execute(
            select(national_identifications).where(
                national_identifications.c.institution_id == call.payee.id,
                national_identifications.c.msgid == call.env.msgid,
            )
        ).one_or_none()


# ---------------------------------------------------------------------------- what the answers say of a person


def base_info(person, today, *, full_certno: bool) -> dict:
    number = ResidentId(person.id_number)
    return {
        "psn_no": psn_no(person.id), "psn_cert_type": codes.PSN_CERT_TYPE_ID_CARD,
        "certno": number.value if full_certno else number.masked, "psn_name": person.name,
        "gend": codes.GEND[person.sex], "naty": "", "brdy": person.birth_date.isoformat(),
        "age": Decimal(codes.age_in_years(person.birth_date, today)).quantize(Decimal("0.1")),
        "exp_content": "",
    }


def insurance_info(conn: Connection, person, today) -> list[dict]:
    account = current_account(conn, person.id)
    return [{
        "balc": fields.yuan(account.balance_fen if account is not None else 0),
        "insutype": codes.INSUTYPE_BY_INSURANCE[person.insurance_type],
        "psn_type": codes.psn_type(person.insurance_type, person.employment, person.birth_date, today),
        "psn_insu_stas": insurance_status(person, account),
        "psn_insu_date": person.enrolled_on.isoformat(), "paus_insu_date": "", "cvlserv_flag": "0",
        "insuplc_admdvs": person.region_code, "emp_name": _employer(conn, person.id),
    }]


def person_row(conn: Connection, person_id: int):
    return conn.execute(select(persons).where(persons.c.id == person_id)).one()


def insurance_status(person, account) -> str:
    if person.died_on is not None:
        return codes.INSU_STAS_ENDED
    if account is not None and account.status == AccountStatus.FROZEN.value:
        return codes.INSU_STAS_PAUSED
    return codes.INSU_STAS_NORMAL


def _employer(conn: Connection, person_id: int) -> str:
    latest = conn.execute(
        select(contributions.c.employer_name).where(contributions.c.person_id == person_id)
        .order_by(contributions.c.paid_on.desc(), contributions.c.id.desc()).limit(1)
    ).scalar_one_or_none()
    return latest or ""


# ---------------------------------------------------------------------------- later messages


def identified(conn: Connection, call: Call, psn: str, cert_type: str, cert_no: str, path: str):
    """The identification of this person at this institution that the message relies on, read with
    the person: the person's columns, ``identification_id``, ``account_use``, and the open personal
    account's ``account_id``, ``account_status``, ``account_balance_fen`` (None without one)."""
    person_id = person_of(psn, f"{path}.psn_no")
    identification = national_identifications.c
    own_account = and_(
        accounts.c.person_id == persons.c.id, accounts.c.kind == AccountKind.PERSONAL.value,
        accounts.c.status != AccountStatus.CLOSED.value,
    )
    query = select(
        persons, identification.id.label("identification_id"), identification.account_use,
        accounts.c.id.label("account_id"), accounts.c.status.label("account_status"),
        accounts.c.balance_fen.label("account_balance_fen"),
    ).select_from(
        national_identifications.join(persons, persons.c.id == identification.person_id).outerjoin(accounts, own_account)
    ).where(
        national_identifications.c.institution_id == call.payee.id,
        national_identifications.c.person_id == person_id,
        national_identifications.c.expires_at > call.received_at,
    )
    if cert_type and cert_no:
        query = query.where(national_identifications.c.cert_hash == cert_hash(cert_type, _kept(cert_type, cert_no)))
    row = conn.execute(query.order_by(national_identifications.c.id.desc()).limit(1)).one_or_none()
    if row is None:
        raise NotIdentified(field=f"{path}.psn_no")
    call.person_id = person_id
    return row


def _kept(cert_type: str, cert_no: str) -> str:
    """The credential as 1101 kept it (normalised numbers), without refusing odd input here."""
    try:
        if cert_type == codes.CERT_ID_NUMBER:
            return ResidentId.parse(cert_no).value
        if cert_type == codes.CERT_CARD:
            return CardNumber.parse(cert_no).value
    except InvalidInput:
        pass
    return cert_no
