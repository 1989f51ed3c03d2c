"""The migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from yibao.store.migrate import current_revision, head_revision, is_current, upgrade
from yibao.store.models import Base
from yibao.store.partitions import is_partition_name


def test_migrated_schema_matches_the_models(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": _not_a_partition})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def _not_a_partition(name, type_, parent_names) -> bool:
    """PostgreSQL's partitions of ``postings`` are not in the models: they are made by date."""
    return not (type_ == "table" and is_partition_name(name))


def test_upgrade_is_repeatable_and_reaches_head(engine):
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert is_current(engine)
