"""How big a story is and how fast it grows: pure functions over its mentions.

The inbox and the overview show a story's size and growth; `story_stats` computes them from the
mentions of one story, `stories_stats` for many stories at once (grouped by `story_id`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from tocsin.mention import Mention

__all__ = ["StoryStats", "stories_stats", "story_stats"]

_HOUR = timedelta(hours=1)
_SIX_HOURS = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class StoryStats:
    """Size and growth of one story.

    `size` counts distinct mentions; `first_seen` / `last_seen` are the earliest and latest
    publication times; `growth_1h` is the number of mentions published in the hour before
    `now` (mentions per hour), `growth_6h` the number in the six hours before `now` divided by
    six (mentions per hour, averaged), so ``growth_1h > growth_6h`` means the story speeds up.
    """

    story_id: str
    size: int
    first_seen: datetime
    last_seen: datetime
    growth_1h: float
    growth_6h: float

    @property
    def accelerating(self) -> bool:
        """More mentions per hour in the last hour than on average over the last six."""
        return self.growth_1h > self.growth_6h


def story_stats(mentions: Iterable[Mention], now: datetime | None = None) -> StoryStats:
    """The stats of the story made of `mentions` (duplicated ids count once).

    `now` (aware) is when growth is measured; by default the latest publication time. The
    story id is the mentions' `story_id` (that of the earliest mention if they disagree, its
    own id if it has none). Raises `ValueError` when `mentions` is empty.
    """
    unique = {m.id: m for m in mentions}
    if not unique:
        raise ValueError("story_stats needs at least one mention; a story cannot be empty")
    times = sorted(m.published_at for m in unique.values())
    first = min(unique.values(), key=lambda m: (m.published_at, m.id))
    end = now if now is not None else times[-1]
    last_hour = sum(1 for t in times if end - _HOUR < t <= end)
    last_six = sum(1 for t in times if end - _SIX_HOURS < t <= end)
    return StoryStats(
        story_id=first.story_id or first.id,
        size=len(unique),
        first_seen=times[0],
        last_seen=times[-1],
        growth_1h=float(last_hour),
        growth_6h=last_six / 6.0,
    )


def stories_stats(
    mentions: Iterable[Mention], now: datetime | None = None
) -> dict[str, StoryStats]:
    """`story_stats` of every story among `mentions`, keyed by story id, largest first.

    A mention without a `story_id` is a story of its own. `now` defaults to the latest
    publication time among all the mentions, so every story is measured at the same time.
    """
    groups: dict[str, list[Mention]] = {}
    latest: datetime | None = None
    for m in mentions:
        groups.setdefault(m.story_id or m.id, []).append(m)
        latest = m.published_at if latest is None else max(latest, m.published_at)
    end = now if now is not None else latest
    stats = [
        dataclasses.replace(story_stats(group, end), story_id=key) for key, group in groups.items()
    ]
    stats.sort(key=lambda s: (-s.size, s.first_seen, s.story_id))
    return {s.story_id: s for s in stats}
