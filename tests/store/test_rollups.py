"""Rollups: per watch and minute, counted once per (mention, watch), read as series."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from store_helpers import T0, MakeMention

from tocsin.mention import Sentiment
from tocsin.store import Store

NEG, POS = Sentiment("negative", -0.7), Sentiment("positive", 0.6)


def test_new_mentions_and_new_watches_count_once(store: Store, mention: MakeMention) -> None:
    a = mention("a", watches=("brand",), sentiment=NEG, reach=100, lang="fr")
    b = mention("b", minutes=1, watches=("brand", "crisis"), sentiment=POS, reach=10)
    store.save_batch("rss", [a, b], now=T0)
    store.save_batch("rss", [a, b], now=T0)  # seen again: nothing counted twice
    store.save_batch("rss", [dataclasses.replace(a, watches=("crisis",))], now=T0)  # new watch
    end = T0 + timedelta(minutes=2)
    got = store.series(start=T0, end=end)
    assert sorted(got) == ["brand", "crisis"]
    brand = got["brand"]
    assert [(x.start, x.mentions, x.negative, x.positive) for x in brand] == [
        (T0, 1, 1, 0),
        (T0 + timedelta(minutes=1), 1, 0, 1),
    ]
    assert (brand[0].reach, brand[0].negative_reach) == (100, 100)
    crisis = got["crisis"]
    assert [x.mentions for x in crisis] == [1, 1]


def test_series_fill_holes_filter_and_group_by_step(store: Store, mention: MakeMention) -> None:
    batch = [
        mention(str(i), minutes=i, watches=("brand",), source="rss" if i % 2 else "x")
        for i in (0, 1, 7, 9)
    ]
    store.save_batch("mixed", batch, now=T0)
    got = store.series(
        start=T0, end=T0 + timedelta(minutes=15), step=timedelta(minutes=5), watches=["brand", "q"]
    )
    assert [b.mentions for b in got["brand"]] == [2, 2, 0]
    assert [b.mentions for b in got["q"]] == [0, 0, 0]  # asked for: present, empty
    only_rss = store.series(
        start=T0, end=T0 + timedelta(minutes=10), step=timedelta(minutes=5), sources=["rss"]
    )
    assert [b.mentions for b in only_rss["brand"]] == [1, 2]  # minutes 1, 7 and 9


def test_purge_removes_old_rollups(store: Store, mention: MakeMention) -> None:
    store.save_batch("rss", [mention("old", minutes=-120, watches=("brand",))], now=T0)
    store.purge(mentions_before=T0 - timedelta(minutes=60))
    assert store.series(start=T0 - timedelta(hours=3), end=T0) == {}
