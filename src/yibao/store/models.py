"""Tables. Money columns are integer fen (BIGINT); dates are DATE; instants are UTC timestamps.

Indexes follow what the channels ask: a person's accounts, an account's details by date,
a person's contributions by month, the audit trail by subject and by time.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT identities.
BigId = BigInteger().with_variant(Integer, "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _now_column() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Person(Base):
    __tablename__ = "persons"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    card_number: Mapped[str | None] = mapped_column(String(9), unique=True)
    name: Mapped[str] = mapped_column(String(40))
    sex: Mapped[str] = mapped_column(String(1))  # "M" or "F", from the ID number
    birth_date: Mapped[date] = mapped_column(Date)
    # Pooling region (统筹区) where the person is insured now.
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    insurance_type: Mapped[str] = mapped_column(String(16))  # employee | resident
    employment: Mapped[str] = mapped_column(String(16))  # in_service | flexible | retired | none
    enrolled_on: Mapped[date] = mapped_column(Date)
    retired_on: Mapped[date | None] = mapped_column(Date)
    died_on: Mapped[date | None] = mapped_column(Date)
    # Deemed contribution months (视同缴费年限) before the system existed; not derivable.
    deemed_months: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # Employee-insurance months paid before the platform's own records, migrated from the
    # previous system; they count beside the months in ``contributions``.
    prior_paid_months: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    phone: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = _now_column()

    __table_args__ = (
        CheckConstraint("sex IN ('M', 'F')", name="sex"),
        CheckConstraint("insurance_type IN ('employee', 'resident')", name="insurance_type"),
        CheckConstraint("employment IN ('in_service', 'flexible', 'retired', 'none')", name="employment"),
        CheckConstraint("deemed_months >= 0", name="deemed_months"),
        CheckConstraint("prior_paid_months >= 0", name="prior_paid_months"),
    )


class Account(Base):
    """A personal account (one person, one pooling region) or a system account.

    Only personal accounts keep a cached ``balance_fen``: it is updated in the same database
    transaction as the postings and may never go below zero. System accounts are hot
    (every credit touches the pool), so their balance is always derived from postings.
    """

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), index=True)
    # A stable name for system accounts, e.g. "pool:110000"; NULL for personal accounts.
    code: Mapped[str | None] = mapped_column(String(64), unique=True)
    region_code: Mapped[str] = mapped_column(String(6))
    status: Mapped[str] = mapped_column(String(8), server_default=text("'active'"))
    balance_fen: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    opened_on: Mapped[date] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = _now_column()

    __table_args__ = (
        CheckConstraint("balance_fen >= 0", name="balance_not_negative"),
        CheckConstraint("status IN ('active', 'frozen', 'closed')", name="status"),
        CheckConstraint(
            "kind IN ('personal', 'pool', 'institution', 'payout', 'clearing')", name="kind"
        ),
        CheckConstraint(
            "(kind = 'personal') = (person_id IS NOT NULL)", name="personal_has_person"
        ),
        # One open personal account per person: a closed one stays for its history.
        Index(
            "uq_accounts_open_personal",
            "person_id",
            unique=True,
            sqlite_where=text("status != 'closed'"),
            postgresql_where=text("status != 'closed'"),
        ),
        # The credit run's "already credited to the person's other (closed) account?" (migration 0010).
        Index(
            "ix_accounts_closed_person",
            "person_id",
            sqlite_where=text("status = 'closed'"),
            postgresql_where=text("status = 'closed'"),
        ),
    )


class LedgerTransaction(Base):
    __tablename__ = "ledger_transactions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    business_date: Mapped[date] = mapped_column(Date)
    memo: Mapped[str] = mapped_column(String(200), server_default=text("''"))
    # Receipt number, credit month, application number… whatever the outside world quotes.
    reference: Mapped[str | None] = mapped_column(String(64), index=True)
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    created_at: Mapped[datetime] = _now_column()


class Posting(Base):
    """One leg of a transaction; positive amounts increase the account's balance."""

    __tablename__ = "postings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # No foreign keys on purpose. transaction_id: the check is a trigger per row, too slow for
    # the credit run's million-row COPY (migration 0008); the ledger writes a transaction and
    # its postings together. account_id: the check would share-lock the hot system accounts'
    # rows in every transaction (migration 0003); the ledger checks existence. db check
    # reports postings whose transaction or account is missing.
    transaction_id: Mapped[int] = mapped_column(BigId, index=True)
    account_id: Mapped[int] = mapped_column(BigId)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    # Copied from the transaction so an account's details by date need no join.
    business_date: Mapped[date] = mapped_column(Date)

    __table_args__ = (
        CheckConstraint("amount_fen != 0", name="amount_not_zero"),
        Index("ix_postings_account_date", "account_id", "business_date", "id"),
    )


class IdempotencyKey(Base):
    """Every write's key with a hash of its request: same key + other content is refused."""

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    created_at: Mapped[datetime] = _now_column()


class Contribution(Base):
    """One month's contribution (缴费记录) of one person."""

    __tablename__ = "contributions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    month: Mapped[date] = mapped_column(Date)  # first day of the month paid for
    insurance_type: Mapped[str] = mapped_column(String(16))
    base_fen: Mapped[int] = mapped_column(BigInteger)
    employer_rate_bp: Mapped[int] = mapped_column(Integer)  # basis points: 800 = 8%
    individual_rate_bp: Mapped[int] = mapped_column(Integer)
    employer_fen: Mapped[int] = mapped_column(BigInteger)
    individual_fen: Mapped[int] = mapped_column(BigInteger)
    # The part that went to the personal account (the individual part since the 2021 reform).
    account_fen: Mapped[int] = mapped_column(BigInteger)
    employer_name: Mapped[str | None] = mapped_column(String(100))
    flexible: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    paid_on: Mapped[date] = mapped_column(Date)
    is_makeup: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[datetime] = _now_column()

    __table_args__ = (
        UniqueConstraint("person_id", "month"),
        # A month's contributions in person order, for the credit run (migration 0010).
        Index("ix_contributions_month_person", "month", "person_id", postgresql_include=["account_fen"]),
        CheckConstraint(
            "base_fen >= 0 AND employer_fen >= 0 AND individual_fen >= 0 AND account_fen >= 0",
            name="amounts_not_negative",
        ),
    )


class AuditEntry(Base):
    """Who looked at or changed whose data, when, why and from where. No personal data in detail."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = _now_column()
    actor_kind: Mapped[str] = mapped_column(String(16))  # person | staff | third_party | institution | system
    actor_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    subject_person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    reason: Mapped[str | None] = mapped_column(String(200))
    client: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict | None] = mapped_column(JSON)

    __table_args__ = (
        Index("ix_audit_log_subject_at", "subject_person_id", "at"),
        Index("ix_audit_log_at", "at"),
    )


class Credential(Base):
    """A person's secret for one channel: web password or 6-digit phone PIN (Argon2 hashes)."""

    __tablename__ = "credentials"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    kind: Mapped[str] = mapped_column(String(16))  # password | phone_pin
    secret_hash: Mapped[str] = mapped_column(String(256))
    must_change: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    failed_attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = _now_column()

    __table_args__ = (UniqueConstraint("person_id", "kind"),)


class MonthlyCredit(Base):
    """The exactly-once record of the monthly credit run: one row per account and month.

    Written in the same database transaction as the credit's postings and balance update,
    so "a row here" and "the account was credited for this month" are the same fact. The
    primary key starts with the month: the run looks up one month's rows by account range.
    No foreign keys: every row is written by the credit run together with the posting it
    names, and a per-row foreign-key check would double the cost of a million-row month.
    """

    __tablename__ = "monthly_credits"

    month: Mapped[date] = mapped_column(Date, primary_key=True)  # first day of the month credited
    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    transaction_id: Mapped[int] = mapped_column(BigInteger)
    # What decided the amount: "contribution" or a policy value id such as 110000:credit.retiree@2025-01-01.
    rule: Mapped[str] = mapped_column(String(64))

    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount_positive"),)


class CreditRun(Base):
    """One run of ``yibao credit run`` (dry runs are not recorded); unfinished when killed."""

    __tablename__ = "credit_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    month: Mapped[date] = mapped_column(Date, index=True)
    started_at: Mapped[datetime] = _now_column()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    credited: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    amount_fen: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    summary: Mapped[dict | None] = mapped_column(JSON)


persons = Person.__table__
accounts = Account.__table__
ledger_transactions = LedgerTransaction.__table__
postings = Posting.__table__
idempotency_keys = IdempotencyKey.__table__
contributions = Contribution.__table__
audit_log = AuditEntry.__table__
credentials = Credential.__table__
monthly_credits = MonthlyCredit.__table__
credit_runs = CreditRun.__table__


# ---------------------------------------------------------------------------- access (sign-in, apps)
# Every secret below is stored as a hash: Argon2 for what people choose (passwords),
# SHA-256 for long random tokens the server issues (a fast hash is enough for those).


class StaffUser(Base):
    """Agency staff: counter agents look people up (with a reason); auditors read the audit log."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(40))
    role: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime] = _now_column()

    # 'supervisor' (migration 0006): gives the second approval of large withdrawals;
    # 'admin' (0017): registers institutions, apps and staff, reads no person's data.
    __table_args__ = (CheckConstraint("role IN ('agent', 'auditor', 'supervisor', 'admin')", name="role"),)


class StaffRegion(Base):
    """A pooling region a staff member works for. A staff member without rows works for all."""

    __tablename__ = "staff_regions"

    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), primary_key=True)
    region_code: Mapped[str] = mapped_column(String(6), primary_key=True)


class Institution(Base):
    """A designated pharmacy or hospital; it calls the API with its own key."""

    __tablename__ = "institutions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    region_code: Mapped[str] = mapped_column(String(6))
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    # Only designated institutions (定点医药机构) may take payments from personal accounts.
    designated: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[datetime] = _now_column()
    # The national interface's TIF-style signature secret is derived from the server key and this
    # number (see national.gateway); None: the institution has no secret and signs in by API key only.
    tif_generation: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (CheckConstraint("kind IN ('pharmacy', 'hospital')", name="kind"),)


class AuthSession(Base):
    """A sign-in of a person or staff member. ``purpose`` 'password_change' allows nothing else.

    ``channel`` is where the sign-in happened and the only place the session works: 'web'
    (the API's bearer tokens and the portal), 'kiosk' (card + PIN at a self-service kiosk),
    'counter' (agency counter pages).
    """

    __tablename__ = "auth_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    subject_kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int] = mapped_column(BigInteger)
    purpose: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(16))  # password | sms | kiosk_pin
    channel: Mapped[str] = mapped_column(String(8))
    client: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = _now_column()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("subject_kind IN ('person', 'staff')", name="subject_kind"),
        CheckConstraint("purpose IN ('full', 'password_change')", name="purpose"),
        CheckConstraint("channel IN ('web', 'kiosk', 'counter')", name="channel"),
        Index("ix_auth_sessions_subject", "subject_kind", "subject_id"),
    )


class SmsCode(Base):
    """A one-time sign-in code sent by SMS: expires, single use, counted per hour."""

    __tablename__ = "sms_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_sms_codes_person_created", "person_id", "created_at"),)


class EVoucher(Base):
    """A medical-insurance e-voucher (医保电子凭证) QR payload: short-lived, single use."""

    __tablename__ = "evouchers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    nonce_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    issued_to: Mapped[str] = mapped_column(String(64))  # "person" or an OAuth client_id
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    used_by: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))


class OAuthClient(Base):
    """A registered third-party app (mini-program). Public apps have no secret and use PKCE."""

    __tablename__ = "oauth_clients"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    redirect_uris: Mapped[list] = mapped_column(JSON)
    scopes: Mapped[str] = mapped_column(String(200))  # the most it may ask for, space-separated
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime] = _now_column()


class OAuthGrant(Base):
    """A person's authorization of one app: what it may see, when last used, revoked or not."""

    __tablename__ = "oauth_grants"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    client_id: Mapped[int] = mapped_column(ForeignKey("oauth_clients.id"))
    scope: Mapped[str] = mapped_column(String(200))
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_oauth_grants_person_client", "person_id", "client_id"),)


class OAuthCode(Base):
    """An authorization code; kept after use so that a replay revokes what it gave."""

    __tablename__ = "oauth_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("oauth_grants.id"))
    redirect_uri: Mapped[str] = mapped_column(String(500))
    scope: Mapped[str] = mapped_column(String(200))
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(8))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OAuthToken(Base):
    """An access token and its refresh token, limited to the grant's scopes."""

    __tablename__ = "oauth_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("oauth_grants.id"), index=True)
    access_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    access_expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    refresh_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the refresh token was exchanged for a new pair; presented again, it was copied.
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


staff_users = StaffUser.__table__
staff_regions = StaffRegion.__table__
institutions = Institution.__table__
auth_sessions = AuthSession.__table__
sms_codes = SmsCode.__table__
evouchers = EVoucher.__table__
oauth_clients = OAuthClient.__table__
oauth_grants = OAuthGrant.__table__
oauth_codes = OAuthCode.__table__
oauth_tokens = OAuthToken.__table__


# ---------------------------------------------------------------------------- withdrawal, inheritance, transfers
# Withdrawal cases (个人账户余额提取) with their documents and heirs, death records, transfers
# between pooling regions (医保关系转移接续) and emergency refunds. Every step is dated; a
# step's due date is stored when the step opens, from the working-day deadline in force
# that day, so a later change of the policy data does not move deadlines already given.

OPEN_CASE = "status IN ('collecting', 'submitted', 'approved_once')"
OPEN_TRANSFER = "status IN ('requested', 'approved', 'transferred_out')"


class WithdrawalCase(Base):
    """One application to withdraw a balance: by the person, or by heirs after a death.

    ``account_id`` is where the money is paid from: the person's personal account (closed
    by the payout), or the clearing account holding a transfer's balance that the new
    region refused (``transfer_id`` set, ``fixed_amount_fen`` the amount in flight).
    """

    __tablename__ = "withdrawal_cases"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    region_code: Mapped[str] = mapped_column(String(6))
    reason: Mapped[str] = mapped_column(String(16))
    applicant: Mapped[str] = mapped_column(String(8))  # person | heir
    status: Mapped[str] = mapped_column(String(16))
    # The policy engine's answer when the case was opened; NULL allowed = sources conflict or say nothing.
    policy_allowed: Mapped[bool | None] = mapped_column(Boolean)
    policy_confidence: Mapped[str] = mapped_column(String(16))
    required_documents: Mapped[list] = mapped_column(JSON)
    rule_ids: Mapped[list] = mapped_column(JSON)
    transfer_id: Mapped[int | None] = mapped_column(ForeignKey("region_transfers.id"))
    fixed_amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    applied_on: Mapped[date] = mapped_column(Date)
    submitted_on: Mapped[date | None] = mapped_column(Date)
    first_approver_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    first_approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    second_approver_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    second_approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rejected_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    decision_note: Mapped[str | None] = mapped_column(String(200))
    paid_fen: Mapped[int | None] = mapped_column(BigInteger)
    paid_on: Mapped[date | None] = mapped_column(Date)
    # The person's own withdrawal is paid to this verified account in their name (NULL: heirs' cases,
    # which name one per heir, and cases opened before 0016).
    bank_name: Mapped[str | None] = mapped_column(String(60))
    bank_account: Mapped[str | None] = mapped_column(String(30))
    created_by: Mapped[str] = mapped_column(String(64))  # "person:<id>" or "staff:<id>"
    created_at: Mapped[datetime] = _now_column()

    __table_args__ = (
        CheckConstraint(
            "status IN ('collecting', 'submitted', 'approved_once', 'paid', 'rejected')", name="status"
        ),
        CheckConstraint("applicant IN ('person', 'heir')", name="applicant"),
        # Two approvals are two people: the database refuses one person approving twice.
        CheckConstraint(
            "second_approver_id IS NULL OR second_approver_id != first_approver_id", name="two_approvers"
        ),
        CheckConstraint("paid_fen IS NULL OR paid_fen >= 0", name="paid_not_negative"),
        # One open case per person at a time.
        Index(
            "uq_withdrawal_cases_open_person", "person_id", unique=True,
            sqlite_where=text(OPEN_CASE), postgresql_where=text(OPEN_CASE),
        ),
    )


class Document(Base):
    """An uploaded document (PDF or image), kept in the database with its SHA-256.

    In the database rather than a directory: the document, the case it belongs to and the
    audit entry commit together or not at all, so a crash can leave neither a case that
    names a missing file nor a file no case names; backups and PostgreSQL replicas carry
    them without a second mechanism. Files are small (a size limit applies) and few per case.
    """

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    withdrawal_case_id: Mapped[int | None] = mapped_column(ForeignKey("withdrawal_cases.id"), index=True)
    emergency_refund_id: Mapped[int | None] = mapped_column(ForeignKey("emergency_refunds.id"), index=True)
    doc_type: Mapped[str] = mapped_column(String(40))  # the policy's name, e.g. 死亡证明
    file_name: Mapped[str] = mapped_column(String(100))
    media_type: Mapped[str] = mapped_column(String(32))  # from the content's magic bytes, never the name
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = _now_column()

    __table_args__ = (CheckConstraint("size_bytes > 0", name="size_positive"),)


class DeathRecord(Base):
    """A death recorded by staff (date, certificate number, the certificate itself).

    ``pending`` until a second staff member confirms it (then ``persons.died_on`` is set) or
    rejects it (then the account frozen at recording, ``frozen_account_id``, is active again).
    A rejected record is overwritten when the death is recorded again; the audit log keeps it.
    """

    __tablename__ = "death_records"

    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), primary_key=True)
    died_on: Mapped[date] = mapped_column(Date)
    certificate_number: Mapped[str] = mapped_column(String(40))
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"))
    recorded_by: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    recorded_at: Mapped[datetime] = _now_column()
    status: Mapped[str] = mapped_column(String(16))
    frozen_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    confirmed_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rejected_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    rejected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_note: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        CheckConstraint("status IN ('pending', 'confirmed', 'rejected')", name="status"),
        # Four eyes: whoever records a death neither confirms nor rejects it.
        CheckConstraint("confirmed_by IS NULL OR confirmed_by != recorded_by", name="confirmer_not_recorder"),
        CheckConstraint("rejected_by IS NULL OR rejected_by != recorded_by", name="rejecter_not_recorder"),
    )


class Heir(Base):
    """One heir of an inheritance case, with a share of the balance as a fraction."""

    __tablename__ = "heirs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("withdrawal_cases.id"), index=True)
    name: Mapped[str] = mapped_column(String(40))
    id_number: Mapped[str] = mapped_column(String(18))
    share_numerator: Mapped[int] = mapped_column(Integer)
    share_denominator: Mapped[int] = mapped_column(Integer)
    paid_fen: Mapped[int | None] = mapped_column(BigInteger)
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    # Whether the heir is insured here (found among persons when listed): for staff, not a condition.
    insured_here: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # The payout goes to this verified account, held in the heir's own name (NULL only before 0011).
    bank_name: Mapped[str | None] = mapped_column(String(60))
    bank_account: Mapped[str | None] = mapped_column(String(30))

    __table_args__ = (
        UniqueConstraint("case_id", "id_number"),
        CheckConstraint("share_numerator > 0 AND share_numerator <= share_denominator", name="share"),
    )


class RegionTransfer(Base):
    """A move of a person's insurance from one pooling region to another, step by step."""

    __tablename__ = "region_transfers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    from_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    from_region: Mapped[str] = mapped_column(String(6))
    to_region: Mapped[str] = mapped_column(String(6))
    to_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    status: Mapped[str] = mapped_column(String(16))
    amount_fen: Mapped[int | None] = mapped_column(BigInteger)  # moved to clearing at transfer out
    balance_accepted: Mapped[bool | None] = mapped_column(Boolean)
    requested_on: Mapped[date] = mapped_column(Date)
    out_due: Mapped[date] = mapped_column(Date)  # the old region reviews and transfers out by then
    reviewed_on: Mapped[date | None] = mapped_column(Date)
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    out_on: Mapped[date | None] = mapped_column(Date)
    out_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    in_due: Mapped[date | None] = mapped_column(Date)
    in_on: Mapped[date | None] = mapped_column(Date)
    in_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = _now_column()

    __table_args__ = (
        CheckConstraint(
            "status IN ('requested', 'approved', 'transferred_out', 'completed', 'rejected')", name="status"
        ),
        CheckConstraint("from_region != to_region", name="regions_differ"),
        Index("ix_region_transfers_status", "status"),
        # One transfer in progress per person.
        Index(
            "uq_region_transfers_open_person", "person_id", unique=True,
            sqlite_where=text(OPEN_TRANSFER), postgresql_where=text(OPEN_TRANSFER),
        ),
    )


class EmergencyRefund(Base):
    """Emergency costs the person paid themselves, refunded into the account after approval.

    Entered by one staff member (with the receipt) or applied for by the person on the portal,
    approved by another staff member, above a threshold approved a second time by a third (a
    supervisor), then paid. ``entered_by`` is NULL for the person's own applications and for
    refunds paid before four eyes applied (0011), when one person entered and approved.
    """

    __tablename__ = "emergency_refunds"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    incurred_on: Mapped[date] = mapped_column(Date)
    receipt_number: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16))
    entered_on: Mapped[date] = mapped_column(Date)
    entered_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    approved_on: Mapped[date | None] = mapped_column(Date)
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    second_approved_on: Mapped[date | None] = mapped_column(Date)
    second_approved_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    rejected_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    decision_note: Mapped[str | None] = mapped_column(String(200))
    due_on: Mapped[date] = mapped_column(Date)
    refunded_on: Mapped[date | None] = mapped_column(Date)
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    # The person applied on the portal with the receipt (``entered_by`` NULL): they prepared it,
    # and every approval is by staff.
    applied_by_person: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[datetime] = _now_column()

    __table_args__ = (
        # One refund per receipt: the same costs are never refunded twice.
        UniqueConstraint("person_id", "receipt_number"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint(
            "status IN ('entered', 'approved_once', 'approved', 'paid', 'rejected')", name="status"
        ),
        # Four eyes, in the database: the approver is not who entered it, the second approver neither of them.
        CheckConstraint("approved_by IS NULL OR approved_by != entered_by", name="approver_not_enterer"),
        CheckConstraint(
            "second_approved_by IS NULL OR (second_approved_by != approved_by AND second_approved_by != entered_by)",
            name="second_approver_differs",
        ),
        CheckConstraint("status IN ('entered', 'rejected') OR approved_by IS NOT NULL", name="approved_before_paid"),
        Index("ix_emergency_refunds_open", "refunded_on", "due_on"),
        Index("ix_emergency_refunds_person_incurred", "person_id", "incurred_on"),
    )


class CaseParticipant(Base):
    """One staff member's part in one case that moves money: which side, which steps, when.

    A staff member is on one side of a case only: they prepare it (enter, record a death,
    name heirs, upload a document, submit, refuse a balance) or approve it. The unique key
    makes the database refuse a second side for the same person, whatever the code does.
    ``case_kind``: ``withdrawal`` (withdrawal_cases.id), ``refund`` (emergency_refunds.id),
    ``death`` (death_records.person_id).
    """

    __tablename__ = "case_participants"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_kind: Mapped[str] = mapped_column(String(16))
    case_id: Mapped[int] = mapped_column(BigInteger)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    side: Mapped[str] = mapped_column(String(8))
    parts: Mapped[list] = mapped_column(JSON)  # e.g. ["recorded_death", "named_heirs"]
    first_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("case_kind", "case_id", "staff_id"),
        CheckConstraint("side IN ('prepare', 'approve')", name="side"),
        CheckConstraint("case_kind IN ('withdrawal', 'refund', 'death')", name="case_kind"),
    )


withdrawal_cases = WithdrawalCase.__table__
documents = Document.__table__
death_records = DeathRecord.__table__
heirs = Heir.__table__
region_transfers = RegionTransfer.__table__
emergency_refunds = EmergencyRefund.__table__
case_participants = CaseParticipant.__table__


# ---------------------------------------------------------------------------- payments and family sharing
# Payments at designated institutions, their refunds, and family sharing (家庭共济). The
# ledger holds the money; these rows hold what the outside world quotes (receipt number,
# idempotency key) and whom a payment benefited. A payment or refund row is written
# "pending" before its ledger transaction and marked "posted" after it, so a retry with
# the same key finishes whatever a crash interrupted (the ledger key is derived from the row).

OPEN_BINDING = "status != 'ended'"


class FamilyBinding(Base):
    """A holder's personal account shared with one close relative (近亲属), after the relative's consent.

    ``relation`` is what the member is to the holder (spouse, parent, child, …); which
    relations may be bound is policy data, dated. ``consented_by`` is 'member', or
    'guardian' when the holder consented for a minor member (with a confirmed guardianship).

    ``member_id_number`` is the ID number the holder gave. A request for someone who is not
    insured is kept too (``member_person_id`` NULL; it can never be consented to), so that
    the holder's answers and list do not tell whether that number belongs to an insured person.
    """

    __tablename__ = "family_bindings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    holder_person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    member_person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), index=True)
    member_id_number: Mapped[str] = mapped_column(String(18))
    relation: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    consented_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    consented_by: Mapped[str | None] = mapped_column(String(8))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_by: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))

    __table_args__ = (
        CheckConstraint("status IN ('pending', 'active', 'ended')", name="status"),
        CheckConstraint("consented_by IS NULL OR consented_by IN ('member', 'guardian')", name="consented_by"),
        CheckConstraint("holder_person_id != member_person_id", name="two_people"),
        CheckConstraint("status != 'active' OR member_person_id IS NOT NULL", name="member_insured"),
        # One binding in force (pending or active) per holder and relative; ended ones stay as history.
        Index(
            "uq_family_bindings_open_request", "holder_person_id", "member_id_number", unique=True,
            sqlite_where=text(OPEN_BINDING), postgresql_where=text(OPEN_BINDING),
        ),
    )


GUARDIAN_RELATIONS = ("parent", "grandparent", "sibling", "other")


class Guardianship(Base):
    """A guardian of a minor (民法典第二十七条), confirmed by agency staff at the counter from a document.

    ``relation`` is what the guardian is to the minor; ``evidence`` names the document seen
    (户口簿, 出生医学证明, a court or committee decision …). Only a confirmed, not ended
    guardianship lets a holder bind a minor and consent for them.
    """

    __tablename__ = "guardianships"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    minor_person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    guardian_person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    relation: Mapped[str] = mapped_column(String(16))
    evidence: Mapped[str] = mapped_column(String(200))
    confirmed_by: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    confirmed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("relation IN ('parent', 'grandparent', 'sibling', 'other')", name="relation"),
        CheckConstraint("minor_person_id != guardian_person_id", name="two_people"),
        Index(
            "uq_guardianships_current", "minor_person_id", "guardian_person_id", unique=True,
            sqlite_where=text("ended_at IS NULL"), postgresql_where=text("ended_at IS NULL"),
        ),
    )


class Notification(Base):
    """A message to a person, shown where they sign in (and sent by SMS when they have a phone)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class InstitutionPayment(Base):
    """A payment from a personal account at a designated institution: the person's own or a family holder's.

    ``person_id`` is the patient (identified by e-voucher or card + PIN); ``payer_person_id``
    and ``account_id`` are whose account paid (the patient's, or the holder of
    ``binding_id``). ``paid_fen`` may be less than ``amount_fen`` when the institution
    allowed a partial payment; the difference is paid in cash at the counter.
    """

    __tablename__ = "institution_payments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    receipt_no: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    payer_person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    binding_id: Mapped[int | None] = mapped_column(ForeignKey("family_bindings.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    paid_fen: Mapped[int] = mapped_column(BigInteger)
    business_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(8))
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    created_at: Mapped[datetime] = _now_column()
    # The e-voucher the payment spent (none for card + PIN): given back when the payment is refused or dropped.
    evoucher_id: Mapped[int | None] = mapped_column(ForeignKey("evouchers.id"))

    __table_args__ = (
        UniqueConstraint("institution_id", "receipt_no"),
        UniqueConstraint("institution_id", "idempotency_key"),
        CheckConstraint("paid_fen > 0 AND paid_fen <= amount_fen", name="paid_within_amount"),
        CheckConstraint("status IN ('pending', 'posted')", name="status"),
        CheckConstraint("(status = 'posted') = (transaction_id IS NOT NULL)", name="posted_has_transaction"),
        Index("ix_institution_payments_institution_date", "institution_id", "business_date"),
    )


class InstitutionRefund(Base):
    """A refund of (part of) a payment, back to the account that paid it."""

    __tablename__ = "institution_refunds"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("institution_payments.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    idempotency_key: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    business_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(8))
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    created_at: Mapped[datetime] = _now_column()

    __table_args__ = (
        UniqueConstraint("institution_id", "idempotency_key"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("status IN ('pending', 'posted')", name="status"),
        CheckConstraint("(status = 'posted') = (transaction_id IS NOT NULL)", name="posted_has_transaction"),
        Index("ix_institution_refunds_institution_date", "institution_id", "business_date"),
    )


class FamilyPayment(Base):
    """The beneficiary of a ledger transaction on a holder's account: shown in both people's details.

    ``purpose``: 'medical' (paid at an institution), 'refund' (of such a payment) or
    'premium' (the member's residents'-insurance premium for ``premium_year``; one per
    member and year — NULL years never clash).
    """

    __tablename__ = "family_payments"

    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"), primary_key=True)
    binding_id: Mapped[int] = mapped_column(ForeignKey("family_bindings.id"))
    holder_person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    member_person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))  # the holder's account that paid
    purpose: Mapped[str] = mapped_column(String(8))
    premium_year: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _now_column()

    __table_args__ = (
        CheckConstraint("purpose IN ('medical', 'refund', 'premium')", name="purpose"),
        CheckConstraint("(purpose = 'premium') = (premium_year IS NOT NULL)", name="premium_has_year"),
        UniqueConstraint("member_person_id", "premium_year"),
    )


family_bindings = FamilyBinding.__table__
institution_payments = InstitutionPayment.__table__
institution_refunds = InstitutionRefund.__table__
family_payments = FamilyPayment.__table__
guardianships = Guardianship.__table__
notifications = Notification.__table__


# ---------------------------------------------------------------------------- import jobs

class ImportJob(Base):
    """A contribution file uploaded through the API, imported by a worker process of its own.

    The file waits in the data directory (``stored_as``) until its job ends, not in this
    row: the upload streams to disk, while a bytea value would be sent, and so held, whole by
    the web server. The row keeps what an auditor needs after the file is gone: who, when,
    the file's name and SHA-256, the progress and the row-by-row report.
    ``region_code`` is the uploader's pooling region (the job's scope; None: every region).
    """

    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    status: Mapped[str] = mapped_column(String(10))
    file_name: Mapped[str] = mapped_column(String(120))
    stored_as: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    region_code: Mapped[str | None] = mapped_column(String(6))
    create_people_in: Mapped[str | None] = mapped_column(String(6))
    import_today: Mapped[date] = mapped_column(Date)  # the import's today, from the upload's clock
    rows_done: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    rows_total: Mapped[int | None] = mapped_column(Integer)  # known once the whole file is read
    worker_pid: Mapped[int | None] = mapped_column(Integer)
    report: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[dict | None] = mapped_column(JSON)  # {code, message, field} of a refused or failed file
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'applied', 'rejected', 'failed')", name="status"),
        Index("ix_import_jobs_status", "status", "id"),
    )


import_jobs = ImportJob.__table__


class AccountFreeze(Base):
    """A freeze of a personal account made at the counter, and its lifting.

    Staff freeze an account after checking the person's identity in person (a lost card, a
    suspected misuse, a court's request …) and lift only freezes made here: an account frozen
    by a recorded death or a transfer has no open row, so the counter cannot unfreeze it.
    """

    __tablename__ = "account_freezes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    reason: Mapped[str] = mapped_column(String(200))
    frozen_by: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    frozen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    unfreeze_reason: Mapped[str | None] = mapped_column(String(200))
    unfrozen_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    unfrozen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_account_freezes_person", "person_id", "id"),
        # At most one open counter freeze per account.
        Index("uq_account_freezes_open", "account_id", unique=True, sqlite_where=text("unfrozen_at IS NULL"),
              postgresql_where=text("unfrozen_at IS NULL")),
    )


account_freezes = AccountFreeze.__table__


class CareFiling(Base):
    """An out-of-area care filing (异地就医备案): where a person will be treated outside their
    pooling region, why, and from when.

    ``region_code`` is the pooling region the person was insured in when filing (the region whose
    staff confirm it); ``place_code`` the region of care. A change never edits a filing: the old
    row becomes ``changed`` and a new row names it in ``replaces_id``, so the history of places
    and dates stays readable. ``ends_on`` is NULL for a long-term filing until it is cancelled.
    """

    __tablename__ = "care_filings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    region_code: Mapped[str] = mapped_column(String(6))
    place_code: Mapped[str] = mapped_column(String(6))
    kind: Mapped[str] = mapped_column(String(16))  # long_term | temporary
    reason: Mapped[str] = mapped_column(String(32))
    required_documents: Mapped[list] = mapped_column(JSON)
    rule_ids: Mapped[list] = mapped_column(JSON)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("care_filings.id"))
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_note: Mapped[str | None] = mapped_column(String(200))
    closed_on: Mapped[date | None] = mapped_column(Date)  # cancelled or replaced by a change
    created_by: Mapped[str] = mapped_column(String(64))  # "person:<id>" or "staff:<id>"
    created_at: Mapped[datetime] = _now_column()

    __table_args__ = (
        CheckConstraint("status IN ('pending', 'active', 'changed', 'cancelled', 'rejected')", name="status"),
        CheckConstraint("kind IN ('long_term', 'temporary')", name="kind"),
        CheckConstraint("place_code != region_code", name="place_elsewhere"),
        CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="dates_ordered"),
        Index("ix_care_filings_person", "person_id", "id"),
        Index("ix_care_filings_status_region", "status", "region_code"),
    )


care_filings = CareFiling.__table__


# ---------------------------------------------------------------------------- national interface
# The national platform's interface for designated institutions (infno envelopes): sign-ins,
# TIF nonces, every message with its answer (the msgid is the idempotency key), the persons
# identified by 1101 and the settlements made through it. Money moves only through
# institution_payments/refunds and the ledger; a settlement points at its payments.


class NationalSignIn(Base):
    """9001 sign-in of an operator; the ``sign_no`` later messages carry, until 9002 or expiry."""

    __tablename__ = "national_sign_ins"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    sign_no: Mapped[str] = mapped_column(String(30), unique=True)
    opter_no: Mapped[str] = mapped_column(String(30))
    mac: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(64))
    signed_in_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    signed_out_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class NationalNonce(Base):
    """A TIF ``x-tif-nonce`` already accepted: never accepted again within the time window."""

    __tablename__ = "national_nonces"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    nonce: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)

    __table_args__ = (UniqueConstraint("institution_id", "nonce"),)


class NationalMessage(Base):
    """One message of an institution, by its ``msgid``, with the answer given (exact JSON text).

    A repeated msgid with the same request answers ``answer`` again; ``answer`` is NULL while
    the message is being worked (or after a crash: the same request then finishes it).
    ``infno`` '2601' rows with ``tombstone`` stand for an original that a reversal reached
    before it arrived: that original is then refused.
    """

    __tablename__ = "national_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    msgid: Mapped[str] = mapped_column(String(64))
    infno: Mapped[str] = mapped_column(String(10))
    request_hash: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    infcode: Mapped[int | None] = mapped_column(Integer)
    answer: Mapped[str | None] = mapped_column(Text)
    tombstone: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("institution_id", "msgid"),)


class NationalIdentification(Base):
    """A person identified at an institution by 1101: what later messages about them rely on.

    ``cert_hash`` is the SHA-256 of the credential shown (e-voucher token, ID or card number);
    ``account_use`` says whether the credential proves the person is there (e-voucher, or card
    with its service PIN): only then may a settlement pay from the personal account.
    """

    __tablename__ = "national_identifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    msgid: Mapped[str] = mapped_column(String(64))
    cert_type: Mapped[str] = mapped_column(String(3))
    cert_hash: Mapped[str] = mapped_column(String(64))
    account_use: Mapped[bool] = mapped_column(Boolean)
    identified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("institution_id", "msgid"),
        Index("ix_national_identifications_person", "institution_id", "person_id", "cert_hash"),
    )


class NationalSettlement(Base):
    """A pharmacy (2102) or outpatient (2207) settlement, its drug or fee lines and its reversal.

    ``acct_pay_fen`` was paid from personal accounts through ``self_payment_id`` (the patient's
    own) and ``family_payment_id`` (a family-sharing holder's: ``mulaid_fen``); the rest of the
    bill is ``cash_fen``. The pooled fund's share is outside yibao (always 0 here).
    """

    __tablename__ = "national_settlements"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    msgid: Mapped[str] = mapped_column(String(64))
    infno: Mapped[str] = mapped_column(String(4))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    identification_id: Mapped[int] = mapped_column(ForeignKey("national_identifications.id"))
    mdtrt_id: Mapped[str] = mapped_column(String(30))
    insutype: Mapped[str] = mapped_column(String(6))
    med_type: Mapped[str] = mapped_column(String(6))
    clr_type: Mapped[str] = mapped_column(String(6))
    invono: Mapped[str] = mapped_column(String(30))
    medfee_fen: Mapped[int] = mapped_column(BigInteger)
    acct_pay_fen: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    mulaid_fen: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    cash_fen: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    self_payment_id: Mapped[int | None] = mapped_column(ForeignKey("institution_payments.id"))
    family_payment_id: Mapped[int | None] = mapped_column(ForeignKey("institution_payments.id"))
    lines: Mapped[list] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(8))
    business_date: Mapped[date] = mapped_column(Date)
    settled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reversal_msgid: Mapped[str | None] = mapped_column(String(64))
    reversal_infno: Mapped[str | None] = mapped_column(String(4))
    reversed_on: Mapped[date | None] = mapped_column(Date)
    reversed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("institution_id", "msgid"),
        CheckConstraint("status IN ('pending', 'settled', 'reversed')", name="status"),
        CheckConstraint("medfee_fen > 0 AND acct_pay_fen >= 0 AND cash_fen >= 0", name="amounts_not_negative"),
        CheckConstraint("acct_pay_fen + cash_fen = medfee_fen", name="paid_adds_up"),
        CheckConstraint("mulaid_fen >= 0 AND mulaid_fen <= acct_pay_fen", name="mulaid_within_account"),
        CheckConstraint("(status = 'reversed') = (reversed_on IS NOT NULL)", name="reversed_has_date"),
        Index("ix_national_settlements_day", "institution_id", "business_date"),
        Index("ix_national_settlements_reversed", "institution_id", "reversed_on"),
        Index("ix_national_settlements_person", "person_id", "business_date"),
    )


class NationalVisit(Base):
    """An outpatient visit registered by 2201 (its ``mdtrt_id``), with what 2203 said of it.

    Its fee lines (2204) are ``national_fee_lines``; 2207 settles the lines not settled yet.
    """

    __tablename__ = "national_visits"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    identification_id: Mapped[int] = mapped_column(ForeignKey("national_identifications.id"))
    msgid: Mapped[str] = mapped_column(String(64))
    ipt_otp_no: Mapped[str] = mapped_column(String(30))
    insutype: Mapped[str] = mapped_column(String(6))
    med_type: Mapped[str] = mapped_column(String(6), server_default=text("''"))
    dise_codg: Mapped[str] = mapped_column(String(30), server_default=text("''"))
    dise_name: Mapped[str] = mapped_column(String(300), server_default=text("''"))
    status: Mapped[str] = mapped_column(String(10))
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("institution_id", "msgid"),
        CheckConstraint("status IN ('open', 'cancelled')", name="status"),
    )


class NationalFeeLine(Base):
    """A fee line of an outpatient visit (2204), until it is withdrawn (2205) or settled (2207)."""

    __tablename__ = "national_fee_lines"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("national_visits.id"))
    feedetl_sn: Mapped[str] = mapped_column(String(30))
    chrg_bchno: Mapped[str] = mapped_column(String(30))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    detail: Mapped[dict] = mapped_column(JSON)
    settlement_id: Mapped[int | None] = mapped_column(ForeignKey("national_settlements.id"))

    __table_args__ = (
        UniqueConstraint("visit_id", "feedetl_sn"),
        CheckConstraint("amount_fen >= 0", name="amount_not_negative"),
    )


national_sign_ins = NationalSignIn.__table__
national_nonces = NationalNonce.__table__
national_messages = NationalMessage.__table__
national_identifications = NationalIdentification.__table__
national_settlements = NationalSettlement.__table__
national_visits = NationalVisit.__table__
national_fee_lines = NationalFeeLine.__table__


# ---------------------------------------------------------------------------- paying online (缴费)


class ContributionOrder(Base):
    """An order to pay a residents' premium (城乡居民医保个人缴费) for a funding year, or a flexible
    employee's months (灵活就业缴费), through a payment gateway.

    ``live_key`` is set while the order counts ("premium:2027" open, paid or posted; "flexible"
    open or paid) and cleared when it stops counting (expired, refunded, or a flexible order
    posted): the unique key on (person, live_key) is "one order per person and year" for both
    backends without a partial index (NULLs never clash).
    Status: open → paid (the gateway said so, recorded) → posted (ledger and records written, in
    one transaction) → refunded; open → expired. A crash between paid and posted is finished by
    the resume step or by the gateway's repeated notice.
    """

    __tablename__ = "contribution_orders"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_no: Mapped[str] = mapped_column(String(32), unique=True)
    purpose: Mapped[str] = mapped_column(String(16))  # resident_premium | flexible
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)  # the insured person
    payer_person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))  # who pays (self, guardian, relative)
    payer_role: Mapped[str] = mapped_column(String(16))  # self | guardian | relative
    region_code: Mapped[str] = mapped_column(String(6))
    live_key: Mapped[str | None] = mapped_column(String(32))
    funding_year: Mapped[int | None] = mapped_column(Integer)
    # Flexible: one entry per month paid, with the figures that set it:
    # {"month": "2026-10", "base_fen", "rate_bp", "monthly_fen", "account_fen"}.
    months: Mapped[list | None] = mapped_column(JSON)
    tier_key: Mapped[str | None] = mapped_column(String(16))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    rule_ids: Mapped[list] = mapped_column(JSON)  # the policy values that set the amount
    gateway: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))  # portal | api | counter
    status: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    trade_no: Mapped[str | None] = mapped_column(String(64))
    posted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    benefit_starts_on: Mapped[date | None] = mapped_column(Date)
    waiting_months: Mapped[int | None] = mapped_column(Integer)
    refund_no: Mapped[str | None] = mapped_column(String(32))
    refund_reason: Mapped[str | None] = mapped_column(String(200))
    refunded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refund_transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))

    __table_args__ = (
        UniqueConstraint("person_id", "live_key"),
        Index("ix_contribution_orders_status_expires", "status", "expires_at"),
        CheckConstraint("purpose IN ('resident_premium', 'flexible')", name="purpose"),
        CheckConstraint("payer_role IN ('self', 'guardian', 'relative')", name="payer_role"),
        CheckConstraint("status IN ('open', 'paid', 'posted', 'expired', 'refunded')", name="status"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
    )


class GatewayNotice(Base):
    """Every payment a gateway reported, once per trade (the inbox of its asynchronous notices).

    Recorded before anything else happens: a repeated notice finds its row and changes
    nothing; a trade that does not pay a live order (a second payment, a payment after the
    order expired) is refunded and the refund recorded here.
    """

    __tablename__ = "gateway_notices"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    gateway: Mapped[str] = mapped_column(String(32))
    trade_no: Mapped[str] = mapped_column(String(64))
    order_no: Mapped[str] = mapped_column(String(32), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    paid_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(String(12))  # accepted | refunding | refunded
    refund_no: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (
        UniqueConstraint("gateway", "trade_no"),
        CheckConstraint("outcome IN ('accepted', 'refunding', 'refunded')", name="outcome"),
    )


contribution_orders = ContributionOrder.__table__
gateway_notices = GatewayNotice.__table__
