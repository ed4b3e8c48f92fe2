"""Escalation chains driven by an injected clock: targets, due steps, delivery keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tocsin.clock import FakeClock
from tocsin.config import Settings
from tocsin.confignotify import Escalation
from tocsin.notify.escalation import (
    EscalationPlan,
    Target,
    chain_start,
    delivery_key,
    plan,
    targets,
)

T0 = datetime(2026, 1, 13, 21, 0, tzinfo=UTC)  # a Tuesday, 22:00 in Paris: out of hours


def settings() -> Settings:
    return Settings.model_validate(
        {
            "organisation": {"name": "Acme", "timezone": "Europe/Paris"},
            "channels": [
                {"name": name, "urls": [f"json://127.0.0.1/{name}"]}
                for name in ("alice-sms", "alice-mail", "bob-mail", "carol-sms", "comms-slack")
            ],
            "people": [
                {"name": "alice", "channels": ["alice-sms", "alice-mail"]},
                {"name": "bob", "channels": ["bob-mail"]},
                {"name": "carol", "channels": ["carol-sms"]},
            ],
            "oncall": [
                {"name": "comms", "business": ["alice", "bob"], "rota": ["carol"]},
                {"name": "daytime", "business": ["bob"]},
            ],
            "escalations": [
                {
                    "name": "default",
                    "steps": [
                        {"notify": "oncall:comms"},
                        {"notify": "person:alice", "after_minutes": 10},
                        {"notify": "channel:comms-slack", "after_minutes": 20},
                    ],
                }
            ],
        }
    )


def chain() -> Escalation:
    return settings().escalations[0]


def test_targets_resolve_oncall_person_and_channel() -> None:
    config = settings()
    assert targets("oncall:comms", config, T0) == [Target("carol", ("carol-sms",))]
    noon = datetime(2026, 1, 13, 11, 0, tzinfo=UTC)
    assert targets("oncall:comms", config, noon) == [
        Target("alice", ("alice-sms", "alice-mail")),
        Target("bob", ("bob-mail",)),
    ]
    assert targets("person:alice", config, T0) == [Target("alice", ("alice-sms", "alice-mail"))]
    assert targets("channel:comms-slack", config, T0) == [Target(None, ("comms-slack",))]


def test_nobody_on_call_gives_no_target() -> None:
    assert targets("oncall:daytime", settings(), T0) == []


@pytest.mark.parametrize(
    ("notify", "message"),
    [
        ("oncall:nope", "no \\[\\[oncall\\]\\] schedule named 'nope'"),
        ("person:nope", "no \\[\\[people\\]\\] named 'nope'"),
        ("channel:nope", "no \\[\\[channels\\]\\] named 'nope'"),
        ("pager:alice", "is not oncall:NAME"),
    ],
)
def test_unknown_targets_are_named(notify: str, message: str) -> None:
    with pytest.raises(LookupError, match=message):
        targets(notify, settings(), T0)


def test_chain_steps_fall_due_in_time() -> None:
    steps = chain()
    assert plan(steps, T0, False, -1, T0) == EscalationPlan((0,), T0 + timedelta(minutes=10))
    assert plan(steps, T0, False, 0, T0 + timedelta(minutes=9, seconds=59)) == EscalationPlan(
        (), T0 + timedelta(minutes=10)
    )
    assert plan(steps, T0, False, 0, T0 + timedelta(minutes=10)) == EscalationPlan(
        (1,), T0 + timedelta(minutes=20)
    )
    assert plan(steps, T0, False, 1, T0 + timedelta(minutes=20)) == EscalationPlan((2,), None)
    assert plan(steps, T0, False, 2, T0 + timedelta(hours=5)) == EscalationPlan((), None)


def test_acknowledged_chain_stops() -> None:
    assert plan(chain(), T0, True, 1, T0 + timedelta(minutes=20)) == EscalationPlan((), None)
    assert plan(chain(), T0, True, -1, T0) == EscalationPlan((), None)


def test_a_notifier_that_was_down_catches_up_at_once() -> None:
    late = plan(chain(), T0, False, -1, T0 + timedelta(minutes=25))
    assert late == EscalationPlan((0, 1, 2), None)
    assert late.step_done(-1) == 2
    assert EscalationPlan((), None).step_done(1) == 1


def test_steps_at_the_same_minute_fire_together() -> None:
    same = Escalation.model_validate(
        {"name": "x", "steps": [{"notify": "person:a"}, {"notify": "person:b"}]}
    )
    assert plan(same, T0, False, -1, T0) == EscalationPlan((0, 1), None)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        plan(chain(), datetime(2026, 1, 1), False, -1, T0)


class Notifier:
    """What the integration does each tick, reduced to its state: an outbox keyed by
    `delivery_key` (an idempotent insert) and the alert's `step_done` and acknowledgement."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.config = settings()
        self.outbox: dict[str, tuple[int, str | None, str, datetime]] = {}
        self.step_done = -1
        self.acknowledged = False
        self.wake_at: datetime | None = None

    def tick(self) -> None:
        now = self.clock.now()
        escalation = self.config.escalations[0]
        todo = plan(escalation, T0, self.acknowledged, self.step_done, now)
        for index in todo.due:
            for target in targets(escalation.steps[index].notify, self.config, now):
                channel = target.channels[0]
                key = delivery_key("story:42", index, target.recipient, channel)
                self.outbox.setdefault(key, (index, target.recipient, channel, now))
        self.step_done = todo.step_done(self.step_done)
        self.wake_at = todo.next_at


def test_escalation_chain_with_an_injected_clock() -> None:
    clock = FakeClock(T0)
    notifier = Notifier(clock)
    for minute in range(31):
        if minute == 12:
            notifier.acknowledged = True  # carol ignored it, alice took it at 12 minutes
        notifier.tick()
        clock.advance(60)
    sent = sorted(notifier.outbox.values())
    assert sent == [
        (0, "carol", "carol-sms", T0),
        (1, "alice", "alice-sms", T0 + timedelta(minutes=10)),
    ]  # step 3 (the Slack channel, at 20 minutes) never came
    assert notifier.wake_at is None


def test_unacknowledged_chain_reaches_the_channel_and_restarts_send_nothing_twice() -> None:
    clock = FakeClock(T0)
    notifier = Notifier(clock)
    notifier.tick()
    assert notifier.wake_at == T0 + timedelta(minutes=10)
    clock.advance(20 * 60)
    notifier.tick()
    # A restart that lost step_done (it crashed before storing it) replays every step:
    notifier.step_done = -1
    notifier.tick()
    assert [v[:3] for v in sorted(notifier.outbox.values())] == [
        (0, "carol", "carol-sms"),
        (1, "alice", "alice-sms"),
        (2, None, "comms-slack"),
    ]
    assert notifier.wake_at is None


def test_delivery_keys_are_stable_and_distinct() -> None:
    key = delivery_key("story:42", 1, "alice", "alice-sms")
    assert key == delivery_key("story:42", 1, "alice", "alice-sms")
    others = {
        delivery_key("story:42", 2, "alice", "alice-sms"),
        delivery_key("story:42", 1, "bob", "alice-sms"),
        delivery_key("story:42", 1, None, "alice-sms"),
        delivery_key("story:42", 1, "alice", "alice-mail"),
        delivery_key("story:43", 1, "alice", "alice-sms"),
        delivery_key('story:42",1,"alice', 1, "alice", "alice-sms"),
    }
    assert key not in others
    assert len(others) == 6


def test_a_running_chain_s_start_is_read_back_from_its_next_step() -> None:
    steps = chain()
    opened = T0 + timedelta(hours=5)  # watched since T0, opened five hours later
    first = plan(steps, opened, False, -1, opened)
    assert first.next_at is not None
    assert chain_start(steps, first.step_done(-1), first.next_at, T0) == opened
    assert chain_start(steps, len(steps.steps) - 1, opened, T0) == T0  # edited away: fallback
