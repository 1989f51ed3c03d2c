"""Service settings of the withdrawal workflow (environment, prefix ``YIBAO_``).

The two-person approval threshold is a setting of the agency running the service, not a
policy parameter: it is an internal control (how much one staff member may pay out
alone), set by each agency's risk rules and staffing, and no public policy source states
one. Policy data holds only what a cited source says; this number has no source to cite.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class WithdrawalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YIBAO_", extra="ignore")

    # A payout above this many fen needs a second approval by a supervisor (复核人员) who
    # did not give the first. Default 5,000.00 yuan.
    withdrawal_second_approval_above_fen: int = 500_000


@lru_cache
def get_withdrawal_settings() -> WithdrawalSettings:
    return WithdrawalSettings()
