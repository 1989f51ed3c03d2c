"""PostgreSQL keeps postings in a partition per month (per year for history); SQLite in one table."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from alembic import command
from sqlalchemy import text

from yibao.store.db import is_sqlite, make_engine
from yibao.store.migrate import alembic_config, upgrade
from yibao.store.partitions import (
    DEFAULT_PARTITION,
    ensure_ahead,
    ensure_partitions,
    existing_spans,
    is_partition_name,
    month_span,
    rows_in_default,
)
from tests.conftest import POSTGRES_ADMIN_URL, _postgres_admin_engine


POSTGRES_ONLY = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


def _post(conn, *days: date) -> None:
    for day in days:
        conn.execute(
            text("INSERT INTO postings (transaction_id, account_id, amount_fen, business_date) VALUES (1, 1, 100, :day)"),
            {"day": day},
        )


def _where(conn) -> dict[date, str]:
    return dict(conn.execute(text("SELECT business_date, tableoid::regclass::text FROM postings")).all())


def test_a_months_postings_go_to_its_partition_and_stray_ones_wait_in_the_default(engine):
    far = date(2091, 5, 17)
    with engine.begin() as conn:
        _post(conn, far, date(2091, 6, 2))
    with engine.connect() as conn:
        if is_sqlite(engine):
            assert ensure_partitions(conn, far, far, monthly_from=far) == []
            assert rows_in_default(conn) == 0
            assert conn.execute(text("SELECT COUNT(*) FROM postings")).scalar_one() == 2
            return
        assert set(_where(conn).values()) == {DEFAULT_PARTITION}
        conn.rollback()  # outside a transaction, each partition is made in its own
        assert ensure_partitions(conn, far, far, monthly_from=far) == ["postings_y2091m05"]
        assert ensure_partitions(conn, far, far, monthly_from=far) == []  # made once
        assert _where(conn) == {far: "postings_y2091m05", date(2091, 6, 2): DEFAULT_PARTITION}
        assert rows_in_default(conn) == 1
        indexes = conn.execute(text("SELECT indexdef FROM pg_indexes WHERE tablename = 'postings_y2091m05'")).scalars().all()
        assert sorted(definition.split(" USING ")[1] for definition in indexes) == [
            "btree (account_id, business_date, id)", "btree (id, business_date)", "btree (transaction_id)",
        ]
        assert month_span(far) in existing_spans(conn)
    with engine.begin() as conn:
        _post(conn, date(2091, 5, 31))
        assert conn.execute(text("SELECT COUNT(*) FROM postings_y2091m05")).scalar_one() == 2


@POSTGRES_ONLY
def test_past_years_get_one_partition_unless_they_already_have_months(engine):
    with engine.connect() as conn:
        made = ensure_partitions(conn, date(2081, 3, 1), date(2082, 2, 1), monthly_from=date(2082, 1, 9))
        assert made == ["postings_y2081", "postings_y2082m01", "postings_y2082m02"]
        # 2080 has a month of its own already, so its other months get theirs too.
        assert ensure_partitions(conn, date(2080, 7, 1), date(2080, 7, 1), monthly_from=date(2080, 7, 1)) == ["postings_y2080m07"]
        assert ensure_partitions(conn, date(2080, 6, 1), date(2080, 6, 1), monthly_from=date(2099, 1, 1)) == ["postings_y2080m06"]
        assert all(is_partition_name(name) for name in made)


@POSTGRES_ONLY
def test_the_months_ahead_exist_after_the_migration(engine):
    today = date.today()
    with engine.connect() as conn:
        assert ensure_ahead(conn, today) == []  # the migration made them
        conn.rollback()
        covered = existing_spans(conn)
        assert any(span.first <= today < span.end for span in covered)


@pytest.mark.postgres
def test_migrating_down_and_up_keeps_every_posting_and_the_id_sequence():
    admin = _postgres_admin_engine()
    name = f"yibao_test_partitions_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
    try:
        upgrade(engine, "0008")
        days = [date(2015, 1, 31), date(2024, 12, 1), date(2026, 3, 15), date(2035, 7, 4)]
        with engine.begin() as conn:
            _post(conn, *days)
        upgrade(engine)
        with engine.begin() as conn:
            placed = _where(conn)
            assert placed[date(2015, 1, 31)] == "postings_y2015"
            assert placed[date(2035, 7, 4)] == "postings_y2035m07"
            _post(conn, date(2035, 7, 5))
            assert conn.execute(text("SELECT MAX(id) FROM postings")).scalar_one() == 5
        config = alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0008")
        with engine.connect() as conn:
            assert set(_where(conn).values()) == {"postings"}
            assert len(_where(conn)) == 5
        upgrade(engine)
        with engine.connect() as conn:
            assert len(_where(conn)) == 5 and "postings" not in set(_where(conn).values())
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@POSTGRES_ONLY
def test_a_credit_run_makes_its_months_partition_and_the_next_ones(engine):
    from yibao.credit.run import run_month

    run_month(engine, date(2077, 3, 1), dry_run=True)
    with engine.connect() as conn:
        assert not any(span.first.year == 2077 for span in existing_spans(conn))
    run_month(engine, date(2077, 3, 1))
    with engine.connect() as conn:
        assert [span.name for span in existing_spans(conn) if span.first.year == 2077] == [
            "postings_y2077m03", "postings_y2077m04", "postings_y2077m05", "postings_y2077m06",
        ]


@POSTGRES_ONLY
def test_a_partition_made_by_another_process_meanwhile_is_taken_as_made(engine):
    from yibao.store import partitions

    with engine.connect() as conn:
        spans_before = partitions.existing_spans(conn)
        conn.rollback()
        assert partitions.ensure_partitions(conn, date(2088, 8, 1), date(2088, 8, 1), monthly_from=date(2088, 1, 1))
        # As if this process had looked before the other one made it: the CREATE TABLE fails, nothing breaks.
        assert partitions._attach(conn, month_span(date(2088, 8, 1))) is True
        assert len(partitions.existing_spans(conn)) == len(spans_before) + 1


@POSTGRES_ONLY
def test_a_partition_whose_locks_are_busy_is_left_for_next_time(engine, monkeypatch):
    from yibao.store import partitions

    monkeypatch.setattr(partitions, "LOCK_TIMEOUT", "200ms")
    month = date(2089, 2, 1)
    with engine.connect() as reader, engine.connect() as conn:
        with reader.begin():
            reader.execute(text(f"LOCK TABLE {DEFAULT_PARTITION} IN ACCESS SHARE MODE"))  # a long query, say
            assert ensure_partitions(conn, month, month, monthly_from=month) == []
        assert ensure_partitions(conn, month, month, monthly_from=month) == ["postings_y2089m02"]
