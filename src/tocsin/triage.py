"""What enters the inbox and how soon it needs an answer: pure functions, no I/O.

- Response-time targets by priority band (`ResponseTargets`): by default priority >= 70 ->
  30 minutes, >= 40 -> 2 hours, otherwise 24 hours, counted from when the item enters.
- `select`: the stored, matched mentions that need a person — negative, urgent or complaint
  ones, or any whose priority reaches `threshold` — as mention candidates, plus one story
  candidate per story they belong to (the store adds a story once it has several mentions).
- `overdue` / `time_left`: for highlighting in the inbox.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tocsin.mention import Mention
from tocsin.store.triage import Candidate, mention_subject, story_subject

__all__ = [
    "DEFAULT_TARGETS",
    "PRIORITY_THRESHOLD",
    "ResponseTargets",
    "needs_person",
    "overdue",
    "select",
    "time_left",
]

PRIORITY_THRESHOLD = 50.0
"""A matched mention at or above this priority enters the inbox whatever its sentiment."""

_DONE = frozenset({"responded", "ignored", "watching"})


@dataclass(frozen=True, slots=True)
class ResponseTargets:
    """Response-time targets: `bands` are ``(minimum priority, target)``, highest first; a
    priority below every band gets `otherwise`."""

    bands: Sequence[tuple[float, timedelta]] = field(
        default=((70.0, timedelta(minutes=30)), (40.0, timedelta(hours=2)))
    )
    otherwise: timedelta = timedelta(hours=24)

    def target(self, priority: float) -> timedelta:
        """How long an item of `priority` may wait for an answer."""
        for minimum, target in sorted(self.bands, key=lambda b: -b[0]):
            if priority >= minimum:
                return target
        return self.otherwise

    def due(self, priority: float, since: datetime) -> datetime:
        """The deadline of an item of `priority` that entered at `since`."""
        return since + self.target(priority)

    def band(self, priority: float) -> str:
        """A short label of the band, e.g. ``30 min``, ``2 h``, ``24 h``."""
        return _duration(self.target(priority))


DEFAULT_TARGETS = ResponseTargets()


def _duration(value: timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{minutes // 60} h {minutes % 60:02d}"


def needs_person(m: Mention, threshold: float = PRIORITY_THRESHOLD) -> bool:
    """A stored mention that matched a watch and is negative, urgent, a complaint, or of
    priority at least `threshold`."""
    if not m.watches or m.priority is None:
        return False
    negative = m.sentiment is not None and m.sentiment.label == "negative"
    return negative or bool(m.urgent) or m.complaint or m.priority >= threshold


def select(
    batch: Iterable[Mention],
    now: datetime,
    *,
    threshold: float = PRIORITY_THRESHOLD,
    targets: ResponseTargets = DEFAULT_TARGETS,
) -> list[Candidate]:
    """The inbox candidates of `batch`: each mention that `needs_person`, and its story (at
    the highest priority of its mentions here)."""
    out: list[Candidate] = []
    stories: dict[str, float] = {}
    for m in batch:
        if not needs_person(m, threshold) or m.priority is None:
            continue
        priority = float(m.priority)
        out.append(
            Candidate(mention_subject(m.id), "mention", priority, targets.due(priority, now))
        )
        if m.story_id:
            stories[m.story_id] = max(priority, stories.get(m.story_id, priority))
    for story_id, priority in stories.items():
        due = targets.due(priority, now)
        out.append(Candidate(story_subject(story_id), "story", priority, due))
    return out


def overdue(state: str, due_at: datetime | None, now: datetime) -> bool:
    """An item still to handle whose deadline has passed."""
    return state not in _DONE and due_at is not None and due_at <= now


def time_left(due_at: datetime | None, now: datetime) -> str:
    """``"12 min"``, ``"1 h 05"``, ``"-3 h"`` (overdue), or ``""`` without a deadline."""
    if due_at is None:
        return ""
    seconds = (due_at - now).total_seconds()
    text = _duration(timedelta(seconds=abs(seconds)))
    return f"-{text}" if seconds < 0 else text
