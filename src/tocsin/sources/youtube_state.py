"""YouTube source state: the daily quota counter and the cursor (kept as JSON).

The cursor is ``{"newest": <epoch of the newest video>, "seen": {videoId: epoch} (videos seen
within `overlap_minutes` of the newest), "videos": [[videoId, epoch], ...] (the recent ones whose
comments are read), "comments": {videoId: {"at": epoch, "ids": [...]}} (newest comment time and
the comment ids at that second), "quota": {"day": "YYYY-MM-DD" (Pacific), "used": units}}``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tocsin.clock import Clock
from tocsin.sources.base import SourceError

__all__ = [
    "PACIFIC",
    "QuotaCounter",
    "YouTubeCursor",
    "mark_after",
    "quota_state",
    "read_cursor",
    "write_cursor",
]

PACIFIC = ZoneInfo("America/Los_Angeles")


class QuotaCounter:
    """Units spent today (a day ends at midnight Pacific time, when Google resets quotas)."""

    def __init__(self, clock: Clock, daily_units: int) -> None:
        self.clock = clock
        self.daily_units = daily_units
        self.day = self._today()
        self.used = 0

    def _today(self) -> str:
        return self.clock.now().astimezone(PACIFIC).date().isoformat()

    def _roll(self) -> None:
        today = self._today()
        if today != self.day:
            self.day, self.used = today, 0

    def seconds_to_reset(self) -> float:
        """Seconds until the next midnight Pacific time."""
        now = self.clock.now().astimezone(PACIFIC)
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), PACIFIC)
        return max(1.0, (midnight - now).total_seconds())

    def spend(self, units: int, what: str) -> None:
        """Count `units`, or raise `SourceError` (retry at the reset) if they would pass the cap."""
        self._roll()
        if self.used + units > self.daily_units:
            wait = self.seconds_to_reset()
            raise SourceError(
                f"YouTube quota: {what} needs {units} units but {self.used} of "
                f"`daily_quota_units` = {self.daily_units} are spent today; polling resumes at "
                f"midnight Pacific time (in {wait:.0f}s). Raise `interval`, lower `max_pages` or "
                "`comment_videos`, or ask Google for more quota",
                retry_after=wait,
            )
        self.used += units

    def exhaust(self) -> None:
        """YouTube said the quota is spent: spend nothing more today."""
        self._roll()
        self.used = max(self.used, self.daily_units)

    def load(self, state: object) -> None:
        """Adopt the counter saved in a cursor if it is for today and higher."""
        self._roll()
        if isinstance(state, dict) and state.get("day") == self.day:
            used = state.get("used")
            if isinstance(used, int) and not isinstance(used, bool):
                self.used = max(self.used, used)

    def state(self) -> dict[str, Any]:
        """What the cursor keeps."""
        self._roll()
        return {"day": self.day, "used": self.used}


@dataclass(slots=True)
class YouTubeCursor:
    """Newest video time, video ids seen near it, recent videos and per-video comment marks."""

    newest: float | None = None
    seen: dict[str, float] = field(default_factory=dict)
    videos: list[tuple[str, float]] = field(default_factory=list)
    comments: dict[str, tuple[float, frozenset[str]]] = field(default_factory=dict)


def mark_after(
    at: float, ids: frozenset[str], placed: Sequence[tuple[float, str]]
) -> tuple[float, frozenset[str]]:
    newest = max([at, *(t for t, _ in placed)])
    kept = {i for t, i in placed if t == newest} | (set(ids) if newest == at else set())
    return newest, frozenset(kept)


def _num(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def quota_state(cursor: str | None) -> object:
    try:
        data = json.loads(cursor) if cursor else {}
    except json.JSONDecodeError:
        return None
    return data.get("quota") if isinstance(data, dict) else None


def read_cursor(cursor: str | None) -> YouTubeCursor:
    """The saved state; anything unreadable starts over (the backfill window)."""
    try:
        data = json.loads(cursor) if cursor else {}
    except json.JSONDecodeError:
        return YouTubeCursor()
    if not isinstance(data, dict):
        return YouTubeCursor()
    state = YouTubeCursor(newest=_num(data.get("newest")))
    seen = data.get("seen")
    for key, at in seen.items() if isinstance(seen, dict) else ():
        if _num(at) is not None:
            state.seen[str(key)] = float(at)
    for entry in data.get("videos") or [] if isinstance(data.get("videos"), list) else []:
        if isinstance(entry, list) and len(entry) == 2 and _num(entry[1]) is not None:
            state.videos.append((str(entry[0]), float(entry[1])))
    comments = data.get("comments")
    for key, mark in comments.items() if isinstance(comments, dict) else ():
        at = _num(mark.get("at")) if isinstance(mark, dict) else None
        ids = mark.get("ids") if isinstance(mark, dict) else None
        if at is not None and isinstance(ids, list):
            state.comments[str(key)] = (at, frozenset(str(i) for i in ids))
    return state


def write_cursor(state: YouTubeCursor, quota: QuotaCounter) -> str:
    """The cursor JSON for `state` and today's quota count."""
    data = {
        "newest": state.newest,
        "seen": dict(sorted(state.seen.items())),
        "videos": [[v, at] for v, at in state.videos],
        "comments": {k: {"at": at, "ids": sorted(ids)} for k, (at, ids) in state.comments.items()},
        "quota": quota.state(),
    }
    return json.dumps(data, sort_keys=True)
