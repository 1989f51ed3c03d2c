"""One entry for every channel: a question name and raw fields in, an answer dict out.

The CLI, the web API and the case files all go through :func:`ask`, so they parse, decide
and word their answers identically.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from yibao.errors import InvalidInput
from yibao.policy.channels import channels_answer
from yibao.policy.continuity import continuity_answer, parse_continuity_request
from yibao.policy.credit import credit_answer, parse_credit_request
from yibao.policy.family_sharing import family_answer
from yibao.policy.inputs import parse_region_day
from yibao.policy.lifetime import lifetime_answer, parse_lifetime_request
from yibao.policy.parameters import PolicyBook
from yibao.policy.transfer import parse_transfer_request, transfer_answer
from yibao.policy.withdrawal import parse_withdrawal_request, withdrawal_answer

Answerer = Callable[[PolicyBook, dict[str, Any], date], dict[str, Any]]

QUESTIONS: dict[str, Answerer] = {
    "credit": lambda book, raw, today: credit_answer(book, parse_credit_request(raw, book)),
    "lifetime": lambda book, raw, today: lifetime_answer(book, parse_lifetime_request(raw, book, today)),
    "withdraw": lambda book, raw, today: withdrawal_answer(book, parse_withdrawal_request(raw, book, today)),
    "continuity": lambda book, raw, today: continuity_answer(book, parse_continuity_request(raw, book)),
    "channels": lambda book, raw, today: channels_answer(book, parse_region_day(raw, book.regions, today)),
    "family": lambda book, raw, today: family_answer(book, parse_region_day(raw, book.regions, today)),
    "transfer": lambda book, raw, today: transfer_answer(book, parse_transfer_request(raw, book, today)),
}


def ask(book: PolicyBook, question: str, raw: dict[str, Any], today: date) -> dict[str, Any]:
    answerer = QUESTIONS.get(question)
    if answerer is None:
        raise InvalidInput(f"不认识的问题：{question}（可用：{'、'.join(QUESTIONS)}）", field="question", code="unknown_question")
    return answerer(book, {key: value for key, value in raw.items() if value is not None}, today)
