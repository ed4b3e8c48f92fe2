"""Alembic environment: runs on the connection that `tocsin.store.database` passes in."""

from __future__ import annotations

from alembic import context

from tocsin.store.tables import metadata


def _run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "tocsin migrations run from code: use Store.upgrade() or `tocsin init`, not the "
            "alembic command line"
        )
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


_run()
