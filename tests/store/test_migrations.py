"""The shipped Alembic migrations: idempotent upgrade, full round trip, tables match code."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from store_helpers import T0, make_mention

from tocsin.store import Store
from tocsin.store.database import run_migrations
from tocsin.store.tables import metadata

TABLES = {
    "mentions",
    "mention_watches",
    "source_cursors",
    "source_health",
    "source_health_minutes",
    "ingest_errors",
    "mention_refresh",
    "events",
    "alerts",
    "deliveries",
    "rollups",
    "rollups_hourly",
    "author_rollup",
    "detector_state",
    "crisis_levels",
    "users",
    "web_sessions",
    "api_tokens",
    "login_failures",
    "audit_log",
    "triage",
}


def _head() -> str | None:
    from alembic.script import ScriptDirectory

    from tocsin.store.database import MIGRATIONS_DIR

    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def _tables(db: Store) -> set[str]:
    return set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}


def _revision(db: Store) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_upgrade_twice_is_a_no_op(database_url: str) -> None:
    with Store.open(database_url) as db:
        db.upgrade()
        db.save_batch("rss", [make_mention("1")], cursor="c", now=T0)
        before = _tables(db)
        db.upgrade()
        assert _tables(db) == before
        assert before >= TABLES
        assert _revision(db) == _head() == "0007"
        assert (db.count(), db.get_cursor("rss")) == (1, "c")


def test_downgrade_to_base_and_back(database_url: str) -> None:
    with Store.open(database_url) as db:
        db.upgrade()
        db.save_batch("rss", [make_mention("1", text="boycott")], now=T0)
        run_migrations(db.engine, "base", downgrade=True)
        assert _tables(db) == set()
        assert _revision(db) is None
        db.upgrade()
        assert _tables(db) >= TABLES
        assert db.count() == 0
        db.save_batch("rss", [make_mention("1", text="boycott")], now=T0)
        assert db.count() == 1


_FULL_TEXT = {"search_vector", "ix_mentions_search_vector"}


def _ignore_full_text(obj: Any, name: str | None, type_: str, reflected: bool, _: Any) -> bool:
    """The full-text parts are per dialect and deliberately outside `metadata`."""
    if type_ == "table" and name is not None and name.startswith("mentions_fts"):
        return False
    return not (type_ in ("column", "index") and name in _FULL_TEXT)


def test_the_migrated_schema_matches_the_tables_in_code(database_url: str) -> None:
    with Store.open(database_url) as db:
        db.upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"include_object": _ignore_full_text, "compare_type": True}
            )
            assert compare_metadata(context, metadata) == []


def test_a_stray_version_table_later_in_search_path_is_not_taken_for_ours(
    database_url: str,
) -> None:
    """A fresh PostgreSQL schema gets its tables even if another schema on the path has run
    the migrations already (seen when `public` held an old alembic_version)."""
    if not database_url.startswith("postgresql"):
        return  # SQLite has one schema per file
    with Store.open(database_url) as first:
        first.upgrade()  # the schema of this test now holds a version table at head
        with first.engine.begin() as conn:
            ours = conn.exec_driver_sql("SELECT current_schema()").scalar()
            fresh = f"{ours}_fresh"
            conn.exec_driver_sql(f'CREATE SCHEMA "{fresh}"')
    url = database_url.replace(f"search_path%3D{ours}", f"search_path%3D{fresh},{ours}")
    try:
        with Store.open(url) as second:
            second.upgrade()
            assert set(sa.inspect(second.engine).get_table_names(schema=fresh)) >= TABLES
    finally:
        with Store.open(database_url) as first, first.engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{fresh}" CASCADE')
