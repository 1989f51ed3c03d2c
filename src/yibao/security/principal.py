"""Who is calling: an insured person, a staff member, an institution or a third-party app.

Scopes say what a caller may read about a person. A person's own session holds every
person scope; an app holds only what the person granted it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from yibao.security.permissions import Permission, StaffScope, may


class Scope(StrEnum):
    PROFILE = "profile:read"
    BALANCE = "balance:read"
    DETAILS = "details:read"
    CONTRIBUTIONS = "contributions:read"
    EVOUCHER = "evoucher"

    @property
    def label(self) -> str:
        return SCOPE_LABELS[self]


# What the consent page tells the person each scope lets the app see or do.
SCOPE_LABELS = {
    Scope.PROFILE: "查看您的姓名、脱敏身份证号和参保地",
    Scope.BALANCE: "查看您的医保个人账户余额",
    Scope.DETAILS: "查看您的个人账户收支明细",
    Scope.CONTRIBUTIONS: "查看您的缴费记录",
    Scope.EVOUCHER: "为您生成医保电子凭证（用于药店、医院扫码识别身份）",
}
PERSON_SCOPES = frozenset(Scope)


class Kind(StrEnum):
    PERSON = "person"
    STAFF = "staff"
    INSTITUTION = "institution"
    THIRD_PARTY = "third_party"


@dataclass(frozen=True)
class Principal:
    kind: Kind
    subject_id: int  # person, staff user, institution or OAuth grant id
    person_id: int | None = None  # whose data a person or app may read
    scopes: frozenset[str] = field(default_factory=frozenset)
    limited: bool = False  # may only change the password
    role: str | None = None  # staff role
    region_code: str | None = None  # an institution's region
    staff_regions: frozenset[str] | None = None  # the regions a staff member works for; None: all
    client_id: str | None = None  # OAuth client id or institution code
    session_id: int | None = None
    token_id: int | None = None

    @property
    def scope(self) -> StaffScope:
        return StaffScope(self.staff_regions)

    def may(self, permission: Permission) -> bool:
        return self.kind is Kind.STAFF and may(self.role, permission)

    @property
    def actor_id(self) -> str:
        """What the audit log records as the actor (never personal data)."""
        if self.kind is Kind.THIRD_PARTY:
            return f"{self.client_id}:grant:{self.subject_id}"
        if self.kind is Kind.INSTITUTION:
            return str(self.client_id)
        return str(self.subject_id)

    @property
    def rate_key(self) -> str:
        return f"{self.kind.value}:{self.subject_id}"
