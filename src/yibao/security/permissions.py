"""What each staff member may do: one permission code per action, grouped into roles.

As in openIMIS, every action a staff member can take (at the workbench or through the staff
API) names one code, and a role is nothing but the set of codes it holds. Routes ask for a
code, never for a role, so the table below is the whole answer to "who may do what"; the
permission-matrix tests derive every route's code from the routes and hold them to it.

Money still needs two people whatever the codes say (``security.four_eyes``), and a staff
member limited to some pooling regions sees nothing outside them (``StaffScope``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import true


class Permission(StrEnum):
    # People at the counter (after a stated reason)
    PERSON_VIEW = "person.view"  # find a person, see balance, details, contributions, policy answers
    STATEMENT_PRINT = "statement.print"  # one person's statement
    STATEMENT_BATCH = "statement.batch"  # statements of a list of ID numbers as one PDF
    PERSON_PASSWORD_RESET = "person.password.reset"  # one-time password, changed at next sign-in
    PERSON_PIN_RESET = "person.pin.reset"  # the phone/kiosk service PIN
    PERSON_PHONE_CHANGE = "person.phone.change"  # the registered mobile number
    ACCOUNT_FREEZE = "account.freeze"  # freeze and unfreeze a personal account
    GUARDIAN_CONFIRM = "guardian.confirm"  # a minor's guardian, documents seen
    # Withdrawal and inheritance
    WITHDRAWAL_VIEW = "withdrawal.view"
    WITHDRAWAL_PREPARE = "withdrawal.prepare"  # documents, requests for more, heirs, submitting
    WITHDRAWAL_APPROVE = "withdrawal.approve"  # first approval, or refusal with a reason
    WITHDRAWAL_SECOND_APPROVE = "withdrawal.approve.second"  # above the threshold
    DEATH_RECORD = "death.record"
    DEATH_CONFIRM = "death.confirm"  # confirm or reject a death another staff member recorded
    # Transfers between pooling regions
    TRANSFER_VIEW = "transfer.view"
    TRANSFER_REVIEW = "transfer.review"
    TRANSFER_OUT = "transfer.out"
    TRANSFER_IN = "transfer.in"  # including refusing the balance
    # Emergency refunds
    REFUND_VIEW = "refund.view"
    REFUND_ENTER = "refund.enter"  # enter a refund, add receipts
    REFUND_APPROVE = "refund.approve"
    REFUND_SECOND_APPROVE = "refund.approve.second"
    REFUND_PAY = "refund.pay"
    # Out-of-area care filings
    FILING_VIEW = "filing.view"
    FILING_DECIDE = "filing.decide"  # confirm or reject a filing waiting for confirmation
    # Contribution files
    IMPORT_VIEW = "import.view"
    IMPORT_UPLOAD = "import.upload"
    # Supervision
    DASHBOARD_VIEW = "dashboard.view"  # open and overdue steps per clerk and case kind
    SETTLEMENT_VIEW = "settlement.view"  # institutions' daily settlement beside the ledger
    # Audit
    AUDIT_VIEW = "audit.view"
    AUDIT_EXPORT = "audit.export"
    # Administration (no person's data)
    INSTITUTION_MANAGE = "institution.manage"  # register, designate, rotate an API key
    APP_MANAGE = "app.manage"  # third-party apps
    STAFF_MANAGE = "staff.manage"  # add staff, roles, regions, deactivate

    @property
    def label(self) -> str:
        return LABELS[self]


LABELS = {
    Permission.PERSON_VIEW: "查询参保人信息", Permission.STATEMENT_PRINT: "打印对账单",
    Permission.STATEMENT_BATCH: "批量打印对账单", Permission.PERSON_PASSWORD_RESET: "重置登录密码",
    Permission.PERSON_PIN_RESET: "重置服务密码", Permission.PERSON_PHONE_CHANGE: "变更手机号码",
    Permission.ACCOUNT_FREEZE: "冻结与解冻账户", Permission.GUARDIAN_CONFIRM: "确认监护关系",
    Permission.WITHDRAWAL_VIEW: "查看提取申请", Permission.WITHDRAWAL_PREPARE: "经办提取申请",
    Permission.WITHDRAWAL_APPROVE: "审批提取申请", Permission.WITHDRAWAL_SECOND_APPROVE: "复核大额提取",
    Permission.DEATH_RECORD: "登记死亡信息", Permission.DEATH_CONFIRM: "复核死亡信息",
    Permission.TRANSFER_VIEW: "查看转移申请", Permission.TRANSFER_REVIEW: "转出地审核",
    Permission.TRANSFER_OUT: "办理转出", Permission.TRANSFER_IN: "办理转入",
    Permission.REFUND_VIEW: "查看急诊垫付返还", Permission.REFUND_ENTER: "登记急诊垫付返还",
    Permission.REFUND_APPROVE: "审批急诊垫付返还", Permission.REFUND_SECOND_APPROVE: "复核大额返还",
    Permission.REFUND_PAY: "支付急诊垫付返还", Permission.FILING_VIEW: "查看异地就医备案",
    Permission.FILING_DECIDE: "确认异地就医备案", Permission.IMPORT_VIEW: "查看缴费文件",
    Permission.IMPORT_UPLOAD: "导入缴费文件", Permission.DASHBOARD_VIEW: "查看工作看板",
    Permission.SETTLEMENT_VIEW: "查看机构日结", Permission.AUDIT_VIEW: "查看审计日志",
    Permission.AUDIT_EXPORT: "导出审计日志", Permission.INSTITUTION_MANAGE: "管理定点机构",
    Permission.APP_MANAGE: "管理第三方应用", Permission.STAFF_MANAGE: "管理工作人员",
}

_CASE_WORK = {
    Permission.PERSON_VIEW, Permission.STATEMENT_PRINT, Permission.STATEMENT_BATCH,
    Permission.PERSON_PASSWORD_RESET, Permission.PERSON_PIN_RESET, Permission.PERSON_PHONE_CHANGE,
    Permission.ACCOUNT_FREEZE, Permission.GUARDIAN_CONFIRM,
    Permission.WITHDRAWAL_VIEW, Permission.WITHDRAWAL_PREPARE, Permission.WITHDRAWAL_APPROVE,
    Permission.DEATH_RECORD, Permission.DEATH_CONFIRM,
    Permission.TRANSFER_VIEW, Permission.TRANSFER_REVIEW, Permission.TRANSFER_OUT, Permission.TRANSFER_IN,
    Permission.REFUND_VIEW, Permission.REFUND_ENTER, Permission.REFUND_APPROVE, Permission.REFUND_PAY,
    Permission.FILING_VIEW, Permission.FILING_DECIDE,
    Permission.IMPORT_VIEW, Permission.IMPORT_UPLOAD,
}

# The roles. A supervisor works cases like an agent and alone gives the second approval above a
# threshold and sees the team's work; an auditor reads and never changes; an administrator
# registers institutions, apps and staff and reads no person's data.
ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "agent": frozenset(_CASE_WORK),
    "supervisor": frozenset(_CASE_WORK | {
        Permission.WITHDRAWAL_SECOND_APPROVE, Permission.REFUND_SECOND_APPROVE,
        Permission.DASHBOARD_VIEW, Permission.SETTLEMENT_VIEW,
    }),
    "auditor": frozenset({Permission.AUDIT_VIEW, Permission.AUDIT_EXPORT, Permission.SETTLEMENT_VIEW}),
    "admin": frozenset({Permission.INSTITUTION_MANAGE, Permission.APP_MANAGE, Permission.STAFF_MANAGE}),
}


def permissions_of(role: str | None) -> frozenset[Permission]:
    return ROLE_PERMISSIONS.get(role or "", frozenset())


def may(role: str | None, permission: Permission) -> bool:
    return permission in permissions_of(role)


@dataclass(frozen=True)
class StaffScope:
    """The pooling regions a staff member works for; ``None``: every region."""

    regions: frozenset[str] | None

    @classmethod
    def of(cls, regions: Iterable[str] | None) -> StaffScope:
        return cls(None if regions is None else frozenset(regions))

    def covers(self, region_code: str | None) -> bool:
        return self.regions is None or region_code in self.regions

    def limit(self, column):
        """``column`` limited to the scope's regions, for a query's ``where`` (``True`` for all)."""
        return true() if self.regions is None else column.in_(sorted(self.regions))
