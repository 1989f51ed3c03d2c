"""Question 3: can the personal-account balance be withdrawn (个人账户余额提取)?

Allowed, not allowed, or ``None`` when the sources conflict or say nothing; the documents
come from the data, and so does what happens to the account afterwards (it is closed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from yibao.domain.regions import Region
from yibao.policy.answers import envelope
from yibao.policy.inputs import FieldParser, choice, parse_date, region_parser
from yibao.policy.parameters import PolicyBook
from yibao.policy.rules import WithdrawalRule

REASONS = {
    "death": "参保人死亡",
    "abandon": "本人放弃职工医保",
    "remote": "长期异地居住",
    "refused": "新参保地不接收个人账户余额",
    "illness": "重大疾病或高额医疗费用",
    "emigration": "出国（境）定居、退休移民",
}
ACCOUNT_AFTER = "withdrawal.account_after"


@dataclass(frozen=True)
class WithdrawalRequest:
    region: Region
    reason: str
    on: date


def parse_withdrawal_request(raw: dict[str, Any], book: PolicyBook, today: date) -> WithdrawalRequest:
    fields = FieldParser(raw)
    region = fields.get("region", region_parser(book.regions))
    reason = fields.get("reason", choice(REASONS))
    on = fields.get("on", parse_date, required=False, default=today)
    fields.done()
    return WithdrawalRequest(region, reason, on)


def _rule_dict(rule: WithdrawalRule) -> dict[str, Any]:
    return {
        "allowed": rule.allowed,
        "documents": list(rule.documents),
        "conditions": rule.conditions,
        "figures": dict(rule.figures),
    }


def withdrawal_answer(book: PolicyBook, request: WithdrawalRequest) -> dict[str, Any]:
    main = book.resolve(f"withdrawal.{request.reason}", request.region, request.on)
    after = book.resolve(ACCOUNT_AFTER, request.region, request.on)
    value = main.value
    rule: WithdrawalRule | None = value.rule if value is not None else None
    body = _rule_dict(rule) if rule else {"allowed": None, "documents": [], "conditions": None, "figures": {}}
    statement = after.value.rule.statement if after.value is not None and after.value.rule else None
    used = [main, after] if body["allowed"] is not False else [main]
    answer = envelope(book, "withdraw", request.region, main, used, main.confidence, _rule_text(main, rule))
    answer |= body | {
        "reason": request.reason,
        "reason_label": REASONS[request.reason],
        "note": value.note if value is not None else main.missing_text(),
        "account_after": statement if body["allowed"] is not False else None,
    }
    if value is not None and value.claims:
        answer["claims"] = [{"note": c.note, "sources": list(c.sources), **_rule_dict(c.rule)} for c in value.claims]
        answer["documents"] = sorted({d for c in value.claims for d in c.rule.documents})
    return answer


def _rule_text(main, rule: WithdrawalRule | None) -> str:
    label = REASONS[main.parameter.split(".", 1)[1]]
    if main.value is None:
        return f"{main.rule_name}：{label}——{main.missing_text()}"
    if rule is None:
        return f"{main.rule_name}：{label}——{main.value.note}"
    verdict = "可以申请提取" if rule.allowed else "不能提取"
    return f"{main.rule_name}：{label}，{verdict}" + (f"（{rule.conditions}）" if rule.conditions else "")
