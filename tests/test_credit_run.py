"""The monthly credit run on SQLite and PostgreSQL: who gets what, exactly once, with reasons."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import yaml
from sqlalchemy import select, update

from credit_support import MONTH, Someone, add_people, balances, count_rows, month_credit_postings
from yibao.credit.evaluation import ChunkPlan, Evaluator
from yibao.credit.month import parse_month
from yibao.credit.run import run_month
from yibao.credit.selection import ChunkReader
from yibao.credit.writing import ConcurrentCreditRun, write_chunk
from yibao.errors import InvalidInput, LedgerInvariantBroken
from yibao.ledger.accounts import system_account
from yibao.ledger.check import check_ledger
from yibao.ledger.kinds import AccountKind
from yibao.policy.loading import default_directory, load_book
from yibao.store.models import accounts, credit_runs, ledger_transactions, monthly_credits, postings

PEOPLE = [
    Someone("在职有缴费", contribution_fen=12_345, expected_fen=12_345),
    Someone("在职无缴费", expected_reason="no_contribution"),
    Someone("在职缴费未入账户", contribution_fen=0, expected_reason="zero_contribution"),
    Someone("灵活就业", employment="flexible", region="340000", contribution_fen=9_876, expected_fen=9_876),
    Someone("北京退休65岁", employment="retired", retired_on=date(2020, 3, 1), birth=date(1960, 3, 1), expected_fen=10_000),
    # Age on the first day of the month decides the bracket: 70 on 2025-06-01 exactly.
    Someone("北京退休满70岁", employment="retired", retired_on=date(2015, 6, 1), birth=date(1955, 6, 1), expected_fen=11_000),
    Someone("北京退休差一天70岁", employment="retired", retired_on=date(2015, 6, 2), birth=date(1955, 6, 2), expected_fen=10_000),
    Someone("安徽退休冻结账户", region="340000", employment="retired", status="frozen", expected_fen=7_000),
    Someone("上海退休按年", region="310000", employment="retired", expected_reason="yearly_month_unknown"),
    Someone("深圳退休按比例", region="440300", employment="retired", expected_reason="average_pension_missing"),
    Someone("河南退休仅有范围", region="410000", employment="retired", expected_reason="average_pension_missing"),
    Someone("居民医保", insurance="resident", employment="none", expected_reason="resident"),
    Someone("上月已身故", employment="retired", died_on=date(2025, 5, 31), expected_reason="died"),
    Someone("本月身故", employment="retired", died_on=date(2025, 6, 1), expected_fen=10_000),
    Someone("已注销", status="closed", contribution_fen=5_000, expected_reason="closed"),
    # Retires after the month: still working in June, credited from the June contribution.
    Someone("七月退休", employment="retired", retired_on=date(2025, 7, 15), contribution_fen=8_000, expected_fen=8_000),
]


@pytest.fixture
def people(engine) -> dict[str, int]:
    return add_people(engine, PEOPLE)


def expected_credits(ids: dict[str, int]) -> dict[int, int]:
    return {ids[p.name]: p.expected_fen for p in PEOPLE if p.expected_fen}


def expected_skips() -> dict[str, int]:
    counts: dict[str, int] = {}
    for p in PEOPLE:
        if p.expected_reason:
            counts[p.expected_reason] = counts.get(p.expected_reason, 0) + 1
    return counts


def test_credits_each_kind_of_person_as_the_rules_say(engine, people):
    before = balances(engine)
    report = run_month(engine, MONTH, chunk_size=4).as_dict()

    credits = expected_credits(people)
    assert month_credit_postings(engine) == {account: [fen] for account, fen in credits.items()}
    after = balances(engine)
    assert {account: after[account] - before[account] for account in after if after[account] != before[account]} == credits
    assert report["credited"] == len(credits)
    assert report["amount_fen"] == sum(credits.values())
    assert report["skipped"] == expected_skips()
    assert report["by_region"]["110000"]["credited"] == 6
    assert report["by_rule"]["contribution"] == {"credited": 3, "amount_fen": 12_345 + 9_876 + 8_000}
    assert report["by_rule"]["110000:credit.retiree@2025-01-01"]["amount_fen"] == 10_000 + 11_000 + 10_000 + 10_000
    assert report["skipped_by_region"]["yearly_month_unknown"] == {"310000": 1}
    with engine.connect() as conn:
        assert check_ledger(conn).ok


def test_pool_legs_balance_each_transaction_per_region(engine, people):
    run_month(engine, MONTH)
    with engine.connect() as conn:
        kinds = conn.execute(select(ledger_transactions.c.kind, ledger_transactions.c.business_date)).all()
        pool_legs = conn.execute(
            select(accounts.c.code, postings.c.amount_fen)
            .join(accounts, accounts.c.id == postings.c.account_id)
            .where(accounts.c.kind == "pool")
        ).all()
    assert kinds == [("monthly_credit", MONTH)]  # one ledger transaction for the single chunk
    assert sorted(pool_legs) == [("pool:110000", -(12_345 + 10_000 + 11_000 + 10_000 + 10_000 + 8_000)), ("pool:340000", -(9_876 + 7_000))]


def test_a_second_run_of_the_month_posts_nothing(engine, people):
    first = run_month(engine, MONTH, chunk_size=3)
    postings_after_first = count_rows(engine, postings)
    second = run_month(engine, MONTH, chunk_size=3).as_dict()

    assert first.credited == len(expected_credits(people))
    assert second["credited"] == 0 and second["amount_fen"] == 0
    assert second["already_credited"] == first.credited
    assert second["skipped"] == expected_skips()
    assert count_rows(engine, postings) == postings_after_first
    with engine.connect() as conn:
        runs = conn.execute(select(credit_runs.c.credited, credit_runs.c.finished_at).order_by(credit_runs.c.id)).all()
    assert [credited for credited, _ in runs] == [first.credited, 0]
    assert all(finished is not None for _, finished in runs)


def test_a_contribution_recorded_late_is_credited_by_running_the_month_again(engine, people):
    run_month(engine, MONTH)
    late = add_people(engine, [Someone("迟到的缴费", contribution_fen=4_321)], first=1_000)
    report = run_month(engine, MONTH)
    assert report.credited == 1
    assert month_credit_postings(engine)[late["迟到的缴费"]] == [4_321]


def move_to_new_account(engine, account_id: int, on: date) -> int:
    """A move to Shanghai as a transfer makes it: the account closed, a new one opened; returns the new id."""
    with engine.begin() as conn:
        person_id = conn.execute(select(accounts.c.person_id).where(accounts.c.id == account_id)).scalar_one()
        conn.execute(update(accounts).where(accounts.c.id == account_id).values(status="closed", closed_on=on))
        return conn.execute(
            accounts.insert().values(kind="personal", person_id=person_id, region_code="310000", status="active",
                                     opened_on=on).returning(accounts.c.id)
        ).scalar_one()


def test_a_month_is_credited_once_per_person_even_after_a_move_to_a_new_account(engine, people):
    """A transfer between regions closes the old account and opens a new one; running the
    month again must not credit the person's month a second time on the new account."""
    run_month(engine, MONTH)
    new = move_to_new_account(engine, people["在职有缴费"], date(2025, 6, 20))
    again = run_month(engine, MONTH).as_dict()
    assert again["credited"] == 0
    assert again["skipped"]["credited_elsewhere"] == 1
    assert new not in month_credit_postings(engine)


def test_a_chunk_whose_persons_are_far_apart_reads_them_by_id(engine, people, monkeypatch):
    """A new account for a person enrolled long ago sits among the newest accounts: its
    chunk's persons are read by their ids, not as the whole range of ids between them."""
    moved = people["在职有缴费"]
    new = move_to_new_account(engine, moved, date(2025, 6, 2))
    late = add_people(engine, [Someone("新参保", contribution_fen=4_321)], first=1_000)["新参保"]
    statements = []
    fetch = ChunkReader._fetch
    monkeypatch.setattr(ChunkReader, "_fetch", lambda self, cursor, sql, *rest: statements.append(sql) or fetch(self, cursor, sql, *rest))

    run_month(engine, MONTH, chunk_size=4)

    credited = month_credit_postings(engine)
    assert credited[new] == [12_345] and credited[late] == [4_321] and moved not in credited
    assert any("ANY(" in sql or "json_each" in sql for sql in statements)
    assert sum("BETWEEN" in sql for sql in statements) > 0  # the other chunks: one range each


def test_dry_run_reports_the_same_and_writes_nothing(engine, people):
    tables = (postings, ledger_transactions, monthly_credits, credit_runs, accounts)
    counts = [count_rows(engine, table) for table in tables]
    dry = run_month(engine, MONTH, dry_run=True).as_dict()
    assert [count_rows(engine, table) for table in tables] == counts
    assert dry["dry_run"] is True and dry["run_id"] is None
    real = run_month(engine, MONTH).as_dict()
    assert {key: dry[key] for key in ("credited", "amount_fen", "skipped", "by_region", "by_rule")} == {
        key: real[key] for key in ("credited", "amount_fen", "skipped", "by_region", "by_rule")
    }


def edited_policy(tmp_path: Path, region: str, change) -> Path:
    target = tmp_path / "policy"
    shutil.copytree(Path(str(default_directory())), target)
    path = target / f"{region}.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(document["parameters"])
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return target


def name_shanghai_month(month: int):
    def change(parameters) -> None:
        parameters["credit.yearly_month"]["values"][0].update(confidence="stated", month=month)

    return change


def test_a_yearly_credit_is_paid_in_the_month_the_data_names(engine, people, tmp_path):
    book = load_book(edited_policy(tmp_path, "310000", name_shanghai_month(6)))
    report = run_month(engine, MONTH, book=book).as_dict()
    assert month_credit_postings(engine)[people["上海退休按年"]] == [168_000]  # 1680 yuan a year, age under 75
    assert report["by_kind"]["annual_credit"] == {"credited": 1, "amount_fen": 168_000}
    with engine.connect() as conn:
        assert set(conn.execute(select(ledger_transactions.c.kind)).scalars()) == {"monthly_credit", "annual_credit"}
        assert check_ledger(conn).ok


def test_a_yearly_credit_in_another_month_is_not_due(engine, people, tmp_path):
    book = load_book(edited_policy(tmp_path, "310000", name_shanghai_month(1)))
    report = run_month(engine, MONTH, book=book).as_dict()
    assert report["skipped"]["yearly_not_due"] == 1
    assert people["上海退休按年"] not in month_credit_postings(engine)


def test_a_ratio_rule_pays_once_the_data_has_the_average_pension(engine, people, tmp_path):
    def add_pension(parameters) -> None:
        parameters["average_pension"] = {"description": "人均养老金", "values": [{
            "from": date(2025, 1, 1), "confidence": "stated", "unit": "元/月", "amount": "5000.00",
            "sources": ["003_9774d15e83d10c03.txt"], "note": "测试用数值。",
        }]}

    book = load_book(edited_policy(tmp_path, "440300", add_pension))
    report = run_month(engine, MONTH, book=book).as_dict()
    assert month_credit_postings(engine)[people["深圳退休按比例"]] == [14_000]  # 2.8 % of 5000 yuan
    # Henan's rule is still only a 2%–3% range of a pension the data does not have.
    assert report["skipped"]["average_pension_missing"] == 1


def test_a_concurrent_run_that_credited_first_rolls_the_chunk_back(engine, people):
    book = load_book()
    evaluator = Evaluator(book, MONTH)
    with engine.connect() as conn:
        with conn.begin():
            stale = evaluator.plan(ChunkReader(conn).read(MONTH, 0, 1_000))
        run_month(engine, MONTH, book=book)  # the other run
        postings_before = count_rows(engine, postings)
        with conn.begin():
            pools = {int(code): account for code, account in conn.execute(select(accounts.c.region_code, accounts.c.id).where(accounts.c.kind == "pool")).all()}
        with pytest.raises(ConcurrentCreditRun), conn.begin():
            write_chunk(conn, MONTH, stale, pools, evaluator.rule_names)
    assert count_rows(engine, postings) == postings_before
    assert all(len(amounts) == 1 for amounts in month_credit_postings(engine).values())


def test_an_account_closed_between_reading_and_writing_rolls_the_chunk_back(engine, people):
    evaluator = Evaluator(load_book(), MONTH)
    with engine.connect() as conn:
        with conn.begin():
            plan = evaluator.plan(ChunkReader(conn).read(MONTH, 0, 1_000))
            pools = {int(code): system_account(conn, AccountKind.POOL, code, opened_on=MONTH) for code in ("110000", "340000")}
        with conn.begin():
            conn.execute(update(accounts).where(accounts.c.id == people["在职有缴费"]).values(status="closed"))
        with pytest.raises(LedgerInvariantBroken), conn.begin():
            write_chunk(conn, MONTH, plan, pools, evaluator.rule_names)
    assert count_rows(engine, postings) == count_rows(engine, monthly_credits) == count_rows(engine, ledger_transactions) == 0


@pytest.mark.parametrize("account_ids", [[3, 1, 3], [1, 2, 2]])
def test_a_plan_that_credits_an_account_twice_is_refused_before_anything_is_written(engine, account_ids):
    n = len(account_ids)
    plan = ChunkPlan(
        account_id=np.array(account_ids, dtype=np.int64), amount_fen=np.full(n, 100, dtype=np.int64),
        region=np.full(n, 110000, dtype=np.int32), annual=np.zeros(n, dtype=bool), rule=np.zeros(n, dtype=np.int32),
        all_regions=np.full(n, 110000, dtype=np.int32), all_reasons=np.zeros(n, dtype=np.int8),
    )
    with engine.connect() as conn, pytest.raises(LedgerInvariantBroken, match="出现两次"), conn.begin():
        write_chunk(conn, MONTH, plan, {110000: 1}, ["contribution"])
    assert count_rows(engine, postings) == count_rows(engine, ledger_transactions) == 0


def test_month_parsing():
    assert parse_month("2025-06", date(2025, 6, 20)) == date(2025, 6, 1)
    for wrong in ("2025-13", "202506", "June", "2025-6-1"):
        with pytest.raises(InvalidInput) as raised:
            parse_month(wrong, date(2025, 6, 20))
        assert raised.value.code == "month_format"
    with pytest.raises(InvalidInput) as raised:
        parse_month("2025-07", date(2025, 6, 30))
    assert raised.value.code == "month_in_future"
