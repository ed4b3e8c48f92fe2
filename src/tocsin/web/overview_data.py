"""What the Overview shows, computed from what the store returns (pure functions, no I/O).

Rollup buckets become chart series and per-watch totals; watch totals become share of voice
between watches tagged ``brand`` and ``competitor``; growing stories get their first mention
as a headline; recorded source health gets its verdict. Top authors by reach come exact from
the store (`Store.top_authors`) as `AuthorReach` records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tocsin.health import source_status
from tocsin.mention import Mention
from tocsin.sources.base import SourceHealth
from tocsin.store.authors import AuthorReach
from tocsin.store.rollups import Bucket
from tocsin.store.signals import StoryCount

__all__ = [
    "RANGES",
    "AuthorReach",
    "HealthRow",
    "Share",
    "StoryRow",
    "TimeRange",
    "WatchSummary",
    "chart_data",
    "health_rows",
    "share_of_voice",
    "summarise",
    "top_stories",
    "window",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SOV_TAGS = ("brand", "competitor")


@dataclass(frozen=True, slots=True)
class TimeRange:
    """A choice of the Overview: how far back (`span`), in buckets of `step`."""

    name: str
    span: timedelta
    step: timedelta


RANGES: Mapping[str, TimeRange] = {
    r.name: r
    for r in (
        TimeRange("1h", timedelta(hours=1), timedelta(minutes=1)),
        TimeRange("24h", timedelta(hours=24), timedelta(minutes=15)),
        TimeRange("7d", timedelta(days=7), timedelta(hours=1)),
        TimeRange("30d", timedelta(days=30), timedelta(hours=6)),
    )
}
DEFAULT_RANGE = "24h"


def window(time_range: TimeRange, now: datetime) -> tuple[datetime, datetime]:
    """``(start, end)`` of `time_range` ending with the bucket that holds `now`; buckets are
    aligned on whole steps since the Unix epoch (UTC), so they do not shift as time passes."""
    step = time_range.step
    floor = _EPOCH + ((now.astimezone(UTC) - _EPOCH) // step) * step
    end = floor + step
    return end - time_range.span, end


@dataclass(frozen=True, slots=True)
class WatchSummary:
    """One watch over the range: totals and the share of negative mentions."""

    watch: str
    tags: tuple[str, ...]
    mentions: int
    negative: int
    neutral: int
    positive: int
    reach: int

    @property
    def negative_share(self) -> float:
        """Negative mentions among those with a sentiment, in percent (0 when none)."""
        rated = self.negative + self.neutral + self.positive
        return 100.0 * self.negative / rated if rated else 0.0

    @property
    def net_sentiment(self) -> float:
        """(positive - negative) / rated, in percent: -100 (all negative) to 100."""
        rated = self.negative + self.neutral + self.positive
        return 100.0 * (self.positive - self.negative) / rated if rated else 0.0


def summarise(
    series: Mapping[str, Sequence[Bucket]], tags: Mapping[str, Sequence[str]]
) -> list[WatchSummary]:
    """Totals per watch (watches of `tags` first, in their order, then any other)."""
    names = list(tags) + sorted(w for w in series if w not in tags)
    out = []
    for name in names:
        buckets = series.get(name, ())
        out.append(
            WatchSummary(
                watch=name,
                tags=tuple(tags.get(name, ())),
                mentions=sum(b.mentions for b in buckets),
                negative=sum(b.negative for b in buckets),
                neutral=sum(b.neutral for b in buckets),
                positive=sum(b.positive for b in buckets),
                reach=sum(b.reach for b in buckets),
            )
        )
    return out


def chart_data(buckets: Sequence[Bucket], labels: Mapping[str, str]) -> dict[str, Any]:
    """The JSON `charts.js` draws with uPlot: ``x`` (Unix seconds), then one series per key
    of `labels` (``mentions``, ``negative``, ``neutral``, ``positive``) with its label."""
    keys = [k for k in ("mentions", "negative", "neutral", "positive") if k in labels]
    return {
        "x": [int(b.start.timestamp()) for b in buckets],
        "series": [
            {"key": k, "label": labels[k], "values": [getattr(b, k) for b in buckets]} for k in keys
        ],
    }


@dataclass(frozen=True, slots=True)
class Share:
    """A watch's share of voice among the brand and competitor watches, in percent."""

    watch: str
    tag: str
    mentions: int
    share: float
    reach: int
    reach_share: float
    negative_share: float


def share_of_voice(summaries: Iterable[WatchSummary]) -> list[Share]:
    """Share of mentions and of reach of each watch tagged ``brand`` or ``competitor``
    (brand first), among those watches only; empty when none is tagged so."""
    tagged = [
        (s, next(t for t in SOV_TAGS if t in s.tags))
        for s in summaries
        if any(t in s.tags for t in SOV_TAGS)
    ]
    total = sum(s.mentions for s, _ in tagged)
    reach = sum(s.reach for s, _ in tagged)
    shares = [
        Share(
            watch=s.watch,
            tag=tag,
            mentions=s.mentions,
            share=100.0 * s.mentions / total if total else 0.0,
            reach=s.reach,
            reach_share=100.0 * s.reach / reach if reach else 0.0,
            negative_share=s.negative_share,
        )
        for s, tag in tagged
    ]
    return sorted(shares, key=lambda x: (SOV_TAGS.index(x.tag), -x.mentions, x.watch))


@dataclass(frozen=True, slots=True)
class StoryRow:
    """A growing story: its first mention (headline), recent and total mentions, watches."""

    story_id: str
    recent: int
    size: int
    watches: tuple[str, ...]
    first: Mention | None


def top_stories(
    counts: Iterable[StoryCount], firsts: Mapping[str, Mention], *, limit: int = 10
) -> list[StoryRow]:
    """One row per story from `Store.growing_stories` rows (one per story and watch), with
    its first mention from `firsts` (by story id), most recent mentions first."""
    merged: dict[str, StoryRow] = {}
    for c in counts:
        seen = merged.get(c.story_id)
        if seen is None:
            merged[c.story_id] = StoryRow(
                c.story_id, c.recent, c.size, (c.watch,), firsts.get(c.story_id)
            )
        else:
            merged[c.story_id] = StoryRow(
                seen.story_id,
                max(seen.recent, c.recent),
                max(seen.size, c.size),
                (*seen.watches, c.watch),
                seen.first,
            )
    ranked = sorted(merged.values(), key=lambda s: (-s.recent, -s.size, s.story_id))
    return ranked[:limit]


@dataclass(frozen=True, slots=True)
class HealthRow:
    """A source and its verdict (``ok``, ``failing``, ``down``, ``silent``, ``waiting``)."""

    source: str
    platform: str
    state: str
    reason: str
    items_per_minute: float
    last_success_at: datetime | None


def health_rows(
    health: Iterable[SourceHealth],
    intervals: Mapping[str, float | None],
    *,
    now: datetime,
) -> list[HealthRow]:
    """A row per configured source (`intervals`: key -> polling interval) and per recorded
    one, with `tocsin.health.source_status`'s verdict; troubled sources first."""
    recorded = {h.source: h for h in health}
    order = {"down": 0, "silent": 1, "failing": 2, "waiting": 3, "ok": 4}
    rows = []
    for key in dict.fromkeys([*intervals, *recorded]):
        h = recorded.get(key)
        status = source_status(h, interval=intervals.get(key), now=now)
        rows.append(
            HealthRow(
                source=key,
                platform=h.platform if h else "",
                state=status.state,
                reason=status.reason,
                items_per_minute=h.items_per_minute if h else 0.0,
                last_success_at=h.last_success_at if h else None,
            )
        )
    return sorted(rows, key=lambda r: (order.get(r.state, 5), r.source))
