"""Rollups: per watch and minute (and hour), counted once per (mention, watch), read as series."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from store_helpers import T0, MakeMention, odd_session_zone

from tocsin.mention import Mention, Sentiment
from tocsin.store import Store
from tocsin.store.database import run_migrations
from tocsin.store.rollups import FIELDS, Bucket, hour_of
from tocsin.store.tables import rollups, rollups_hourly

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


# -- hourly rollups: the same counts as the minutes, summed per hour --------------------------

SENTIMENTS = (None, NEG, POS, Sentiment("neutral", 0.0))


def _many(mention: MakeMention, n: int = 240) -> list[Mention]:
    """`n` mentions over about 7 hours from 2 hours before T0, of every source, language,
    sentiment and watch mix, at uneven seconds."""
    out = []
    for i in range(n):
        at = T0 - timedelta(hours=2) + timedelta(seconds=i * 107 + (i * i) % 61)
        watches = (("brand",), ("crisis",), ("brand", "crisis"), ("other",))[i % 4]
        out.append(
            mention(
                str(i),
                source=("rss", "x", "bsky")[i % 3],
                published_at=at,
                seen_at=at,
                watches=watches,
                sentiment=SENTIMENTS[i % len(SENTIMENTS)],
                lang=(None, "fr", "en")[i % 3 - 1 if i % 5 else 0],
                reach=(i * 37) % 1000,
            )
        )
    return out


def _fill(store: Store, mention: MakeMention) -> list[Mention]:
    batch = _many(mention)
    store.save_batch("rss", batch[:100], now=T0)
    store.save_batch("rss", batch[50:], now=T0)  # half of them seen again: counted once
    gained = [dataclasses.replace(m, watches=(*m.watches, "late")) for m in batch[::7]]
    store.save_batch("rss", gained, now=T0)  # a watch gained later is counted then
    return batch


def _tables(store: Store) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The per-minute rows summed per hour, watch and source into a bucket's fields (in
    Python), and the hourly rows, sorted."""
    sentiments = {"negative": 1, "neutral": 2, "positive": 3}
    with store.engine.connect() as conn:
        summed: dict[tuple[Any, ...], list[int]] = {}
        for row in conn.execute(sa.select(rollups)):
            key = (hour_of(row.minute), row.watch, row.source)
            sums = summed.setdefault(key, [0] * 6)
            sums[0] += row.mentions
            sums[4] += row.reach
            if row.sentiment in sentiments:
                sums[sentiments[row.sentiment]] += row.mentions
            if row.sentiment == "negative":
                sums[5] += row.reach
        hourly = sorted(
            (r.hour, r.watch, r.source, *(getattr(r, f) for f in FIELDS))
            for r in conn.execute(sa.select(rollups_hourly))
        )
    return sorted((*k, *sums) for k, sums in summed.items()), hourly


def test_hourly_rows_are_the_minute_rows_summed_per_hour(
    store: Store, mention: MakeMention
) -> None:
    _fill(store, mention)
    from_minutes, hourly = _tables(store)
    assert len(hourly) > 20
    assert hourly == from_minutes


def _pairs(buckets: list[Bucket]) -> list[tuple[int, ...]]:
    """Half-hour buckets summed two by two (an hour each)."""
    return [
        tuple(getattr(a, f) + getattr(b, f) for f in FIELDS)
        for a, b in zip(buckets[::2], buckets[1::2], strict=True)
    ]


def _values(buckets: list[Bucket]) -> list[tuple[int, ...]]:
    return [tuple(getattr(b, f) for f in FIELDS) for b in buckets]


@pytest.mark.parametrize("sources", [(), ("rss", "x")])
def test_hourly_series_agree_with_minute_series(
    store: Store, mention: MakeMention, sources: tuple[str, ...]
) -> None:
    """Whole hours from the hourly table, half hours (always per minute) summed in pairs, and
    6-hour buckets: the same numbers."""
    _fill(store, mention)
    start, end = T0 - timedelta(hours=3), T0 + timedelta(hours=7)
    watches = ["brand", "crisis", "late", "other", "none"]
    hourly = store.series(
        start=start, end=end, step=timedelta(hours=1), watches=watches, sources=sources
    )
    halves = store.series(
        start=start, end=end, step=timedelta(minutes=30), watches=watches, sources=sources
    )
    assert sorted(hourly) == sorted(halves) == sorted(watches)
    for watch in watches:
        assert [b.start for b in hourly[watch]] == [start + timedelta(hours=i) for i in range(10)]
        assert _values(hourly[watch]) == _pairs(halves[watch])
    assert sum(b.mentions for b in hourly["brand"]) > 50
    assert sum(b.mentions for b in hourly["none"]) == 0
    six = store.series(start=start, end=end, step=timedelta(hours=6), sources=sources)
    for watch, buckets in six.items():
        per_hour = _values(hourly[watch])
        expected = [tuple(map(sum, zip(*per_hour[k : k + 6], strict=True))) for k in (0, 6)]
        assert _values(buckets) == expected


def test_an_unfinished_last_hour_is_read_from_the_minutes(
    store: Store, mention: MakeMention
) -> None:
    """`end` in the middle of an hour: that hour comes from its minutes before `end`, as the
    half-hour series (always per minute) count it."""
    _fill(store, mention)
    start = T0 - timedelta(hours=2)
    for end in (T0 + timedelta(minutes=37), T0 + timedelta(minutes=37, seconds=30), T0):
        hourly = store.series(start=start, end=end, step=timedelta(hours=1))
        halves = store.series(start=start, end=end, step=timedelta(minutes=30))
        assert sorted(hourly) == sorted(halves)
        for watch, buckets in hourly.items():
            assert _values(buckets) == _pairs(halves[watch])
        assert len(hourly["brand"]) == (2 if end == T0 else 3)
        assert hourly["brand"][-1].mentions > 0


def test_a_start_off_the_hour_reads_the_minutes(store: Store, mention: MakeMention) -> None:
    """Hour buckets starting at :20 cannot come from whole hours: the minutes are summed."""
    batch = _fill(store, mention)
    start, end = T0 - timedelta(minutes=100), T0 + timedelta(hours=2)
    got = store.series(start=start, end=end, step=timedelta(hours=1))
    assert len(got["brand"]) == 4
    for k, bucket in enumerate(got["brand"]):
        low, high = start + timedelta(hours=k), min(end, start + timedelta(hours=k + 1))
        expected = sum(1 for m in batch if "brand" in m.watches and low <= m.published_at < high)
        assert (bucket.start, bucket.mentions) == (low, expected)


def test_purge_in_the_middle_of_an_hour_keeps_the_tables_agreeing(
    store: Store, mention: MakeMention
) -> None:
    _fill(store, mention)
    store.purge(mentions_before=T0 + timedelta(minutes=25, seconds=10))
    from_minutes, hourly = _tables(store)
    assert hourly == from_minutes
    assert min(row[0] for row in hourly) == T0
    store.purge(mentions_before=T0 + timedelta(hours=2))
    assert _tables(store)[1] == _tables(store)[0]
    assert min(row[0] for row in _tables(store)[1]) == T0 + timedelta(hours=2)


def test_the_migration_fills_the_hourly_table_from_the_minutes(
    store: Store, mention: MakeMention
) -> None:
    """A store that had per-minute rollups before 0006 gets the same hourly rows as one that
    counted them as they came."""
    _fill(store, mention)
    counted = _tables(store)[1]
    odd_session_zone(store)  # hours must still be UTC hours
    run_migrations(store.engine, "0005", downgrade=True)
    assert "rollups_hourly" not in sa.inspect(store.engine).get_table_names()
    store.upgrade()
    backfilled = _tables(store)[1]
    assert backfilled == counted
    assert all(row[0].tzinfo is not None and row[0] == hour_of(row[0]) for row in backfilled)
