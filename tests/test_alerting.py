"""The alerting loop: rules on stored mentions, escalation driven by an injected clock,
the watching rule, quiet hours and digests, crisis levels and sources going down."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tocsin.alerting import Alerting
from tocsin.clock import FakeClock
from tocsin.config import Settings
from tocsin.confignotify import Channel
from tocsin.events import SOURCE_DOWN, Event
from tocsin.mention import Author, Mention, Sentiment
from tocsin.notify.channels import SendResult
from tocsin.notify.outbox import Deliverer
from tocsin.pipeline import BatchReport
from tocsin.store import Store

T0 = datetime(2026, 1, 13, 21, 0, tzinfo=UTC)  # a Tuesday, 22:00 in Paris: out of hours


class Recorder:
    """A sender that records what each channel received."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    async def __call__(
        self, channel: Channel, title: str, body: str, *, only: int | None = None
    ) -> SendResult:
        self.sent.append((channel.name, title, body))
        return SendResult(ok=True)

    def to(self, channel: str) -> list[str]:
        return [title for name, title, _ in self.sent if name == channel]


def _settings(**alerting: Any) -> Settings:
    rule = {
        "name": "negative",
        "when": "negative_mention",
        "min_priority": 40,
        "escalation": "default",
        "channels": ["team"],
    }
    rule.update(alerting)
    return Settings.model_validate(
        {
            "organisation": {"name": "Acme", "timezone": "Europe/Paris", "languages": ["fr"]},
            "watches": [{"name": "brand", "query": "acme"}],
            "notify": {"signing_secret": "test-secret", "digest_channels": ["team"]},
            "channels": [
                {"name": n, "urls": [f"json://127.0.0.1/{n}"]}
                for n in ("team", "carol-sms", "alice-sms")
            ],
            "people": [
                {"name": "carol", "channels": ["carol-sms"]},
                {"name": "alice", "channels": ["alice-sms"]},
            ],
            "oncall": [{"name": "comms", "business": ["alice"], "rota": ["carol"]}],
            "escalations": [
                {
                    "name": "default",
                    "steps": [
                        {"notify": "oncall:comms"},
                        {"notify": "person:alice", "after_minutes": 10},
                    ],
                }
            ],
            "alerts": [
                rule,
                {"name": "down", "when": "source_down", "channels": ["team"]},
                {"name": "crisis", "when": "crisis_level", "min_level": 1, "channels": ["team"]},
            ],
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(f"sqlite:///{tmp_path / 'tocsin.db'}")
    store.upgrade()
    yield store
    store.close()


def _alerting(
    settings: Settings, store: Store, tmp_path: Path, clock: FakeClock
) -> tuple[Alerting, Recorder]:
    recorder = Recorder()
    deliverer = Deliverer(store.outbox, settings.channels, clock=clock, sender=recorder)
    alerting = Alerting(settings, store, workspace=tmp_path, clock=clock, deliverer=deliverer)
    return alerting, recorder


def _mention(n: str, priority: float, **fields: Any) -> Mention:
    values: dict[str, Any] = {
        "id": f"x:{n}",
        "source": "x",
        "url": f"https://x.example/{n}",
        "text": "Acme m'a arnaqué, je veux être remboursé",
        "published_at": T0 - timedelta(minutes=2),
        "seen_at": T0,
        "author": Author(handle="bob", name="Bob", followers=900),
        "watches": ("brand",),
        "sentiment": Sentiment("negative", -0.9),
        "priority": priority,
        "priority_factors": {"sentiment": 22.5, "reach": 20.0},
        "reach": 5000,
    }
    values.update(fields)
    return Mention(**values)


async def test_a_negative_post_pages_the_on_call_person_then_escalates_until_acked(
    store: Store, tmp_path: Path
) -> None:
    clock = FakeClock(T0)
    alerting, sent = _alerting(_settings(), store, tmp_path, clock)
    store.save_batch("x", [_mention("1", 70.0)], now=T0)
    [alert] = await alerting.handle_mentions([_mention("1", 70.0)])
    assert alert.state == "open"
    assert await alerting.deliverer.run_once() == 2
    assert sent.to("team") == sent.to("carol-sms")  # the rule's channel and carol (rota)
    [title] = sent.to("carol-sms")
    assert title.startswith("[tocsin]")
    body = next(b for n, _, b in sent.sent if n == "carol-sms")
    assert "Mention négative sur brand" in body
    assert "/a/" in body  # signed acknowledge link
    # The same post seen again raises nothing new.
    assert await alerting.handle_mentions([_mention("1", 75.0)]) == []
    # 10 minutes later, nobody has acknowledged: alice is paged.
    clock.advance(10 * 60)
    assert await alerting.escalate() == 1
    await alerting.deliverer.run_once()
    assert len(sent.to("alice-sms")) == 1
    store.alerts.acknowledge(alert.id or 0, "alice", now=clock.now())
    clock.advance(60 * 60)
    assert await alerting.escalate() == 0
    assert len(sent.sent) == 3


async def test_a_critique_without_traction_is_watched_then_opened(
    store: Store, tmp_path: Path
) -> None:
    clock = FakeClock(T0)
    alerting, sent = _alerting(_settings(), store, tmp_path, clock)
    [watched] = await alerting.handle_mentions([_mention("2", 15.0)])
    assert watched.state == "watching"
    await alerting.deliverer.run_once()
    assert sent.sent == []
    clock.advance(3600)  # an engagement refresh lifts its priority
    [opened] = await alerting.handle_mentions([_mention("2", 55.0)])
    assert (opened.id, opened.state) == (watched.id, "open")
    await alerting.deliverer.run_once()
    assert len(sent.to("team")) == 1
    # The chain is timed from the opening, not from when the critique was first watched:
    # the second step (10 minutes) is not due at once.
    assert len(sent.to("carol-sms")) == 1
    assert sent.to("alice-sms") == []
    assert await alerting.escalate() == 0
    clock.advance(9 * 60)
    assert await alerting.escalate() == 0
    clock.advance(60)
    assert await alerting.escalate() == 1


async def test_quiet_hours_hold_back_and_the_digest_tells(store: Store, tmp_path: Path) -> None:
    clock = FakeClock(T0)
    settings = _settings(quiet_hours="21:00-07:00", quiet_min_severity=4)
    alerting, sent = _alerting(settings, store, tmp_path, clock)
    [held] = await alerting.handle_mentions([_mention("3", 80.0)])
    assert held.state == "open"
    await alerting.deliverer.run_once()
    assert sent.sent == []
    clock.advance(11 * 3600)  # the next morning, after the 08:00 digest
    await alerting.tick()
    await alerting.deliverer.run_once()
    [(channel, title, body)] = sent.sent
    assert channel == "team"
    assert "1" in title
    assert "Mention négative sur brand" in body


async def test_a_source_down_event_and_a_crisis_level_alert(store: Store, tmp_path: Path) -> None:
    clock = FakeClock(T0)
    alerting, sent = _alerting(_settings(), store, tmp_path, clock)
    await alerting.start()
    store.record_event(Event(SOURCE_DOWN, "bluesky", "silent for 40 min", T0))
    urgent = [
        _mention(str(i), 30.0, urgent=("legal_threat",), published_at=T0 - timedelta(minutes=i))
        for i in range(6)
    ]
    store.save_batch("x", urgent, now=T0)
    raised = await alerting.tick()
    kinds = sorted(a.kind for a in raised)
    assert kinds == ["crisis_level", "source_down"]
    crisis = next(a for a in raised if a.kind == "crisis_level")
    assert crisis.title.startswith("Niveau de crise")
    assert any("urgent" in r for r in crisis.reasons)
    assert [e.kind for e in store.events(kinds=["crisis_level"])] == ["crisis_level"]
    await alerting.deliverer.run_once()
    assert len(sent.to("team")) == 2
    # A restart keeps the level and the last event seen: nothing is raised twice.
    again, _ = _alerting(_settings(), store, tmp_path, clock)
    await again.start()
    assert await again.tick() == []


def test_on_batch_queues_stored_mentions(store: Store, tmp_path: Path) -> None:
    alerting, _ = _alerting(_settings(), store, tmp_path, FakeClock(T0))
    report = BatchReport("x", 1, 1, 1, 0, 0, None, (_mention("9", 90.0),))
    alerting.on_batch(report)
    assert alerting._batches.qsize() == 1


async def test_each_minute_reads_only_the_buckets_not_judged_yet(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tocsin.alerting import BUCKET

    clock = FakeClock(T0)
    alerting, _ = _alerting(_settings(), store, tmp_path, clock)
    await alerting.start()
    reads: list[tuple[datetime, datetime]] = []
    series = store.series

    def counting(**kw: Any) -> Any:
        if kw.get("step") == BUCKET:
            reads.append((kw["start"], kw["end"]))
        return series(**kw)

    monkeypatch.setattr(store, "series", counting)
    await alerting.tick()
    await alerting.tick()  # same minute: every bucket is judged already
    clock.advance(5 * 60)
    await alerting.tick()
    first, second = reads
    assert first[1] - first[0] == timedelta(hours=24)
    assert second == (first[1], first[1] + BUCKET)


async def test_an_alert_taken_while_its_next_step_falls_due_pages_nobody(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(T0)
    alerting, sent = _alerting(_settings(), store, tmp_path, clock)
    store.save_batch("x", [_mention("1", 70.0)], now=T0)
    [alert] = await alerting.handle_mentions([_mention("1", 70.0)])
    assert alert.id is not None
    await alerting.deliverer.run_once()
    clock.advance(10 * 60)
    read = alerting.alerts.due_escalations

    def racing(now: datetime, limit: int = 100) -> Any:
        found = read(now, limit)
        store.alerts.acknowledge(alert.id or 0, "alice", now=now)  # taken meanwhile
        return found

    monkeypatch.setattr(alerting.alerts, "due_escalations", racing)
    assert await alerting.escalate() == 0
    await alerting.deliverer.run_once()
    assert sent.to("alice-sms") == []
