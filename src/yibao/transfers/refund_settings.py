"""Service settings of emergency refunds (environment, prefix ``YIBAO_``).

The limits per receipt and per person and year are policy parameters
(``refund.emergency_max_per_receipt``, ``refund.emergency_max_per_person_year``); no public
source gives a figure, so their national value is ``unknown`` and, until a region's data gives
one, these settings apply: an agency's internal control, like the threshold above which a
second approval by a supervisor is needed (see ``withdrawals.settings`` for why such a number
is not policy data).
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RefundSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YIBAO_", extra="ignore")

    # One receipt of emergency costs: at most 20,000.00 yuan while policy data gives no limit.
    refund_max_per_receipt_fen: int = Field(2_000_000, gt=0)
    # All of one person's refunds for costs incurred in one calendar year: at most 50,000.00 yuan.
    refund_max_per_person_year_fen: int = Field(5_000_000, gt=0)
    # A refund above this needs a second approval by a supervisor (复核人员): 5,000.00 yuan.
    refund_second_approval_above_fen: int = Field(500_000, ge=0)


@lru_cache
def get_refund_settings() -> RefundSettings:
    return RefundSettings()
