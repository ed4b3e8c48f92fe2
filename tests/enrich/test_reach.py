"""Reach, velocity and priority: the numbers and the explanation the inbox shows."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from tocsin.enrich.reach import (
    REPOST_AUDIENCE,
    PriorityWeights,
    ReachEnricher,
    engagement,
    estimate_reach,
    measured_velocity,
    priority,
    velocity_between,
    velocity_since_published,
)
from tocsin.mention import Author, Mention, Metrics, Sentiment

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _mention(
    *,
    followers: int | None = 100,
    metrics: Metrics | None = None,
    sentiment: Sentiment | None = None,
    age_hours: float = 2.0,
    **fields: object,
) -> Mention:
    return Mention(
        id="x:1",
        source="x",
        url="https://x.example/1",
        text="Acme a perdu mon colis",
        published_at=NOW - timedelta(hours=age_hours),
        seen_at=NOW,
        author=Author(handle="a", followers=followers),
        metrics=metrics or Metrics(),
        sentiment=sentiment,
        **fields,  # type: ignore[arg-type]
    )


def test_reach_counts_followers_reposts_likes_and_views() -> None:
    m = _mention(followers=1000, metrics=Metrics(likes=10, reposts=2, replies=3, quotes=1))
    assert estimate_reach(m) == 1000 + 3 * REPOST_AUDIENCE + 10 * 2 + 3
    viewed = _mention(followers=10, metrics=Metrics(views=50_000))
    assert estimate_reach(viewed) == 50_000
    assert estimate_reach(_mention(followers=None)) == 0


def test_velocity_since_publication_and_between_refreshes() -> None:
    m = _mention(metrics=Metrics(likes=30, reposts=10), age_hours=2)
    assert engagement(m.metrics) == 40
    assert velocity_since_published(m, NOW) == 20.0
    fresh = _mention(metrics=Metrics(likes=3), age_hours=0.01)  # not extrapolated to 300/h
    assert velocity_since_published(fresh, NOW) == 12.0
    before = Metrics(likes=10)
    assert velocity_between(before, NOW - timedelta(minutes=30), Metrics(likes=60), NOW) == 100
    assert velocity_between(Metrics(likes=9), NOW - timedelta(hours=1), Metrics(likes=5), NOW) == 0


def test_measured_velocity_needs_a_real_gap_between_observations() -> None:
    m = _mention(metrics=Metrics(likes=110))
    assert measured_velocity(m, None, NOW) is None  # first sighting: averaged by the enricher
    an_hour_ago = (Metrics(likes=10), NOW - timedelta(hours=1), 3.0)
    assert measured_velocity(m, an_hour_ago, NOW) == 100.0
    a_minute_ago = (Metrics(likes=100), NOW - timedelta(minutes=1), 3.0)
    assert measured_velocity(m, a_minute_ago, NOW) == 3.0  # stored value kept


def test_priority_explains_itself_and_stays_within_0_and_100() -> None:
    weights = PriorityWeights()
    calm = _mention(sentiment=Sentiment("neutral", 0.0), followers=0)
    assert priority(calm, weights) == (0.0, {})
    worst = dataclasses.replace(
        _mention(
            followers=50_000_000,
            metrics=Metrics(reposts=10**6, views=10**9),
            sentiment=Sentiment("negative", -1.0),
            velocity=10.0**6,
            urgent=("legal_threat",),
        ),
        author=Author(handle="news", followers=50_000_000, verified=True),
    )
    score, factors = priority(worst, weights)
    assert score == 100.0
    assert factors == {
        "sentiment": 25.0,
        "reach": 25.0,
        "velocity": 20.0,
        "influence": 15.0,
        "urgency": 15.0,
    }


def test_negative_experiences_weigh_more_than_positive_ones_of_the_same_reach() -> None:
    weights = PriorityWeights()
    metrics = Metrics(likes=5)
    negative = _mention(sentiment=Sentiment("negative", -0.6), metrics=metrics)
    positive = _mention(sentiment=Sentiment("positive", 0.6), metrics=metrics)
    neg_score, neg = priority(dataclasses.replace(negative, reach=1000), weights)
    pos_score, pos = priority(dataclasses.replace(positive, reach=1000), weights)
    assert neg["reach"] > pos["reach"]
    assert "sentiment" not in pos
    assert neg_score > pos_score
    # The retelling multipliers are configurable: with 1x for both, reach weighs the same.
    flat = PriorityWeights(negative_retelling=1, positive_retelling=1)
    assert priority(dataclasses.replace(negative, reach=1000), flat)[1]["reach"] == pytest.approx(
        priority(dataclasses.replace(positive, reach=1000), flat)[1]["reach"]
    )


def test_a_complaint_counts_less_than_an_urgent_reason() -> None:
    weights = PriorityWeights()
    complaint = priority(_mention(complaint=True), weights)[1]["urgency"]
    urgent = priority(_mention(urgent=("safety",)), weights)[1]["urgency"]
    assert 0 < complaint < urgent == 15.0


def test_enricher_sets_reach_velocity_and_priority_in_order() -> None:
    first = _mention(metrics=Metrics(likes=20), sentiment=Sentiment("negative", -0.9))
    second = dataclasses.replace(first, id="x:2", velocity=500.0)
    out = ReachEnricher().enrich([first, second])
    assert [m.id for m in out] == ["x:1", "x:2"]
    assert out[0].reach == 100 + 20 * 2
    assert out[0].velocity == 10.0  # 20 likes in 2 hours
    assert out[1].velocity == 500.0  # measured by the pipeline between refreshes: kept
    assert out[0].priority == pytest.approx(sum(out[0].priority_factors.values()))
    assert out[1].priority_factors["velocity"] > out[0].priority_factors["velocity"]
