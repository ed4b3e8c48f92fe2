"""Shared helpers of the store tests: a fixed time, a mention factory and a delivery
factory."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from tocsin.mention import Author, Mention, Metrics
from tocsin.store import Store
from tocsin.store.outbox import NewDelivery

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

MakeMention = Callable[..., Mention]


def make_mention(
    native: str = "1",
    *,
    source: str = "rss",
    text: str = "hello",
    minutes: int = 0,
    **fields: Any,
) -> Mention:
    """A mention published `minutes` after T0; keyword fields override the defaults."""
    values: dict[str, Any] = {
        "id": f"{source}:{native}",
        "source": source,
        "url": f"https://www.example.com/{native}",
        "text": text,
        "published_at": T0 + timedelta(minutes=minutes),
        "seen_at": T0 + timedelta(minutes=minutes, seconds=30),
        "author": Author(handle="alice", name="Alice", followers=10),
        "metrics": Metrics(likes=1),
        "raw": {"native": native},
    }
    values.update(fields)
    return Mention(**values)


def make_delivery(key: str = "d1", channel: str = "ops", **fields: Any) -> NewDelivery:
    """A message to `channel` for alice, expiring a day after T0; keyword fields override."""
    values: dict[str, Any] = {
        "channel": channel,
        "recipient": "alice",
        "title": "t",
        "body": "b",
        "key": key,
        "expires_at": T0 + timedelta(hours=24),
    }
    values.update(fields)
    return NewDelivery(**values)


def odd_session_zone(store: Store) -> None:
    """On PostgreSQL, give every new connection a session time zone half an hour off UTC
    (Asia/Kolkata): SQL that buckets by hour must not follow the session's zone."""
    if store.dialect != "postgresql":
        return

    @sa.event.listens_for(store.engine, "connect")
    def _zone(dbapi_connection: Any, _: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'Asia/Kolkata'")
        dbapi_connection.commit()

    store.engine.dispose()
