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
    # On PostgreSQL the version table lives in the schema tocsin's tables go to (the first
    # of search_path): otherwise a stray alembic_version in `public` would be found through
    # search_path and a fresh schema would be taken for an up-to-date one.
    schema = None
    if connection.dialect.name == "postgresql":
        schema = connection.exec_driver_sql("SELECT current_schema()").scalar()
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=schema,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


_run()
