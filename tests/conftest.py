"""Shared test fixtures: no network but loopback, and a database URL for SQLite and PostgreSQL."""

from __future__ import annotations

import ipaddress
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _is_loopback(address: Any) -> bool:
    if isinstance(address, str | bytes):  # AF_UNIX path
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if not _is_loopback(address):
        raise RuntimeError(f"tests may not reach the network: connect to {address!r} refused")
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    if not _is_loopback(address):
        raise RuntimeError(f"tests may not reach the network: connect to {address!r} refused")
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if host not in (None, "localhost", b"localhost"):
        try:
            ipaddress.ip_address(host.decode() if isinstance(host, bytes) else host)
        except ValueError as exc:
            raise RuntimeError(f"tests may not resolve {host!r}: no network in tests") from exc
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True, scope="session")
def _no_network() -> Iterator[None]:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _guarded_getaddrinfo
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _real_getaddrinfo


def services_required() -> bool:
    """In CI (TOCSIN_REQUIRE_SERVICES=1) a missing service fails instead of skipping."""
    return os.environ.get("TOCSIN_REQUIRE_SERVICES") == "1"


def postgres_url() -> str | None:
    return os.environ.get("TOCSIN_TEST_DATABASE_URL")


def _postgres_schema_url(base: str) -> Iterator[str]:
    """A fresh schema per test, dropped afterwards, so tests never see each other's rows."""
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with admin.begin() as conn:
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS unaccent"))
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        admin.dispose()
        if services_required():
            raise
        pytest.skip(f"PostgreSQL at TOCSIN_TEST_DATABASE_URL is not usable: {exc}")
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema},public"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL for an empty database: SQLite in tmp_path, or a fresh PostgreSQL schema.

    PostgreSQL tests skip with a clear reason when TOCSIN_TEST_DATABASE_URL is not set, except
    in CI (TOCSIN_REQUIRE_SERVICES=1), where they must run.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tocsin.db'}"
        return
    base = postgres_url()
    if not base:
        if services_required():
            pytest.fail("TOCSIN_TEST_DATABASE_URL is not set but CI requires PostgreSQL tests")
        pytest.skip("PostgreSQL tests need TOCSIN_TEST_DATABASE_URL (e.g. postgresql://...)")
    yield from _postgres_schema_url(base)
