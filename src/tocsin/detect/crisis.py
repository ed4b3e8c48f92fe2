"""Crisis level 0-4 per watch, from what the last hour says, with hysteresis.

Five signals earn points (each point has its reason, kept with the level):

========================= ====================================================== ======
signal                    threshold                                              points
========================= ====================================================== ======
velocity                  mentions this hour / expected: x2, x5, x10             1 2 3
spike                     the spike detector's score >= 0.9                      1
negative share            >= 40 % of at least 5 mentions; >= 60 % of at least 20 1 2
reach of negative posts   >= 10,000; >= 100,000; >= 1,000,000                    1 2 3
influential or media      >= 1 negative post by a verified or 10k+ account, or   1 2
                          a media reason; >= 3
urgent flags              >= 1 urgent post; >= 5                                 1 2
========================= ====================================================== ======

Points give the level: 0-1 → 0 (calm), 2 → 1 (watch), 3-4 → 2 (concern), 5-6 → 3 (crisis),
7+ → 4 (major crisis). The level rises at once; it falls one step at a time, only after the
raw level has stayed lower for `cooldown` (30 minutes), so it does not flap.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = [
    "LEVEL_NAMES",
    "CrisisChange",
    "CrisisSignals",
    "CrisisState",
    "advance",
    "raw_level",
]

LEVEL_NAMES = {
    "en": ("calm", "watch", "concern", "crisis", "major crisis"),
    "fr": ("calme", "vigilance", "préoccupation", "crise", "crise majeure"),
}
DEFAULT_COOLDOWN = timedelta(minutes=30)
_LEVEL_OF_POINTS = (0, 0, 1, 2, 2, 3, 3, 4)  # index: points, 7 and more -> 4


@dataclass(frozen=True, slots=True)
class CrisisSignals:
    """What the last hour of a watch looks like."""

    mentions: int = 0
    expected: float = 0.0
    negative: int = 0
    negative_reach: int = 0
    influential_negative: int = 0
    media: int = 0
    urgent: int = 0
    spike_score: float = 0.0


def _tiers(value: float, thresholds: tuple[float, ...]) -> int:
    return sum(1 for t in thresholds if value >= t)


def raw_level(s: CrisisSignals) -> tuple[int, tuple[str, ...]]:
    """The level the signals call for, before hysteresis, and why."""
    points = 0
    reasons: list[str] = []
    ratio = s.mentions / max(s.expected, 1.0)
    if (p := _tiers(ratio, (2, 5, 10))) and s.mentions >= 5:
        points += p
        reasons.append(f"{s.mentions} mentions in the last hour, x{ratio:.1f} the usual")
    if s.spike_score >= 0.9:
        points += 1
        reasons.append(f"volume spike (score {s.spike_score:.2f})")
    share = s.negative / s.mentions if s.mentions else 0.0
    p = (1 if share >= 0.4 and s.mentions >= 5 else 0) + (
        1 if share >= 0.6 and s.mentions >= 20 else 0
    )
    if p:
        points += p
        reasons.append(f"{share:.0%} negative ({s.negative} of {s.mentions})")
    if p := _tiers(s.negative_reach, (10_000, 100_000, 1_000_000)):
        points += p
        reasons.append(f"negative posts reach about {s.negative_reach:,} people")
    influential = s.influential_negative + s.media
    if p := _tiers(influential, (1, 3)):
        points += p
        reasons.append(f"{influential} negative post(s) by influential accounts or media")
    if p := _tiers(s.urgent, (1, 5)):
        points += p
        reasons.append(f"{s.urgent} urgent post(s) (legal, safety, data, boycott, media)")
    level = (
        0 if points <= 1 else 1 if points == 2 else 2 if points <= 4 else 3 if points <= 6 else 4
    )
    return level, tuple(reasons)


@dataclass(frozen=True, slots=True)
class CrisisState:
    """The level in force, since when, and since when the signals have called for less."""

    level: int
    since: datetime
    reasons: tuple[str, ...] = ()
    lower_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class CrisisChange:
    """A level change to record (an event) and maybe to alert on."""

    watch: str
    before: int
    after: int
    at: datetime
    reasons: tuple[str, ...]


def advance(
    watch: str,
    state: CrisisState | None,
    signals: CrisisSignals,
    now: datetime,
    *,
    cooldown: timedelta = DEFAULT_COOLDOWN,
) -> tuple[CrisisState, CrisisChange | None]:
    """The next state of `watch` given this evaluation's signals, and the change if any."""
    raw, reasons = raw_level(signals)
    current = state or CrisisState(level=0, since=now)
    if raw > current.level:
        new = CrisisState(level=raw, since=now, reasons=reasons)
        return new, CrisisChange(watch, current.level, raw, now, reasons)
    if raw == current.level:
        return dataclasses.replace(
            current, reasons=reasons or current.reasons, lower_since=None
        ), None
    if current.lower_since is None:
        return dataclasses.replace(current, lower_since=now), None
    if now - current.lower_since < cooldown:
        return current, None
    lower = current.level - 1
    why = reasons or (f"calmer for {int(cooldown.total_seconds() // 60)} minutes",)
    new = CrisisState(level=lower, since=now, reasons=why, lower_since=now if raw < lower else None)
    return new, CrisisChange(watch, current.level, lower, now, why)
