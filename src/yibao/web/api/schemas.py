"""Pydantic shapes of the API's answers and the types of its inputs: the OpenAPI document is the contract.

Money is integer fen (``*_fen``) plus a formatted string for people; dates are ISO dates.
Inputs take exactly what the document says (Pydantic's lax mode would take ``true``, ``"100"``
or ``1e2`` for an integer, ``"yes"`` for a boolean, a Unix timestamp or a date-time for a date).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field, Strict
from pydantic_core import PydanticCustomError

from yibao.domain.money import MAX_FEN

MAX_ID = 2**62  # larger numbers cannot be ids; refused before they reach the database

# -------------------------------------------------------------------- input types

# An amount in fen: a JSON integer, nothing that merely converts to one.
Fen = Annotated[int, Strict(), Field(ge=1, le=MAX_FEN, description="金额（分，整数）/ amount in fen")]
# The id of a row (a person, an account, a case) in a request body.
Id = Annotated[int, Strict(), Field(ge=1, le=MAX_ID)]
Flag = Annotated[bool, Strict()]

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date_only(value: object) -> object:
    """Only ``YYYY-MM-DD`` text (or a date from Python callers) goes on to the date parser."""
    if (isinstance(value, date) and not isinstance(value, datetime)) or (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        return value
    raise PydanticCustomError("date_parsing", "Input should be a date in the form YYYY-MM-DD")


# A date in a body or a query: ISO text only.
IsoDate = Annotated[date, BeforeValidator(_iso_date_only)]


class ErrorDetail(BaseModel):
    code: str = Field(description="稳定的机器可读错误码 / stable machine code")
    message: str = Field(description="中文说明 / message for people")
    field: str | None = Field(description="出错的字段 / the field at fault")


class ErrorBody(BaseModel):
    error: ErrorDetail


def error_responses(*statuses: int) -> dict:
    descriptions = {
        401: "未登录或令牌无效 / not signed in",
        403: "无权访问 / forbidden",
        404: "未找到 / not found",
        409: "冲突 / conflict",
        422: "输入有误 / invalid input",
        423: "登录已锁定 / locked out",
        429: "请求过于频繁 / rate limited",
    }
    return {status: {"model": ErrorBody, "description": descriptions[status]} for status in statuses}


# -------------------------------------------------------------------- sign-in

class TokenAnswer(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="秒 / seconds")
    expires_at: datetime
    password_change_required: bool = Field(
        description="为真时此令牌只能用于修改密码 / when true the token may only change the password"
    )


class SmsSent(BaseModel):
    message: str
    expires_in: int


class ResetCodeSent(SmsSent):
    masked_phone: str = Field(description="接收验证码的手机号（脱敏）；身份证号与姓名不符时也给出同样形式的号码")


# -------------------------------------------------------------------- a person's views

class Profile(BaseModel):
    name: str
    id_number_masked: str
    card_number_masked: str | None
    sex: str
    region_code: str
    region_name: str | None
    insurance_type: str
    insurance_type_label: str
    employment: str
    enrolled_on: date
    phone_masked: str | None


class StaffProfile(Profile):
    """What agency staff see after stating a reason: the full numbers."""

    person_id: int
    id_number: str
    card_number: str | None


class AccountView(BaseModel):
    id: int
    region_code: str
    region_name: str | None
    status: str
    status_label: str
    balance_fen: int
    balance: str = Field(description="格式化金额 / formatted, e.g. 1,234.56元")
    opened_on: date
    closed_on: date | None


class Accounts(BaseModel):
    accounts: list[AccountView]
    total_balance_fen: int


class DetailItem(BaseModel):
    transaction_id: int
    account_id: int
    date: date
    kind: str
    kind_label: str
    amount_fen: int = Field(description="正数为收入，负数为支出 / positive: money in")
    amount: str
    memo: str
    reference: str | None
    paid_by: str | None = Field(
        None, description="亲属账户为本人支付（或退费退回亲属账户）时的说明；本人账户未变动，金额不带符号 / set when the line is on a relative's account",
    )


class DetailPage(BaseModel):
    items: list[DetailItem]
    total: int
    page: int
    page_size: int


class ContributionItem(BaseModel):
    month: date
    insurance_type: str
    base_fen: int
    employer_fen: int
    individual_fen: int
    account_fen: int
    employer_name: str | None
    flexible: bool
    paid_on: date
    is_makeup: bool


class Continuity(BaseModel):
    months_paid: int
    first_month: date | None
    last_month: date | None
    missing_months: list[date] = Field(description="首末月之间未缴费的月份 / months without a record between first and last")
    continuous: bool


class ContributionYears(BaseModel):
    paid_months: int = Field(description="职工医保实际缴费月数（记录 + 原系统迁移）/ employee-insurance months paid")
    recorded_months: int = Field(description="本平台缴费记录的月数 / months on the platform's record")
    prior_months: int = Field(description="原系统迁移的已缴月数 / months paid before, migrated from the previous system")
    deemed_months: int = Field(description="视同缴费月数 / deemed months (before the system existed)")
    actual_years: str = Field(description="实际缴费年限（年，两位小数，舍去）/ actual years, rounded down", examples=["12.50"])
    cumulative_years: str = Field(description="累计缴费年限 = 实际 + 视同 / cumulative years", examples=["17.50"])


class ContributionPage(BaseModel):
    items: list[ContributionItem]
    total: int
    page: int
    page_size: int
    continuity: Continuity
    years: ContributionYears


class VoucherAnswer(BaseModel):
    payload: str = Field(description="二维码内容 / QR code content")
    expires_at: datetime
    expires_in: int


class AuthorizedApp(BaseModel):
    grant_id: int
    client_id: str
    name: str
    scopes: list[str]
    scope_labels: list[str]
    granted_at: datetime
    last_used_at: datetime | None


class AuthorizedApps(BaseModel):
    apps: list[AuthorizedApp]


# -------------------------------------------------------------------- staff, institutions, audit

class PersonRef(BaseModel):
    person_id: int
    name: str
    id_number: str
    card_number: str | None
    region_code: str


class BalanceCheck(BaseModel):
    """The least an institution needs at the counter: whom the voucher names (masked) and the balance."""

    name_masked: str
    id_number_masked: str
    account_status: str
    balance_fen: int
    balance: str


class AuditEntryView(BaseModel):
    id: int
    at: datetime
    actor_kind: str
    actor_id: str
    action: str
    subject_person_id: int | None
    reason: str | None
    client: str | None
    detail: dict | None


class AuditPage(BaseModel):
    items: list[AuditEntryView]
    total: int
    page: int
    page_size: int
