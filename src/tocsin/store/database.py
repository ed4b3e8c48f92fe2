"""Database URLs, engines and migrations: the connection side of the store.

- ``sqlite:///relative.db`` is resolved against the workspace folder (absolute paths are kept);
  ``postgresql://`` and ``postgres://`` use psycopg 3 (``postgresql+psycopg://``).
- Every SQLite connection gets WAL, ``synchronous=NORMAL``, ``foreign_keys=ON`` and
  ``busy_timeout=5000``; transactions are begun explicitly (``BEGIN``, or ``BEGIN IMMEDIATE``
  for writes, so two writers wait for each other instead of failing on lock upgrade).
- Migrations are the Alembic scripts shipped in ``store/migrations``, run from code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import StaticPool

__all__ = [
    "MIGRATIONS_DIR",
    "WRITE",
    "StoreError",
    "alembic_config",
    "connect",
    "mask",
    "normalise_url",
    "run_migrations",
]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

WRITE = {"tocsin_write": True}
"""Execution options for a connection that will write (SQLite: ``BEGIN IMMEDIATE``)."""

_PG_LOCK_KEY = 0x70C5_1A  # advisory lock serialising concurrent migrations on PostgreSQL


class StoreError(Exception):
    """The database cannot be used as configured; the message says what and how to fix it."""


def mask(url: str | URL) -> str:
    """The URL as text with its password hidden, for messages and logs."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparseable database URL>"


def normalise_url(url: str, *, workspace: Path | None = None) -> URL:
    """Parse `url`, resolve a relative SQLite path against `workspace`, pick psycopg 3."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(
            f"database URL {url!r} is not valid: {exc}; use e.g. 'sqlite:///tocsin.db' "
            "or 'postgresql://user:password@host:5432/dbname'"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            path = Path(database).expanduser()
            if not path.is_absolute():
                path = (workspace or Path.cwd()) / path
            parsed = parsed.set(database=str(path))
        return parsed
    if backend == "postgres":
        parsed = parsed.set(drivername="postgresql")
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() != "postgresql":
        raise StoreError(
            f"database URL {mask(parsed)} uses {backend!r}; tocsin supports sqlite:/// "
            "and postgresql:// URLs"
        )
    return parsed


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see _sqlite_on_begin)
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "foreign_keys=ON",
        "busy_timeout=5000",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_on_begin(conn: sa.Connection) -> None:
    immediate = conn.get_execution_options().get("tocsin_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def connect(url: str, *, workspace: Path | None = None) -> Engine:
    """An engine for `url`, checked by connecting once; `StoreError` if it cannot be reached."""
    parsed = normalise_url(url, workspace=workspace)
    if parsed.get_backend_name() == "sqlite":
        memory = parsed.database in (None, "", ":memory:")
        if not memory and parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = (
            {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
            if memory
            else {}
        )
        engine = sa.create_engine(parsed, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_on_connect)
        sa.event.listen(engine, "begin", _sqlite_on_begin)
    else:
        # psycopg's pipelined executemany beats one huge multi-VALUES statement, which
        # psycopg would re-parse in Python for every batch.
        engine = sa.create_engine(parsed, pool_pre_ping=True, use_insertmanyvalues=False)
    try:
        with engine.connect():
            pass
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StoreError(
            f"cannot open the database {mask(parsed)}: {reason}. Check that the server is "
            "running and the URL (host, port, user, password, database name) is right, or "
            "that the SQLite file's folder is writable."
        ) from exc
    return engine


def alembic_config(connection: sa.Connection) -> Config:
    """An Alembic configuration for the shipped migrations, running on `connection`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def run_migrations(engine: Engine, revision: str = "head", *, downgrade: bool = False) -> None:
    """Upgrade (or downgrade) the schema to `revision` in one transaction."""
    with engine.connect().execution_options(**WRITE) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        config = alembic_config(conn)
        if downgrade:
            command.downgrade(config, revision)
        else:
            command.upgrade(config, revision)
