"""Writing mentions (`tocsin.store.writes`, through `Store.save_batch`): an idempotent
upsert keyed by id, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from store_helpers import T0, MakeMention

from tocsin.mention import Metrics, Sentiment
from tocsin.store import SaveResult, Store


def test_same_item_twice_is_one_row_with_new_metrics_first_seen_and_all_watches(
    store: Store, mention: MakeMention
) -> None:
    first = mention("1", text="v1", metrics=Metrics(likes=1), watches=("acme",))
    assert store.save_batch("rss", [first], now=T0) == SaveResult(1, 0, 0)
    again = dataclasses.replace(
        first,
        text="v2",
        title="T",
        metrics=Metrics(likes=7, reposts=2, views=100),
        seen_at=T0 + timedelta(hours=1),
        watches=("brand",),
        sentiment=Sentiment("negative", -0.8),
    )
    assert store.save_batch("rss", [again], now=T0 + timedelta(hours=1)) == SaveResult(0, 1, 0)
    assert store.count() == 1
    got = store.get("rss:1")
    assert got is not None
    assert (got.text, got.title, got.metrics) == ("v2", "T", Metrics(likes=7, reposts=2, views=100))
    assert got.seen_at == first.seen_at
    assert got.watches == ("acme", "brand")
    assert got.sentiment == Sentiment("negative", -0.8)


def test_duplicates_inside_one_batch_are_merged(store: Store, mention: MakeMention) -> None:
    a = mention("1", metrics=Metrics(likes=1), watches=("a",))
    b = dataclasses.replace(a, metrics=Metrics(likes=2), watches=("b",))
    assert store.save_batch("rss", [a, b, mention("2")], now=T0) == SaveResult(2, 0, 0)
    got = store.get("rss:1")
    assert got is not None
    assert (got.metrics.likes, got.watches) == (2, ("a", "b"))


def test_a_later_save_without_enrichment_keeps_the_enrichment(
    store: Store, mention: MakeMention
) -> None:
    enriched = mention("1", lang="fr", sentiment=Sentiment("positive", 0.5), reach=40, story_id="s")
    store.save_batch("rss", [enriched], now=T0)
    bare = dataclasses.replace(enriched, lang=None, sentiment=None, reach=None, story_id=None)
    store.save_batch("rss", [bare], now=T0)
    got = store.get("rss:1")
    assert got is not None
    assert (got.lang, got.sentiment, got.reach, got.story_id) == (
        "fr",
        Sentiment("positive", 0.5),
        40,
        "s",
    )


def test_a_story_id_once_given_never_changes(store: Store, mention: MakeMention) -> None:
    store.save_batch("rss", [mention("1", story_id="rss:1")], now=T0)
    store.save_batch("rss", [mention("1", story_id="rss:other")], now=T0)
    got = store.get("rss:1")
    assert got is not None
    assert got.story_id == "rss:1"
