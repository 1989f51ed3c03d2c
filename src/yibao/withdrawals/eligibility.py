"""What the policy engine says about one withdrawal reason in one region on one day.

``allowed`` True: the case proceeds with the documents the data lists. False: refused
before anything is stored. None (the sources conflict or say nothing): the case opens and
carries the flag, so staff see it and must acknowledge it before approving.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from yibao.errors import InvalidInput
from yibao.policy.parameters import PolicyBook
from yibao.policy.withdrawal import REASONS, WithdrawalRequest, withdrawal_answer

# Documents anyone may add besides those the policy lists.
GENERAL_DOCUMENTS = ("身份证件", "其他材料")


@dataclass(frozen=True)
class Eligibility:
    reason: str
    allowed: bool | None
    confidence: str
    documents: tuple[str, ...]
    rule: str
    rule_ids: tuple[str, ...]

    @property
    def flagged(self) -> bool:
        return self.allowed is None


def parse_reason(reason: str) -> str:
    if reason not in REASONS:
        raise InvalidInput(
            f"提取原因应为：{'、'.join(f'{key}（{label}）' for key, label in REASONS.items())}",
            field="reason", code="reason_unknown",
        )
    return reason


def eligibility(book: PolicyBook, region_code: str, reason: str, on: date) -> Eligibility:
    answer = withdrawal_answer(book, WithdrawalRequest(book.regions.get(region_code), parse_reason(reason), on))
    return Eligibility(
        reason=reason,
        allowed=answer["allowed"],
        confidence=answer["confidence"],
        documents=tuple(answer["documents"]),
        rule=answer["rule"],
        rule_ids=tuple(answer["rule_ids"]),
    )


def require_not_refused(found: Eligibility) -> None:
    if found.allowed is False:
        raise InvalidInput(f"当地政策不允许以此原因提取：{found.rule}", field="reason", code="withdrawal_not_allowed")
