"""Alembic environment: the engine comes from yibao's own settings, never from an ini file."""

from __future__ import annotations

from alembic import context

from yibao.store.db import is_sqlite, make_engine
from yibao.store.models import Base

config = context.config


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds tables instead.
        render_as_batch=is_sqlite(connection.engine),
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
