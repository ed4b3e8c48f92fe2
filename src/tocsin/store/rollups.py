"""SQL for the rollups: `rollups` (per watch and minute, mentions and reach by source,
language and sentiment) and `rollups_hourly` (per watch, hour and source, a `Bucket`'s sums),
both maintained incrementally in one transaction as (mention, watch) pairs are first stored,
and read back as time series for detection, the overview and reports (never by scanning
mentions)."""

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
from tocsin.store.tables import UTCDateTime, rollups, rollups_hourly

__all__ = [
    "FIELDS",
    "HOUR",
    "Bucket",
    "add",
    "hour_of",
    "minute_of",
    "new_pairs",
    "purge",
    "series",
    "totals",
]

_Key = tuple[str, datetime, str, str, str]  # watch, minute, source, lang, sentiment
_HourKey = tuple[str, datetime, str]  # watch, hour, source
HOUR = timedelta(hours=1)
FIELDS = ("mentions", "negative", "neutral", "positive", "reach", "negative_reach")
"""The counts of a `Bucket`, in order: also the counted columns of `rollups_hourly`."""
_SENTIMENTS = {"negative": 1, "neutral": 2, "positive": 3}


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


def hour_of(at: datetime) -> datetime:
    """`at` truncated to its hour, in UTC."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


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
    """Count `pairs` into their minute and hour buckets (`insert` is the dialect's
    upsert-capable insert): both tables in the caller's transaction, from the same pairs."""
    counts: Counter[_Key] = Counter()
    reach: Counter[_Key] = Counter()
    for m, watch in pairs:
        label = m.sentiment.label if m.sentiment else ""
        key = (clean(watch), minute_of(m.published_at), clean(m.source), m.lang or "", label)
        counts[key] += 1
        reach[key] += max(m.reach or 0, 0)
    if not counts:
        return
    hours: dict[_HourKey, list[int]] = {}
    for key, n in counts.items():
        watch, minute, source, _, label = key
        sums = hours.setdefault((watch, hour_of(minute), source), [0] * len(FIELDS))
        sums[0] += n
        sums[4] += reach[key]
        if label in _SENTIMENTS:
            sums[_SENTIMENTS[label]] += n
            if label == "negative":
                sums[5] += reach[key]
    rows = [
        {"watch": k[0], "minute": k[1], "source": k[2], "lang": k[3], "sentiment": k[4]}
        | {"mentions": n, "reach": reach[k]}
        for k, n in counts.items()
    ]
    _upsert(conn, insert, rollups, rows)
    hourly = [
        {"watch": k[0], "hour": k[1], "source": k[2]} | dict(zip(FIELDS, sums, strict=True))
        for k, sums in hours.items()
    ]
    _upsert(conn, insert, rollups_hourly, hourly)


def _upsert(conn: sa.Connection, insert: Any, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Add `rows`' counts to `table`'s (rows: the key columns and the counted columns)."""
    keys = {c.name for c in table.primary_key}
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[c.name for c in table.primary_key],
        set_={c.name: c + stmt.excluded[c.name] for c in table.c if c.name not in keys},
    )
    conn.execute(stmt, rows)


def purge(conn: sa.Connection, before: datetime) -> None:
    """Forget the rollups of minutes before `before`. Hours wholly before it go; the hour
    that holds it (when `before` is not a whole hour) is rebuilt from its remaining minutes,
    so the two tables keep agreeing."""
    conn.execute(sa.delete(rollups).where(rollups.c.minute < before))
    cut = hour_of(before)
    h = rollups_hourly
    conn.execute(sa.delete(h).where(h.c.hour < cut))
    if cut == before:
        return
    conn.execute(sa.delete(h).where(h.c.hour == cut))
    m = rollups
    sums = (
        sa.select(sa.literal(cut, UTCDateTime()), m.c.watch, m.c.source, *_minute_sums())
        .where(m.c.minute >= cut, m.c.minute < cut + HOUR)
        .group_by(m.c.watch, m.c.source)
    )
    conn.execute(sa.insert(h).from_select(["hour", "watch", "source", *FIELDS], sums))


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
    (a whole number of minutes), empty buckets included, so a series has no holes.

    Buckets are summed in SQL. When every bucket starts on a whole hour (`step` a whole
    number of hours, `start` on an hour) they are read from `rollups_hourly`, and only the
    minutes of an unfinished last hour (from the hour holding `end` to `end`) from the
    per-minute `rollups`; otherwise everything comes from `rollups`."""
    minutes = int(step.total_seconds() // 60)
    if minutes < 1 or step.total_seconds() % 60:
        raise ValueError(f"step {step} must be a whole number of minutes")
    first = minute_of(start)
    size = max(0, -(-int((end - first).total_seconds() // 60) // minutes))
    found: dict[str, list[list[int]]] = {w: _empty(size) for w in watches}
    parts: list[tuple[sa.Table, datetime, datetime]] = []
    if size and step % HOUR == timedelta(0) and first == hour_of(first):
        split = max(first, hour_of(end))
        parts.append((rollups_hourly, first, split))
        if split < end:
            parts.append((rollups, split, end))
    elif size:
        parts.append((rollups, first, end))
    for table, low, high in parts:
        if table is rollups_hourly:
            at = rollups_hourly.c.hour
            sums = [sa.func.sum(rollups_hourly.c[name]).label(name) for name in FIELDS]
            group = (at, table.c.watch)  # the table's key order: streamed, not sorted
        else:
            at = rollups.c.minute
            sums = _minute_sums()
            group = (table.c.watch, at)  # the order of its primary key
        query = sa.select(at.label("at"), table.c.watch, *sums).where(at >= low, at < high)
        if watches:
            query = query.where(table.c.watch.in_(list(watches)))
        if sources:
            query = query.where(table.c.source.in_(list(sources)))
        per_bucket = _per_bucket(conn, query.group_by(*group).subquery(), first, minutes * 60)
        for watch, index, *values in conn.execute(per_bucket):
            if not 0 <= index < size:
                continue
            buckets = found.get(watch)
            if buckets is None:
                buckets = found[watch] = _empty(size)
            counts = buckets[index]
            for k, value in enumerate(values):
                counts[k] += int(value)
    return {
        watch: [Bucket(first + i * step, *counts) for i, counts in enumerate(buckets)]
        for watch, buckets in found.items()
    }


def _minute_sums() -> list[sa.Label[Any]]:
    """The `FIELDS` of a bucket as sums over `rollups` rows (sentiment picked by CASE)."""
    t = rollups

    def when(label: str, column: sa.ColumnElement[int]) -> sa.ColumnElement[int]:
        return sa.func.sum(sa.case((t.c.sentiment == label, column), else_=0))

    return [
        sa.func.sum(t.c.mentions).label("mentions"),
        when("negative", t.c.mentions).label("negative"),
        when("neutral", t.c.mentions).label("neutral"),
        when("positive", t.c.mentions).label("positive"),
        sa.func.sum(t.c.reach).label("reach"),
        when("negative", t.c.reach).label("negative_reach"),
    ]


def _per_bucket(
    conn: sa.Connection, sums: sa.Subquery, first: datetime, seconds: int
) -> sa.Select[Any]:
    """`sums` (per time and watch) summed per watch and bucket of `seconds` from `first`."""
    bucket = ((_epoch(conn, sums.c.at) - int(first.timestamp())) // seconds).label("bucket")
    # grouped by the label: repeating the expression would repeat its bound values, and
    # PostgreSQL would not see the GROUP BY and the SELECT as the same expression
    return sa.select(
        sums.c.watch, bucket, *(sa.func.sum(sums.c[name]).label(name) for name in FIELDS)
    ).group_by(sums.c.watch, sa.literal_column("bucket"))


def _epoch(conn: sa.Connection, at: sa.ColumnElement[datetime]) -> sa.ColumnElement[int]:
    """`at` in whole seconds since the Unix epoch, as SQL (the bucket arithmetic)."""
    if conn.dialect.name == "sqlite":  # naive UTC text: strftime reads it as UTC
        return sa.cast(sa.func.strftime("%s", at), sa.BigInteger)
    return sa.cast(sa.extract("epoch", at), sa.BigInteger)


def _empty(size: int) -> list[list[int]]:
    return [[0] * len(FIELDS) for _ in range(size)]


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
