"""Answering one message: envelope → institution → msgid → handler → answer, audited.

Every answer is HTTP 200 (clients read business failures from ``infcode``). Refusals before
the institution is known (a malformed envelope, a bad key or signature) are answered and not
kept; from the msgid on, the answer is kept with the message and a repeated msgid gets it again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from yibao.errors import YibaoError
from yibao.national import envelope, fields, gateway, messages, persons, reconcile, settle, signin, visits
from yibao.national.calls import Call
from yibao.payments.institutions import require_designated
from yibao.policy.parameters import PolicyBook
from yibao.security import audit
from yibao.security.context import Security
from yibao.security.principal import Principal
from yibao.store.db import read_connection

AUDIT_ACTION = "national.message"


@dataclass(frozen=True)
class Handler:
    work: Callable[[Call], dict]
    name: str  # Chinese, for the audit log and messages
    signed_in: bool = True  # needs the sign_no of a 9001 sign-in


HANDLERS = {
    "9001": Handler(signin.sign_in, "签到", signed_in=False),
    "9002": Handler(signin.sign_out, "签退", signed_in=False),
    "1101": Handler(persons.person_info, "人员信息获取"),
    "2101": Handler(settle.presettle, "药店预结算"),
    "2102": Handler(settle.settle, "药店结算"),
    "2103": Handler(settle.cancel, "药店结算撤销"),
    "2201": Handler(visits.register, "门诊挂号"),
    "2202": Handler(visits.cancel_registration, "门诊挂号撤销"),
    "2203": Handler(visits.visit_information, "门诊就诊信息上传"),
    "2204": Handler(visits.upload_fees, "门诊费用明细信息上传"),
    "2205": Handler(visits.withdraw_fees, "门诊费用明细信息撤销"),
    "2206": Handler(settle.presettle, "门诊预结算"),
    "2207": Handler(settle.settle, "门诊结算"),
    "2208": Handler(settle.cancel, "门诊结算撤销"),
    "2601": Handler(settle.reverse_message, "冲正交易"),
    "3201": Handler(reconcile.totals, "医药机构费用结算对总账"),
    "5203": Handler(settle.settlement_info, "结算信息查询"),
    "5206": Handler(reconcile.cumulative, "人员累计信息查询"),
}


class UnknownMessage(YibaoError):
    code = "national_infno_unknown"


def answer(
    engine: Engine, sec: Security, book: PolicyBook, *, headers, body: bytes, path_infno: str | None,
    client: str | None, limit: Callable[[Principal], None],
) -> str:
    """The answer's JSON text."""
    received = sec.now()
    try:
        env = envelope.parse(body, path_infno)
        principal, payee = gateway.authenticate(engine, sec.key, headers, received)
        limit(principal)
    except YibaoError as refusal:
        return _refusal(sec, refusal, received, "000000")
    try:
        seen = _checked_message(engine, sec, principal, payee, env, received)
    except YibaoError as refusal:
        return _refusal(sec, refusal, received, principal.region_code or "000000")
    call = Call(env, principal, payee, engine, sec, book, client, received, seen=seen is not None)
    try:
        replay = messages.check_repeat(seen, env)
    except YibaoError as refusal:
        _audit(call, infcode=envelope.FAILURE, error=refusal)
        return _refusal(sec, refusal, received, payee.region_code)
    if replay is not None:
        _audit(call, infcode=None, replayed=True)
        return replay
    return _answer_message(call, serial=seen.id if seen is not None else None)


def _checked_message(engine: Engine, sec: Security, principal: Principal, payee, env: envelope.Envelope, received: datetime):
    """Refuse what the caller may not send (another's code, not designated, unknown infno, no sign-in);
    what is stored under the msgid already, if anything."""
    if env.fixmedins_code != principal.client_id:
        raise fields.bad("fixmedins_code", "与认证的机构编号不一致")
    require_designated(payee, "该机构不是定点医药机构，不能使用国家医保接口办理个人账户业务")
    handler = HANDLERS.get(env.infno)
    if handler is None:
        raise UnknownMessage(f"不支持的交易编号 {env.infno}", field="infno")
    with read_connection(engine) as conn:
        if handler.signed_in:
            return signin.require_with_message(
                conn, payee.id, env.sign_no, env.msgid, received, sec.settings.national_sign_in_seconds
            )
        return messages.find(conn, payee.id, env.msgid)


def _answer_message(call: Call, serial: int | None) -> str:
    handler = HANDLERS[call.env.infno]
    error = None
    try:
        output, infcode = handler.work(call), envelope.SUCCESS
    except YibaoError as refusal:
        output, infcode, error = None, envelope.FAILURE, refusal
        call.finish.clear()  # a refusal writes nothing with its answer
    body = envelope.answer(
        infcode=infcode, output=output, err_msg=error.message if error else "", received_at=call.received_at,
        responded_at=call.sec.now(), admdvs=call.payee.region_code, serial=serial, error=error,
    )
    try:
        with call.engine.begin() as conn:
            for write in call.finish:
                write(conn)
            kept = messages.keep(
                conn, call.payee.id, call.env, infcode=infcode, answer=envelope.to_json(body), person_id=call.person_id,
                now=call.sec.now(),
            )
            _audit_in(conn, call, infcode=infcode, error=error)
    except YibaoError as refusal:  # a reversal overtook this message while it was worked
        _audit(call, infcode=envelope.FAILURE, error=refusal)
        return _refusal(call.sec, refusal, call.received_at, call.payee.region_code)
    return kept


def _refusal(sec: Security, refusal: YibaoError, received: datetime, admdvs: str) -> str:
    return envelope.to_json(envelope.answer(
        infcode=envelope.FAILURE, output=None, err_msg=refusal.message, received_at=received,
        responded_at=sec.now(), admdvs=admdvs, error=refusal,
    ))


def _audit(call: Call, **kwargs) -> None:
    with call.engine.begin() as conn:
        _audit_in(conn, call, **kwargs)


def _audit_in(conn, call: Call, *, infcode: int | None, error: YibaoError | None = None, replayed: bool = False) -> None:
    detail = {
        "infno": call.env.infno, "msgid": call.env.msgid, "opter": call.env.opter, "opter_name": call.env.opter_name,
        **call.audit,
    }
    if infcode is not None:
        detail["infcode"] = infcode
    if error is not None:  # said as the institution was told (the stable code is in the kept answer)
        detail["error"] = error.message
    if replayed:
        detail["replayed"] = True
    audit.record(
        conn, actor=call.institution, action=AUDIT_ACTION, at=call.received_at, subject_person_id=call.person_id,
        client=call.client, detail=detail,
    )
