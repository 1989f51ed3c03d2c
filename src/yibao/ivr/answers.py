"""The four read-outs of the phone line, from the same read models and policy engine as the
person's own API, each written to the audit log like any other access to a person's data:
actor kind ``phone``, the call as actor id, the masked caller number as client.

Each read-out is short (the figure first) and has details the caller asks for with a key:
the rule behind a figure, the record behind it, how sure the data is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine

from yibao.domain.contribution import add_months
from yibao.ivr import speech
from yibao.ivr.calls import CallState
from yibao.ledger.kinds import AccountStatus
from yibao.policy import personal
from yibao.security import audit
from yibao.security.context import Security
from yibao.web.api import reads

PHONE_ACTOR = "phone"
BALANCE, CREDIT, CONTRIBUTIONS, LIFETIME = "balance", "credit", "contributions", "lifetime"
TOPIC_BY_KEY = {"1": BALANCE, "2": CREDIT, "3": CONTRIBUTIONS, "4": LIFETIME}
CONTRIBUTION_MONTHS = 3
RECENT_MOVEMENTS = 3


class ReadOut(NamedTuple):
    text: str  # what the caller hears first
    details: str  # read on request


def read_out(engine: Engine, sec: Security, state: CallState, topic: str, *, details: bool = False) -> str:
    """The spoken answer on ``topic`` (or its details) for the verified caller; the read is audited
    in the same transaction."""
    today = sec.clock.today()
    with engine.begin() as conn:
        answer = _ANSWERS[topic](conn, state.person_id, today)
        record(conn, sec, state, f"ivr.{topic}" + (".details" if details else ""), subject_person_id=state.person_id)
    return answer.details if details else answer.text


def record(conn: Connection, sec: Security, state: CallState, action: str, *, subject_person_id: int | None) -> None:
    """An audit entry for this call: the phone line as actor, the caller's number masked."""
    audit.record(
        conn, actor=None, actor_kind=PHONE_ACTOR, actor_id=f"call:{state.call_id}", action=action, at=sec.now(),
        subject_person_id=subject_person_id, client=state.caller_masked,
    )


def balance(conn: Connection, person_id: int, _today: date) -> ReadOut:
    found = reads.account_list(conn, person_id)
    if not found.accounts:
        return ReadOut(speech.NO_ACCOUNT, speech.NO_ACCOUNT)
    text = speech.balance(found.total_balance_fen)
    frozen = [view for view in found.accounts if view.status == AccountStatus.FROZEN.value]
    if frozen:
        text += f"您的账户已{AccountStatus.FROZEN.label}，暂时不能用来支付，请咨询当地医保经办机构。"
    return ReadOut(text, _recent_movements(conn, person_id))


def _recent_movements(conn: Connection, person_id: int) -> str:
    page = reads.details(conn, person_id, account_id=None, date_from=None, date_to=None, kind=None,
                         page=1, page_size=RECENT_MOVEMENTS)
    if not page.items:
        return "您的个人账户还没有收支记录。"
    moves = [
        f"{speech.day(item.date)}，{item.kind_label}，{'收入' if item.amount_fen > 0 else '支出'}{speech.amount(abs(item.amount_fen))}"
        for item in page.items
    ]
    return f"最近{speech.count(len(moves))}笔收支：" + "；".join(moves) + "。"


def credit(conn: Connection, person_id: int, today: date) -> ReadOut:
    answer = personal.credit_answer(conn, person_id, month=today, today=today)
    when = speech.month(today)
    credited = answer["credited_fen"]
    text = _credit_amount(answer, when)
    if credited or answer["amount_fen"] is not None:
        text += f"已经划入{speech.amount(credited)}。" if credited else "还没有划入。"
    return ReadOut(_lacking(answer) + text + _disclaimer(answer), _basis(answer) + _caveat(answer))


def _credit_amount(answer: dict[str, Any], when: str) -> str:
    if answer["amount_fen"] is None and answer.get("reason") == "base_required":
        return f"您{when}的缴费记录还没有到账，到账后按缴费基数计算应划入金额。"
    if answer["amount_fen"] is None:
        return f"资料中没有您{when}应划入金额的具体标准。"
    if answer["period"] == "year":
        return (
            f"您的个人账户按年划入，每年{speech.amount(answer['amount_fen'])}，"
            f"折合每月{speech.amount(answer['monthly_equivalent_fen'])}。"
        )
    return f"您{when}应划入个人账户{speech.amount(answer['amount_fen'])}。"


def contributions(conn: Connection, person_id: int, today: date) -> ReadOut:
    """The current month and the two before it, oldest first; a month without a record says so.
    First whether each month was paid and what went to the account, then the bases and shares."""
    months = _last_months(today.replace(day=1), CONTRIBUTION_MONTHS)
    page = reads.contribution_page(conn, person_id, month_from=months[0], month_to=today, page=1, page_size=reads.MAX_PAGE_SIZE)
    by_month = {item.month: item for item in page.items}
    short, full = [], []
    for first_day in months:
        item, when = by_month.get(first_day), speech.month(first_day)
        if item is None:
            short.append(f"{when}没有缴费记录")
            continue
        short.append(f"{when}已缴费，划入个人账户{speech.amount(item.account_fen)}")
        full.append(
            f"{when}，缴费基数{speech.amount(item.base_fen)}，个人缴纳{speech.amount(item.individual_fen)}，"
            f"单位缴纳{speech.amount(item.employer_fen)}"
        )
    details = "；".join(full) + "。" if full else f"近{speech.number(CONTRIBUTION_MONTHS)}个月没有缴费记录。"
    return ReadOut(f"近{speech.number(CONTRIBUTION_MONTHS)}个月：" + "；".join(short) + "。", details)


def lifetime(conn: Connection, person_id: int, today: date) -> ReadOut:
    """The same standing the kiosk shows (``personal.person_answers``), written for the ear: the
    outcome first, the rule on request.

    Before retirement the rule of the retirement day applies; the phone cannot ask for that
    date, so the rule in force today is read out and said to be provisional. A retiree hears
    that retirement settles it; a resident hears the year's premium, then family sharing.
    """
    found = personal.person_answers(conn, person_id, today)
    if "resident" in found:
        resident = found["resident"]
        status = resident["status"].replace(f"{resident['year']}年", speech.year(int(resident["year"])))  # 二零二五年度
        said = speech.speakable(status.rstrip("。") + "。" + resident["sharing"].rstrip("。") + "。")
        return ReadOut(said, said + speech.POLICY_HOTLINE)
    answer, years = found["lifetime"], found["years"]
    if answer["retired"]:
        return ReadOut(f"{answer['summary']}。" + _years_paid(years), _basis(answer) + _caveat(answer))
    parts = [f"{found['provisional']}。"] if found["provisional"] else []
    parts.append(_lacking(answer))
    parts.append(_years_paid(years))
    parts.append(_lifetime_outcome(answer))
    parts.append(_disclaimer(answer))
    return ReadOut("".join(parts), _basis(answer) + _caveat(answer))


def _years_paid(years: dict[str, Any]) -> str:
    text = f"您的实际缴费年限为{speech.number(years['actual_years'])}年，"
    if years["prior_months"]:
        text += f"其中原系统迁移的缴费{speech.number(years['prior_months'])}个月，"
    return text + f"含视同缴费的累计缴费年限为{speech.number(years['cumulative_years'])}年。"


def _lifetime_outcome(answer: dict[str, Any]) -> str:
    claims = answer.get("claims") or []
    if claims:  # the sources disagree: each claim's outcome, none picked
        outcomes = [
            f"按第{speech.number(index)}种说法，"
            + _missing_years(claim.get("eligible"), claim.get("missing_cumulative_years"), claim.get("missing_actual_years"))
            for index, claim in enumerate(claims, start=1)
        ]
        return "资料说法不一：" + "；".join(outcomes) + "。"
    if answer["eligible"] is None and answer["earliest_rule"]:
        earliest = speech.speakable(answer["earliest_rule"]["text"]).rstrip("。")
        return f"{speech.speakable(answer['summary'])}。已知最早的规定：{earliest}。"
    if answer["eligible"] is None:
        return "资料中没有明确的规定，请咨询当地医保经办机构。"
    if answer["eligible"]:
        return "您已达到终身享受医保待遇所需的缴费年限。"
    if answer["required"] is None:
        return ""
    text = _missing_years(False, answer["missing_cumulative_years"], answer["missing_actual_years"]) + "。"
    options = [option["text"] for option in answer["options"]]
    return text + (f"可以选择：{'；或'.join(options)}。" if options else "")


def _missing_years(eligible: bool | None, cumulative: Any, actual: Any) -> str:
    if eligible:
        return "您已达到所需的缴费年限"
    missing = [f"{label}{speech.number(years)}年" for label, years in (("累计缴费", cumulative), ("实际缴费", actual)) if years]
    return f"您还差{'、'.join(missing)}" if missing else "资料没有说明所差年限"


def _lacking(answer: dict[str, Any]) -> str:
    """Said first, not on request: the region's own rule is not in the data, so another one answers."""
    return f"{speech.speakable(answer['inheritance']).rstrip('。')}。" if answer.get("inheritance") else ""


def _basis(answer: dict[str, Any]) -> str:
    return f"依据：{speech.speakable(answer['rule']).rstrip('。')}。"


def _caveat(answer: dict[str, Any]) -> str:
    return f"资料情况：{answer['confidence_label']}。{speech.POLICY_HOTLINE}"


def _disclaimer(answer: dict[str, Any]) -> str:
    return answer["disclaimer"].rstrip("。") + "。"


def _last_months(this_month: date, count: int) -> list[date]:
    return [add_months(this_month, back) for back in range(1 - count, 1)]


_ANSWERS: dict[str, Callable[[Connection, int, date], ReadOut]] = {
    BALANCE: balance, CREDIT: credit, CONTRIBUTIONS: contributions, LIFETIME: lifetime,
}
