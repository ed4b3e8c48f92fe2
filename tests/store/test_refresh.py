"""The engagement refresh schedule: 5 min, 15 min, 1 h, 6 h, 24 h after publication."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta

import pytest
from store_helpers import T0, make_mention

from tocsin.mention import Metrics
from tocsin.store import Store
from tocsin.store.refresh import REFRESH_AFTER, next_step


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    with Store.open(database_url) as db:
        db.upgrade()
        yield db


def test_next_step_skips_what_is_already_past() -> None:
    assert next_step(T0, T0) == 0
    assert next_step(T0, T0 + timedelta(minutes=10)) == 1
    assert next_step(T0, T0 + timedelta(minutes=10), after=1) == 2
    assert next_step(T0, T0 + timedelta(days=2)) is None


def test_new_mentions_are_scheduled_and_walk_the_steps(store: Store) -> None:
    fresh = make_mention("fresh")
    old = make_mention("old", minutes=-3 * 24 * 60)  # too old for any step
    store.save_batch("feed", [fresh, old], now=T0 + timedelta(minutes=1))
    assert store.due_for_refresh("rss", now=T0 + timedelta(minutes=4)) == []
    assert store.due_for_refresh("rss", now=T0 + REFRESH_AFTER[0]) == ["rss:fresh"]
    assert store.due_for_refresh("mastodon", now=T0 + REFRESH_AFTER[0]) == []

    seen = []
    for step_time in REFRESH_AFTER:
        now = T0 + step_time
        due = store.due_for_refresh("rss", now=now)
        seen.append(due)
        store.refreshed(due, now=now)
    assert seen == [["rss:fresh"]] * len(REFRESH_AFTER)
    assert store.due_for_refresh("rss", now=T0 + timedelta(days=30)) == []


def test_an_update_keeps_the_schedule_and_a_late_refresh_skips_missed_steps(
    store: Store,
) -> None:
    m = make_mention("x")
    store.save_batch("feed", [m], now=T0)
    updated = dataclasses.replace(m, metrics=Metrics(likes=50))
    store.save_batch("feed", [updated], now=T0 + timedelta(minutes=2))  # not re-scheduled
    late = T0 + timedelta(hours=2)  # steps 5 min, 15 min, 1 h all missed
    assert store.due_for_refresh("rss", now=late) == ["rss:x"]
    store.refreshed(["rss:x"], now=late)
    assert store.due_for_refresh("rss", now=late + timedelta(hours=3)) == []
    assert store.due_for_refresh("rss", now=T0 + REFRESH_AFTER[3]) == ["rss:x"]
    stored = store.get("rss:x")
    assert stored is not None
    assert stored.metrics.likes == 50


def test_purge_drops_the_schedule_too(store: Store) -> None:
    store.save_batch("feed", [make_mention("p")], now=T0)
    store.purge(mentions_before=T0 + timedelta(seconds=1))
    assert store.due_for_refresh("rss", now=T0 + timedelta(days=1)) == []
