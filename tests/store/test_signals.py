"""Detection's reads beyond rollups: last-hour signals of a watch and growing stories."""

from __future__ import annotations

from datetime import timedelta

from store_helpers import T0, MakeMention

from tocsin.mention import Author, Sentiment
from tocsin.store import Store

NEG = Sentiment("negative", -0.8)


def test_mention_signals_count_influential_media_and_urgent(
    store: Store, mention: MakeMention
) -> None:
    star = Author(handle="star", followers=50_000)
    batch = [
        mention("1", watches=("brand",), sentiment=NEG, author=star),
        mention("2", watches=("brand",), sentiment=NEG, urgent=("media",)),
        mention("3", watches=("brand",), urgent=("legal_threat",)),
        mention("4", watches=("other",), sentiment=NEG, author=star, urgent=("safety",)),
        mention("5", watches=("brand",), sentiment=NEG, author=star, minutes=-120),
    ]
    store.save_batch("rss", batch, now=T0)
    got = store.mention_signals("brand", since=T0 - timedelta(minutes=60))
    assert (got.influential_negative, got.media, got.urgent) == (1, 1, 2)


def test_growing_stories_counts_recent_and_total_per_watch(
    store: Store, mention: MakeMention
) -> None:
    batch = [
        mention("a", minutes=-300, story_id="rss:a", watches=("brand",)),
        *(mention(f"r{i}", minutes=-i, story_id="rss:a", watches=("brand",)) for i in range(4)),
        mention("b", minutes=-2, story_id="rss:b", watches=("brand",)),
        mention("c", minutes=-2, watches=("brand",)),
    ]
    store.save_batch("rss", batch, now=T0)
    [story] = store.growing_stories(since=T0 - timedelta(minutes=60), min_recent=2)
    assert (story.story_id, story.watch, story.recent, story.size) == ("rss:a", "brand", 4, 5)


def test_detector_states_and_crisis_levels_survive_a_reopen(store: Store) -> None:
    from tocsin.events import Event

    store.save_detector_states({"spikes:brand": {"level": 3.2}, "other": {"x": 1}}, now=T0)
    store.save_detector_states({"spikes:brand": {"level": 4.0}}, now=T0)
    assert store.detector_states("spikes:") == {"spikes:brand": {"level": 4.0}}
    change = Event("crisis_level", "brand", "level 0 -> 3", T0)
    store.save_crisis_level("brand", 3, since=T0, reasons=["75% negative"], now=T0, event=change)
    assert store.crisis_levels() == {"brand": (3, T0, ("75% negative",))}
    assert [e.message for e in store.events(kinds=["crisis_level"])] == ["level 0 -> 3"]
