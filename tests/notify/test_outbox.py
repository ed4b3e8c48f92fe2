"""The outbox end to end: alerts to a local SMTP server and a local webhook, through outages,
restarts and expiry, delivered exactly once (SQLite and PostgreSQL; an injected clock, no
sleeps)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from test_channels import Smtp, Webhook, free_port, text_of

from tocsin.alert import Alert
from tocsin.clock import FakeClock
from tocsin.confignotify import Channel
from tocsin.notify.channels import SendResult
from tocsin.notify.messages import MentionFacts, render
from tocsin.notify.outbox import BACKOFF_CAP, LEASE_SECONDS, Deliverer, backoff, parse_target
from tocsin.store import Store
from tocsin.store.outbox import NewDelivery

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRETS = ("hunter2", "s3cr3t-path")


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    db = Store.open(database_url)
    db.upgrade()
    yield db
    db.close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.stop()


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    server = Smtp()
    yield server
    server.stop()


def make_alert(key: str = "neg:1") -> Alert:
    return Alert(
        key=key,
        rule="negative",
        kind="negative_mention",
        subject="bluesky:1",
        title="Négatif : panne chez Acme",
        created_at=T0,
        reasons=("negative sentiment", "priority 62 ≥ 45"),
        severity=3,
        watch="acme",
        url="https://bsky.app/profile/a/post/1",
    )


def deliveries_for(*channels: str, hours: float = 24) -> Callable[[Alert], list[NewDelivery]]:
    """A function of the stored alert: one rendered message per channel."""

    def build(alert: Alert) -> list[NewDelivery]:
        mention = MentionFacts(text="Acme is down again @everyone", author="a.bsky.social")
        message = render(alert, language="fr", public_url="https://t.example.org", mention=mention)
        return [
            NewDelivery(
                channel=name,
                recipient="oncall",
                title=message.title,
                body=message.body,
                key=f"alert:{alert.id}:{name}",
                expires_at=T0 + timedelta(hours=hours),
            )
            for name in channels
        ]

    return build


def deliverer(store: Store, clock: FakeClock, *channels: Channel) -> Deliverer:
    return Deliverer(store.outbox, channels, clock=clock, rng=random.Random(1))


async def test_email_and_webhook_end_to_end(store: Store, smtp: Smtp, webhook: Webhook) -> None:
    smtp.start()
    webhook.start()
    clock = FakeClock(T0)
    mail = Channel(name="mail", urls=[smtp.url()])
    hook = Channel(name="hook", urls=[webhook.url("/in")])
    saved, _ = store.alerts.save(make_alert(), deliveries_for("mail", "hook"), now=T0)
    d = deliverer(store, clock, mail, hook)
    assert await d.run_once() == 2
    assert await d.run_once() == 0
    (email,) = smtp.messages
    assert email["Subject"].startswith("[tocsin] Mention négative (élevée)")
    text = text_of(email)
    assert f"https://t.example.org/alerts/{saved.id}" in text
    assert "@\u200beveryone" in text
    (posted,) = webhook.received
    assert posted["title"] == email["Subject"]
    assert "**Pourquoi cette alerte**" in posted["message"]
    assert {x.status for x in store.outbox.deliveries()} == {"sent"}
    # the same alert saved again (a second detector pass) sends nothing more
    store.alerts.save(make_alert(), deliveries_for("mail", "hook"), now=T0)
    assert await d.run_once() == 0
    assert len(smtp.messages) == 1
    assert len(webhook.received) == 1


async def test_webhook_down_then_back_delivers_once(
    store: Store, webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = FakeClock(T0)
    hook = Channel(name="hook", urls=[webhook.url("/s3cr3t-path", auth="me:hunter2@")])
    store.alerts.save(make_alert(), deliveries_for("hook"), now=T0)
    d = deliverer(store, clock, hook)
    assert await d.run_once() == 0  # connection refused
    (row,) = store.outbox.deliveries()
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error is not None
    first_wait = (row.next_attempt_at - T0).total_seconds()
    assert 8 <= first_wait <= 12
    assert await d.run_once() == 0  # not due yet: nothing is attempted
    assert store.outbox.deliveries()[0].attempts == 1
    webhook.start(status=503)
    clock.advance(first_wait)
    assert await d.run_once() == 0
    (row,) = store.outbox.deliveries()
    assert row.attempts == 2
    second_wait = (row.next_attempt_at - clock.now()).total_seconds()
    assert 16 <= second_wait <= 24  # backing off
    webhook.start(status=200)
    clock.advance(second_wait)
    assert await d.run_once() == 1
    for _ in range(3):
        clock.advance(BACKOFF_CAP)
        assert await d.run_once() == 0
    assert len(webhook.received) == 1
    (row,) = store.outbox.deliveries()
    assert (row.status, row.attempts, row.last_error) == ("sent", 3, None)
    for secret in SECRETS:
        assert secret not in caplog.text
    warnings = [r.getMessage() for r in caplog.records if r.name == "tocsin.notify.outbox"]
    assert len(warnings) == 2
    assert "json://127.0.0.1" in warnings[0]


async def test_restart_during_an_smtp_outage(database_url: str, store: Store, smtp: Smtp) -> None:
    """tocsin fails to send while the SMTP server is down, restarts (a new Store and
    Deliverer on the same database), and delivers once the server is back."""
    clock = FakeClock(T0)
    mail = Channel(name="mail", urls=[smtp.url()])
    store.alerts.save(make_alert(), deliveries_for("mail"), now=T0)
    assert await deliverer(store, clock, mail).run_once() == 0
    store.close()  # "tocsin stops"

    smtp.start()
    clock.advance(BACKOFF_CAP)
    with Store.open(database_url) as restarted:
        d = deliverer(restarted, clock, mail)
        assert await d.run_once() == 1
        clock.advance(BACKOFF_CAP)
        assert await d.run_once() == 0
        (row,) = restarted.outbox.deliveries()
        assert (row.status, row.attempts) == ("sent", 2)
    assert len(smtp.messages) == 1


async def test_worker_dead_mid_send_is_delivered_once_after_its_lease(
    database_url: str, store: Store, webhook: Webhook
) -> None:
    webhook.start()
    clock = FakeClock(T0)
    hook = Channel(name="hook", urls=[webhook.url()])
    store.alerts.save(make_alert(), deliveries_for("hook"), now=T0)
    (claimed,) = store.outbox.claim_due(T0, lease_seconds=LEASE_SECONDS)  # then the worker dies
    with Store.open(database_url) as restarted:
        d = deliverer(restarted, clock, hook)
        assert await d.run_once() == 0  # still leased to the dead worker
        clock.advance(LEASE_SECONDS)
        assert await d.run_once() == 1
        clock.advance(LEASE_SECONDS * 10)
        assert await d.run_once() == 0
    assert len(webhook.received) == 1
    assert store.outbox.deliveries()[0].id == claimed.id


async def test_expired_messages_are_never_sent(store: Store, webhook: Webhook) -> None:
    clock = FakeClock(T0)
    hook = Channel(name="hook", urls=[webhook.url()])
    store.alerts.save(make_alert(), deliveries_for("hook", hours=1), now=T0)
    d = deliverer(store, clock, hook)
    assert await d.run_once() == 0
    clock.advance(3600)
    webhook.start()
    assert await d.run_once() == 0
    (row,) = store.outbox.deliveries()
    assert row.status == "expired"
    assert webhook.received == []


async def test_partly_failed_channel_retries_only_the_missing_url(
    store: Store, webhook: Webhook
) -> None:
    webhook.start()
    clock = FakeClock(T0)
    other = Webhook()
    team = Channel(name="team", urls=[webhook.url("/a"), other.url("/b")])
    store.alerts.save(make_alert(), deliveries_for("team"), now=T0)
    d = deliverer(store, clock, team)
    try:
        assert await d.run_once() == 1  # URL 1 got it; URL 2 split off
        parent, part = store.outbox.deliveries()
        assert parent.status == "sent"
        assert (part.channel, part.status) == ("team#2", "pending")
        other.start()
        clock.advance(BACKOFF_CAP)
        assert await d.run_once() == 1
        clock.advance(BACKOFF_CAP)
        assert await d.run_once() == 0
        assert len(webhook.received) == 1
        assert len(other.received) == 1
    finally:
        other.stop()


async def test_unknown_channel_fails_clearly(store: Store) -> None:
    clock = FakeClock(T0)
    store.alerts.save(make_alert(), deliveries_for("gone"), now=T0)
    d = deliverer(store, clock, Channel(name="hook", urls=[f"json://127.0.0.1:{free_port()}"]))
    assert await d.run_once() == 0
    (row,) = store.outbox.deliveries()
    assert row.status == "pending"
    assert row.last_error is not None
    assert "channel 'gone' is not configured" in row.last_error
    assert "hook" in row.last_error


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.event = asyncio.Event()

    async def __call__(
        self, channel: Channel, title: str, body: str, *, only: int | None = None
    ) -> SendResult:
        self.sent.append(title)
        self.event.set()
        return SendResult(ok=True)


async def test_run_forever_wakes_when_notified(store: Store) -> None:
    """With an hour of idle wait, a notify() right after saving sends at once."""
    sender = RecordingSender()
    channel = Channel(name="hook", urls=["json://127.0.0.1:9/x"])
    d = Deliverer(store.outbox, [channel], clock=FakeClock(T0), sender=sender)
    stop = asyncio.Event()
    task = asyncio.create_task(d.run_forever(stop, idle=3600))
    await asyncio.sleep(0)  # let the first (empty) round start
    store.alerts.save(make_alert(), deliveries_for("hook"), now=T0)
    d.notify()
    await asyncio.wait_for(sender.event.wait(), timeout=10)
    stop.set()
    await asyncio.wait_for(task, timeout=10)
    assert len(sender.sent) == 1


def test_backoff_grows_with_jitter_up_to_15_minutes() -> None:
    rng = random.Random(7)
    waits = [backoff(n, rng) for n in range(1, 12)]
    assert 8 <= waits[0] <= 12
    assert 16 <= waits[1] <= 24
    assert max(waits) == BACKOFF_CAP
    assert all(w <= BACKOFF_CAP for w in waits)
    assert backoff(10_000, rng) == BACKOFF_CAP


def test_parse_target() -> None:
    assert parse_target("ops") == ("ops", None)
    assert parse_target("ops#2") == ("ops", 1)
    assert parse_target("ops#x") == ("ops#x", None)
