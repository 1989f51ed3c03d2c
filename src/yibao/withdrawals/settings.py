"""Service settings of the withdrawal workflow (environment, prefix ``YIBAO_``).

The two-person approval threshold is a setting of the agency running the service, not a
policy parameter: it is an internal control (how much one staff member may pay out
alone), set by each agency's risk rules and staffing, and no public policy source states
one. Policy data holds only what a cited source says; this number has no source to cite.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from yibao.workdays import MAX_WORKING_DAYS


class WithdrawalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YIBAO_", extra="ignore")

    # A payout above this many fen needs a second approval by a supervisor (复核人员) who
    # did not give the first. Default 5,000.00 yuan.
    withdrawal_second_approval_above_fen: int = 500_000

    # The agency's service commitment (服务承诺) to the person, not a policy number: a submitted
    # case is decided within this many working days (工作日, ``yibao.workdays``) after the day
    # it was submitted, or shows as overdue at the workbench. Default 10: two working weeks
    # leave room for a first review, a request for a missing paper and, above the threshold,
    # the supervisor's second approval, and match the 10-working-day steps of the transfer
    # procedure the same clerks work. An agency promising faster service lowers it.
    withdrawal_review_working_days: int = Field(10, ge=1, le=MAX_WORKING_DAYS)


@lru_cache
def get_withdrawal_settings() -> WithdrawalSettings:
    return WithdrawalSettings()
