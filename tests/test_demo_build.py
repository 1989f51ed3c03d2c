"""Loading the synthetic population, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, insert, inspect, select

from demo_support import reuse_argon2_hashes  # noqa: F401 - autouse fixture
from yibao.web.api import reads
from yibao.demo.build import build_demo, demo_key, ledger_request_hash
from yibao.demo.population import generate
from yibao.errors import InvalidInput
from yibao.ledger.check import check_ledger
from yibao.ledger.kinds import TxKind
from yibao.ledger.ledger import Leg, Ledger, TransactionRequest
from yibao.policy import personal
from yibao.security.passwords import is_weak_password, verify_secret
from yibao.store.models import (
    accounts,
    contributions,
    credentials,
    family_bindings,
    family_payments,
    idempotency_keys,
    ledger_transactions,
    persons,
    postings,
)

PEOPLE = 200
SEED = 20250601


@pytest.fixture
def built(engine, today):
    return build_demo(engine, people=PEOPLE, seed=SEED, today=today, progress=False)


def count(conn, table) -> int:
    return conn.execute(select(func.count()).select_from(table)).scalar_one()


def personal_balances(engine) -> list[tuple[int, int]]:
    with engine.connect() as conn:
        return conn.execute(
            select(accounts.c.person_id, accounts.c.balance_fen)
            .where(accounts.c.kind == "personal")
            .order_by(accounts.c.person_id)
        ).all()


def test_the_build_passes_every_ledger_check(engine, built):
    with engine.connect() as conn:
        report = check_ledger(conn)
    assert report.ok, report.as_dict()


def test_summary_counts_equal_the_tables(engine, built):
    with engine.connect() as conn:
        assert built.people == count(conn, persons) == PEOPLE
        assert built.accounts == count(conn, accounts)
        assert built.contributions == count(conn, contributions) > 0
        assert built.transactions == count(conn, ledger_transactions) == count(conn, idempotency_keys)
        assert built.postings == count(conn, postings) == 2 * built.transactions
        total = conn.execute(
            select(func.sum(accounts.c.balance_fen)).where(accounts.c.kind == "personal")
        ).scalar_one()
    assert built.total_balance_fen == total
    assert sum(built.by_region.values()) == PEOPLE and len(built.by_region) >= 10


def test_the_database_holds_what_the_generator_made(engine, built, today):
    expected = {p.resident_id.full: p for p in generate(PEOPLE, seed=SEED, today=today)}
    with engine.connect() as conn:
        rows = conn.execute(
            select(persons.c.id_number, persons.c.card_number, persons.c.sex, accounts.c.balance_fen)
            .join(accounts, accounts.c.person_id == persons.c.id)
        ).all()
    assert len(rows) == PEOPLE
    holder = next(login["id_number"] for login in built.logins if login["persona"] == "family_holder")
    for row in rows:
        person = expected[row.id_number]
        assert row.card_number == person.card_number.value
        assert row.sex == ("M" if person.sex.value == "male" else "F")
        premium = 40_000 if row.id_number == holder else 0  # the holder paid a relative's premium after the load
        assert row.balance_fen == person.balance_fen - premium


def test_the_index_dropped_for_loading_is_back(engine, built):
    names = {index["name"] for index in inspect(engine).get_indexes("postings")}
    assert "ix_postings_account_date" in names


def test_system_accounts_exist_per_region(engine, built):
    with engine.connect() as conn:
        codes = set(conn.execute(select(accounts.c.code).where(accounts.c.kind != "personal")).scalars())
    for region in built.by_region:
        assert f"pool:{region}" in codes
        assert any(code.startswith(f"institution:{region}:P") for code in codes)
        assert any(code.startswith(f"institution:{region}:H") for code in codes)


def test_each_transaction_has_a_demo_key_hashed_like_the_ledger(engine, built):
    with engine.connect() as conn:
        key = conn.execute(
            select(idempotency_keys).where(idempotency_keys.c.key == demo_key(0, 0))
        ).one()
        tx = conn.execute(select(ledger_transactions).where(ledger_transactions.c.id == key.transaction_id)).one()
        legs = conn.execute(
            select(postings.c.account_id, postings.c.amount_fen, postings.c.business_date).where(
                postings.c.transaction_id == tx.id
            )
        ).all()
    assert key.scope == "demo" and len(legs) == 2 and {leg.business_date for leg in legs} == {tx.business_date}
    request = TransactionRequest(
        TxKind(tx.kind), key.key, tuple(Leg(a, f) for a, f, _ in legs), tx.business_date, tx.memo, tx.reference
    )
    assert key.request_hash == request.request_hash()


def test_fast_request_hash_equals_the_ledgers_for_every_kind():
    for kind, reference in (("monthly_credit", "202407"), ("spending", "P3100001000004200"), ("opening_balance", None)):
        request = TransactionRequest(
            TxKind(kind), "k", (Leg(7, -123), Leg(3, 123)), date(2024, 7, 15), "2024年07月个人账户划入（补缴）", reference
        )
        fast = ledger_request_hash(kind, "2024-07-15", ((7, -123), (3, 123)), request.memo, reference)
        assert fast == request.request_hash()


def test_demo_logins_verify_against_the_stored_hashes(engine, built):
    statuses = sorted(login["status"] for login in built.logins)
    assert statuses == ["flexible", "in_service", "in_service", "in_service", "resident", "resident", "retired"]
    personas = {login["persona"]: login["label"] for login in built.logins}
    assert personas == {
        "in_service": "在职职工", "retired": "退休人员", "resident": "城乡居民医保参保人", "flexible": "灵活就业人员",
        "initial_password": "在职职工（初始密码）", "family_holder": "家庭共济账户持有人",
        "family_member": "家庭共济亲属（居民医保，保费由家人代缴）",
    }
    with engine.connect() as conn:
        for login in built.logins:
            person_id = conn.execute(
                select(persons.c.id).where(
                    persons.c.id_number == login["id_number"], persons.c.card_number == login["card_number"]
                )
            ).scalar_one()
            stored = {
                row.kind: row
                for row in conn.execute(select(credentials).where(credentials.c.person_id == person_id))
            }
            assert verify_secret(stored["password"].secret_hash, login["password"])
            assert not verify_secret(stored["password"].secret_hash, login["password"] + "x")
            assert verify_secret(stored["phone_pin"].secret_hash, login["phone_pin"])
            assert len(login["phone_pin"]) == 6 and login["phone_pin"].isdigit()
            assert stored["password"].must_change == login["must_change_password"]
            assert login["region_name"]


def test_one_login_still_has_the_initial_password_and_must_change_it(built):
    must_change = [login for login in built.logins if login["must_change_password"]]
    assert len(must_change) == 1
    assert must_change[0]["password"] == "123456" and must_change[0]["status"] == "in_service"
    others = [login for login in built.logins if not login["must_change_password"]]
    assert all(not is_weak_password(login["password"]) for login in others)


def test_building_again_without_reset_is_refused(engine, built, today):
    with pytest.raises(InvalidInput) as refused:
        build_demo(engine, people=10, seed=SEED, today=today, progress=False)
    assert refused.value.field == "database"
    with engine.connect() as conn:
        assert count(conn, persons) == PEOPLE


def test_reset_rebuilds_the_same_balances(engine, built, today):
    before = personal_balances(engine)
    again = build_demo(engine, people=PEOPLE, seed=SEED, today=today, progress=False, reset=True)
    assert personal_balances(engine) == before
    assert again.total_balance_fen == built.total_balance_fen and again.logins == built.logins
    with engine.connect() as conn:
        assert check_ledger(conn).ok


def test_small_chunks_give_the_same_result(engine, today):
    whole = build_demo(engine, people=30, seed=SEED, today=today, progress=False)
    before = personal_balances(engine)
    chunked = build_demo(engine, people=30, seed=SEED, today=today, progress=False, reset=True, chunk_people=7)
    assert personal_balances(engine) == before
    assert (chunked.transactions, chunked.postings) == (whole.transactions, whole.postings)


def test_ordinary_writes_continue_after_the_explicit_ids(engine, built, today):
    with engine.begin() as conn:
        new_id = conn.execute(
            insert(persons)
            .values(
                id_number="11010519491231002X", name="新参保", sex="F", birth_date=date(1949, 12, 31),
                region_code="110000", insurance_type="employee", employment="retired", enrolled_on=today,
            )
            .returning(persons.c.id)
        ).scalar_one()
        pool = conn.execute(select(accounts.c.id).where(accounts.c.code == "pool:110000")).scalar_one()
        account = conn.execute(
            select(accounts.c.id).where(accounts.c.kind == "personal").order_by(accounts.c.id).limit(1)
        ).scalar_one()
    assert new_id == PEOPLE + 1
    result = Ledger(engine).transfer(
        kind=TxKind.MONTHLY_CREDIT, from_account=pool, to_account=account, amount_fen=10_000,
        idempotency_key="after-demo", business_date=today,
    )
    assert result.transaction_id == built.transactions + 1
    with engine.connect() as conn:
        assert check_ledger(conn).ok


def test_the_family_pair_is_bound_and_the_holder_paid_the_relatives_premium(engine, built, today):
    by_persona = {login["persona"]: login for login in built.logins}
    with engine.connect() as conn:
        ids = {
            persona: conn.execute(select(persons.c.id).where(persons.c.id_number == by_persona[persona]["id_number"])).scalar_one()
            for persona in ("family_holder", "family_member")
        }
        binding = conn.execute(select(family_bindings).where(family_bindings.c.holder_person_id == ids["family_holder"])).one()
        assert binding.member_person_id == ids["family_member"] and binding.status == "active"
        paid = conn.execute(select(family_payments).where(family_payments.c.member_person_id == ids["family_member"])).one()
        assert paid.purpose == "premium" and paid.premium_year == today.year
        details = reads.details(conn, ids["family_member"], account_id=None, date_from=None, date_to=None, kind=None,
                                page=1, page_size=20)
        resident = personal.resident_answer(conn, ids["family_member"], today=today)
    assert details.items[0].paid_by.startswith("由家人（") and details.items[0].amount_fen == 40_000
    assert resident["premium_paid"] and resident["payer"].startswith("家人（")
