"""Hypothesis drives random sequences of every account operation through the API and the services.

A small world — four employees with personal accounts in two pooling regions, one
residents'-insurance member without an account, a designated pharmacy, an agent and two
supervisors, a clock the test moves — takes payments (e-voucher or card + PIN, sometimes
partial, own or family account), refunds, family bindings, consents and premiums, monthly
credit runs, withdrawals with one or two approvals, deaths and heirs' payouts, transfers to
the other region and emergency refunds, in random order and with arguments that must often
be refused.

The test keeps a model: the expected posted balance of every ledger account, changed only
by an operation that answered success, by the amount it reported (and predicted from the
model where the rules say what it must be). After every step: the ledger check is clean, no
personal balance is negative, all postings sum to zero, closed accounts hold nothing and
take no new postings, every refusal left the ledger exactly as it was, and the database
agrees with the model account by account.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, timedelta

import api_support
from api_support import (
    payee_body,
    CARD_PIN,
    START,
    add_designated_pharmacy,
    add_insured,
    add_resident,
    add_staff_user,
    client_for,
    document_body,
    person_token,
    security,
    set_card_pin,
    staff_headers,
)
from ledger_support import run_machine_on_fresh_databases
from hypothesis import strategies as st
from stdnum import luhn
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)
from sqlalchemy import func, insert, select, update

from yibao.clock import FixedClock
from yibao.credit.run import run_month
from yibao.domain.resident_id import ResidentId
from yibao.ledger.accounts import system_account_code
from yibao.ledger.check import check_ledger
from yibao.ledger.kinds import AccountKind, AccountStatus
from yibao.security import passwords
from yibao.security import staff as staff_module
from yibao.security.staff import StaffRole
from yibao.store.models import (
    accounts,
    contributions,
    ledger_transactions,
    monthly_credits,
    persons,
    postings,
)
from yibao.transfers.refund_settings import RefundSettings
from yibao.withdrawals.settings import WithdrawalSettings

BEIJING, SHANGHAI = "110000", "310000"
EMPLOYEES = 4  # people 0-3 have personal accounts; person 4 is a residents'-insurance member
RESIDENT = EMPLOYEES
EVERYONE = st.integers(0, EMPLOYEES)
OPENING_BALANCES = [123_456, 50_000, 260_000, 0]
IN_SERVICE = 1  # credited from contributions; the others are retirees credited by policy
CONTRIBUTION_FEN = 16_543  # the account part of each month's contribution of the in-service person
TWO_APPROVALS_ABOVE_FEN = 100_000  # low, so that random sequences often need a second approval
# "clerk" prepares deaths, heirs' cases and refunds at the counter; four eyes keeps them from approving those.
STAFF = {"agent": StaffRole.AGENT, "clerk": StaffRole.AGENT, "super1": StaffRole.SUPERVISOR, "super2": StaffRole.SUPERVISOR}
RELATIONS = ["spouse", "parent", "child", "sibling", "grandparent", "grandchild"]
HEIR_IDS = [ResidentId.build("110105", date(1985 + n, 2, 1 + n), 200 + n, today=START.date()).full for n in range(3)]
HEIR_SHARES = [["1"], ["1/2", "1/2"], ["1/2", "1/3", "1/6"]]
HEIR_CARD = "622202020011223" + luhn.calc_check_digit("622202020011223")  # a card number with its Luhn digit
LAST_DAY = date(2025, 12, 20)  # the clock stays in years the holiday calendar and premium data know
# Deaths, withdrawals and transfers end an account: drawn less often, so that sequences
# keep accounts open long enough for everything else to happen to them.
RARELY = st.integers(0, 2).map(lambda n: n == 0)
INDEX = st.integers(0, 10_000)  # picks one of the things made so far (modulo their number)

PAYMENTS, REFUNDS = "/api/v1/institution/payments", "/api/v1/institution/refunds"
FAMILY = "/api/v1/me/family"
MY_WITHDRAWALS, STAFF_WITHDRAWALS = "/api/v1/me/withdrawals", "/api/v1/staff/withdrawals"
MY_TRANSFERS, STAFF_TRANSFERS = "/api/v1/me/transfers", "/api/v1/staff/transfers"


@dataclass
class Binding:
    id: int
    holder: int
    member: int
    status: str = "pending"
    consented_order: tuple = ()


@dataclass
class Payment:
    body: dict
    account: int
    paid_fen: int
    refunded_fen: int = 0


@dataclass
class Case:
    """An open withdrawal case: the person's own, the heirs', or a balance a new region refused."""

    id: int
    who: int
    account: int  # the personal account paid out, or the clearing account for a refused balance
    region: str
    kind: str  # "own", "heir" or "refused"
    flagged: bool
    fixed_fen: int | None = None
    status: str = "submitted"
    first_approver: str | None = None
    preparers: frozenset = frozenset()  # staff who prepared it: four eyes keeps them from approving it


@dataclass
class Transfer:
    id: int
    who: int
    from_region: str
    to_region: str
    from_account: int
    status: str = "requested"
    amount_fen: int = 0


@dataclass
class EmergencyRefund:
    id: int
    who: int
    account: int
    amount_fen: int
    paid: bool = False


@dataclass
class Fingerprint:
    transactions: int
    postings: int
    personal_total: int


@dataclass
class Counters:
    """Unique receipt numbers, idempotency keys and certificate numbers within one example."""

    serial: int = 0

    def next(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial}"


def operations_machine(engine):
    class OperationsMachine(RuleBasedStateMachine):
        # ------------------------------------------------------------------ the world

        @initialize()
        def build_world(self):
            self.clock = FixedClock(START)
            self.people = [add_insured(engine, n, balance_fen=OPENING_BALANCES[n]) for n in range(EMPLOYEES)]
            self.people.append(add_resident(engine, RESIDENT))
            self.region = {n: BEIJING for n in range(EMPLOYEES + 1)}
            with engine.begin() as conn:
                for n in (2, 3):  # two of the employees are insured in Shanghai
                    self._move_region(conn, n, SHANGHAI)
                conn.execute(update(persons).where(persons.c.id == self.people[IN_SERVICE].person_id)
                             .values(employment="in_service"))
                for month in range(5, 13):
                    conn.execute(insert(contributions).values(
                        person_id=self.people[IN_SERVICE].person_id, month=date(2025, month, 1),
                        insurance_type="employee", base_fen=800_000, employer_rate_bp=800, individual_rate_bp=200,
                        employer_fen=64_000, individual_fen=16_000, account_fen=CONTRIBUTION_FEN,
                        employer_name="某某公司", paid_on=date(2025, month, 15),
                    ))
            for person in self.people:
                set_card_pin(engine, person.person_id)
            self.pharmacy = {"X-Api-Key": add_designated_pharmacy(engine)}
            for username, role in STAFF.items():
                add_staff_user(engine, username, role)
            # Sessions that outlive the machine's months of simulated time (a staff session's idle limit too).
            long = 400 * 24 * 3600
            sec = security(self.clock, session_ttl_seconds=long, staff_idle_seconds=long, staff_session_max_seconds=long)
            self.client = client_for(engine, sec).__enter__()
            self.client.app.state.withdrawal_settings = WithdrawalSettings(
                withdrawal_second_approval_above_fen=TWO_APPROVALS_ABOVE_FEN
            )
            # The refund limits are tested in test_four_eyes; here many refunds must fit in a year.
            self.client.app.state.refund_settings = RefundSettings(refund_max_per_person_year_fen=10**12)
            self.tokens: dict = {}
            self.account = {n: self.people[n].account_id for n in range(EMPLOYEES)} | {RESIDENT: None}
            self.expected = self._posted_per_account()  # the model starts from the world as built
            self.closed: dict[int, int] = {}  # closed account → its postings when it closed
            self.frozen: set[int] = set()
            self.dead: set[int] = set()
            self.bindings: list[Binding] = []
            self.premiums: dict[tuple[int, int], int] = {}  # (member, year) → holder who paid
            self.payments: list[Payment] = []
            self.cases: list[Case] = []
            self.transfers: list[Transfer] = []
            self.emergency: list[EmergencyRefund] = []
            self.credited: set[tuple[date, int]] = set()  # (month, account) credited so far
            self.counters = Counters()

        def teardown(self):
            if hasattr(self, "client"):
                self.client.__exit__(None, None, None)

        def _move_region(self, conn, n: int, region: str) -> None:
            person = self.people[n]
            conn.execute(update(persons).where(persons.c.id == person.person_id).values(region_code=region))
            conn.execute(update(accounts).where(accounts.c.id == person.account_id).values(region_code=region))
            self.region[n] = region

        # ------------------------------------------------------------------ helpers

        def person_headers(self, n: int) -> dict:
            if n not in self.tokens:
                self.tokens[n] = person_token(self.client, self.people[n])
            return self.tokens[n]

        def staff(self, username: str) -> dict:
            if username not in self.tokens:
                self.tokens[username] = staff_headers(self.client, username)
            return self.tokens[username]

        def today(self) -> date:
            return self.clock.today()

        def fingerprint(self) -> Fingerprint:
            with engine.connect() as conn:
                return Fingerprint(
                    conn.execute(select(func.count()).select_from(ledger_transactions)).scalar_one(),
                    conn.execute(select(func.count()).select_from(postings)).scalar_one(),
                    int(conn.execute(select(func.coalesce(func.sum(accounts.c.balance_fen), 0))
                                     .where(accounts.c.kind == AccountKind.PERSONAL.value)).scalar_one()),
                )

        def call(self, method: str, url: str, headers: dict, body: dict | None = None):
            """One API call; whatever it refuses must leave the ledger exactly as it was."""
            before = self.fingerprint()
            answer = self.client.request(method, url, headers=headers, json=body)
            assert answer.status_code < 500, answer.text
            if answer.status_code >= 400:
                assert self.fingerprint() == before, (url, answer.text)
            return answer

        def system_account(self, kind: AccountKind, region: str, suffix: str | None = None) -> int:
            code = system_account_code(kind, region, suffix)
            with engine.connect() as conn:
                return conn.execute(select(accounts.c.id).where(accounts.c.code == code)).scalar_one()

        def move(self, source: int, target: int, amount: int) -> None:
            self.expected[source] = self.expected.get(source, 0) - amount
            self.expected[target] = self.expected.get(target, 0) + amount

        def close(self, account: int) -> None:
            assert self.expected.get(account, 0) == 0
            with engine.connect() as conn:
                self.closed[account] = conn.execute(
                    select(func.count()).select_from(postings).where(postings.c.account_id == account)
                ).scalar_one()
            self.frozen.discard(account)
            for n, current in self.account.items():
                if current == account:
                    self.account[n] = None

        def has_closed_account(self, n: int) -> bool:
            with engine.connect() as conn:
                owned = conn.execute(select(accounts.c.id).where(accounts.c.person_id == self.people[n].person_id)).scalars()
                return any(account in self.closed for account in owned)

        def open_case_of(self, n: int) -> bool:
            return any(case.who == n and case.kind != "heir" for case in self.cases)

        def open_transfer_of(self, n: int) -> Transfer | None:
            return next((t for t in self.transfers if t.who == n), None)

        def contribution_fen(self, n: int, month: date) -> int:
            with engine.connect() as conn:
                return conn.execute(select(contributions.c.account_fen).where(
                    contributions.c.person_id == self.people[n].person_id, contributions.c.month == month
                )).scalar_one()

        def _posted_per_account(self) -> dict[int, int]:
            with engine.connect() as conn:
                rows = conn.execute(
                    select(postings.c.account_id, func.sum(postings.c.amount_fen)).group_by(postings.c.account_id)
                ).all()
            return {account: int(total) for account, total in rows}

        @staticmethod
        def refused(answer, *codes: str) -> None:
            assert answer.status_code >= 400, answer.text
            assert answer.json()["error"]["code"] in codes, (codes, answer.text)

        @staticmethod
        def ok(answer) -> dict:
            assert answer.status_code in (200, 201), answer.text
            return answer.json()

        # ------------------------------------------------------------------ paying and refunding

        def paying_binding(self, member: int) -> Binding | None:
            active = [b for b in self.bindings if b.member == member and b.status == "active"]
            return min(active, key=lambda b: b.consented_order) if active else None

        def predict_payment(self, holder: int, amount: int, partial: bool) -> tuple[str | None, int]:
            account = self.account[holder]
            if account is None:
                return ("account_not_active" if self.has_closed_account(holder) else "no_personal_account"), 0
            if account in self.frozen:
                return "account_not_active", 0
            balance = self.expected.get(account, 0)
            if balance >= amount:
                return None, amount
            if partial and balance > 0:
                return None, balance
            return "insufficient_balance", 0

        @rule(who=EVERYONE, amount=st.integers(1, 150_000), by_card=st.booleans(), partial=st.booleans(),
              family=RARELY)
        def pay_at_the_pharmacy(self, who, amount, by_card, partial, family):
            holder, refusal = who, None
            if family:
                binding = self.paying_binding(who)
                if binding is None:
                    refusal, paid = "no_family_binding", 0
                else:
                    holder = binding.holder
            if refusal is None:
                refusal, paid = self.predict_payment(holder, amount, partial)
            body = {"amount_fen": amount, "allow_partial": partial, "payer": "family" if family else "self",
                    "receipt_no": self.counters.next("R"), "idempotency_key": self.counters.next("pay-")}
            if by_card or who in self.dead:
                body |= {"card_number": self.people[who].card_number, "pin": CARD_PIN}
            else:
                voucher = self.client.post("/api/v1/me/evoucher", headers=self.person_headers(who))
                body["payload"] = self.ok(voucher)["payload"]
            answer = self.call("POST", PAYMENTS, self.pharmacy, body)
            if refusal is not None:
                self.refused(answer, refusal)
                return
            paid_answer = self.ok(answer)
            assert paid_answer["paid_fen"] == paid and paid_answer["cash_due_fen"] == amount - paid
            account = self.account[holder]
            self.move(account, self.system_account(AccountKind.INSTITUTION, BEIJING, "P001"), paid)
            self.payments.append(Payment(body, account, paid))

        @rule(pick=INDEX)
        def send_a_payment_again(self, pick):
            if not self.payments:
                return
            payment = self.payments[pick % len(self.payments)]
            answer = self.call("POST", PAYMENTS, self.pharmacy, payment.body)
            assert self.ok(answer)["paid_fen"] == payment.paid_fen and answer.headers["Idempotent-Replayed"] == "true"
            changed = payment.body | {"amount_fen": payment.body["amount_fen"] + 1}
            self.refused(self.call("POST", PAYMENTS, self.pharmacy, changed), "idempotency_conflict")

        @rule(pick=INDEX, percent=st.integers(1, 120))
        def refund_part_of_a_payment(self, pick, percent):
            if not self.payments:
                return
            payment = self.payments[pick % len(self.payments)]
            amount = max(1, payment.paid_fen * percent // 100)
            body = {"receipt_no": payment.body["receipt_no"], "amount_fen": amount,
                    "idempotency_key": self.counters.next("refund-")}
            answer = self.call("POST", REFUNDS, self.pharmacy, body)
            if payment.refunded_fen + amount > payment.paid_fen:
                self.refused(answer, "refund_exceeds_payment")
            elif payment.account in self.closed:
                self.refused(answer, "account_not_active")
            else:
                refunded = self.ok(answer)
                assert refunded["amount_fen"] == amount
                assert refunded["refunded_total_fen"] == payment.refunded_fen + amount
                payment.refunded_fen += amount
                self.move(self.system_account(AccountKind.INSTITUTION, BEIJING, "P001"), payment.account, amount)

        # ------------------------------------------------------------------ family sharing

        @rule(holder=EVERYONE, member=st.one_of(st.just(RESIDENT), EVERYONE), relation=st.sampled_from(RELATIONS))
        def bind_a_relative(self, holder, member, relation):
            if holder in self.dead:
                return  # nobody signs in for the dead
            body = {"id_number": self.people[member].id_number, "relation": relation}
            answer = self.call("POST", FAMILY, self.person_headers(holder), body)
            in_force = any(b.holder == holder and b.member == member and b.status != "ended" for b in self.bindings)
            # A dead relative's number gets the answer any number gets (a request nobody can consent to).
            if member == holder:
                self.refused(answer, "binding_self")
            elif self.account[holder] is None:
                self.refused(answer, "holder_has_no_account")
            elif in_force:
                self.refused(answer, "binding_exists")
            else:
                created = self.ok(answer)
                assert created["status"] == "pending"
                self.bindings.append(Binding(created["binding_id"], holder, member))

        def pick_binding(self, pick: int, in_force: bool) -> Binding | None:
            """Any binding, or (to reach consents and premiums more often) one not yet ended."""
            live = [b for b in self.bindings if b.status != "ended"] if in_force else []
            candidates = live or self.bindings
            return candidates[pick % len(candidates)] if candidates else None

        @rule(pick=INDEX, by_member=st.booleans(), in_force=st.booleans())
        def consent_to_a_binding(self, pick, by_member, in_force):
            binding = self.pick_binding(pick, in_force)
            if binding is None:
                return
            actor = binding.member if by_member else binding.holder
            if actor in self.dead:
                return
            answer = self.call("POST", f"{FAMILY}/{binding.id}/consent", self.person_headers(actor))
            if binding.status == "ended":
                self.refused(answer, "binding_ended")
            elif not by_member:
                self.refused(answer, "member_consent_required")
            else:
                assert self.ok(answer)["status"] == "active"
                if binding.status == "pending":
                    binding.status = "active"
                    binding.consented_order = (self.clock.now(), binding.id)

        @rule(pick=INDEX, by_member=st.booleans())
        def end_a_binding(self, pick, by_member):
            if not self.bindings:
                return
            binding = self.bindings[pick % len(self.bindings)]
            actor = binding.member if by_member else binding.holder
            if actor in self.dead:
                return
            assert self.ok(self.call("POST", f"{FAMILY}/{binding.id}/end", self.person_headers(actor)))["status"] == "ended"
            binding.status = "ended"

        @rule(pick=INDEX, year=st.sampled_from([2024, 2025, 2025, 2026]), by_member=RARELY, in_force=st.booleans())
        def pay_a_relatives_premium(self, pick, year, by_member, in_force):
            binding = self.pick_binding(pick, in_force)
            if binding is None:
                return
            actor = binding.member if by_member else binding.holder
            if actor in self.dead:
                return
            answer = self.call("POST", f"{FAMILY}/{binding.id}/premium", self.person_headers(actor), {"year": year})
            paid_by = self.premiums.get((binding.member, year))
            holder_account = self.account[binding.holder]
            if by_member:
                self.refused(answer, "holder_only")
            elif binding.status != "active":
                self.refused(answer, "binding_not_active")
            elif paid_by is not None and paid_by != binding.holder:
                self.refused(answer, "premium_already_paid")
            elif paid_by is not None:
                assert self.ok(answer)["year"] == year  # the first payment answered again, nothing posted
            elif binding.member != RESIDENT:
                self.refused(answer, "member_not_resident")
            elif year not in (self.today().year, self.today().year + 1):
                self.refused(answer, "premium_year")
            elif year == 2026:
                self.refused(answer, "premium_unknown")  # no 2026 standard in the data yet
            elif holder_account is None or holder_account in self.frozen:
                self.refused(answer, "account_not_active")
            else:
                amount = 40_000  # family.resident_premium for 2025 (national value, Beijing has none of its own)
                if self.expected.get(holder_account, 0) < amount:
                    self.refused(answer, "insufficient_balance")
                else:
                    paid = self.ok(answer)
                    assert paid["amount_fen"] == amount
                    self.move(holder_account, self.system_account(AccountKind.POOL, self.region[RESIDENT]), amount)
                    self.premiums[(binding.member, year)] = binding.holder

        # ------------------------------------------------------------------ the monthly credit run

        @rule(months_back=st.integers(0, 2))
        def credit_a_month(self, months_back):
            today = self.today()
            index = today.year * 12 + today.month - 1 - months_back
            month = date(index // 12, index % 12 + 1, 1)
            report = run_month(engine, month)
            with engine.connect() as conn:
                rows = conn.execute(
                    select(monthly_credits.c.account_id, monthly_credits.c.amount_fen, accounts.c.person_id,
                           accounts.c.region_code, accounts.c.status, persons.c.died_on)
                    .join(accounts, accounts.c.id == monthly_credits.c.account_id)
                    .join(persons, persons.c.id == accounts.c.person_id)
                    .where(monthly_credits.c.month == month)
                ).all()
            new = [row for row in rows if (month, row.account_id) not in self.credited]
            assert report.credited == len(new) and report.amount_fen == sum(row.amount_fen for row in new)
            people = {person.person_id: n for n, person in enumerate(self.people)}
            for row in new:
                n = people[row.person_id]
                assert row.account_id not in self.closed and row.status != AccountStatus.CLOSED.value
                assert row.died_on is None or row.died_on >= month  # no credit from the month after a death
                if n == IN_SERVICE:  # credited exactly the account part of that month's contribution
                    assert row.amount_fen == self.contribution_fen(n, month)
                self.credited.add((month, row.account_id))
                self.move(self.system_account(AccountKind.POOL, row.region_code), row.account_id, row.amount_fen)

        # ------------------------------------------------------------------ withdrawal

        @rule(who=EVERYONE, reason=st.sampled_from(["emigration", "abandon", "remote", "illness"]), now=RARELY)
        def apply_for_withdrawal(self, who, reason, now):
            if not now or who in self.dead:
                return
            headers = self.person_headers(who)
            answer = self.call("POST", MY_WITHDRAWALS, headers, {"reason": reason, **payee_body(self.people[who])})
            if self.open_transfer_of(who) is not None:
                self.refused(answer, "transfer_in_progress")
                return
            if self.account[who] is None:
                self.refused(answer, "account_not_found")
                return
            if self.open_case_of(who):
                self.refused(answer, "case_already_open")
                return
            if answer.status_code == 422 and answer.json()["error"]["code"] == "withdrawal_not_allowed":
                return  # the region's policy says no: nothing stored
            if answer.status_code == 422 and answer.json()["error"]["code"] == "remote_filing_required":
                return  # allowed only with a long-term out-of-area care filing, which nobody here has
            case = self.ok(answer)
            self.submit_own_case(who, case)
            self.cases.append(Case(case["id"], who, self.account[who], case["region_code"], "own", case["policy"]["flagged"]))

        def submit_own_case(self, who: int, case: dict) -> None:
            headers = self.person_headers(who)
            needed = case["policy"]["required_documents"] or case["policy"]["allowed_document_types"][:1]
            for doc_type in needed:
                self.ok(self.call("POST", f"{MY_WITHDRAWALS}/{case['id']}/documents", headers, document_body(doc_type)))
            if case["bank_account_masked"] is None:  # a refused balance's case: the transfer opened it without one
                self.ok(self.call("PUT", f"{MY_WITHDRAWALS}/{case['id']}/bank-account", headers, payee_body(self.people[who])))
            assert self.ok(self.call("POST", f"{MY_WITHDRAWALS}/{case['id']}/submit", headers))["status"] == "submitted"

        @rule(pick=INDEX, username=st.sampled_from(sorted(STAFF)), verdict=st.integers(0, 9), acknowledged=st.booleans())
        def decide_a_withdrawal(self, pick, username, verdict, acknowledged):
            if not self.cases:
                return
            case = self.cases[pick % len(self.cases)]
            approve = verdict > 0
            body = {"approve": approve, "note": "材料齐全，同意" if approve else "材料不符，不同意",
                    "policy_flag_acknowledged": acknowledged}
            answer = self.call("POST", f"{STAFF_WITHDRAWALS}/{case.id}/decision", self.staff(username), body)
            if not approve:
                assert self.ok(answer)["status"] == "rejected"
                self.cases.remove(case)
                return
            if case.flagged and not acknowledged:
                self.refused(answer, "policy_flag_unacknowledged")
                return
            if case.status == "approved_once":
                if username == case.first_approver:
                    self.refused(answer, "same_approver")
                    return
                if STAFF[username] is not StaffRole.SUPERVISOR:
                    self.refused(answer, "supervisor_required")
                    return
            if username in case.preparers:
                self.refused(answer, "four_eyes")
                return
            payable = case.fixed_fen if case.fixed_fen is not None else self.expected.get(case.account, 0)
            if case.status == "submitted" and payable > TWO_APPROVALS_ABOVE_FEN:
                decided = self.ok(answer)
                assert decided["status"] == "approved_once" and decided["paid_fen"] is None
                case.status, case.first_approver = "approved_once", username
                return
            decided = self.ok(answer)
            assert decided["status"] == "paid" and decided["paid_fen"] == payable
            if payable:
                self.move(case.account, self.system_account(AccountKind.PAYOUT, case.region), payable)
            if case.kind != "refused":
                self.close(case.account)
            self.cases.remove(case)

        # ------------------------------------------------------------------ death and inheritance

        @rule(who=EVERYONE, days_ago=st.integers(0, 60), heirs=st.integers(0, 2), now=RARELY)
        def record_a_death(self, who, days_ago, heirs, now):
            if not now:
                return
            died_on = self.today() - timedelta(days=days_ago)
            body = document_body("死亡证明", file_name="死亡证明.pdf", person_id=self.people[who].person_id,
                                 died_on=died_on.isoformat(), certificate_number=self.counters.next("J"),
                                 reason="家属到窗口办理继承")
            body.pop("doc_type")
            answer = self.call("POST", f"{STAFF_WITHDRAWALS}/deaths", self.staff("clerk"), body)
            if who in self.dead:
                self.refused(answer, "death_already_recorded")
                return
            assert self.ok(answer)["status"] == "pending"
            if self.account[who] is not None:
                self.frozen.add(self.account[who])  # provisionally, until a second person confirms it
            alone = self.call("POST", f"{STAFF_WITHDRAWALS}/deaths/{self.people[who].person_id}/confirm",
                              self.staff("clerk"), {"reason": "复核死亡证明"})
            self.refused(alone, "four_eyes")
            recorded = self.ok(self.call("POST", f"{STAFF_WITHDRAWALS}/deaths/{self.people[who].person_id}/confirm",
                                         self.staff("agent"), {"reason": "复核死亡证明"}))
            assert recorded["status"] == "confirmed"
            self.dead.add(who)
            self.cases = [case for case in self.cases if not (case.who == who and case.kind == "own")]
            account = self.account[who]
            if account is None:
                assert recorded["case"] is None
                return
            self.frozen.add(account)
            if recorded["case"] is None:
                return  # the region does not allow inheritance: the account stays frozen
            case_id = recorded["case"]["id"]
            staff = self.staff("clerk")
            listed = [{"name": f"继承人{n}", "id_number": HEIR_IDS[n], "share": share, "bank_name": "中国工商银行",
                       "bank_account": HEIR_CARD, "account_holder": f"继承人{n}"}
                      for n, share in enumerate(HEIR_SHARES[heirs])]
            self.ok(self.call("PUT", f"{STAFF_WITHDRAWALS}/{case_id}/heirs", staff, {"heirs": listed, "reason": "登记继承人"}))
            for doc_type in recorded["case"]["missing_documents"]:
                upload = document_body(doc_type, reason="家属提交材料")
                self.ok(self.call("POST", f"{STAFF_WITHDRAWALS}/{case_id}/documents", staff, upload))
            submitted = self.ok(self.call("POST", f"{STAFF_WITHDRAWALS}/{case_id}/submit", staff, {"reason": "提交审批"}))
            assert submitted["status"] == "submitted"
            self.cases.append(Case(case_id, who, account, submitted["region_code"], "heir", submitted["policy"]["flagged"],
                                   preparers=frozenset({"clerk"})))

        # ------------------------------------------------------------------ transfer to the other region

        @rule(who=EVERYONE, now=RARELY)
        def request_a_transfer(self, who, now):
            if not now or who in self.dead:
                return
            other = SHANGHAI if self.region[who] == BEIJING else BEIJING
            answer = self.call("POST", MY_TRANSFERS, self.person_headers(who), {"to_region": other})
            if self.account[who] is None:
                self.refused(answer, "account_not_found")
            elif self.open_case_of(who):
                self.refused(answer, "withdrawal_in_progress")
            elif self.open_transfer_of(who) is not None:
                self.refused(answer, "transfer_already_open")
            else:
                requested = self.ok(answer)
                assert requested["to_region"] == other
                self.transfers.append(Transfer(requested["id"], who, self.region[who], other, self.account[who]))

        @rule(pick=INDEX, steps=st.integers(1, 3), approve=st.integers(0, 5), accept=st.booleans())
        def advance_a_transfer(self, pick, steps, approve, accept):
            if not self.transfers:
                return
            transfer = self.transfers[pick % len(self.transfers)]
            for _ in range(steps):
                if transfer not in self.transfers or not self.transfer_step(transfer, approve, accept):
                    return

        def transfer_step(self, transfer: Transfer, approve: int, accept: bool) -> bool:
            """The transfer's next step; False when it was refused."""
            staff, url = self.staff("agent"), f"{STAFF_TRANSFERS}/{transfer.id}"
            if transfer.status == "requested":
                reviewed = self.ok(self.call("POST", f"{url}/review", staff, {"approve": approve > 0, "note": "审核意见"}))
                transfer.status = reviewed["status"]
                if transfer.status == "rejected":
                    self.transfers.remove(transfer)
            elif transfer.status == "approved":
                answer = self.call("POST", f"{url}/transfer-out", staff, {"note": "办理转出"})
                if transfer.from_account in self.frozen:
                    self.refused(answer, "account_not_active")
                    return False
                out = self.ok(answer)
                transfer.amount_fen = self.expected.get(transfer.from_account, 0)
                assert out["status"] == "transferred_out" and out["amount_fen"] == transfer.amount_fen
                if transfer.amount_fen:
                    self.move(transfer.from_account, self.system_account(AccountKind.CLEARING, transfer.from_region),
                              transfer.amount_fen)
                self.close(transfer.from_account)
                transfer.status = "transferred_out"
            else:
                self.transfer_in(transfer, accept)
            return True

        def transfer_in(self, transfer: Transfer, accept: bool) -> None:
            body = {"accept_balance": accept, "note": "办理转入"}
            done = self.ok(self.call("POST", f"{STAFF_TRANSFERS}/{transfer.id}/transfer-in", self.staff("agent"), body))
            assert done["transfer"]["status"] == "completed"
            who = transfer.who
            with engine.connect() as conn:
                new_account, region = conn.execute(
                    select(accounts.c.id, accounts.c.region_code).where(
                        accounts.c.person_id == self.people[who].person_id, accounts.c.status != AccountStatus.CLOSED.value
                    )
                ).one()
            assert region == transfer.to_region and new_account != transfer.from_account
            self.account[who], self.region[who] = new_account, transfer.to_region
            self.transfers.remove(transfer)
            clearing = self.system_account(AccountKind.CLEARING, transfer.from_region) if transfer.amount_fen else None
            if transfer.amount_fen and accept:
                self.move(clearing, new_account, transfer.amount_fen)
            elif transfer.amount_fen and done["withdrawal_case_id"] is not None:
                case = self.client.get(MY_WITHDRAWALS, headers=self.person_headers(who)).json()["items"]
                offered = next(item for item in case if item["id"] == done["withdrawal_case_id"])
                assert offered["reason"] == "refused" and offered["status"] == "collecting"
                self.submit_own_case(who, offered)
                self.cases.append(Case(offered["id"], who, clearing, transfer.from_region, "refused",
                                       offered["policy"]["flagged"], fixed_fen=transfer.amount_fen,
                                       preparers=frozenset({"agent"})))  # who refused the balance at transfer-in
            else:
                assert done["withdrawal_case_id"] is None

        # ------------------------------------------------------------------ emergency refunds

        @rule(who=EVERYONE, amount=st.integers(1, 90_000), days_ago=st.integers(0, 30))
        def approve_an_emergency_refund(self, who, amount, days_ago):
            body = document_body("急诊收费票据", file_name="票据.pdf", person_id=self.people[who].person_id, amount_fen=amount,
                                 incurred_on=(self.today() - timedelta(days=days_ago)).isoformat(),
                                 receipt_number=self.counters.next("JZ"), reason="参保人提交急诊垫付票据")
            body.pop("doc_type")
            answer = self.call("POST", f"{STAFF_TRANSFERS}/emergency-refunds", self.staff("clerk"), body)
            if self.account[who] is None:
                self.refused(answer, "account_not_found")
                return
            refund_id = self.ok(answer)["refund_id"]
            decision = {"approve": True, "note": "票据相符"}
            self.refused(self.call("POST", f"{STAFF_TRANSFERS}/emergency-refunds/{refund_id}/decision", self.staff("clerk"),
                                   decision), "four_eyes")
            approved = self.ok(self.call("POST", f"{STAFF_TRANSFERS}/emergency-refunds/{refund_id}/decision",
                                         self.staff("agent"), decision))
            assert approved["status"] == "approved"
            self.emergency.append(EmergencyRefund(refund_id, who, self.account[who], amount))

        @rule(pick=INDEX)
        def pay_an_emergency_refund(self, pick):
            if not self.emergency:
                return
            refund = self.emergency[pick % len(self.emergency)]
            answer = self.call("POST", f"{STAFF_TRANSFERS}/emergency-refunds/{refund.id}/pay", self.staff("agent"),
                               {"note": "返还垫付费用"})
            # A closed account (a move between regions) passes the refund to the person's open account.
            receiving = refund.account if refund.account not in self.closed else self.account[refund.who]
            if refund.paid:
                self.refused(answer, "refund_already_paid")
            elif receiving is None or receiving in self.closed:
                self.refused(answer, "no_open_account")
            else:
                assert self.ok(answer)["transaction_id"] is not None
                refund.paid = True
                with engine.connect() as conn:
                    region = conn.execute(select(accounts.c.region_code).where(accounts.c.id == refund.account)).scalar_one()
                self.move(self.system_account(AccountKind.POOL, region), receiving, refund.amount_fen)

        # ------------------------------------------------------------------ time

        @rule(days=st.integers(1, 20))
        def time_passes(self, days):
            later = self.clock.at + timedelta(days=days)
            if later.date() <= LAST_DAY:
                self.clock.at = later

        # ------------------------------------------------------------------ invariants

        @invariant()
        def ledger_agrees_with_the_model_and_every_invariant_holds(self):
            if not hasattr(self, "counters"):
                return
            with engine.connect() as conn:
                report = check_ledger(conn)
                assert report.ok, report.as_dict()
                assert conn.execute(select(func.coalesce(func.sum(postings.c.amount_fen), 0))).scalar_one() == 0
                personal = conn.execute(
                    select(accounts.c.id, accounts.c.balance_fen, accounts.c.status)
                    .where(accounts.c.kind == AccountKind.PERSONAL.value)
                ).all()
                counts = dict(conn.execute(
                    select(postings.c.account_id, func.count()).group_by(postings.c.account_id)
                ).all())
            posted = self._posted_per_account()
            assert {a: v for a, v in posted.items() if v} == {a: v for a, v in self.expected.items() if v}
            for account, balance, status in personal:
                assert balance >= 0 and balance == posted.get(account, 0)
                assert (status == AccountStatus.CLOSED.value) == (account in self.closed)
                assert (status == AccountStatus.FROZEN.value) == (account in self.frozen)
            for account, postings_when_closed in self.closed.items():
                assert posted.get(account, 0) == 0 and counts.get(account, 0) == postings_when_closed

    return OperationsMachine


def test_every_operation_keeps_the_ledger_and_the_model_in_step(database_url, monkeypatch):
    # Every example builds its world afresh: hash each test secret once, not once per person.
    monkeypatch.setattr(api_support, "hash_secret", functools.cache(passwords.hash_secret))
    monkeypatch.setattr(staff_module, "hash_secret", functools.cache(passwords.hash_secret))
    run_machine_on_fresh_databases(database_url, operations_machine, examples=15, steps=50)
