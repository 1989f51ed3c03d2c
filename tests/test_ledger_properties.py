"""Hypothesis drives random sequences of ledger writes and checks every invariant after each.

The model is a dict of expected balances; the database must agree with it after every step,
including retries with the same key, reused keys with other content and refused writes.
"""

from __future__ import annotations

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import func, select

from ledger_support import DAY, add_person_with_account, pool_and_pharmacy, run_machine_on_fresh_databases
from yibao.errors import AccountNotActive, IdempotencyConflict, InsufficientBalance
from yibao.ledger.accounts import set_status
from yibao.ledger.check import check_ledger
from yibao.ledger.kinds import AccountStatus, TxKind
from yibao.ledger.ledger import Leg, Ledger, TransactionRequest, posted_balance
from yibao.store.models import accounts, postings

PEOPLE = 3
amounts = st.integers(min_value=1, max_value=50_000)


def ledger_machine(engine):
    class LedgerMachine(RuleBasedStateMachine):
        done = Bundle("done")

        @initialize()
        def open_accounts(self):
            self.ledger = Ledger(engine)
            self.pool, self.pharmacy = pool_and_pharmacy(engine)
            self.people = [add_person_with_account(engine, n) for n in range(PEOPLE)]
            self.expected = {account: 0 for account in self.people}
            self.closed: set[int] = set()
            self.serial = 0
            self.writes = 0

        def _key(self) -> str:
            self.serial += 1
            return f"k{self.serial}"

        def _post(self, kind, legs):
            request = TransactionRequest(kind, self._key(), legs, DAY)
            return request, self._write(request)

        def _write(self, request):
            # Alternate the two write paths: on PostgreSQL ``transfer`` posts in a single
            # statement, ``post`` takes the general path; both must keep every invariant.
            self.writes += 1
            if self.writes % 2:
                return self.ledger.post(request)
            debit, credit = sorted(request.legs, key=lambda leg: leg.amount_fen)
            return self.ledger.transfer(
                kind=request.kind, from_account=debit.account_id, to_account=credit.account_id,
                amount_fen=credit.amount_fen, idempotency_key=request.idempotency_key,
                business_date=request.business_date, memo=request.memo, reference=request.reference,
            )

        @rule(target=done, who=st.integers(0, PEOPLE - 1), fen=amounts)
        def credit(self, who, fen):
            account = self.people[who]
            legs = (Leg(self.pool, -fen), Leg(account, fen))
            if account in self.closed:
                with pytest.raises(AccountNotActive):
                    self._post(TxKind.MONTHLY_CREDIT, legs)
                return None
            request, _ = self._post(TxKind.MONTHLY_CREDIT, legs)
            self.expected[account] += fen
            return request

        @rule(target=done, who=st.integers(0, PEOPLE - 1), fen=amounts)
        def debit(self, who, fen):
            account = self.people[who]
            legs = (Leg(account, -fen), Leg(self.pharmacy, fen))
            if account in self.closed:
                with pytest.raises(AccountNotActive):
                    self._post(TxKind.SPENDING, legs)
                return None
            if fen > self.expected[account]:
                with pytest.raises(InsufficientBalance):
                    self._post(TxKind.SPENDING, legs)
                return None
            request, _ = self._post(TxKind.SPENDING, legs)
            self.expected[account] -= fen
            return request

        @rule(target=done, payer=st.integers(0, PEOPLE - 1), payee=st.integers(0, PEOPLE - 1), fen=amounts)
        def family_payment(self, payer, payee, fen):
            source, target = self.people[payer], self.people[payee]
            if source == target or source in self.closed or target in self.closed:
                return None
            legs = (Leg(source, -fen), Leg(target, fen))
            if fen > self.expected[source]:
                with pytest.raises(InsufficientBalance):
                    self._post(TxKind.FAMILY_PAYMENT, legs)
                return None
            request, _ = self._post(TxKind.FAMILY_PAYMENT, legs)
            self.expected[source] -= fen
            self.expected[target] += fen
            return request

        @rule(request=done)
        def retry_same_request(self, request):
            if request is None:
                return
            result = self._write(request)
            assert result.replayed

        @rule(request=done, extra=amounts)
        def reuse_key_for_other_content(self, request, extra):
            if request is None:
                return
            legs = tuple(Leg(leg.account_id, leg.amount_fen + (extra if leg.amount_fen > 0 else -extra)) for leg in request.legs)
            changed = TransactionRequest(request.kind, request.idempotency_key, legs, DAY)
            with pytest.raises(IdempotencyConflict):
                self._write(changed)

        @rule(who=st.integers(0, PEOPLE - 1))
        def pay_out_and_close(self, who):
            account = self.people[who]
            if account in self.closed:
                return
            if self.expected[account]:
                self._post(TxKind.WITHDRAWAL, (Leg(account, -self.expected[account]), Leg(self.pharmacy, self.expected[account])))
                self.expected[account] = 0
            with engine.begin() as conn:
                set_status(conn, account, AccountStatus.CLOSED, DAY)
            self.closed.add(account)

        @invariant()
        def database_agrees_with_model_and_invariants_hold(self):
            if not hasattr(self, "ledger"):
                return
            with engine.connect() as conn:
                for account, expected in self.expected.items():
                    cached = conn.execute(select(accounts.c.balance_fen).where(accounts.c.id == account)).scalar_one()
                    assert cached == expected == posted_balance(conn, account)
                    assert cached >= 0
                assert conn.execute(select(func.coalesce(func.sum(postings.c.amount_fen), 0))).scalar_one() == 0
                assert check_ledger(conn).ok

    return LedgerMachine


def test_ledger_invariants_hold_under_random_operation_sequences(database_url):
    run_machine_on_fresh_databases(database_url, ledger_machine, examples=25, steps=30)
