"""SQL for `rollups`: per watch and minute, mentions and reach by source, language and
sentiment, maintained incrementally as (mention, watch) pairs are first stored, and read back
as time series for detection, the overview and reports (never by scanning mentions)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from tocsin.mention import Mention
from tocsin.store.rows import clean
from tocsin.store.search import load_watches
from tocsin.store.tables import rollups

__all__ = ["Bucket", "add", "minute_of", "new_pairs", "series", "totals"]

_Key = tuple[str, datetime, str, str, str]


@dataclass(frozen=True, slots=True)
class Bucket:
    """One time bucket of a watch: mentions by sentiment, and reach."""

    start: datetime
    mentions: int = 0
    negative: int = 0
    neutral: int = 0
    positive: int = 0
    reach: int = 0
    negative_reach: int = 0


def minute_of(at: datetime) -> datetime:
    """`at` truncated to its minute, in UTC."""
    return at.astimezone(UTC).replace(second=0, microsecond=0)


def new_pairs(
    conn: sa.Connection, batch: Sequence[Mention], existing: set[str]
) -> list[tuple[Mention, str]]:
    """The (mention, watch) pairs of `batch` not stored yet: every watch of a new mention,
    and watches an already stored mention has just gained."""
    known = load_watches(conn, [m.id for m in batch if m.id in existing])
    return [
        (m, watch)
        for m in batch
        for watch in dict.fromkeys(m.watches)
        if watch not in known.get(m.id, ())
    ]


def add(conn: sa.Connection, insert: Any, pairs: Iterable[tuple[Mention, str]]) -> None:
    """Count `pairs` into their buckets (`insert` is the dialect's upsert-capable insert)."""
    counts: Counter[_Key] = Counter()
    reach: Counter[_Key] = Counter()
    for m, watch in pairs:
        label = m.sentiment.label if m.sentiment else ""
        key = (clean(watch), minute_of(m.published_at), clean(m.source), m.lang or "", label)
        counts[key] += 1
        reach[key] += max(m.reach or 0, 0)
    if not counts:
        return
    rows = [
        {
            "watch": k[0],
            "minute": k[1],
            "source": k[2],
            "lang": k[3],
            "sentiment": k[4],
            "mentions": n,
            "reach": reach[k],
        }
        for k, n in counts.items()
    ]
    stmt = insert(rollups)
    stmt = stmt.on_conflict_do_update(
        index_elements=["watch", "minute", "source", "lang", "sentiment"],
        set_={
            "mentions": rollups.c.mentions + stmt.excluded.mentions,
            "reach": rollups.c.reach + stmt.excluded.reach,
        },
    )
    conn.execute(stmt, rows)


def series(
    conn: sa.Connection,
    *,
    start: datetime,
    end: datetime,
    step: timedelta,
    watches: Sequence[str] = (),
    sources: Sequence[str] = (),
) -> dict[str, list[Bucket]]:
    """``{watch: buckets}`` from `start` (inclusive) to `end` (exclusive) in steps of `step`
    (a whole number of minutes), empty buckets included, so a series has no holes."""
    minutes = int(step.total_seconds() // 60)
    if minutes < 1 or step.total_seconds() % 60:
        raise ValueError(f"step {step} must be a whole number of minutes")
    t = rollups
    query = (
        sa.select(t.c.watch, t.c.minute, t.c.sentiment, t.c.mentions, t.c.reach)
        .where(t.c.minute >= minute_of(start), t.c.minute < end)
        .order_by(t.c.watch, t.c.minute)
    )
    if watches:
        query = query.where(t.c.watch.in_(list(watches)))
    if sources:
        query = query.where(t.c.source.in_(list(sources)))
    first = minute_of(start)
    size = max(0, -(-int((end - first).total_seconds() // 60) // minutes))
    found: dict[str, list[dict[str, int]]] = {w: _empty(size) for w in watches}
    for row in conn.execute(query):
        index = int((row.minute - first).total_seconds() // 60) // minutes
        if not 0 <= index < size:
            continue
        buckets = found.get(row.watch)
        if buckets is None:
            buckets = found[row.watch] = _empty(size)
        bucket = buckets[index]
        bucket["mentions"] += row.mentions
        bucket["reach"] += row.reach
        if row.sentiment in ("negative", "neutral", "positive"):
            bucket[row.sentiment] += row.mentions
            if row.sentiment == "negative":
                bucket["negative_reach"] += row.reach
    return {
        watch: [Bucket(first + i * step, **counts) for i, counts in enumerate(buckets)]
        for watch, buckets in found.items()
    }


def _empty(size: int) -> list[dict[str, int]]:
    keys = ("mentions", "negative", "neutral", "positive", "reach", "negative_reach")
    return [dict.fromkeys(keys, 0) for _ in range(size)]


def totals(buckets: Iterable[Bucket]) -> Mapping[str, int]:
    """Sums over buckets (for share of voice and summaries)."""
    out: Counter[str] = Counter()
    for b in buckets:
        out.update(
            mentions=b.mentions,
            negative=b.negative,
            neutral=b.neutral,
            positive=b.positive,
            reach=b.reach,
            negative_reach=b.negative_reach,
        )
    return dict(out)
