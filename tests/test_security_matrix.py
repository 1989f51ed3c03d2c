"""The authorization matrix: every operation of the OpenAPI document, every kind of caller.

Operations come from the document itself: an endpoint without a rule here fails the test,
so a new endpoint cannot be forgotten. For each caller the answer must be the expected one
(allowed, 401, 403 or 404); person A never sees person B's data and B never sees A's;
staff reads land in the audit log; institutions get nothing but their own endpoint.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select

from api_support import START, TODAY, add_app, add_insured, add_pharmacy, add_staff_user, bearer, client_for, reason_header, security
from api_support import SAMPLE_PDF, document_body, payee_body, payee_of
from yibao.security.permissions import StaffScope
from yibao.clock import FixedClock
from yibao.ivr import speech
from yibao.ivr.audio import Voice
from yibao.security import evoucher, idle, sessions
from yibao.security.principal import Scope
from yibao.security.staff import StaffRole
from yibao.security.tokens import ACCESS_PREFIX, new_token, token_hash
from yibao.store.models import audit_log, contribution_orders, oauth_clients, oauth_grants, oauth_tokens, staff_users

APP_ROLES = [f"app:{scope.value}" for scope in Scope]
ROLES = ["anonymous", "person_a", "person_a_limited", "person_b", "agent", "auditor", "institution", *APP_ROLES]
PUBLIC = {
    "GET /health", "GET /ready",
    # signing in
    "POST /api/v1/auth/login", "POST /api/v1/auth/sms-code", "POST /api/v1/auth/login/sms", "POST /api/v1/staff/login",
    # forgotten password: ID number + name + SMS code, no session
    "POST /api/v1/auth/password/reset-code", "POST /api/v1/auth/password/reset",
    # general policy answers for a region and a date: no one's personal data
    "GET /api/v1/policy/credit", "GET /api/v1/policy/lifetime", "GET /api/v1/policy/withdraw",
    "GET /api/v1/policy/continuity", "GET /api/v1/policy/channels", "GET /api/v1/policy/family",
    "GET /api/v1/policy/transfer",
}
OK = {200, 202, 204}
# Answers that show the caller a masked ID number the caller typed in: a family request shows the
# holder the relative's masked number until the relative consents (and no name).
SHOWS_TYPED_ID = {"GET /api/v1/me/family"}
# What staff change for a person at the counter (``web/api/maintenance.py``).
COUNTER_UPKEEP = {"password-reset", "pin-reset", "phone", "freeze", "unfreeze"}
FILING = {"kind": "long_term", "place_code": "440300", "reason": "long_residence", "starts_on": TODAY}


def expected(allowed: dict[str, set[int]], *, bearer_endpoint: bool = True) -> dict[str, set[int]]:
    """Roles not named are refused: 401 without a usable credential, 403 with the wrong one."""
    refused = {}
    for role in ROLES:
        if role in allowed:
            refused[role] = allowed[role]
        elif role == "anonymous" or (bearer_endpoint and role == "institution") or (not bearer_endpoint):
            refused[role] = {401}
        else:
            refused[role] = {403}
    return refused


def person_data(scope: Scope, *, b_status: set[int] = OK) -> dict[str, set[int]]:
    return expected({"person_a": OK, "person_b": b_status, f"app:{scope.value}": OK})


RULES = {
    # Withdrawal, inheritance, transfers: the person's own full session (A has an open case
    # from the World; an open withdrawal blocks a transfer request, hence 409), staff who work cases.
    "POST /api/v1/me/withdrawals": expected({"person_a": {409}, "person_b": {201}}),
    "GET /api/v1/me/withdrawals": expected({"person_a": OK, "person_b": OK}),
    "POST /api/v1/me/withdrawals/{case_id}/documents": expected({"person_a": {201}, "person_b": {404}}),  # A's case
    "POST /api/v1/me/withdrawals/{case_id}/submit": expected({"person_a": OK, "person_b": {404}}),
    "PUT /api/v1/me/withdrawals/{case_id}/bank-account": expected({"person_a": OK, "person_b": {404}}),  # A's case
    "GET /api/v1/me/transfers/emergency-refunds": expected({"person_a": OK, "person_b": OK}),
    "POST /api/v1/me/transfers/emergency-refunds": expected({"person_a": {201, 409}, "person_b": {201, 409}}),
    "POST /api/v1/me/transfers": expected({"person_a": {201, 409}, "person_b": {201, 409}}),
    "GET /api/v1/me/transfers": expected({"person_a": OK, "person_b": OK}),
    "GET /api/v1/staff/withdrawals": expected({"agent": OK}),
    "GET /api/v1/staff/withdrawals/{case_id}": expected({"agent": OK}),
    "GET /api/v1/staff/withdrawals/{case_id}/documents/{document_id}": expected({"agent": OK}),
    "POST /api/v1/staff/withdrawals/{case_id}/decision": expected({"agent": OK}),
    "POST /api/v1/staff/withdrawals/{case_id}/request-documents": expected({"agent": OK}),
    "POST /api/v1/staff/withdrawals/deaths": expected({"agent": {201}}),
    # A death recorded by another staff member: the agent views it and confirms one, rejects another.
    "GET /api/v1/staff/withdrawals/deaths": expected({"agent": OK}),
    "GET /api/v1/staff/withdrawals/deaths/{person_id}": expected({"agent": OK}),
    "GET /api/v1/staff/withdrawals/deaths/{person_id}/certificate": expected({"agent": OK}),
    "POST /api/v1/staff/withdrawals/deaths/{person_id}/confirm": expected({"agent": OK}),
    "POST /api/v1/staff/withdrawals/deaths/{person_id}/reject": expected({"agent": OK}),
    "POST /api/v1/staff/withdrawals/{case_id}/documents": expected({"agent": {201}}),
    "PUT /api/v1/staff/withdrawals/{case_id}/heirs": expected({"agent": OK}),
    "POST /api/v1/staff/withdrawals/{case_id}/submit": expected({"agent": OK}),
    "GET /api/v1/staff/transfers/open-steps": expected({"agent": OK}),
    "POST /api/v1/staff/transfers/{transfer_id}/review": expected({"agent": OK}),
    "POST /api/v1/staff/transfers/{transfer_id}/transfer-out": expected({"agent": OK}),
    "POST /api/v1/staff/transfers/{transfer_id}/transfer-in": expected({"agent": OK}),
    "POST /api/v1/staff/transfers/emergency-refunds": expected({"agent": {201}}),
    # Refunds entered by another staff member: one to view, add to and approve, one approved to pay.
    "GET /api/v1/staff/transfers/emergency-refunds/{refund_id}": expected({"agent": OK}),
    "GET /api/v1/staff/transfers/emergency-refunds/{refund_id}/documents/{document_id}": expected({"agent": OK}),
    "POST /api/v1/staff/transfers/emergency-refunds/{refund_id}/documents": expected({"agent": {201}}),
    "POST /api/v1/staff/transfers/emergency-refunds/{refund_id}/decision": expected({"agent": OK}),
    "POST /api/v1/staff/transfers/emergency-refunds/{refund_id}/pay": expected({"agent": OK}),
    "POST /api/v1/auth/password": expected({"person_a": {200, 422}, "person_a_limited": {200, 422}, "person_b": {200, 422}}),
    "POST /api/v1/auth/logout": expected({"person_a": OK, "person_a_limited": OK, "person_b": OK, "agent": OK, "auditor": OK}),
    "GET /api/v1/me": person_data(Scope.PROFILE),
    "GET /api/v1/me/accounts": person_data(Scope.BALANCE),
    "GET /api/v1/me/details": person_data(Scope.DETAILS, b_status={404}),  # asks for A's account
    "GET /api/v1/me/statement": person_data(Scope.DETAILS, b_status={404}),  # asks for A's account
    "GET /api/v1/me/contributions": person_data(Scope.CONTRIBUTIONS),
    "POST /api/v1/me/evoucher": person_data(Scope.EVOUCHER),
    "GET /api/v1/me/policy/credit": person_data(Scope.BALANCE),
    "GET /api/v1/me/policy/lifetime": person_data(Scope.CONTRIBUTIONS),
    "GET /api/v1/me/policy/withdraw": person_data(Scope.BALANCE),
    "GET /api/v1/me/policy/continuity": person_data(Scope.CONTRIBUTIONS),
    "GET /api/v1/me/apps": expected({"person_a": OK, "person_b": OK}),
    "DELETE /api/v1/me/apps/{grant_id}": expected({"person_a": {204, 404}, "person_b": {404}}),  # A's grant
    "POST /api/v1/staff/imports/contributions": expected({"agent": OK}),
    "GET /api/v1/staff/imports/{job_id}": expected({"agent": OK}),  # a job of the World's agent (national scope)
    "POST /api/v1/staff/persons/search": expected({"agent": OK}),
    "GET /api/v1/staff/persons/{person_id}": expected({"agent": OK}),
    "GET /api/v1/staff/persons/{person_id}/accounts": expected({"agent": OK}),
    "GET /api/v1/staff/persons/{person_id}/details": expected({"agent": OK}),
    "GET /api/v1/staff/persons/{person_id}/contributions": expected({"agent": OK}),
    "GET /api/v1/staff/persons/{person_id}/statement": expected({"agent": OK}),
    # At the counter after checking the identity document (a person of their own: see World.upkeep).
    "POST /api/v1/staff/persons/{person_id}/password-reset": expected({"agent": OK}),
    "POST /api/v1/staff/persons/{person_id}/pin-reset": expected({"agent": OK}),
    "POST /api/v1/staff/persons/{person_id}/phone": expected({"agent": OK}),
    "POST /api/v1/staff/persons/{person_id}/freeze": expected({"agent": OK}),
    "POST /api/v1/staff/persons/{person_id}/unfreeze": expected({"agent": OK}),
    "GET /api/v1/audit": expected({"auditor": OK}),
    "POST /api/v1/institution/balance-check": expected({"institution": OK}, bearer_endpoint=False),
    # Paying at a designated institution (the World's pharmacy is designated) and family sharing.
    "POST /api/v1/institution/payments": expected({"institution": OK}, bearer_endpoint=False),
    # The national interface answers HTTP 200 always; its infcode is read as the status (see NationalAnswer).
    "POST /fsi/api/rsfComIfsService/callService": expected({"institution": OK}, bearer_endpoint=False),
    "POST /fsi/api/rsfComIfsService/callService/{infno}": expected({"institution": OK}, bearer_endpoint=False),
    "POST /api/v1/institution/refunds": expected({"institution": OK}, bearer_endpoint=False),
    "GET /api/v1/institution/settlement": expected({"institution": OK}, bearer_endpoint=False),
    "GET /api/v1/me/family": expected({"person_a": OK, "person_b": OK}),
    "POST /api/v1/me/family": expected({"person_a": {201}, "person_b": {201}}),  # each binds a fourth person
    "POST /api/v1/me/family/{binding_id}/consent": expected({"person_a": OK, "person_b": {403}}),  # B binds A: A consents
    "POST /api/v1/me/family/{binding_id}/end": expected({"person_a": OK, "person_b": OK}),  # either side; ending twice is fine
    "POST /api/v1/me/family/{binding_id}/premium": expected({"person_a": OK, "person_b": {404}}),  # A pays C's premium
    # Paying online: A may pay for C (bound); C's 2025 premium may already be paid from A's account
    # (409) when the family premium above ran first. The World's order is A's payment of C's 2024 premium.
    "GET /api/v1/me/pay": expected({"person_a": OK, "person_b": OK}),
    "POST /api/v1/me/pay/orders": expected({"person_a": {201, 409}, "person_b": {404}}),
    "GET /api/v1/me/pay/orders": expected({"person_a": OK, "person_b": OK}),
    "GET /api/v1/me/pay/orders/{order_no}": expected({"person_a": OK, "person_b": {404}}),
    "POST /api/v1/me/pay/orders/{order_no}/check": expected({"person_a": OK, "person_b": {404}}),
    "POST /api/v1/me/pay/orders/{order_no}/refund": expected({"person_a": {422}, "person_b": {404}}),  # coverage began
    "GET /api/v1/me/pay/orders/{order_no}/receipt.pdf": expected({"person_a": OK, "person_b": {404}}),
    # The gateway signs its notices; no bearer token or key of any role is a signature.
    "POST /api/v1/gateway/notify/{gateway}": expected({}, bearer_endpoint=False),
    # A minor's guardians, confirmed at the counter (the World has a minor with one guardian to end).
    "GET /api/v1/me/notifications": expected({"person_a": OK, "person_b": OK}),
    "POST /api/v1/staff/guardianships": expected({"agent": {201}}),
    "GET /api/v1/staff/guardianships": expected({"agent": OK}),
    "POST /api/v1/staff/guardianships/{guardianship_id}/end": expected({"agent": OK}),
    "PUT /api/v1/me/phone-pin": expected({"person_a": {200, 422}, "person_b": {200, 422}}),
    # Out-of-area care filings: the person's own full session; A's filing is changed or cancelled by A only.
    "GET /api/v1/me/filings": expected({"person_a": OK, "person_b": OK}),
    "POST /api/v1/me/filings": expected({"person_a": {201, 409}, "person_b": {201, 409}}),
    "POST /api/v1/me/filings/{filing_id}/change": expected({"person_a": {201, 409}, "person_b": {404}}),
    "POST /api/v1/me/filings/{filing_id}/cancel": expected({"person_a": {200, 409}, "person_b": {404}}),
    # The telephony platform signs its events (HMAC); no bearer token or key of any role is a signature.
    "POST /api/v1/ivr/events": expected({}, bearer_endpoint=False),
    # Recordings are named by keyed hashes (capability URLs the platform fetches); this one is a shared prompt.
    "GET /api/v1/ivr/audio/{name}.wav": expected({role: OK for role in ROLES}),
}


class World:
    """Two people, staff, a pharmacy and app grants; fresh credentials for every request."""

    def __init__(self, engine, client: TestClient, sec):
        self.engine, self.client, self.sec = engine, client, sec
        self.a = add_insured(engine, 1, balance_fen=123_456)
        self.b = add_insured(engine, 2, balance_fen=987_654)
        self.a_limited = add_insured(engine, 3, password="123456", must_change=True)
        add_staff_user(engine, "agent1", StaffRole.AGENT)
        add_staff_user(engine, "auditor1", StaffRole.AUDITOR)
        add_staff_user(engine, "clerk1", StaffRole.AGENT)  # prepares the cases agent1 approves (four eyes)
        add_staff_user(engine, "super1", StaffRole.SUPERVISOR)
        self.pharmacy_key = add_pharmacy(engine)
        add_app(engine, "miniapp", [scope.value for scope in Scope])
        add_app(engine, "otherapp", ["balance:read"])
        self.revocable_grant = self._grant("otherapp", "balance:read")
        self._payments_and_family(engine)
        self._withdrawals_and_transfers(engine)
        self.import_job = self._import_job(engine)
        self.upkeep = add_insured(engine, 16)  # whose password, PIN, phone and freeze the counter endpoints change
        self.filing_id = self._filing(engine)

    def _payments_and_family(self, engine) -> None:
        """A designated pharmacy, a paid receipt to refund (by E), and one family binding per binding endpoint."""
        from api_support import add_resident
        from yibao.payments.identify import Credential
        from yibao.payments.institutions import set_designated
        from yibao.payments.orders import PaymentOrder
        from yibao.payments.service import Payments
        from yibao.policy.loading import load_book
        from yibao.security.principal import Kind, Principal
        from yibao.store.models import family_bindings, guardianships, institutions

        with engine.begin() as conn:
            set_designated(conn, "P001", True)
            pharmacy_id = conn.execute(select(institutions.c.id).where(institutions.c.code == "P001")).scalar_one()
        self.payer = add_insured(engine, 4, balance_fen=50_000)  # pays at the pharmacy; A's and B's balances stay as marked
        self.c, self.d = add_resident(engine, 5), add_resident(engine, 6)
        self.receipts = 0
        with engine.begin() as conn:
            payload = evoucher.issue(conn, self.sec.key, person_id=self.payer.person_id, issued_to="person", now=START, ttl_seconds=60).payload
        Payments(engine, self.sec, load_book()).pay(
            Principal(Kind.INSTITUTION, pharmacy_id, client_id="P001", region_code="110000"),
            PaymentOrder("MATRIX-1", 1_000, "matrix-setup", Credential(payload=payload)),
        )

        ids = {person.person_id: person.id_number for person in (self.a, self.b, self.c)}

        def binding(holder: int, member: int, status: str) -> int:
            with engine.begin() as conn:
                return conn.execute(
                    insert(family_bindings).values(holder_person_id=holder, member_person_id=member, member_id_number=ids[member], relation="spouse" if member != self.c.person_id else "child",
                                                   status=status, created_at=START, consented_at=START if status == "active" else None,
                                                   consented_by="member" if status == "active" else None).returning(family_bindings.c.id)
                ).scalar_one()

        self.minor, agent_id = add_resident(engine, 7, birth=TODAY.replace(year=2015)), self._staff_id("agent1")
        with engine.begin() as conn:
            self.guardianship = conn.execute(
                insert(guardianships).values(minor_person_id=self.minor.person_id, guardian_person_id=self.c.person_id,
                                             relation="parent", evidence="户口簿", confirmed_by=agent_id,
                                             confirmed_at=START).returning(guardianships.c.id)
            ).scalar_one()
        self.bindings = {
            "consent": binding(self.b.person_id, self.a.person_id, "pending"),
            "end": binding(self.a.person_id, self.b.person_id, "active"),
            "premium": binding(self.a.person_id, self.c.person_id, "active"),
        }
        self.order_no = "2024061510000000000001"  # A paid C's 2024 premium online (through the binding)
        with engine.begin() as conn:
            conn.execute(insert(contribution_orders).values(
                order_no=self.order_no, purpose="resident_premium", person_id=self.c.person_id,
                payer_person_id=self.a.person_id, payer_role="relative", region_code="110000", live_key="premium:2024",
                funding_year=2024, amount_fen=40_000, rule_ids=[], gateway="simulator", channel="api", status="posted",
                created_at=START, expires_at=START, paid_at=START, trade_no="SIMMATRIX", posted_at=START))

    def _filing(self, engine) -> int:
        """A's out-of-area care filing, waiting for confirmation."""
        from yibao.filings import service
        from yibao.policy.loading import load_book

        with engine.begin() as conn:
            return service.file(conn, load_book(), person_id=self.a.person_id, typed=service.FilingInput(**FILING),
                                today=TODAY, actor=service.Actor("person", self.a.person_id), now=START)

    def _import_job(self, engine) -> int:
        from yibao.contributions import jobs

        job = jobs.NewJob(file_name="jiaofei.csv", stored_as="matrix", size_bytes=1, sha256="0" * 64,
                          uploaded_by=self._staff_id("agent1"), region_code=None, create_people_in=None, import_today=TODAY)
        with engine.begin() as conn:
            return jobs.create(conn, job, START)

    def _grant(self, client_id: str, scope: str) -> int:
        with self.engine.begin() as conn:
            client_pk = conn.execute(select(oauth_clients.c.id).where(oauth_clients.c.client_id == client_id)).scalar_one()
            return conn.execute(
                insert(oauth_grants).values(person_id=self.a.person_id, client_id=client_pk, scope=scope, granted_at=START)
                .returning(oauth_grants.c.id)
            ).scalar_one()

    def _session(self, kind: str, subject_id: int, purpose: str = sessions.FULL) -> dict:
        with self.engine.begin() as conn:
            token, _ = sessions.open_session(conn, subject_kind=kind, subject_id=subject_id, purpose=purpose, method="password",
                                             channel=sessions.WEB,
                                             client=None, now=START, ttl_seconds=1800)
            if kind == "staff":  # as a staff sign-in does: the idle clock starts
                idle.STAFF.touch(self.sec, sessions.find_session(conn, token, START, sessions.WEB).id)
        return bearer(token)

    def _app_token(self, scope: str) -> dict:
        grant_id, token = self._grant("miniapp", scope), new_token(ACCESS_PREFIX)
        with self.engine.begin() as conn:
            conn.execute(insert(oauth_tokens).values(grant_id=grant_id, access_token_hash=token_hash(token), scope=scope,
                                                     issued_at=START, access_expires_at=START + timedelta(hours=1)))
        return bearer(token)

    def _staff_id(self, username: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(staff_users.c.id).where(staff_users.c.username == username)).scalar_one()

    def headers(self, role: str) -> dict:
        if role.startswith("app:"):
            return self._app_token(role[4:])
        return {
            "anonymous": lambda: {},
            "person_a": lambda: self._session("person", self.a.person_id),
            "person_a_limited": lambda: self._session("person", self.a_limited.person_id, sessions.PASSWORD_CHANGE),
            "person_b": lambda: self._session("person", self.b.person_id),
            "agent": lambda: self._session("staff", self._staff_id("agent1")),
            "auditor": lambda: self._session("staff", self._staff_id("auditor1")),
            "institution": lambda: {"X-Api-Key": self.pharmacy_key},
        }[role]()

    def _withdrawals_and_transfers(self, engine) -> None:
        """A's own open case; staff work on other people: a submitted case, a death with its
        heirs' case, a person whose death staff record, two deaths recorded and waiting for a
        second person, a transfer, refunds entered by another staff member (one approved)."""
        from yibao.policy.loading import load_book
        from yibao.transfers import refunds, transfer
        from yibao.transfers.refund_settings import RefundSettings
        from yibao.withdrawals import cases, inheritance
        from yibao.withdrawals.cases import Actor

        book, clerk = load_book(), Actor("staff", self._staff_id("clerk1"), StaffScope(None), "agent")
        supervisor = Actor("staff", self._staff_id("super1"), StaffScope(None), "supervisor")
        submitted, bereaved, self.dies, moving, confirm, reject, asked = (
            add_insured(engine, n, balance_fen=10_000) for n in (9, 10, 11, 12, 13, 14, 15)
        )

        def record(conn, person):
            return inheritance.record_death(conn, book, person_id=person.person_id, died_on=TODAY, certificate_number="D1",
                                            file_name="d.pdf", content=SAMPLE_PDF, staff=clerk, today=TODAY, now=START)

        def refund(conn, receipt: str) -> int:
            return refunds.enter(conn, book, RefundSettings(), person_id=self.dies.person_id, amount_fen=500, incurred_on=TODAY,
                                 receipt_number=receipt, file_name="r.pdf", content=SAMPLE_PDF, staff=clerk, today=TODAY,
                                 now=START).id

        with engine.begin() as conn:
            self.own_case = cases.apply(conn, book, person_id=self.a.person_id, reason="emigration", on=TODAY, payee=payee_of(self.a))
            cases.add_document(conn, cases.case_row(conn, self.own_case), doc_type="出国（境）定居证明", file_name="a.pdf",
                               content=SAMPLE_PDF, actor=Actor("person", self.a.person_id), at=START)
            self.staff_case = cases.apply(conn, book, person_id=submitted.person_id, reason="emigration", on=TODAY,
                                          payee=payee_of(submitted))
            for doc_type in ("出国（境）定居证明", "身份证件"):
                self.document_id = cases.add_document(conn, cases.case_row(conn, self.staff_case), doc_type=doc_type,
                                                      file_name="b.pdf", content=SAMPLE_PDF, actor=clerk, at=START).id
            cases.submit(conn, cases.case_row(conn, self.staff_case), TODAY)
            self.asked_case = cases.apply(conn, book, person_id=asked.person_id, reason="emigration", on=TODAY,
                                          payee=payee_of(asked))  # sent back for more documents
            for doc_type in ("出国（境）定居证明", "身份证件"):
                cases.add_document(conn, cases.case_row(conn, self.asked_case), doc_type=doc_type, file_name="c.pdf",
                                   content=SAMPLE_PDF, actor=Actor("person", asked.person_id), at=START)
            cases.submit(conn, cases.case_row(conn, self.asked_case), TODAY)
            record(conn, bereaved)
            self.heirs_case = inheritance.confirm_death(conn, book, bereaved.person_id, supervisor, note="复核", today=TODAY,
                                                        now=START).case_id
            record(conn, confirm)
            record(conn, reject)
            self.transfer_id = transfer.request(conn, book, person_id=moving.person_id, to_region="310000", today=TODAY)
            self.refund_id, self.upload_refund_id, self.paid_refund_id = refund(conn, "R1"), refund(conn, "R3"), refund(conn, "R4")
            refunds.decide(conn, self.paid_refund_id, supervisor, approve=True, note="审核", settings=RefundSettings(),
                           today=TODAY, now=START)
            self.refund_document_id = documents_of_refund(conn, self.refund_id)
        self.moving = moving
        self.deaths = {"confirm": confirm.person_id, "reject": reject.person_id}

    def _workflow(self, method: str, path: str):
        """Fill the workflow ids into ``path``; the params and body it needs (None: not a workflow path)."""
        ids = {"{transfer_id}": self.transfer_id, "{refund_id}": self.refund_id, "{document_id}": self.document_id}
        if "/emergency-refunds/" in path:
            ids["{document_id}"] = self.refund_document_id
            ids["{refund_id}"] = {"/pay": self.paid_refund_id, "/documents": self.upload_refund_id}.get(
                path[path.rindex("/"):], self.refund_id)
        if "/deaths/{person_id}" in path:
            ids["{person_id}"] = self.deaths["reject" if path.endswith("/reject") else "confirm"]
        own = path.startswith("/api/v1/me/withdrawals/")
        heirs_steps = path.endswith(("/heirs", "/submit")) or (path.endswith("/documents") and method == "POST")
        ids["{case_id}"] = (self.own_case if own else self.heirs_case if heirs_steps
                            else self.asked_case if path.endswith("/request-documents") else self.staff_case)
        filled = path
        for name, value in ids.items():
            filled = filled.replace(name, str(value))
        note = {"reason": "权限矩阵测试", "note": "权限矩阵测试"}
        bodies = {
            "/api/v1/me/withdrawals": {"reason": "emigration", **payee_body(self.b)},
            "/api/v1/me/withdrawals/{case_id}/documents": document_body("身份证件"),
            "/api/v1/me/withdrawals/{case_id}/bank-account": payee_body(self.a),
            "/api/v1/me/transfers": {"to_region": "310000"},
            "/api/v1/me/transfers/emergency-refunds": {
                key: value for key, value in document_body("急诊收费票据", amount_fen=100, incurred_on=TODAY.isoformat(),
                                                           receipt_number="P1").items() if key != "doc_type"},
            "/api/v1/staff/withdrawals/{case_id}/decision": {"approve": True, "note": "权限矩阵测试"},
            "/api/v1/staff/withdrawals/{case_id}/request-documents": {"note": "权限矩阵测试"},
            "/api/v1/staff/withdrawals/deaths": document_body("死亡证明", person_id=self.dies.person_id, died_on=TODAY.isoformat(),
                                                              certificate_number="D2", reason="权限矩阵测试"),
            "/api/v1/staff/withdrawals/{case_id}/documents": document_body("继承关系证明", reason="权限矩阵测试"),
            "/api/v1/staff/withdrawals/{case_id}/heirs": {"heirs": [{"name": "继承人", "id_number": self.b.id_number, "share": "1",
                                                                      "bank_name": "中国工商银行", "bank_account": "020000450902123456789",
                                                                      "account_holder": "继承人"}],
                                                           "reason": "权限矩阵测试"},
            "/api/v1/staff/transfers/{transfer_id}/review": {"approve": True, **note},
            "/api/v1/staff/transfers/{transfer_id}/transfer-in": {"accept_balance": True, **note},
            "/api/v1/staff/transfers/emergency-refunds": document_body("急诊收费票据", person_id=self.moving.person_id, amount_fen=100,
                                                                       incurred_on=TODAY.isoformat(), receipt_number="R2", **note),
            "/api/v1/staff/transfers/emergency-refunds/{refund_id}/documents": document_body("其他材料", **note),
            "/api/v1/staff/transfers/emergency-refunds/{refund_id}/decision": {"approve": True, "note": "权限矩阵测试"},
        }
        if not path.startswith(("/api/v1/me/withdrawals", "/api/v1/me/transfers", "/api/v1/staff/withdrawals", "/api/v1/staff/transfers")):
            return path, None
        if method == "GET":
            return filled, ({}, None)
        body = bodies.get(path, note if path.startswith("/api/v1/staff/") else None)
        if path in ("/api/v1/staff/withdrawals/deaths", "/api/v1/staff/transfers/emergency-refunds"):
            body = {key: value for key, value in body.items() if key != "doc_type"}
        return filled, ({}, body)

    def request(self, method: str, path: str, role: str):
        a = self.a
        path, workflow = self._workflow(method, path)
        if path == "/api/v1/ivr/audio/{name}.wav":
            path = path.replace("{name}", Voice(self.sec.settings, self.sec.key).prompt(speech.GREETING))
        if path.startswith("/fsi/"):
            self.receipts += 1
            body = national_sign_in(f"P001MATRIX{self.receipts:04d}")
            headers = self.headers(role)
            return NationalAnswer(self.client.request(method, path.format(infno="9001"), json=body, headers=headers))
        url = path.format(person_id=a.person_id, grant_id=self.revocable_grant, job_id=self.import_job, guardianship_id=self.guardianship, filing_id=self.filing_id, binding_id=self.bindings[path.rsplit("/", 1)[-1]] if "{binding_id}" in path else 0,
                          order_no=self.order_no, gateway="simulator")
        params, body, files = {}, None, None
        headers = self.headers(role)
        if method == "GET" and path.startswith("/api/v1/staff/"):
            headers |= reason_header("权限矩阵测试")
        if path == "/api/v1/me/details":
            params = {"account_id": a.account_id}
        if path.endswith("/statement"):
            params = params | {"account_id": a.account_id, "date_from": "2025-01-01", "date_to": "2025-06-30"}
        if path == "/api/v1/me/policy/lifetime":
            params = {"retire_on": "2030-06-30"}
        if path == "/api/v1/me/policy/withdraw":
            params = {"reason": "death"}
        if path == "/api/v1/staff/imports/contributions":
            line = f"{a.id_number},2025-05,8000.00,480.00,160.00,职工医保,某公司,2025-05-15,否"
            files = {"file": ("jiaofei.csv", f"身份证号,缴费月份,缴费基数,单位缴费,个人缴费,险种,单位名称,缴费日期,补缴标志\n{line}\n".encode(), "text/csv")}
        if path.split("/")[-1] in COUNTER_UPKEEP and path.startswith("/api/v1/staff/persons/"):
            url = path.format(person_id=self.upkeep.person_id)
            body = {"identity_checked": True, "reason": "权限矩阵测试", "phone": "13712345678"}
        if path == "/api/v1/staff/persons/search":
            body = {"id_number": a.id_number, "reason": "权限矩阵测试"}
        if path == "/api/v1/auth/password":
            body = {"old_password": a.password, "new_password": "Matrix2025pw"}
        if path == "/api/v1/me/phone-pin":
            body = {"new_pin": "730592"}
        if path == "/api/v1/ivr/events":
            body = {"type": "call.started", "call_id": "matrix-call", "caller": "13800000001"}
        if path == "/api/v1/institution/balance-check":
            with self.engine.begin() as conn:
                body = {"payload": evoucher.issue(conn, self.sec.key, person_id=a.person_id, issued_to="person", now=START, ttl_seconds=60).payload}
        if path in ("/api/v1/auth/login", "/api/v1/staff/login", "/api/v1/auth/sms-code", "/api/v1/auth/login/sms"):
            body = {"id_number": a.id_number, "card_number": a.card_number, "password": a.password, "code": "000000",
                    "username": "agent1"}
        if path == "/api/v1/institution/payments":
            self.receipts += 1
            with self.engine.begin() as conn:
                voucher = evoucher.issue(conn, self.sec.key, person_id=self.payer.person_id, issued_to="person", now=START, ttl_seconds=60)
            body = {"payload": voucher.payload, "amount_fen": 100, "receipt_no": f"M{self.receipts}", "idempotency_key": f"m{self.receipts}"}
        if path == "/api/v1/institution/refunds":
            self.receipts += 1
            body = {"receipt_no": "MATRIX-1", "amount_fen": 10, "idempotency_key": f"m{self.receipts}"}
        if path == "/api/v1/institution/settlement":
            params = {"date": TODAY.isoformat()}
        if path == "/api/v1/me/family" and method == "POST":
            body = {"id_number": self.d.id_number, "relation": "parent"}
        if path.endswith("/premium"):
            body = {"year": TODAY.year}
        if path == "/api/v1/me/pay/orders" and method == "POST":
            body = {"purpose": "resident_premium", "person_id": self.c.person_id, "year": TODAY.year}
        if path.endswith("/refund") and path.startswith("/api/v1/me/pay/"):
            body = {"reason": "权限矩阵测试"}
        if path.startswith("/api/v1/staff/guardianships"):
            params = {"minor_person_id": self.minor.person_id} if method == "GET" else {}
            body = None if method == "GET" else {"reason": "权限矩阵测试"} | (
                {} if path.endswith("/end") else {"minor_person_id": self.minor.person_id, "guardian_person_id": self.d.person_id,
                                                  "relation": "parent", "evidence": "户口簿"})
        if path.startswith("/api/v1/me/filings") and method == "POST" and not path.endswith("/cancel"):
            body = {"kind": "long_term", "place": "440300", "reason": "long_residence", "starts_on": TODAY.isoformat()}
        if workflow is not None:
            params, body = workflow
        if files:
            return self.client.request(method, url, params=params, files=files, headers=headers)
        return self.client.request(method, url, params=params, json=body, headers=headers)


def national_sign_in(msgid: str) -> dict:
    return {
        "infno": "9001", "msgid": msgid, "mdtrtarea_admvs": "110000", "insuplc_admdvs": "", "recer_sys_code": "SY",
        "infver": "V1.0", "opter_type": "1", "opter": "001", "opter_name": "矩阵", "inf_time": "2025-06-15 10:00:00",
        "fixmedins_code": "P001", "fixmedins_name": "矩阵药店", "sign_no": "",
        "input": {"signIn": {"opter_no": "001", "mac": "00-00-00-00-00-00", "ip": "127.0.0.1"}},
    }


class NationalAnswer:
    """A national-interface answer seen as the matrix sees HTTP: infcode 0 → 200; a refusal for want of
    the institution's credentials → 401; any other refusal → 403."""

    def __init__(self, response):
        assert response.status_code == 200, response.text
        body = response.json()
        self.text = response.text
        unauthenticated = body.get("err_code") in ("api_key_required", "invalid_api_key")
        self.status_code = 200 if body["infcode"] == 0 else 401 if unauthenticated else 403


def documents_of_refund(conn, refund_id: int) -> int:
    from yibao import documents

    return documents.of_refund(conn, refund_id)[0].id


def operations(client: TestClient) -> list[str]:
    document = client.get("/openapi.json").json()
    return [f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item]


def test_every_operation_has_a_rule(engine):
    with client_for(engine, security(FixedClock(START), env="development", gateway_simulator_notices="manual")) as client:
        missing = set(operations(client)) - set(RULES) - PUBLIC
        stale = set(RULES) | PUBLIC
        assert not missing, f"operations without an authorization rule: {sorted(missing)}"
        assert stale <= set(operations(client)), f"rules for operations that no longer exist: {sorted(stale - set(operations(client)))}"


def test_every_caller_gets_exactly_what_the_matrix_allows(engine):
    with client_for(engine, security(FixedClock(START), env="development", gateway_simulator_notices="manual")) as client:
        world = World(engine, client, client.app.state.security)
        a_marks = [world.a.name, world.a.id_number, world.a.id_number[-4:] + '"', "123456", "1,234.56"]
        b_marks = [world.b.name, world.b.id_number, world.b.id_number[-4:] + '"', "987654", "9,876.54"]
        failures = []
        for operation in operations(client):
            method, path = operation.split(" ", 1)
            for role in ROLES:
                answer = world.request(method, path, role)
                if answer.status_code >= 500:
                    failures.append(f"{operation} as {role}: {answer.status_code}")
                if operation in PUBLIC:
                    if any(mark in answer.text for mark in a_marks[:2] + b_marks[:2]):
                        failures.append(f"{operation} as {role}: public, yet shows personal data")
                    continue
                if answer.status_code not in RULES[operation][role]:
                    failures.append(f"{operation} as {role}: {answer.status_code}, expected {sorted(RULES[operation][role])}")
                leaked = b_marks if role not in ("person_b", "agent", "auditor") else a_marks if role == "person_b" else []
                if operation in SHOWS_TYPED_ID:
                    leaked = [mark for mark in leaked if not mark.endswith('"')]  # the masked ID's last four
                if any(mark in answer.text for mark in leaked):
                    failures.append(f"{operation} as {role}: shows the other person's data")
                if role == "institution" and answer.status_code == 200 and world.a.id_number in answer.text:
                    failures.append(f"{operation} as institution: full ID number")
        assert failures == []


def test_every_staff_read_of_a_person_is_audited(engine):
    with client_for(engine, security(FixedClock(START), env="development", gateway_simulator_notices="manual")) as client:
        world = World(engine, client, client.app.state.security)
        staff_operations = [op for op in operations(client) if op.split(" ", 1)[1].startswith("/api/v1/staff/persons")
                            and op.rsplit("/", 1)[-1] not in COUNTER_UPKEEP]
        assert len(staff_operations) == 6
        for operation in staff_operations:
            method, path = operation.split(" ", 1)
            with engine.connect() as conn:
                before = conn.execute(select(func.count()).select_from(audit_log).where(audit_log.c.actor_kind == "staff")).scalar_one()
            assert world.request(method, path, "agent").status_code == 200
            with engine.connect() as conn:
                entry = conn.execute(select(audit_log).where(audit_log.c.actor_kind == "staff").order_by(audit_log.c.id.desc())).mappings().first()
                after = conn.execute(select(func.count()).select_from(audit_log).where(audit_log.c.actor_kind == "staff")).scalar_one()
            assert after == before + 1, operation
            assert entry["reason"] == "权限矩阵测试" and entry["subject_person_id"] == world.a.person_id, operation


def test_the_rules_cover_every_role(engine):
    assert all(set(rule) == set(ROLES) for rule in RULES.values())
    assert TODAY.year == 2025  # the fixtures' dates are fixed, not today's
