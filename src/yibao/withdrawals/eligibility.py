"""What the policy engine says about one withdrawal reason in one region on one day.

``allowed`` True: the case proceeds with the documents the data lists. False: refused
before anything is stored. None (the sources conflict or say nothing): the case opens and
carries the flag, so staff see it and must acknowledge it before approving.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection

from yibao.errors import InvalidInput
from yibao.filings.service import long_term_in_force
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


# Where the portal files an out-of-area care filing; the refusal names it.
FILING_PAGE = "网上服务“异地就医备案”页面"


def require_filing_if_remote(conn: Connection, found: Eligibility, person_id: int, on: date) -> None:
    """"Long-term residence elsewhere" where the region allows it: only with a long-term
    out-of-area care filing in force on the day of application (the data's condition, e.g.
    Shanghai's 先办理长期异地就医确认)."""
    if found.reason != "remote" or found.allowed is not True:
        return
    if long_term_in_force(conn, person_id, on) is None:
        raise InvalidInput(
            f"以“长期异地居住”申请提取，须先办理长期异地居住的异地就医备案并已生效。请先在{FILING_PAGE}办理备案，"
            "备案生效后再申请提取。",
            field="reason", code="remote_filing_required",
        )
