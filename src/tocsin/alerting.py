"""Ringing the bell: from stored mentions and per-watch series to alerts that reach people.

The pipeline hands every stored batch to `Alerting.on_batch`; the alert rules run on its
mentions at once (a post that matters pages within seconds). Every minute `tick` feeds the
completed 5-minute buckets of each watch (from the rollups) to its spike detectors, updates
its crisis level, looks for growing stories and for sources that went down, and raises what
the rules ask for. An alert is stored once per key with its first messages in the outbox
(same transaction); the `Deliverer` sends them; `escalate` pages the next step of a chain
until someone acknowledges. Alerts held back by quiet hours, and watched ones, go into the
digest.

This module wires stages together (like `pipeline.py`); each stage stays a pure function.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tocsin.alert import Alert
from tocsin.clock import Clock
from tocsin.config import Settings
from tocsin.confignotify import AlertRule, Escalation
from tocsin.detect.crisis import LEVEL_NAMES, CrisisChange, CrisisSignals, CrisisState, advance
from tocsin.detect.rules import SpikeSignal, StoryGrowth, alerts_for
from tocsin.detect.spikes import ShareSpikeDetector, SpikeDetector
from tocsin.events import SOURCE_DOWN, Event
from tocsin.mention import Mention
from tocsin.notify.escalation import EscalationPlan, chain_start, delivery_key, plan, targets
from tocsin.notify.messages import MentionFacts, StoryFacts, digest, language_of, render
from tocsin.notify.outbox import Deliverer
from tocsin.notify.quiet import should_page
from tocsin.notify.signing import sign, signing_secret
from tocsin.pipeline import BatchReport
from tocsin.store import Store
from tocsin.store.alerts import Deliveries
from tocsin.store.outbox import NewDelivery
from tocsin.store.triage import TriageStore

__all__ = ["BUCKET", "Alerting"]

log = logging.getLogger("tocsin.alerting")

BUCKET = timedelta(minutes=5)
"""Spike detection runs on 5-minute buckets of each watch (the NAB-tuned resolution)."""
GRACE = timedelta(minutes=2)
"""A bucket is judged this long after it ends, so late-arriving posts are counted."""
LINK_VALIDITY = timedelta(days=7)
CRISIS_EVENT = "crisis_level"


@dataclass(frozen=True, slots=True)
class _Context:
    """What a message about an alert shows besides the alert itself."""

    mention: MentionFacts | None = None
    story: StoryFacts | None = None


def _facts(m: Mention) -> MentionFacts:
    return MentionFacts(
        text=m.text,
        author=m.author.handle,
        author_name=m.author.name,
        source=m.source,
        url=m.url,
        followers=m.author.followers,
        reach=m.reach,
        priority=m.priority,
        factors=tuple(
            f"{name} {value:.0f}"
            for name, value in sorted(m.priority_factors.items(), key=lambda kv: -kv[1])
        ),
        published_at=m.published_at,
    )


class Alerting:
    """The alerting loop of one workspace (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        workspace: Path,
        clock: Clock,
        deliverer: Deliverer | None = None,
    ) -> None:
        self.store = store
        self.alerts = store.alerts
        self.outbox = store.outbox
        self.triage = TriageStore(store)
        self.clock = clock
        self.deliverer = deliverer or Deliverer(self.outbox, settings.channels, clock=clock)
        self.secret = signing_secret(settings.notify.signing_secret, workspace)
        self.apply_settings(settings)
        self._batches: asyncio.Queue[Sequence[Mention]] = asyncio.Queue(maxsize=1000)
        self._volume: dict[str, SpikeDetector] = {}
        self._share: dict[str, ShareSpikeDetector] = {}
        self._crisis: dict[str, CrisisState] = {}
        self._last_event_id = 0
        self._last_digest: datetime | None = None

    def apply_settings(self, settings: Settings) -> None:
        """Use `settings` from now on: rules, escalations, channels, schedules, language (an
        edited tocsin.toml, without a restart; the signing secret stays as it started)."""
        self.settings = settings
        self.rules = {r.name: r for r in settings.alerts if r.enabled}
        self.escalations = {e.name: e for e in settings.escalations}
        self.channels = {c.name: c for c in settings.channels}
        self.deliverer.channels = dict(self.channels)
        self.tz = settings.organisation.timezone
        self.language = language_of(settings.notify.language, *settings.organisation.languages)

    # -- inputs ------------------------------------------------------------------------------

    def on_batch(self, report: BatchReport) -> None:
        """Pipeline callback: queue the stored mentions for the inbox and the rules (never
        blocks)."""
        if report.mentions:
            try:
                self._batches.put_nowait(report.mentions)
            except asyncio.QueueFull:
                log.error("alerting is behind: a batch of %d mention(s) skipped", report.items)

    async def handle_mentions(self, mentions: Sequence[Mention]) -> list[Alert]:
        """Put the mentions that need a person into the inbox, and raise the alerts the
        rules find in them (negative, urgent)."""
        await asyncio.to_thread(self.triage.ingest, mentions, self.clock.now())
        found = alerts_for(
            list(self.rules.values()),
            now=self.clock.now(),
            language=self.language,
            mentions=mentions,
        )
        by_id = {m.id: m for m in mentions}
        raised = []
        for alert in found:
            mention = by_id.get(alert.mention_id or "")
            context = _Context(mention=_facts(mention) if mention else None)
            stored = await self.raise_alert(alert, context)
            if stored is not None:
                raised.append(stored)
        return raised

    # -- raising and delivering ----------------------------------------------------------------

    async def raise_alert(self, alert: Alert, context: _Context = _Context()) -> Alert | None:
        """Store `alert` once per key with its first messages; a watched alert that now
        qualifies is opened. Returns the stored alert when something new happened."""
        rule = self.rules.get(alert.rule)
        if rule is None:
            return None
        now = self.clock.now()
        chain = self._chain(rule, alert.severity, now)
        start: dict[str, Any] = {}
        if chain is not None:  # stored with the alert, in its transaction
            escalation, steps = chain
            start = {
                "escalation": escalation.name,
                "escalation_step": steps.step_done(-1),
                "next_escalation_at": steps.next_at,
            }

        def deliveries(stored: Alert) -> list[NewDelivery]:
            return self._first_deliveries(rule, stored, context, now, chain)

        existing = await asyncio.to_thread(self.alerts.get_by_key, alert.key)
        if existing is not None:
            if existing.state != "watching" or alert.state == "watching":
                return None
            stored = await asyncio.to_thread(
                self.alerts.open_watching, alert.key, deliveries, now=now, **start
            )
        else:
            first: Deliveries = [] if alert.state == "watching" else deliveries
            stored, created = await asyncio.to_thread(
                self.alerts.save, alert, first, now=now, **start
            )
            if not created:
                return None
        if stored is None:
            return None
        if stored.state == "open":
            self.deliverer.notify()
            log.warning("alert %s: %s", stored.id, stored.title)
        return stored

    def _links(self, alert: Alert, recipient: str) -> tuple[str | None, str | None]:
        if alert.id is None:
            return None, None
        base = self.settings.notify.public_url
        expires = self.clock.now() + LINK_VALIDITY
        ack = sign(self.secret, alert.id, "ack", recipient, expires)
        resolve = sign(self.secret, alert.id, "resolve", recipient, expires)
        return f"{base}/a/{ack}", f"{base}/a/{resolve}"

    def _message(
        self, alert: Alert, channel: str, recipient: str, context: _Context
    ) -> tuple[str, str]:
        configured = self.channels.get(channel)
        language = language_of(configured.language if configured else None, self.language)
        ack, resolve = self._links(alert, recipient)
        message = render(
            alert,
            language=language,
            public_url=self.settings.notify.public_url,
            mention=context.mention,
            story=context.story,
            acknowledge_url=ack,
            resolve_url=resolve,
        )
        return message.title, message.body

    def _delivery(
        self, alert: Alert, key: str, channel: str, recipient: str, context: _Context, now: datetime
    ) -> NewDelivery:
        title, body = self._message(alert, channel, recipient, context)
        expires = now + timedelta(hours=self.settings.notify.retry_hours)
        return NewDelivery(channel, recipient, title, body, key, expires, alert_id=alert.id)

    def _chain(
        self, rule: AlertRule, severity: int, now: datetime
    ) -> tuple[Escalation, EscalationPlan] | None:
        """The rule's escalation chain as it starts `now` (when the alert opens, not when a
        watched one was first seen); None without a chain, or in quiet hours."""
        escalation = self.escalations.get(rule.escalation or "")
        if escalation is None or not should_page(rule, severity, now, self.tz):
            return None
        return escalation, plan(escalation, now, False, -1, now)

    def _first_deliveries(
        self,
        rule: AlertRule,
        alert: Alert,
        context: _Context,
        now: datetime,
        chain: tuple[Escalation, EscalationPlan] | None,
    ) -> list[NewDelivery]:
        if not should_page(rule, alert.severity, now, self.tz):
            return []  # quiet hours: the digest will tell
        out = [
            self._delivery(alert, f"rule:{alert.key}:{ch}", ch, ch, context, now)
            for ch in rule.channels
        ]
        if chain is not None:
            escalation, steps = chain
            out += self._step_deliveries(alert, escalation.steps, steps.due, context, now)
        return out

    def _step_deliveries(
        self,
        alert: Alert,
        steps: Sequence[object],
        due: Sequence[int],
        context: _Context,
        now: datetime,
    ) -> list[NewDelivery]:
        out: list[NewDelivery] = []
        for index in due:
            notify = getattr(steps[index], "notify", "")
            try:
                found = targets(notify, self.settings, now)
            except LookupError as exc:
                log.error("alert %s: escalation step %d: %s", alert.id, index, exc)
                continue
            for target in found:
                if not target.channels:
                    continue
                channel = target.channels[0]
                recipient = target.recipient or channel
                key = delivery_key(alert.key, index, recipient, channel)
                out.append(self._delivery(alert, key, channel, recipient, context, now))
        return out

    async def escalate(self) -> int:
        """Page the next steps of every open alert whose chain is due; returns how many
        messages were queued."""
        now = self.clock.now()
        queued = 0
        for due in await asyncio.to_thread(self.alerts.due_escalations, now):
            escalation = self.escalations.get(due.escalation or "")
            if escalation is None or due.alert.id is None:
                continue
            start = chain_start(escalation, due.step, due.next_at, due.alert.created_at)
            chain = plan(escalation, start, due.alert.state != "open", due.step, now)
            new = self._step_deliveries(due.alert, escalation.steps, chain.due, _Context(), now)
            # One transaction: an alert acknowledged since it was read pages nobody.
            added = await asyncio.to_thread(
                self.alerts.set_escalation,
                due.alert.id,
                escalation.name,
                chain.step_done(due.step),
                chain.next_at,
                deliveries=new,
                now=now,
            )
            queued += added or 0
        if queued:
            self.deliverer.notify()
        return queued

    # -- periodic detection ------------------------------------------------------------------

    async def start(self) -> None:
        """Load detector state, crisis levels and the last event seen."""
        volume = await asyncio.to_thread(self.store.detector_states, "volume:")
        share = await asyncio.to_thread(self.store.detector_states, "share:")
        for name, state in volume.items():
            with contextlib.suppress(Exception):
                self._volume[name.partition(":")[2]] = SpikeDetector.from_state(state)
        for name, state in share.items():
            with contextlib.suppress(Exception):
                self._share[name.partition(":")[2]] = ShareSpikeDetector.from_state(state)
        for watch, (level, since, reasons) in (
            await asyncio.to_thread(self.store.crisis_levels)
        ).items():
            self._crisis[watch] = CrisisState(level, since, reasons)
        latest = await asyncio.to_thread(self.store.events, limit=1)
        self._last_event_id = latest[0].id or 0 if latest else 0

    def _watches(self) -> list[str]:
        return [w.name for w in self.settings.enabled_watches()]

    async def tick(self) -> list[Alert]:
        """One round of periodic detection (spikes, crisis, stories, sources down)."""
        now = self.clock.now()
        spikes, scores = await self._spikes(now)
        crisis = await self._crisis_levels(now, scores)
        stories = await self._stories(now)
        events = await self._new_events()
        found = alerts_for(
            list(self.rules.values()),
            now=now,
            language=self.language,
            spikes=spikes,
            crisis=crisis,
            stories=[g for g, _ in stories],
            events=events,
        )
        contexts = {g.first.story_id: facts for g, facts in stories}
        raised = []
        for alert in found:
            context = contexts.get(alert.story_id) if alert.kind == "story_growth" else None
            stored = await self.raise_alert(alert, context or _Context())
            if stored is not None:
                raised.append(stored)
        await self._digest(now)
        return raised

    async def _spikes(self, now: datetime) -> tuple[list[SpikeSignal], dict[str, float]]:
        end = datetime.fromtimestamp(
            (now - GRACE).timestamp() // BUCKET.total_seconds() * BUCKET.total_seconds(), UTC
        )
        watches = self._watches()
        for watch in watches:
            self._volume.setdefault(watch, SpikeDetector())
            self._share.setdefault(watch, ShareSpikeDetector())
        # Read only the buckets not judged yet (at most the last day): the detectors ignore
        # buckets they have seen, so re-reading 24 hours every minute was wasted I/O.
        start = end - timedelta(hours=24)
        seen = [self._volume[w].last_update for w in watches]
        known = [t for t in seen if t is not None]
        if known and len(known) == len(seen):
            start = max(start, datetime.fromtimestamp(min(known), UTC) + BUCKET)
        signals: list[SpikeSignal] = []
        scores: dict[str, float] = {}
        if start >= end:
            return signals, scores
        series = await asyncio.to_thread(
            self.store.series, start=start, end=end, step=BUCKET, watches=watches
        )
        for watch in watches:
            volume, share = self._volume[watch], self._share[watch]
            for bucket in series.get(watch, []):
                result = volume.update(bucket.start, bucket.mentions)
                negative = share.update(bucket.start, bucket.negative, bucket.mentions)
                if result.reason.startswith("bucket not after"):
                    continue
                scores[watch] = result.score
                if result.is_spike:
                    signals.append(
                        SpikeSignal(
                            watch,
                            bucket.start,
                            bucket.mentions,
                            result.expected,
                            result.score,
                            result.reason,
                        )
                    )
                if negative.is_spike:
                    signals.append(
                        SpikeSignal(
                            watch,
                            bucket.start,
                            bucket.negative,
                            negative.expected * max(bucket.mentions, 1),
                            negative.score,
                            f"negative share: {negative.reason}",
                            metric="negative_share",
                        )
                    )
        states = {f"volume:{w}": d.to_state() for w, d in self._volume.items()}
        states |= {f"share:{w}": d.to_state() for w, d in self._share.items()}
        await asyncio.to_thread(self.store.save_detector_states, states, now=now)
        return signals, scores

    async def _crisis_levels(self, now: datetime, scores: dict[str, float]) -> list[CrisisChange]:
        hour = now - timedelta(hours=1)
        changes: list[CrisisChange] = []
        recent = await asyncio.to_thread(
            self.store.series,
            start=now - timedelta(hours=25),
            end=now,
            step=timedelta(hours=1),
            watches=self._watches(),
        )
        for watch in self._watches():
            buckets = recent.get(watch, [])
            last = buckets[-1] if buckets else None
            history = sorted(b.mentions for b in buckets[:-1]) or [0]
            expected = float(history[len(history) // 2])
            counts = await asyncio.to_thread(self.store.mention_signals, watch, since=hour)
            signals = CrisisSignals(
                mentions=last.mentions if last else 0,
                expected=expected,
                negative=last.negative if last else 0,
                negative_reach=last.negative_reach if last else 0,
                influential_negative=counts.influential_negative,
                media=counts.media,
                urgent=counts.urgent,
                spike_score=scores.get(watch, 0.0),
            )
            before = self._crisis.get(watch)
            state, change = advance(watch, before, signals, now)
            self._crisis[watch] = state
            if change is None and before is not None:
                continue  # nothing to record: the level in force is already saved
            event = None
            if change is not None:
                changes.append(change)
                name = LEVEL_NAMES["en"][change.after]
                event = Event(
                    CRISIS_EVENT,
                    watch,
                    f"crisis level of {watch}: {change.before} -> {change.after} ({name})",
                    now,
                    {"before": change.before, "after": change.after, "reasons": change.reasons},
                )
            await asyncio.to_thread(
                self.store.save_crisis_level,
                watch,
                state.level,
                since=state.since,
                reasons=state.reasons,
                now=now,
                event=event,
            )
        return changes

    async def _stories(self, now: datetime) -> list[tuple[StoryGrowth, _Context]]:
        wanted = [r.growth_per_hour for r in self.rules.values() if r.when == "story_growth"]
        if not wanted:
            return []
        since = now - timedelta(hours=1)
        counts = await asyncio.to_thread(
            self.store.growing_stories, since=since, min_recent=max(2, int(min(wanted)))
        )
        firsts = await asyncio.to_thread(self.store.get_many, [c.story_id for c in counts])
        out = []
        for c in counts:
            first = firsts.get(c.story_id)
            if first is None:
                continue
            growth = StoryGrowth(c.story_id, c.watch, c.size, float(c.recent), first)
            facts = _Context(_facts(first), StoryFacts(size=c.size, growth_per_hour=c.recent))
            out.append((growth, facts))
        return out

    async def _new_events(self) -> list[Event]:
        found = await asyncio.to_thread(self.store.events, kinds=[SOURCE_DOWN], limit=100)
        new = [e for e in found if (e.id or 0) > self._last_event_id]
        if found:
            self._last_event_id = max(self._last_event_id, max(e.id or 0 for e in found))
        return list(reversed(new))

    async def _digest(self, now: datetime) -> None:
        notify = self.settings.notify
        if notify.digest == "off" or not notify.digest_channels:
            return
        period = timedelta(hours=1 if notify.digest == "hourly" else 24)
        if notify.digest == "hourly":
            due = now.replace(minute=0, second=0, microsecond=0)
        else:
            hour, _, minute = notify.digest_at.partition(":")
            local = now.astimezone(ZoneInfo(self.tz))
            due_local = local.replace(hour=int(hour), minute=int(minute), second=0, microsecond=0)
            if due_local > local:
                due_local -= timedelta(days=1)
            due = due_local.astimezone(UTC)
        if self._last_digest is not None and self._last_digest >= due:
            return
        self._last_digest = due
        alerts = await asyncio.to_thread(
            self.alerts.list, states=["watching", "open"], since=due - period, limit=500
        )
        quiet = await asyncio.to_thread(
            lambda: [a for a in alerts if a.created_at < due and not self._paged(a)]
        )  # one read per alert, off the event loop (once a day or an hour)
        if not quiet:
            return
        out = []
        for channel in notify.digest_channels:
            configured = self.channels.get(channel)
            language = language_of(configured.language if configured else None, self.language)
            message = digest(quiet, language, notify.digest, public_url=notify.public_url)
            key = f"digest:{channel}:{due.isoformat()}"
            expires = now + timedelta(hours=notify.retry_hours)
            out.append(NewDelivery(channel, channel, message.title, message.body, key, expires))
        await asyncio.to_thread(self.outbox.enqueue, out, now=now)
        self.deliverer.notify()

    def _paged(self, alert: Alert) -> bool:
        return bool(alert.id is not None and self.outbox.deliveries(alert_id=alert.id))

    # -- running -------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, *, every: float = 60.0) -> None:
        """Consume batches, tick every `every` seconds, escalate and deliver until `stop`."""
        await self.start()
        tasks = [
            asyncio.create_task(self._consume(), name="alerting-batches"),
            asyncio.create_task(self._periodic(every), name="alerting-tick"),
            asyncio.create_task(self.deliverer.run_forever(stop), name="alerting-deliver"),
        ]
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _consume(self) -> None:
        while True:
            mentions = await self._batches.get()
            try:
                await self.handle_mentions(mentions)
            except Exception:
                log.exception("alert rules failed on a batch; continuing")

    async def _periodic(self, every: float) -> None:
        while True:
            try:
                await self.escalate()
                await self.tick()
            except Exception:
                log.exception("periodic alerting failed; retrying next round")
            await self.clock.sleep(every)
