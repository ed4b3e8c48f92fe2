"""Fixtures of the web tests: passwords hashed with cheap argon2 parameters (every test),
and, for the account tests, a fresh workspace store and the app on it (a module may define
its own `store` or `app` instead)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from accounts_helpers import CHEAP_HASHER, T0, make_app, open_store
from fastapi import FastAPI

from tocsin.clock import FakeClock
from tocsin.store import Store
from tocsin.web import auth


@pytest.fixture(autouse=True)
def _cheap_hasher(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "HASHER", CHEAP_HASHER)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(tmp_path)
    yield store
    store.close()


@pytest.fixture
def app(store: Store) -> FastAPI:
    return make_app(store, FakeClock(T0))
