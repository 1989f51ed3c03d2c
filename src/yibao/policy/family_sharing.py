"""Question 6: can my account pay for my family (家庭共济), for whom, and up to how much?

Whom a holder may bind is ``family.relations`` on the day asked; the yearly limit is
``family.payment_limit``; the residents' premium a holder may pay for a relative is
``family.resident_premium`` of the funding year of the day asked. All three are data with their
confidence and sources; an unknown one is said to be unknown.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from yibao.domain.money import Money
from yibao.family.relations import label
from yibao.policy.answers import envelope
from yibao.policy.inputs import RegionDay
from yibao.policy.parameters import Confidence, PolicyBook

RELATIONS, LIMIT, PREMIUM = "family.relations", "family.payment_limit", "family.resident_premium"
WHAT_IT_PAYS = "可支付亲属在定点医疗机构就医、定点零售药店购药的个人负担费用，以及亲属参加城乡居民医保的个人缴费"
HOW = "双方均须参保；亲属就医购药时使用本人的医保凭证，共济的是账户里的钱，不是医保卡"


def family_answer(book: PolicyBook, request: RegionDay) -> dict[str, Any]:
    relations = book.resolve(RELATIONS, request.region, request.on)
    limit = book.resolve(LIMIT, request.region, request.on)
    premium = book.resolve(PREMIUM, request.region, date(request.on.year, 1, 1))
    bound = relations.value.rule.relations if relations.value is not None and relations.value.rule else ()
    if bound:
        text = f"{relations.rule_name}：职工医保个人账户可以共济{'、'.join(label(each) for each in bound)}；{WHAT_IT_PAYS}"
    else:
        text = f"{relations.rule_name}：{relations.missing_text()}"
    answer = envelope(book, "family", request.region, relations, [relations, limit, premium], relations.confidence, text)
    return answer | {
        "allowed": bool(bound) if relations.value is not None else None,
        "relations": [{"key": each, "label": label(each)} for each in bound],
        "how": HOW,
        "yearly_limit_fen": _amount(limit),
        "yearly_limit": _words(limit, "暂无资料"),
        "resident_premium_year": request.on.year,
        "resident_premium_fen": _amount(premium),
        "resident_premium": _words(premium, "暂无资料"),
    }


def _amount(resolution) -> int | None:
    value = resolution.value
    return value.rule.amount_fen if value is not None and value.rule is not None else None


def _words(resolution, unknown_words: str) -> str:
    """The figure for people, or what is known about it (the data's note) when it has no amount."""
    amount = _amount(resolution)
    if amount is not None:
        return Money(amount).format() + ("（仅有全国一般规定）" if resolution.confidence is Confidence.RANGE else "")
    note = resolution.value.note if resolution.value is not None else resolution.missing_text()
    return f"{unknown_words}：{note}"
