"""Why an account got nothing this month: a stable code for programs, Chinese for people."""

from __future__ import annotations

from enum import IntEnum


class Skip(IntEnum):
    """Codes are array values in the evaluation (int8); ``CREDITED`` means not skipped."""

    CREDITED = -1
    CLOSED = 0
    DIED = 1
    RESIDENT = 2
    NO_CONTRIBUTION = 3
    ZERO_CONTRIBUTION = 4
    UNKNOWN_REGION = 5
    BIRTH_AFTER_MONTH = 6
    POLICY_UNKNOWN = 7
    POLICY_CONFLICTING = 8
    AVERAGE_PENSION_MISSING = 9
    RANGE_ONLY = 10
    ZERO_AMOUNT = 11
    YEARLY_MONTH_UNKNOWN = 12
    YEARLY_NOT_DUE = 13
    CREDITED_ELSEWHERE = 14

    @property
    def key(self) -> str:
        return self.name.lower()

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Skip.CLOSED: "账户已注销",
    Skip.DIED: "参保人在本月之前已身故",
    Skip.RESIDENT: "城乡居民医保参保人，没有个人账户划入",
    Skip.NO_CONTRIBUTION: "在职（含灵活就业）人员本月没有缴费记录",
    Skip.ZERO_CONTRIBUTION: "本月缴费中计入个人账户的部分为0",
    Skip.UNKNOWN_REGION: "参保地不在政策数据的地区表中",
    Skip.BIRTH_AFTER_MONTH: "出生日期晚于划入月份，资料有误",
    Skip.POLICY_UNKNOWN: "该地区该日期的退休人员划入政策未知",
    Skip.POLICY_CONFLICTING: "该地区的退休人员划入政策资料说法矛盾",
    Skip.AVERAGE_PENSION_MISSING: "按人均养老金比例划入，但资料中没有当地当年的人均养老金",
    Skip.RANGE_ONLY: "资料只给出比例范围，没有确切金额",
    Skip.ZERO_AMOUNT: "政策规定的划入金额为0",
    Skip.YEARLY_MONTH_UNKNOWN: "按年划入，但资料没有说明在几月划入",
    Skip.YEARLY_NOT_DUE: "按年划入，不在本月",
    Skip.CREDITED_ELSEWHERE: "本月已划入该参保人的另一个个人账户（如转移接续前的原账户）",
}
