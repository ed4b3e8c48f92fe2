"""How far a mention can spread, how fast it grows, and how urgently it needs a human.

- ``reach``: the estimated audience: the author's followers, plus the audiences its reposts
  and quotes bring (`REPOST_AUDIENCE` each), plus views when the platform counts them.
- ``velocity``: engagement (likes + reposts + replies + quotes) gained per hour: between two
  engagement refreshes when the pipeline knows the previous count (`velocity_between`),
  otherwise averaged since publication (`velocity_since_published`).
- ``priority`` (0-100) adds five factors, each with a ceiling, and keeps what each added in
  ``priority_factors`` so the inbox can say *why* a mention is on top:

  ========== ======= ============================================================
  factor     ceiling grows with
  ========== ======= ============================================================
  sentiment  25      how negative it is (positive and neutral add nothing)
  reach      25      log10 of reach x retelling (negative x10, positive x3)
  velocity   20      log10 of engagement per hour
  influence  15      verified author (5) and log10 of the author's followers
  urgency    15      an urgent reason (legal threat, safety, ...) or a complaint
  ========== ======= ============================================================

  The retelling factors are the seed's: a negative experience is retold to about 10 people,
  a positive one to about 3 (configurable in ``[enrich]``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tocsin.mention import Mention, Metrics

__all__ = [
    "REPOST_AUDIENCE",
    "PriorityWeights",
    "ReachEnricher",
    "engagement",
    "estimate_reach",
    "measured_velocity",
    "priority",
    "velocity_between",
    "velocity_since_published",
]

#: Audience one repost or quote is assumed to add when the reposters' followers are unknown.
REPOST_AUDIENCE = 150
#: Audience one like is assumed to add (likes surface a post in some feeds).
LIKE_AUDIENCE = 2
#: The shortest age used for a per-hour average, so a minute-old post is not extrapolated.
MIN_HOURS = 0.25


def engagement(metrics: Metrics) -> int:
    """Likes, reposts, replies and quotes together."""
    return metrics.likes + metrics.reposts + metrics.replies + metrics.quotes


def estimate_reach(mention: Mention) -> int:
    """The estimated audience of `mention` (see the module docstring)."""
    m = mention.metrics
    spread = (m.reposts + m.quotes) * REPOST_AUDIENCE + m.likes * LIKE_AUDIENCE + m.replies
    audience = (mention.author.followers or 0) + spread
    return max(audience, m.views or 0)


def velocity_since_published(mention: Mention, now: datetime) -> float:
    """Engagement per hour averaged since publication."""
    hours = max((now - mention.published_at).total_seconds() / 3600, MIN_HOURS)
    return engagement(mention.metrics) / hours


def velocity_between(before: Metrics, before_at: datetime, after: Metrics, now: datetime) -> float:
    """Engagement gained per hour between two observations (never negative: a deleted like
    is not negative growth worth reporting)."""
    hours = max((now - before_at).total_seconds() / 3600, 1 / 60)
    return max(engagement(after) - engagement(before), 0) / hours


#: Two observations closer than this say little about growth: the stored velocity stays.
MIN_GAP_SECONDS = 300.0


def measured_velocity(
    mention: Mention, previous: tuple[Metrics, datetime, float | None] | None, now: datetime
) -> float | None:
    """The velocity to record for `mention` seen again at `now`, given what was stored before
    (``(metrics, stored_at, velocity)``), or None to let `ReachEnricher` average it since
    publication (a first sighting)."""
    if previous is None:
        return None
    before, before_at, stored_velocity = previous
    if (now - before_at).total_seconds() < MIN_GAP_SECONDS:
        return stored_velocity
    return velocity_between(before, before_at, mention.metrics, now)


@dataclass(frozen=True, slots=True)
class PriorityWeights:
    """Ceilings of the priority factors and the retelling multipliers."""

    sentiment: float = 25.0
    reach: float = 25.0
    velocity: float = 20.0
    influence: float = 15.0
    urgency: float = 15.0
    negative_retelling: float = 10.0
    positive_retelling: float = 3.0


def _log_share(value: float, full_at: float) -> float:
    """0 at 0, 1 at `full_at` and above, logarithmic in between."""
    if value <= 0:
        return 0.0
    return min(math.log10(1 + value) / math.log10(1 + full_at), 1.0)


def _retelling(mention: Mention, weights: PriorityWeights) -> float:
    label = mention.sentiment.label if mention.sentiment else "neutral"
    if label == "negative":
        return weights.negative_retelling
    if label == "positive":
        return weights.positive_retelling
    return 1.0


def priority(mention: Mention, weights: PriorityWeights) -> tuple[float, dict[str, float]]:
    """The priority of an enriched mention (0-100) and what each factor added."""
    score = mention.sentiment.score if mention.sentiment else 0.0
    negative = max(-score, 0.0) if mention.sentiment else 0.0
    reach = mention.reach if mention.reach is not None else estimate_reach(mention)
    followers = mention.author.followers or 0
    factors = {
        "sentiment": weights.sentiment * min(negative, 1.0),
        "reach": weights.reach * _log_share(reach * _retelling(mention, weights), 10_000_000),
        "velocity": weights.velocity * _log_share(mention.velocity or 0.0, 10_000),
        "influence": weights.influence
        * (
            (1 / 3 if mention.author.verified else 0.0) + (2 / 3) * _log_share(followers, 1_000_000)
        ),
        "urgency": weights.urgency * (1.0 if mention.urgent else 0.4 if mention.complaint else 0.0),
    }
    factors = {name: round(value, 2) for name, value in factors.items() if value > 0}
    return round(float(sum(factors.values())), 2), factors


class ReachEnricher:
    """Sets `reach`, `velocity` (unless the pipeline measured it between refreshes),
    `priority` and `priority_factors`. Runs last: priority reads sentiment and urgency."""

    name = "reach"

    def __init__(self, weights: PriorityWeights | None = None) -> None:
        self.weights = weights or PriorityWeights()

    def enrich(self, mentions: Sequence[Mention]) -> list[Mention]:
        out: list[Mention] = []
        for m in mentions:
            velocity = m.velocity
            if velocity is None:
                velocity = velocity_since_published(m, m.seen_at)
            m = dataclasses.replace(m, reach=estimate_reach(m), velocity=round(velocity, 3))
            score, factors = priority(m, self.weights)
            out.append(dataclasses.replace(m, priority=score, priority_factors=factors))
        return out
