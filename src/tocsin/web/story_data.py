"""A story's growth curve and spread over sources, from its mentions: pure functions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tocsin.mention import Mention

__all__ = ["StoryView", "story_view"]


@dataclass(frozen=True, slots=True)
class StoryView:
    """What the Story page shows besides the mentions."""

    size: int
    first_seen: datetime | None
    last_seen: datetime | None
    step: timedelta
    growth: tuple[tuple[datetime, int, int], ...]
    """Per step: (start, new mentions, cumulative)."""
    sources: tuple[tuple[str, int], ...]
    negative_share: float
    reach: int


def _step(span: timedelta) -> timedelta:
    for step in (timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1)):
        if span <= step * 48:
            return step
    return timedelta(hours=6)


def story_view(mentions: Sequence[Mention], size: int) -> StoryView:
    """Growth per step (5 min to 6 h, so about 48 points), sources, negative share, reach."""
    if not mentions:
        return StoryView(size, None, None, timedelta(minutes=5), (), (), 0.0, 0)
    times = sorted(m.published_at for m in mentions)
    first, last = times[0], times[-1]
    step = _step(last - first)
    counts: Counter[int] = Counter(int((at - first) / step) for at in times)
    growth: list[tuple[datetime, int, int]] = []
    total = 0
    for index in range(max(counts) + 1):
        total += counts[index]
        growth.append((first + index * step, counts[index], total))
    sources = Counter(m.source for m in mentions).most_common()
    negative = sum(1 for m in mentions if m.sentiment and m.sentiment.label == "negative")
    return StoryView(
        size=size,
        first_seen=first,
        last_seen=last,
        step=step,
        growth=tuple(growth),
        sources=tuple(sources),
        negative_share=negative / len(mentions),
        reach=sum(m.reach or 0 for m in mentions),
    )
