"""Source state (`tocsin.store.sources`, through `Store`): cursors and health, on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from store_helpers import T0, MakeMention

from tocsin.store import Store

# -- cursors --------------------------------------------------------------------------------


def test_cursors_are_per_source_and_kept_when_none_is_given(
    store: Store, mention: MakeMention
) -> None:
    assert store.get_cursor("rss") is None
    store.save_batch("rss", [mention("1")], cursor="page-2", now=T0)
    store.save_batch("hn", [], cursor="42", now=T0)
    store.save_batch("rss", [mention("2")], now=T0)
    assert store.get_cursor("rss") == "page-2"
    store.save_batch("rss", [], cursor="page-3", now=T0)
    assert (store.get_cursor("rss"), store.get_cursor("hn")) == ("page-3", "42")


# -- health ---------------------------------------------------------------------------------


def test_health_counts_failures_totals_and_items_per_minute(store: Store) -> None:
    store.record_health("feed", "rss", ok=True, items=60, at=T0 - timedelta(minutes=30))
    store.record_health("feed", "rss", ok=True, items=30, at=T0 - timedelta(minutes=10))
    store.record_health("feed", "rss", ok=True, items=15, at=T0)
    store.record_health("feed", "rss", ok=False, error="HTTP 503", at=T0 + timedelta(seconds=5))
    store.record_health("feed", "rss", ok=False, error="timeout", at=T0 + timedelta(seconds=9))
    store.record_health("bsky", "jetstream", ok=True, at=T0)
    bsky, feed = store.health(now=T0 + timedelta(seconds=10))
    assert (bsky.source, bsky.platform, bsky.items_per_minute) == ("bsky", "jetstream", 0.0)
    assert feed.items_total == 105
    assert feed.items_per_minute == pytest.approx(45 / 15)
    assert feed.consecutive_failures == 2
    assert (feed.last_error, feed.last_error_at) == ("timeout", T0 + timedelta(seconds=9))
    assert feed.last_success_at == T0
    store.record_health("feed", "rss", ok=True, items=0, at=T0 + timedelta(minutes=1))
    later = store.health(now=T0 + timedelta(minutes=20))[1]
    assert (later.consecutive_failures, later.last_error) == (0, "timeout")
    assert later.items_per_minute == 0.0


def test_health_is_empty_before_any_fetch(store: Store) -> None:
    assert store.health(now=T0) == []
