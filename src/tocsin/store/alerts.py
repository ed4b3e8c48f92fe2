"""`AlertStore`: alerts, their escalation bookkeeping and the deliveries outbox.

Exactly-once, as far as a database can promise it:

- an alert is stored once per `Alert.key` (``INSERT ... ON CONFLICT DO NOTHING``), with the
  deliveries it causes, in one transaction: a second save of the same key enqueues nothing;
- a delivery is enqueued once per delivery `key`;
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

import builtins
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tocsin.alert import Alert
from tocsin.redaction import redact_url
from tocsin.store.rows import clean
from tocsin.store.tables import alerts, deliveries

if TYPE_CHECKING:
    from tocsin.store.store import Store

__all__ = [
    "DELIVERY_STATUSES",
    "PAGE_KEY_PREFIX",
    "AlertStore",
    "Deliveries",
    "Delivery",
    "DueEscalation",
    "NewDelivery",
]

DELIVERY_STATUSES = ("pending", "sending", "sent", "expired", "cancelled")
PAGE_KEY_PREFIX = "esc:"
"""How the keys of escalation pages begin: those not sent yet are cancelled when someone
acknowledges or resolves their alert."""
"""``pending`` (waiting for its next attempt), ``sending`` (claimed by a worker until its
lease ends), ``sent``, ``expired`` (not delivered before `expires_at`)."""

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


@dataclass(frozen=True, slots=True)
class DueEscalation:
    """An open alert whose next escalation step is due: at `step` of `escalation`."""

    alert: Alert
    escalation: str | None
    step: int
    next_at: datetime


Deliveries = Sequence[NewDelivery] | Callable[[Alert], Sequence[NewDelivery]]
"""Deliveries to enqueue with an alert: a list, or a function of the stored alert (its `id`
is known then, for links in the message) returning the list."""


def clean_error(error: str) -> str:
    """`error` safe to store and show: one line, passwords out of URLs, at most 1000 chars."""
    text = _CONTROL.sub(" ", clean(error)).replace("\n", " ")
    text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    return text if len(text) <= _ERROR_LIMIT else text[: _ERROR_LIMIT - 1] + "…"


def _alert_row(alert: Alert, now: datetime) -> dict[str, Any]:
    return {
        "key": clean(alert.key),
        "rule": clean(alert.rule),
        "kind": alert.kind,
        "subject": clean(alert.subject),
        "title": clean(alert.title),
        "reasons": json.dumps([clean(r) for r in alert.reasons], ensure_ascii=True),
        "severity": alert.severity,
        "state": alert.state,
        "watch": alert.watch,
        "mention_id": alert.mention_id,
        "story_id": alert.story_id,
        "url": clean(alert.url),
        "details": json.dumps(dict(alert.details), default=str, ensure_ascii=True),
        "created_at": alert.created_at,
        "updated_at": now,
        "acknowledged_by": alert.acknowledged_by,
        "acknowledged_at": alert.acknowledged_at,
        "resolved_by": alert.resolved_by,
        "resolved_at": alert.resolved_at,
    }


def _loads(text: str, default: Any) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return default


def _row_alert(row: Any) -> Alert:
    reasons = _loads(row.reasons, [row.reasons])
    details = _loads(row.details, {"_unreadable": row.details})
    return Alert(
        key=row.key,
        rule=row.rule,
        kind=row.kind,
        subject=row.subject,
        title=row.title,
        created_at=row.created_at,
        reasons=tuple(str(r) for r in reasons) if isinstance(reasons, list) else (str(reasons),),
        severity=int(row.severity),
        state=row.state,
        watch=row.watch,
        mention_id=row.mention_id,
        story_id=row.story_id,
        url=row.url,
        details=details if isinstance(details, dict) else {"_value": details},
        id=int(row.id),
        acknowledged_by=row.acknowledged_by,
        acknowledged_at=row.acknowledged_at,
        resolved_by=row.resolved_by,
        resolved_at=row.resolved_at,
    )


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


class AlertStore:
    """Alerts and the outbox on a `Store`'s database (sync; call through
    `asyncio.to_thread` from async code)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- alerts ----------------------------------------------------------------------------

    def save(
        self,
        alert: Alert,
        deliveries: Deliveries = (),
        *,
        now: datetime,
        escalation: str | None = None,
        next_escalation_at: datetime | None = None,
    ) -> tuple[Alert, bool]:
        """Store `alert` with its `deliveries` and escalation start in one transaction, unless
        an alert with its `key` exists: then return the stored one and False, enqueueing
        nothing (so the same alert is never sent twice)."""
        row = _alert_row(alert, now) | {
            "escalation": escalation,
            "escalation_step": 0,
            "next_escalation_at": next_escalation_at if alert.state == "open" else None,
        }
        stmt = (
            self.store._insert(alerts)
            .values(**row)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(alerts.c.id)
        )
        with self.store._write() as conn, conn.begin():
            new_id = conn.scalar(stmt)
            if new_id is None:
                existing = conn.execute(sa.select(alerts).where(alerts.c.key == row["key"]))
                return _row_alert(existing.one()), False
            stored = replace(alert, id=int(new_id))
            self._enqueue(conn, _resolve(deliveries, stored), now, alert_id=stored.id)
        return stored, True

    def open_watching(
        self,
        key: str,
        deliveries: Deliveries = (),
        *,
        now: datetime,
        reasons: Sequence[str] | None = None,
        escalation: str | None = None,
        next_escalation_at: datetime | None = None,
    ) -> Alert | None:
        """Turn the ``watching`` alert `key` into ``open`` (its reasons replaced by `reasons`
        when given) and enqueue `deliveries`, in one transaction. None when there is no such
        alert or it is no longer watching (another worker opened it first)."""
        values: dict[str, Any] = {
            "state": "open",
            "updated_at": now,
            "escalation": escalation,
            "escalation_step": 0,
            "next_escalation_at": next_escalation_at,
        }
        if reasons is not None:
            values["reasons"] = json.dumps([clean(r) for r in reasons], ensure_ascii=True)
        t = alerts
        stmt = (
            sa.update(t)
            .where(t.c.key == key, t.c.state == "watching")
            .values(**values)
            .returning(*t.c)
        )
        with self.store._write() as conn, conn.begin():
            row = conn.execute(stmt).first()
            if row is None:
                return None
            opened = _row_alert(row)
            self._enqueue(conn, _resolve(deliveries, opened), now, alert_id=opened.id)
        return opened

    def get(self, alert_id: int) -> Alert | None:
        """The alert with this id, or None."""
        return self._one(alerts.c.id == alert_id)

    def get_by_key(self, key: str) -> Alert | None:
        """The alert with this key, or None."""
        return self._one(alerts.c.key == key)

    def _one(self, where: sa.ColumnElement[bool]) -> Alert | None:
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(alerts).where(where)).first()
        return None if row is None else _row_alert(row)

    def list(
        self,
        *,
        states: Sequence[str] = (),
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[Alert]:
        """Alerts newest first, filtered by state and creation time (`since` inclusive)."""
        t = alerts
        query = sa.select(t).order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit)
        if states:
            query = query.where(t.c.state.in_(list(states)))
        if since is not None:
            query = query.where(t.c.created_at >= since)
        with self.store.engine.connect() as conn:
            return [_row_alert(row) for row in conn.execute(query)]

    def acknowledge(self, alert_id: int, who: str, *, now: datetime) -> Alert | None:
        """`who` takes the alert: ``acknowledged``, escalation stopped (its pages not sent yet
        are ``cancelled``; the rule's own channel messages still go). Acknowledging again
        (or a resolved alert) changes nothing; the first who and when are kept. None if no
        such alert."""
        t = alerts
        values = {
            "state": "acknowledged",
            "acknowledged_by": clean(who),
            "acknowledged_at": now,
            "next_escalation_at": None,
            "updated_at": now,
        }
        open_ = t.c.state.in_(["open", "watching"])
        return self._transition(alert_id, open_, values)

    def resolve(self, alert_id: int, who: str, *, now: datetime) -> Alert | None:
        """`who` closes the alert: ``resolved``, escalation stopped; resolving again changes
        nothing. None if no such alert."""
        t = alerts
        values = {
            "state": "resolved",
            "resolved_by": clean(who),
            "resolved_at": now,
            "next_escalation_at": None,
            "updated_at": now,
        }
        return self._transition(alert_id, t.c.state != "resolved", values)

    def _transition(
        self, alert_id: int, allowed: sa.ColumnElement[bool], values: dict[str, Any]
    ) -> Alert | None:
        """Apply `values` if the alert's state is `allowed`; return the alert as it is."""
        t = alerts
        stmt = sa.update(t).where(t.c.id == alert_id, allowed).values(values).returning(*t.c)
        d = deliveries
        unsent_pages = (
            sa.update(d)
            .where(
                d.c.alert_id == alert_id,
                d.c.status == "pending",
                d.c.key.startswith(PAGE_KEY_PREFIX),
            )
            .values(status="cancelled")
        )
        with self.store._write() as conn, conn.begin():
            row = conn.execute(stmt).first()
            if row is None:  # unknown, or already in that state: read it back unchanged
                row = conn.execute(sa.select(t).where(t.c.id == alert_id)).first()
            else:  # someone has it: escalation pages not sent yet would only wake others
                conn.execute(unsent_pages)
        return None if row is None else _row_alert(row)

    # -- escalation ------------------------------------------------------------------------

    def set_escalation(
        self,
        alert_id: int,
        escalation: str | None,
        step: int,
        next_at: datetime | None,
        *,
        deliveries: Sequence[NewDelivery] = (),
        now: datetime | None = None,
    ) -> bool:
        """Move the *open* alert to `step` of `escalation`, next due at `next_at` (None: no
        further step), and enqueue that step's `deliveries`, in one transaction. False (and
        nothing enqueued) when the alert is no longer open, e.g. acknowledged meanwhile."""
        if deliveries and now is None:
            raise ValueError("set_escalation needs `now` to enqueue deliveries")
        t = alerts
        values: dict[str, Any] = {
            "escalation": escalation,
            "escalation_step": step,
            "next_escalation_at": next_at,
        }
        if now is not None:
            values["updated_at"] = now
        stmt = sa.update(t).where(t.c.id == alert_id, t.c.state == "open").values(values)
        with self.store._write() as conn, conn.begin():
            if conn.execute(stmt).rowcount == 0:
                return False
            if deliveries and now is not None:
                self._enqueue(conn, deliveries, now, alert_id=alert_id)
        return True

    def due_escalations(self, now: datetime, limit: int = 100) -> builtins.list[DueEscalation]:
        """Open alerts whose next escalation step is due (at or before `now`), oldest due
        first."""
        t = alerts
        query = (
            sa.select(t)
            .where(t.c.state == "open", t.c.next_escalation_at <= now)
            .order_by(t.c.next_escalation_at, t.c.id)
            .limit(limit)
        )
        with self.store.engine.connect() as conn:
            return [
                DueEscalation(
                    alert=_row_alert(r),
                    escalation=r.escalation,
                    step=int(r.escalation_step),
                    next_at=r.next_escalation_at,
                )
                for r in conn.execute(query)
            ]

    # -- outbox ----------------------------------------------------------------------------

    def enqueue(self, new: Sequence[NewDelivery], *, now: datetime) -> int:
        """Add deliveries (those whose `key` is already queued are skipped); return how many
        were added."""
        with self.store._write() as conn, conn.begin():
            return self._enqueue(conn, new, now)

    def _enqueue(
        self,
        conn: sa.Connection,
        new: Sequence[NewDelivery],
        now: datetime,
        *,
        alert_id: int | None = None,
    ) -> int:
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
                self.store._insert(deliveries)
                .values(**row)
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(deliveries.c.id)
            )
            added += conn.scalar(stmt) is not None
        return added

    def claim_due(
        self, now: datetime, *, limit: int = 20, lease_seconds: float = 120.0
    ) -> builtins.list[Delivery]:
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
            self._enqueue(conn, parts, now)
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

    def deliveries(
        self,
        *,
        alert_id: int | None = None,
        status: str | None = None,
        limit: int = 1000,
    ) -> builtins.list[Delivery]:
        """Stored deliveries, oldest first, filtered by alert and status."""
        t = deliveries
        query = sa.select(t).order_by(t.c.id).limit(limit)
        if alert_id is not None:
            query = query.where(t.c.alert_id == alert_id)
        if status is not None:
            query = query.where(t.c.status == status)
        with self.store.engine.connect() as conn:
            return [_row_delivery(row) for row in conn.execute(query)]


def _resolve(new: Deliveries, alert: Alert) -> Sequence[NewDelivery]:
    return new(alert) if callable(new) else new
