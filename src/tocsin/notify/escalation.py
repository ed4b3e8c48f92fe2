"""Escalation: whom each step of a chain pages, and which steps are due.

An ``[[escalations]]`` chain (`tocsin.confignotify.Escalation`) is a list of steps, each
``{ notify = "oncall:comms" | "person:alice" | "channel:comms-slack", after_minutes = N }``.
Step *i* fires once the alert has gone unacknowledged for its ``after_minutes`` (counted from
the alert's creation); steps at 0 fire at once. Acknowledging the alert stops the chain.

These are pure functions: the notifier calls them with the time of its injected clock and the
state it stored (`step_done`, the index of the last step enqueued, -1 before the first), and
enqueues one outbox row per (step, recipient, channel) under `delivery_key`, so that a step
is never enqueued twice, even when the notifier restarts half-way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from tocsin.notify.oncall import on_call
from tocsin.store.outbox import PAGE_KEY_PREFIX

if TYPE_CHECKING:
    from tocsin.config import Settings
    from tocsin.confignotify import Escalation

__all__ = ["EscalationPlan", "Target", "chain_start", "delivery_key", "plan", "targets"]


@dataclass(frozen=True, slots=True)
class Target:
    """Where one message of a step goes: a person (`recipient`) through their `channels`, the
    first preferred; or a channel alone (`recipient` None, one channel)."""

    recipient: str | None
    channels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EscalationPlan:
    """What to do now: the indexes of the steps `due` now (in order), and `next_at`, when the
    following step becomes due (None when the chain is exhausted or acknowledged)."""

    due: tuple[int, ...]
    next_at: datetime | None

    def step_done(self, previous: int) -> int:
        """The `step_done` to store once the `due` steps are enqueued."""
        return max((previous, *self.due))


def targets(notify: str, settings: Settings, at: datetime) -> list[Target]:
    """Resolve a step's `notify` (``oncall:NAME``, ``person:NAME``, ``channel:NAME``) at the
    aware datetime `at` into targets.

    ``oncall:NAME`` gives the people on call at `at` (possibly none: an empty rota out of
    hours), each through their channels. Raises `LookupError` for a name that settings do not
    define (`tocsin.config.Settings` already refuses such a file).
    """
    kind, _, name = notify.partition(":")
    people = {person.name: person for person in settings.people}
    if kind == "channel":
        if name not in {channel.name for channel in settings.channels}:
            raise LookupError(f"{notify!r}: no [[channels]] named {name!r}")
        return [Target(None, (name,))]
    if kind == "person":
        names = [name]
    elif kind == "oncall":
        schedule = next((s for s in settings.oncall if s.name == name), None)
        if schedule is None:
            raise LookupError(f"{notify!r}: no [[oncall]] schedule named {name!r}")
        names = on_call(schedule, at, default_tz=settings.organisation.timezone)
    else:
        raise LookupError(f"{notify!r} is not oncall:NAME, person:NAME or channel:NAME")
    found: list[Target] = []
    for person_name in dict.fromkeys(names):
        person = people.get(person_name)
        if person is None:
            raise LookupError(f"{notify!r}: no [[people]] named {person_name!r}")
        found.append(Target(person.name, tuple(dict.fromkeys(person.channels))))
    return found


def _aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"escalation {name} must be timezone-aware, got {value.isoformat()}")


def plan(
    escalation: Escalation,
    created_at: datetime,
    acknowledged: bool,
    step_done: int,
    now: datetime,
) -> EscalationPlan:
    """Which steps of `escalation` are due at `now` for an alert opened at `created_at`.

    Due: every step whose index is above `step_done` (-1 when none was enqueued yet) and
    whose ``after_minutes`` have elapsed since `created_at`; so a notifier that was down
    catches up with every missed step at once. Nothing is due once `acknowledged` (pass
    True for a resolved alert too).
    """
    _aware(created_at, "created_at")
    _aware(now, "now")
    if acknowledged:
        return EscalationPlan((), None)
    due: list[int] = []
    for index, step in enumerate(escalation.steps):
        if index <= step_done:
            continue
        at = created_at + timedelta(minutes=step.after_minutes)
        if at > now:
            return EscalationPlan(tuple(due), at)
        due.append(index)
    return EscalationPlan(tuple(due), None)


def chain_start(
    escalation: Escalation, step_done: int, next_at: datetime, fallback: datetime
) -> datetime:
    """When a running chain started (its alert opened), from what is stored of it: the next
    step is due `after_minutes` after the start. `fallback` (the alert's creation) when the
    steps were edited since and the next one no longer exists."""
    following = step_done + 1
    if not 0 <= following < len(escalation.steps):
        return fallback
    return next_at - timedelta(minutes=escalation.steps[following].after_minutes)


def delivery_key(alert_key: str, step_index: int, recipient: str | None, channel: str) -> str:
    """The outbox key of one message: alert, step, recipient and channel. The same step is
    never enqueued twice to the same place; distinct arguments never share a key."""
    return PAGE_KEY_PREFIX + json.dumps(
        [alert_key, step_index, recipient, channel], ensure_ascii=False, separators=(",", ":")
    )
