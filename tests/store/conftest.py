"""Store fixtures: an upgraded `Store` on each database, its outbox, and a mention factory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from store_helpers import MakeMention, make_mention

from tocsin.store import Store
from tocsin.store.outbox import Outbox


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    db = Store.open(database_url)
    db.upgrade()
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
def outbox(store: Store) -> Outbox:
    return Outbox(store)


@pytest.fixture
def mention() -> MakeMention:
    return make_mention
