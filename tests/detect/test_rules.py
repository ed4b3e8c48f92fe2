"""Alert rules: which inputs alert, with what key, state, title and reasons."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from tocsin.confignotify import AlertRule
from tocsin.detect.crisis import CrisisChange
from tocsin.detect.rules import SpikeSignal, StoryGrowth, alerts_for
from tocsin.events import SOURCE_DOWN, SOURCE_UP, Event
from tocsin.mention import Author, Mention, Sentiment

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _rule(**fields: Any) -> AlertRule:
    return AlertRule.model_validate({"name": "r", "when": "negative_mention", **fields})


def _mention(n: str = "1", **fields: Any) -> Mention:
    values: dict[str, Any] = {
        "id": f"x:{n}",
        "source": "x",
        "url": f"https://x.example/{n}",
        "text": "Acme m'a arnaqué",
        "published_at": NOW - timedelta(minutes=5),
        "seen_at": NOW,
        "author": Author(handle="bob", name="Bob"),
        "watches": ("brand",),
        "sentiment": Sentiment("negative", -0.8),
        "priority": 60.0,
        "priority_factors": {"sentiment": 20.0, "reach": 25.0, "urgency": 15.0},
        "reach": 12000,
        "demand": "compensation",
    }
    values.update(fields)
    return Mention(**values)


def test_a_negative_mention_over_the_threshold_alerts_with_its_reasons() -> None:
    [alert] = alerts_for([_rule(min_priority=50)], now=NOW, mentions=[_mention()])
    assert (alert.state, alert.kind, alert.subject, alert.watch) == (
        "open",
        "negative_mention",
        "x:1",
        "brand",
    )
    assert alert.title == "Negative mention on brand: Bob (reach 12,000)"
    assert alert.reasons[0] == "respond now: priority 60 crossed 50"
    assert alert.reasons[1] == "priority 60 (reach 25, sentiment 20, urgency 15)"
    assert "the author wants: compensation" in alert.reasons
    assert alert.url == "https://x.example/1"


def test_without_traction_it_is_watched_then_opened_on_the_same_key() -> None:
    rule = _rule(min_priority=50)
    quiet = _mention(priority=20.0)
    [watching] = alerts_for([rule], now=NOW, mentions=[quiet])
    assert watching.state == "watching"
    assert watching.reasons[0] == "no traction yet: watching (priority 20 < 50)"
    later = NOW + timedelta(hours=2)
    [opened] = alerts_for([rule], now=later, mentions=[dataclasses.replace(quiet, priority=70.0)])
    assert opened.state == "open"
    assert opened.key == watching.key  # the refresh lands on the same alert


def test_one_story_one_alert_per_throttle_window_and_filters() -> None:
    rule = _rule(min_priority=10, throttle_minutes=60)
    a = _mention("1", story_id="x:1")
    b = _mention("2", story_id="x:1", published_at=NOW - timedelta(minutes=1))
    alerts = alerts_for([rule], now=NOW, mentions=[a, b])
    assert len({x.key for x in alerts}) == 1
    positive = _mention("3", sentiment=Sentiment("positive", 0.9))
    other_watch = _mention("4", watches=("competitor",))
    scoped = _rule(watches=["brand"], min_priority=10)
    assert alerts_for([scoped], now=NOW, mentions=[positive, other_watch]) == []
    assert alerts_for([_rule(enabled=False)], now=NOW, mentions=[a]) == []


def test_urgent_reasons_in_french() -> None:
    rule = _rule(when="urgent", reasons=["legal_threat"])
    m = _mention(urgent=("legal_threat", "media"), sentiment=None)
    [alert] = alerts_for([rule], now=NOW, language="fr", mentions=[m])
    assert alert.title == "Urgent (legal_threat) sur brand : Bob"
    assert alert.reasons[0].startswith("priorité 60")
    assert alerts_for([rule], now=NOW, mentions=[_mention(urgent=("safety",))]) == []


def test_story_growth_spike_crisis_and_source_down() -> None:
    rules = [
        _rule(name="growth", when="story_growth", growth_per_hour=30),
        _rule(name="spike", when="spike"),
        _rule(name="crisis", when="crisis_level", min_level=3),
        _rule(name="down", when="source_down", severity=2),
    ]
    first = _mention(story_id="x:1")
    alerts = alerts_for(
        rules,
        now=NOW,
        stories=[
            StoryGrowth("x:1", "brand", 80, 45.0, first),
            StoryGrowth("x:9", "brand", 5, 3.0, first),
        ],
        spikes=[
            SpikeSignal("brand", NOW, 140, 12.0, 0.99, "x11.7 the usual"),
            SpikeSignal("brand", NOW, 60, 9.0, 0.9, "share 43%", metric="negative_share"),
        ],
        crisis=[
            CrisisChange("brand", 1, 3, NOW, ("75% negative",)),
            CrisisChange("brand", 4, 3, NOW, ("calmer",)),  # going down: no alert
        ],
        events=[
            Event(SOURCE_DOWN, "bluesky", "silent for 40 min", NOW, id=7),
            Event(SOURCE_UP, "bluesky", "back", NOW, id=8),
        ],
    )
    assert [a.rule for a in alerts] == ["growth", "spike", "spike", "crisis", "down"]
    growth, spike, surge, crisis, down = alerts
    assert surge.title == "Negative surge on brand: 60 negative mentions (usually 9)"
    assert surge.key != spike.key
    assert growth.title == "Story growing 45/h on brand (80 mentions)"
    assert spike.title == "Spike on brand: 140 mentions (usually 12)"
    assert (crisis.title, crisis.severity, crisis.reasons) == (
        "Crisis level 3 (crisis) on brand",
        3,
        ("75% negative",),
    )
    assert (down.key, down.reasons) == ("down:bluesky:7", ("silent for 40 min",))


def test_links_are_only_http() -> None:
    [alert] = alerts_for([_rule()], now=NOW, mentions=[_mention(url="javascript:alert(1)")])
    assert alert.url == ""
