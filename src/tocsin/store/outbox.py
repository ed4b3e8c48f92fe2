"""`Outbox`: the ``deliveries`` table, every message tocsin will send, until it is sent.

Exactly-once, as far as a database can promise it:

- a delivery is enqueued once per delivery `key`; an alert's first deliveries are written in
  the transaction that stores the alert (`enqueue_in`, called by `tocsin.store.alerts`);
- a worker *claims* due deliveries (``pending``, or ``sending`` whose lease ran out because
  the worker holding them died) by moving them to ``sending`` with a lease, in one statement
  (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so two workers never claim the same row; SQLite:
  inside the single ``BEGIN IMMEDIATE`` writer), then records ``sent`` or ``failed`` (back to
  ``pending`` with a retry time) — a failure never undoes a ``sent``.

The one gap no outbox closes: a worker that dies after a channel accepted a message but
before ``mark_sent`` committed leaves the row ``sending``; once its lease expires it is sent
again. See ``docs/alerting.md``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tocsin.redaction import redact_url
from tocsin.store.rows import clean
from tocsin.store.tables import deliveries

if TYPE_CHECKING:
    from tocsin.store.store import Store

__all__ = [
    "DELIVERY_STATUSES",
    "MESSAGE_STATES",
    "PAGE_KEY_PREFIX",
    "UNDELIVERED",
    "Delivery",
    "NewDelivery",
    "Outbox",
    "cancel_pages_in",
    "clean_error",
    "enqueue_in",
]

DELIVERY_STATUSES = ("pending", "sending", "sent", "expired", "cancelled")
"""``pending`` (waiting for its next attempt), ``sending`` (claimed by a worker until its
lease ends), ``sent``, ``expired`` (not delivered before `expires_at`), ``cancelled`` (an
escalation page whose alert was taken before it went)."""
MESSAGE_STATES = ("sent", "sending", "queued", "retrying", "expired", "cancelled")
"""What `Delivery.state` can be, in the order pages list them."""
UNDELIVERED = frozenset({"retrying", "expired"})
"""The states that mean a message has not reached its person (and may never)."""
PAGE_KEY_PREFIX = "esc:"
"""How the keys of escalation pages begin: those not sent yet are cancelled when someone
acknowledges or resolves their alert."""

_ERROR_LIMIT = 1000
_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """A message to enqueue: `title` and `body` (markdown) to the channel named `channel`
    (``"name"`` for all its URLs, ``"name#N"`` for its N-th URL only) for `recipient` (a
    person, an on-call name or the channel itself). `key` makes enqueueing idempotent.
    `alert_id` is filled by `AlertStore.save`; `not_before` delays the first attempt."""

    channel: str
    recipient: str
    title: str
    body: str
    key: str
    expires_at: datetime
    alert_id: int | None = None
    not_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """A stored delivery (a row of the outbox)."""

    id: int
    alert_id: int | None
    key: str
    channel: str
    recipient: str
    title: str
    body: str
    status: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    expires_at: datetime
    sent_at: datetime | None = None
    last_error: str | None = None

    @property
    def state(self) -> str:
        """`status`, with ``pending`` told apart: ``queued`` (not tried yet) or ``retrying``
        (a channel refused it at least once); what `Outbox.progress` counts."""
        if self.status != "pending":
            return self.status
        return "retrying" if self.attempts else "queued"


def clean_error(error: str) -> str:
    """`error` safe to store and show: one line, passwords out of URLs, at most 1000 chars."""
    text = _CONTROL.sub(" ", clean(error)).replace("\n", " ")
    text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    return text if len(text) <= _ERROR_LIMIT else text[: _ERROR_LIMIT - 1] + "…"


def _row_delivery(row: Any) -> Delivery:
    return Delivery(
        id=int(row.id),
        alert_id=None if row.alert_id is None else int(row.alert_id),
        key=row.key,
        channel=row.channel,
        recipient=row.recipient,
        title=row.title,
        body=row.body,
        status=row.status,
        attempts=int(row.attempts),
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        expires_at=row.expires_at,
        sent_at=row.sent_at,
        last_error=row.last_error,
    )


def enqueue_in(
    conn: sa.Connection,
    insert: Any,
    new: Sequence[NewDelivery],
    now: datetime,
    *,
    alert_id: int | None = None,
) -> int:
    """Add `new` inside the caller's transaction on `conn` (`insert` is the dialect's
    upsert-capable insert); a delivery without an `alert_id` gets `alert_id`. Those whose
    `key` is already queued are skipped; return how many were added."""
    added = 0
    for d in new:  # one by one: RETURNING tells which keys were new
        row = {
            "alert_id": d.alert_id if d.alert_id is not None else alert_id,
            "key": clean(d.key),
            "channel": clean(d.channel),
            "recipient": clean(d.recipient),
            "title": clean(d.title),
            "body": clean(d.body),
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": d.not_before or now,
            "created_at": now,
            "expires_at": d.expires_at,
        }
        stmt = (
            insert(deliveries)
            .values(**row)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(deliveries.c.id)
        )
        added += conn.scalar(stmt) is not None
    return added


def cancel_pages_in(conn: sa.Connection, alert_id: int) -> None:
    """Inside the caller's transaction on `conn`: ``cancelled`` for the alert's escalation
    pages still ``pending`` (those being sent are left to their outcome)."""
    d = deliveries
    conn.execute(
        sa.update(d)
        .where(
            d.c.alert_id == alert_id,
            d.c.status == "pending",
            d.c.key.startswith(PAGE_KEY_PREFIX),
        )
        .values(status="cancelled")
    )


class Outbox:
    """The outbox on a `Store`'s database (sync; call through `asyncio.to_thread` from async
    code)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def enqueue(self, new: Sequence[NewDelivery], *, now: datetime) -> int:
        """Add deliveries (those whose `key` is already queued are skipped); return how many
        were added."""
        with self.store._write() as conn, conn.begin():
            return enqueue_in(conn, self.store._insert, new, now)

    def claim_due(
        self, now: datetime, *, limit: int = 20, lease_seconds: float = 120.0
    ) -> list[Delivery]:
        """Claim up to `limit` due deliveries for sending: ``pending`` ones whose attempt is
        due and ``sending`` ones whose lease ran out (their worker died), not expired; they
        become ``sending`` until ``now + lease_seconds``. Two workers never get the same row:
        PostgreSQL skips rows another transaction has locked, SQLite has a single writer."""
        t = deliveries
        due = (
            sa.select(t.c.id)
            .where(
                t.c.status.in_(["pending", "sending"]),
                t.c.next_attempt_at <= now,
                t.c.expires_at > now,
            )
            .order_by(t.c.next_attempt_at, t.c.id)
            .limit(limit)
        )
        if self.store.dialect == "postgresql":
            due = due.with_for_update(skip_locked=True)
        lease_end = now + timedelta(seconds=lease_seconds)
        stmt = (
            sa.update(t)
            .where(t.c.id.in_(due.scalar_subquery()))
            .values(status="sending", next_attempt_at=lease_end)
            .returning(*t.c)
        )
        with self.store._write() as conn, conn.begin():
            rows = conn.execute(stmt).all()
        return sorted((_row_delivery(r) for r in rows), key=lambda d: (d.created_at, d.id))

    def mark_sent(self, delivery_id: int, now: datetime) -> bool:
        """Record that the delivery reached its channel (also when it expired or its lease
        ran out meanwhile: what happened is what is recorded). False if already sent."""
        t = deliveries
        stmt = (
            sa.update(t)
            .where(t.c.id == delivery_id, t.c.status != "sent")
            .values(status="sent", sent_at=now, attempts=t.c.attempts + 1, last_error=None)
        )
        with self.store._write() as conn, conn.begin():
            return bool(conn.execute(stmt).rowcount)

    def mark_failed(self, delivery_id: int, error: str, retry_at: datetime) -> bool:
        """Record a failed attempt: back to ``pending`` until `retry_at`, `attempts` + 1, the
        error kept (cleaned, URL passwords hidden). Only a ``sending`` row changes, so a late
        failure never undoes another worker's success; False when nothing changed."""
        t = deliveries
        stmt = (
            sa.update(t)
            .where(t.c.id == delivery_id, t.c.status == "sending")
            .values(
                status="pending",
                next_attempt_at=retry_at,
                attempts=t.c.attempts + 1,
                last_error=clean_error(error),
            )
        )
        with self.store._write() as conn, conn.begin():
            return bool(conn.execute(stmt).rowcount)

    def split(
        self,
        delivery_id: int,
        parts: Sequence[NewDelivery],
        *,
        now: datetime,
        note: str,
    ) -> None:
        """A delivery that reached some of its channel's URLs: mark it sent (with `note`) and
        enqueue `parts` (one per URL still to reach, ``channel = "name#N"``) in one
        transaction, so the URLs that got it are never sent it again."""
        t = deliveries
        with self.store._write() as conn, conn.begin():
            row = conn.execute(sa.select(t.c.attempts).where(t.c.id == delivery_id)).first()
            if row is None:
                return
            conn.execute(
                sa.update(t)
                .where(t.c.id == delivery_id)
                .values(
                    status="sent",
                    sent_at=now,
                    attempts=t.c.attempts + 1,
                    last_error=clean_error(note),
                )
            )
            enqueue_in(conn, self.store._insert, parts, now)
            keys = [clean(p.key) for p in parts]
            conn.execute(
                sa.update(t)
                .where(t.c.key.in_(keys), t.c.status == "pending", t.c.attempts == 0)
                .values(attempts=int(row.attempts) + 1, last_error=clean_error(note))
            )

    def expire(self, now: datetime) -> int:
        """Give up on deliveries not sent by their `expires_at`: ``expired``; return how
        many."""
        t = deliveries
        stmt = (
            sa.update(t)
            .where(t.c.status.in_(["pending", "sending"]), t.c.expires_at <= now)
            .values(status="expired")
        )
        with self.store._write() as conn, conn.begin():
            return int(conn.execute(stmt).rowcount)

    def next_attempt_at(self) -> datetime | None:
        """When the earliest pending (or leased) delivery is next due, or None."""
        t = deliveries
        query = sa.select(sa.func.min(t.c.next_attempt_at)).where(
            t.c.status.in_(["pending", "sending"])
        )
        with self.store.engine.connect() as conn:
            value: datetime | None = conn.scalar(query)
        return value

    def progress(self, alert_ids: Sequence[int]) -> dict[int, dict[str, int]]:
        """How the messages of each alert stand: ``{alert_id: {state: count}}``, counted in
        SQL by `Delivery.state`."""
        t = deliveries
        state = sa.case(
            (sa.and_(t.c.status == "pending", t.c.attempts > 0), "retrying"),
            (t.c.status == "pending", "queued"),
            else_=t.c.status,
        ).label("state")
        found: dict[int, dict[str, int]] = {}
        with self.store.engine.connect() as conn:
            for chunk in (alert_ids[i : i + 500] for i in range(0, len(alert_ids), 500)):
                query = (
                    sa.select(t.c.alert_id, state, sa.func.count())
                    .where(t.c.alert_id.in_(chunk))
                    .group_by(t.c.alert_id, state)
                )
                for alert_id, name, count in conn.execute(query):
                    found.setdefault(int(alert_id), {})[str(name)] = int(count)
        return found

    def deliveries(
        self,
        *,
        alert_id: int | None = None,
        status: str | None = None,
        limit: int = 1000,
    ) -> list[Delivery]:
        """Stored deliveries, oldest first, filtered by alert and status."""
        t = deliveries
        query = sa.select(t).order_by(t.c.id).limit(limit)
        if alert_id is not None:
            query = query.where(t.c.alert_id == alert_id)
        if status is not None:
            query = query.where(t.c.status == status)
        with self.store.engine.connect() as conn:
            return [_row_delivery(row) for row in conn.execute(query)]
