"""``yibao db check`` finds what the schema no longer forbids, on SQLite and PostgreSQL.

``postings`` has no foreign keys (migrations 0003 and 0008): the ledger writes a
transaction with its postings, and the check is what reports a posting left behind.
"""

from __future__ import annotations

from sqlalchemy import insert, select, update

from ledger_support import DAY, add_person_with_account, credit, pool_and_pharmacy
from yibao.ledger.check import check_ledger
from yibao.ledger.ledger import Ledger
from yibao.store.models import postings


def credited(engine):
    pool, _ = pool_and_pharmacy(engine)
    account = add_person_with_account(engine, 1)
    return credit(Ledger(engine), pool, account, 1_000, "c").transaction_id


def test_a_ledger_written_by_the_ledger_has_no_orphan_postings(engine):
    credited(engine)
    with engine.connect() as conn:
        assert check_ledger(conn).ok


def test_check_finds_postings_whose_transaction_does_not_exist(engine):
    transaction_id = credited(engine)
    missing = transaction_id + 10_000
    with engine.begin() as conn:
        conn.execute(update(postings).where(postings.c.transaction_id == transaction_id).values(transaction_id=missing))
        legs = conn.execute(select(postings.c.id).where(postings.c.transaction_id == missing)).scalars().all()
    with engine.connect() as conn:
        findings = {finding.code: finding for finding in check_ledger(conn).findings}
    orphans = findings["posting_without_transaction"]
    assert orphans.count == 2
    assert sorted(example["posting_id"] for example in orphans.examples) == sorted(legs)
    assert {example["transaction_id"] for example in orphans.examples} == {missing}
    assert findings["transaction_without_postings"].examples == [{"transaction_id": transaction_id}]


def test_only_this_check_catches_balanced_legs_written_without_their_transaction(engine):
    # Behind the ledger's back: the schema takes them (no foreign key), they balance, and
    # they touch system accounts only, so no other check has anything to say.
    transaction_id = credited(engine)
    pool, pharmacy = pool_and_pharmacy(engine)
    missing = transaction_id + 10_000
    with engine.begin() as conn:
        conn.execute(insert(postings), [
            {"transaction_id": missing, "account_id": pool, "amount_fen": -500, "business_date": DAY},
            {"transaction_id": missing, "account_id": pharmacy, "amount_fen": 500, "business_date": DAY},
        ])
    with engine.connect() as conn:
        report = check_ledger(conn)
    assert [finding.code for finding in report.findings] == ["posting_without_transaction"]
    assert report.findings[0].count == 2
