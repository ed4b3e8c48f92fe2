"""The author rollup: exact top authors by reach over any range, against a brute force."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from store_helpers import T0, MakeMention, odd_session_zone

from tocsin.mention import Author, Mention
from tocsin.store import Store
from tocsin.store import authors as authors_sql
from tocsin.store.author_rollup import SEP
from tocsin.store.authors import AuthorReach
from tocsin.store.database import run_migrations
from tocsin.store.tables import author_rollup

WATCHES = ("acme", "rival", "ceo")
Row = tuple[str, str, int, int, bool, tuple[str, ...]]


def brute_force(stored: Iterable[Mention], start: datetime, end: datetime, limit: int) -> list[Row]:
    """The definition, over the stored mentions: per author (source, handle or name) with a
    mention with a watch in [start, end): largest of reach and followers, mentions, ever
    verified, watches; by reach, mentions, handle, source."""
    found: dict[tuple[str, str], list[Any]] = {}
    watches: dict[tuple[str, str], set[str]] = {}
    for m in stored:
        handle = m.author.handle or m.author.name
        if not handle or not m.watches or not start <= m.published_at < end:
            continue
        key = (m.source, handle)
        watches.setdefault(key, set()).update(m.watches)
        reach = max(m.reach or 0, m.author.followers or 0, 0)
        seen = found.setdefault(key, [0, 0, False])
        seen[0] = max(seen[0], reach)
        seen[1] += 1
        seen[2] = seen[2] or m.author.verified
    rows = [
        (source, handle, r, n, v, tuple(sorted(watches[source, handle])))
        for (source, handle), (r, n, v) in found.items()
    ]
    return sorted(rows, key=lambda x: (-x[2], -x[3], x[1], x[0]))[:limit]


def rows(found: Sequence[AuthorReach]) -> list[Row]:
    return [(a.source, a.handle, a.reach, a.mentions, a.verified, a.watches) for a in found]


def random_mentions(rng: random.Random, n: int) -> list[Mention]:
    """`n` mentions over 30 hours from T0 by 25 authors on two sources; ties in reach are
    frequent (few distinct values, zeros and unknowns); some mentions have no watch, some
    authors no handle (their name stands for it) or neither."""
    people = []
    for i in range(25):
        handle = "" if i % 9 == 4 else f"user{i % 13}"  # user1 on both sources, and so on
        name = "" if i == 13 else f"Name {i % 13 if handle else i}"  # one name per handle
        people.append((rng.choice(("rss", "bsky")), handle, name))
    out = []
    for i in range(n):
        source, handle, name = rng.choice(people)
        followers = rng.choice((None, 0, 10, 10, 500, 500, 7_000, 120_000))
        out.append(
            Mention(
                id=f"{source}:{i}",
                source=source,
                url=f"https://example.org/{i}",
                text=f"text {i}",
                published_at=T0 + timedelta(seconds=rng.randrange(30 * 3600)),
                seen_at=T0,
                author=Author(
                    handle=handle,
                    name=name,
                    followers=followers,
                    verified=rng.random() < 0.1,
                    url=f"https://example.org/@{handle or name}",
                ),
                watches=tuple(rng.sample(WATCHES, rng.choice((0, 1, 1, 1, 2, 3)))),
                reach=rng.choice((None, 0, 500, 2_000, 120_000)),
            )
        )
    return out


def refreshed(rng: random.Random, m: Mention) -> Mention:
    """`m` seen again: more followers or reach (never less), maybe verified now, maybe with
    another watch or with none (a refresh the matcher did not match: its watches stay)."""
    author = m.author
    if rng.random() < 0.5:
        author = dataclasses.replace(
            author,
            followers=(author.followers or 0) + rng.choice((0, 1, 300_000)),
            verified=author.verified or rng.random() < 0.2,
        )
    reach = m.reach
    if rng.random() < 0.5:
        reach = None if rng.random() < 0.3 else (m.reach or 0) + rng.choice((0, 5, 250_000))
    watches = rng.choice(((), m.watches, (*m.watches, rng.choice(WATCHES))))
    return dataclasses.replace(m, author=author, reach=reach, watches=tuple(dict.fromkeys(watches)))


def fill(store: Store, rng: random.Random, n: int = 400) -> list[str]:
    """Save `n` random mentions in batches (some twice in a batch), then refresh some."""
    batch = random_mentions(rng, n)
    for begin in range(0, n, 70):
        chunk = batch[begin : begin + 70]
        store.save_batch("mixed", [*chunk, *rng.sample(chunk, 5)], now=T0)
    for _ in range(3):
        latest = store.get_many([m.id for m in rng.sample(batch, 60)])
        store.save_batch("mixed", [refreshed(rng, m) for m in latest.values()], now=T0)
    return [m.id for m in batch]


def windows(rng: random.Random) -> Iterable[tuple[datetime, datetime]]:
    yield T0, T0 + timedelta(hours=30)  # whole hours only
    yield T0 - timedelta(days=1), T0 + timedelta(days=2)  # everything
    yield T0 + timedelta(minutes=5), T0 + timedelta(minutes=50)  # inside one hour
    yield T0 + timedelta(minutes=5), T0 + timedelta(hours=1, minutes=7)  # two partial hours
    for _ in range(8):
        start = T0 + timedelta(minutes=rng.randrange(-60, 30 * 60))
        yield start, start + timedelta(minutes=rng.randrange(1, 30 * 60))


@pytest.mark.parametrize("mode", ["by reach", "summed"])
def test_top_authors_equal_the_brute_force(
    store: Store, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    rng = random.Random(7)
    ids = fill(store, rng)
    stored = list(store.get_many(ids).values())
    if mode == "summed":  # every range sums its hours
        monkeypatch.setattr(authors_sql, "SUM_SPAN", timedelta(days=100))
    else:  # every range reads by reach, a few rows at a time
        monkeypatch.setattr(authors_sql, "SUM_SPAN", timedelta(0))
        monkeypatch.setattr(authors_sql, "_FIRST_PAGE", 1)
    checked = 0
    for start, end in windows(rng):
        for limit in (1, 2, 3, 10, 100):
            expected = brute_force(stored, start, end, limit)
            got = store.top_authors(start=start, end=end, limit=limit)
            assert rows(got) == expected, (start, end, limit)
            checked += bool(expected)
    assert checked > 50


def test_a_refresh_raises_reach_without_counting_again(store: Store, mention: MakeMention) -> None:
    ann = Author(handle="ann", name="Ann", followers=100, url="https://x.example/ann")
    first = mention("1", watches=("acme",), author=ann, reach=None)
    store.save_batch("rss", [first, mention("2", minutes=1, watches=("acme",), author=ann)], now=T0)
    louder = dataclasses.replace(ann, followers=5_000, verified=True)
    store.save_batch("rss", [dataclasses.replace(first, author=louder, reach=9_000)], now=T0)
    store.save_batch("rss", [dataclasses.replace(first, watches=())], now=T0)  # unmatched
    (top,) = store.top_authors(start=T0, end=T0 + timedelta(hours=1))
    assert (top.handle, top.name, top.url) == ("ann", "Ann", "https://x.example/ann")
    assert (top.reach, top.mentions, top.verified, top.watches) == (9_000, 2, True, ("acme",))


def test_a_new_watch_shows_without_counting_again(store: Store, mention: MakeMention) -> None:
    m = mention("1", watches=("acme",), reach=50)
    store.save_batch("rss", [m], now=T0)
    store.save_batch("rss", [dataclasses.replace(m, watches=("rival",), reach=80)], now=T0)
    unwatched = mention("2", watches=())
    store.save_batch("rss", [unwatched], now=T0)
    end = T0 + timedelta(hours=1)
    assert rows(store.top_authors(start=T0, end=end)) == [
        ("rss", "alice", 80, 1, False, ("acme", "rival"))
    ]
    store.save_batch("rss", [dataclasses.replace(unwatched, watches=("ceo",))], now=T0)
    assert rows(store.top_authors(start=T0, end=end)) == [
        ("rss", "alice", 80, 2, False, ("acme", "ceo", "rival"))  # now it counts
    ]
    assert [(r["reach_max"], r["mentions"], r["watches"]) for r in table(store)] == [
        (80, 2, ("acme", "ceo", "rival"))
    ]


def test_names_come_from_the_latest_mention(store: Store, mention: MakeMention) -> None:
    old = Author(handle="bob", name="Bob Old", url="https://x.example/old", followers=1)
    new = Author(handle="bob", name="Bob New", url="https://x.example/new", followers=1)
    nameless = Author(name="Just A Name", followers=3)
    store.save_batch(
        "rss",
        [
            mention("1", minutes=10, watches=("acme",), author=old),
            mention("2", minutes=70, watches=("acme",), author=new),
            mention("3", minutes=75, watches=("acme",), author=nameless),
            mention("4", minutes=80, watches=("acme",), author=Author()),  # no one: left out
        ],
        now=T0,
    )
    windows = [
        (T0, T0 + timedelta(hours=2)),  # all from the rollup
        (T0, T0 + timedelta(minutes=90)),  # the latest from the mentions after it
        (T0 + timedelta(minutes=5), T0 + timedelta(hours=2)),  # older mentions before it
    ]
    for start, end in windows:
        found = store.top_authors(start=start, end=end)
        assert [(a.handle, a.name, a.url) for a in found] == [
            ("Just A Name", "Just A Name", ""),
            ("bob", "Bob New", "https://x.example/new"),
        ]
    assert store.top_authors(start=T0, end=T0, limit=5) == []
    assert store.top_authors(start=T0, end=T0 + timedelta(hours=2), limit=0) == []


def table(store: Store) -> list[dict[str, Any]]:
    """The rows of `author_rollup` by key, their watches as a sorted tuple of distinct names."""
    t = author_rollup
    with store.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.select(t).order_by(*t.primary_key))]
    for row in rows:
        row["watches"] = tuple(sorted(set(row["watches"].split(SEP)) - {""}))
    return rows


def test_purge_in_the_middle_of_an_hour_rebuilds_that_hour(store: Store) -> None:
    rng = random.Random(3)
    ids = fill(store, rng, n=200)
    cut = T0 + timedelta(hours=5, minutes=20)
    store.purge(mentions_before=cut)
    stored = list(store.get_many(ids).values())
    assert min(m.published_at for m in stored) >= cut
    end = T0 + timedelta(days=2)
    assert rows(store.top_authors(start=T0, end=end, limit=100)) == brute_force(
        stored, T0, end, 100
    )
    assert min(r["hour"] for r in table(store)) == T0 + timedelta(hours=5)


def test_the_migration_fills_the_table_from_the_mentions(store: Store) -> None:
    """A store filled before 0007 gets the rows it would have counted (names aside: the
    backfill takes the largest, the store the latest; here each author has one)."""
    rng = random.Random(5)
    batch = random_mentions(rng, 300)
    for begin in range(0, len(batch), 100):
        store.save_batch("mixed", batch[begin : begin + 100], now=T0)
    counted = table(store)
    odd_session_zone(store)  # hours must still be UTC hours
    run_migrations(store.engine, "0006", downgrade=True)
    assert "author_rollup" not in sa.inspect(store.engine).get_table_names()
    store.upgrade()
    assert table(store) == counted
    assert len(counted) > 150
