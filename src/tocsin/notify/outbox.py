"""`Deliverer`: sends what the outbox (the ``deliveries`` table) holds, until it is sent or
expires, never twice.

Each round claims due deliveries (a lease of `LEASE_SECONDS`), sends each through its
channel, and records ``sent`` or a failure with its retry time: exponential backoff from
`BACKOFF_BASE` seconds, doubled per attempt, jittered (±20 %), capped at 15 minutes. A
delivery not sent by its ``expires_at`` is marked ``expired``. A message that reached some of
a channel's URLs but not all is split: the URLs that got it are done, each one that did not
gets its own delivery (``"channel#N"``), so retries never repeat a message.

`run_forever` waits between rounds for `notify()` (called right after an alert is saved),
the next retry time, or `idle` seconds, whichever comes first: a new alert is sent
immediately, not at the next poll.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from tocsin.clock import Clock, SystemClock
from tocsin.confignotify import Channel
from tocsin.notify.channels import DEFAULT_TIMEOUT, SendResult, send
from tocsin.store.outbox import Delivery, NewDelivery, Outbox

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "LEASE_SECONDS",
    "Deliverer",
    "Sender",
    "backoff",
    "parse_target",
]

LEASE_SECONDS = 120.0
"""How long a claimed delivery belongs to the worker that claimed it. Longer than a send can
take (`DEFAULT_TIMEOUT`), so only a worker that died loses its claim."""
BACKOFF_BASE = 10.0
BACKOFF_CAP = 15 * 60.0
_JITTER = 0.2

log = logging.getLogger(__name__)


class Sender(Protocol):
    """Sends one message to a channel (all its URLs, or only URL number `only`)."""

    async def __call__(
        self, channel: Channel, title: str, body: str, *, only: int | None = None
    ) -> SendResult: ...


@dataclass(frozen=True, slots=True)
class _AppriseSender:
    timeout: float = DEFAULT_TIMEOUT

    async def __call__(
        self, channel: Channel, title: str, body: str, *, only: int | None = None
    ) -> SendResult:
        return await send(channel, title, body, only=only, timeout=self.timeout)


def backoff(attempts: int, rng: random.Random | None = None) -> float:
    """Seconds before retrying a delivery that has failed `attempts` times (1 = first
    failure): 10, 20, 40, ... ±20 %, never more than 15 minutes."""
    delay = BACKOFF_BASE * 2.0 ** max(0, min(attempts - 1, 20))
    jitter = (rng or random).uniform(1 - _JITTER, 1 + _JITTER)
    return min(BACKOFF_CAP, delay * jitter)


def parse_target(target: str) -> tuple[str, int | None]:
    """``"ops"`` -> ``("ops", None)`` (all URLs); ``"ops#2"`` -> ``("ops", 1)`` (URL 2)."""
    name, sep, number = target.rpartition("#")
    if sep and number.isdigit() and int(number) >= 1:
        return name, int(number) - 1
    return target, None


class Deliverer:
    """Delivers the outbox through the configured channels (by name)."""

    def __init__(
        self,
        outbox: Outbox,
        channels: Mapping[str, Channel] | Iterable[Channel],
        *,
        clock: Clock | None = None,
        sender: Sender | None = None,
        batch: int = 20,
        lease_seconds: float = LEASE_SECONDS,
        concurrency: int = 8,
        rng: random.Random | None = None,
    ) -> None:
        self.outbox = outbox
        self.channels: dict[str, Channel] = (
            dict(channels) if isinstance(channels, Mapping) else {c.name: c for c in channels}
        )
        self.clock: Clock = clock or SystemClock()
        self.sender: Sender = sender or _AppriseSender()
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.rng = rng or random.Random()
        self._limit = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self.last_claimed = 0

    def notify(self) -> None:
        """Something was enqueued: start the next round now (safe to call often)."""
        self._wake.set()

    async def run_once(self) -> int:
        """One round: expire, claim what is due, send it, record each outcome. Returns how
        many deliveries were sent."""
        now = self.clock.now()
        expired = await asyncio.to_thread(self.outbox.expire, now)
        if expired:
            log.warning(
                "%d alert message(s) expired unsent: `tocsin alerts` and the alerts' pages "
                "show which",
                expired,
            )
        claimed = await asyncio.to_thread(
            self.outbox.claim_due, now, limit=self.batch, lease_seconds=self.lease_seconds
        )
        self.last_claimed = len(claimed)
        outcomes = await asyncio.gather(*(self._deliver(d) for d in claimed))
        return sum(outcomes)

    async def _deliver(self, delivery: Delivery) -> bool:
        async with self._limit:
            name, only = parse_target(delivery.channel)
            channel = self.channels.get(name)
            if channel is None:
                known = ", ".join(sorted(self.channels)) or "none"
                result = SendResult(
                    ok=False,
                    error=f"channel {name!r} is not configured (any more); configured: "
                    f"{known}. Add it back under [[channels]] in tocsin.toml, or this "
                    "message expires unsent",
                )
            else:
                try:
                    result = await self.sender(channel, delivery.title, delivery.body, only=only)
                except Exception as exc:  # a broken sender must not stop the outbox
                    result = SendResult(ok=False, error=f"{type(exc).__name__} while sending")
            return await self._record(delivery, channel, only, result)

    async def _record(
        self, delivery: Delivery, channel: Channel | None, only: int | None, result: SendResult
    ) -> bool:
        now = self.clock.now()
        if result.ok:
            await asyncio.to_thread(self.outbox.mark_sent, delivery.id, now)
            return True
        retry_at = now + timedelta(seconds=backoff(delivery.attempts + 1, self.rng))
        log.warning(
            "alert message %s to %s not sent (attempt %d, retry at %s): %s",
            delivery.key,
            delivery.channel,
            delivery.attempts + 1,
            retry_at.isoformat(timespec="seconds"),
            result.error,
        )
        urls = len(channel.urls) if channel is not None else 0
        partial = only is None and 0 < len(result.failed) < urls
        if channel is None or not partial:
            await asyncio.to_thread(self.outbox.mark_failed, delivery.id, result.error, retry_at)
            return False
        parts = [
            NewDelivery(
                channel=f"{channel.name}#{i + 1}",
                recipient=delivery.recipient,
                title=delivery.title,
                body=delivery.body,
                key=f"{delivery.key}#{i + 1}",
                expires_at=delivery.expires_at,
                alert_id=delivery.alert_id,
                not_before=retry_at,
            )
            for i in result.failed
        ]
        await asyncio.to_thread(
            self.outbox.split, delivery.id, parts, now=now, note=f"partly sent: {result.error}"
        )
        return True

    async def run_forever(self, stop: asyncio.Event, idle: float = 1.0) -> None:
        """Deliver until `stop` is set: a round, then wait for `notify()`, the next retry or
        `idle` seconds. A failing round (database down) is logged and retried."""
        while not stop.is_set():
            self._wake.clear()
            try:
                await self.run_once()
                full = self.last_claimed >= self.batch  # more may be waiting
                wait = 0.0 if full else await self._until_due(idle)
            except Exception as exc:
                log.error("alert delivery round failed: %s: %s", type(exc).__name__, exc)
                wait = idle
            if wait > 0:
                await _first(stop, self._wake, wait)

    async def _until_due(self, idle: float) -> float:
        due: datetime | None = await asyncio.to_thread(self.outbox.next_attempt_at)
        if due is None:
            return idle
        return max(0.0, min(idle, (due - self.clock.now()).total_seconds()))


async def _first(stop: asyncio.Event, wake: asyncio.Event, timeout: float) -> None:
    """Wait until `stop` or `wake` is set, or `timeout` seconds pass."""
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
