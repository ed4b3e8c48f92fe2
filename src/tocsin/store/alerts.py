"""`AlertStore`: alerts and their escalation bookkeeping.

An alert is stored once per `Alert.key` (``INSERT ... ON CONFLICT DO NOTHING``), with the
deliveries it causes, in one transaction: a second save of the same key enqueues nothing.
Opening a watched alert, moving an escalation on, and taking an alert (which cancels its
escalation pages not sent yet) touch the outbox in the same transaction too, through
`tocsin.store.outbox`'s connection-level functions.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tocsin.alert import Alert
from tocsin.store.outbox import NewDelivery, cancel_pages_in, enqueue_in
from tocsin.store.rows import clean
from tocsin.store.tables import alerts

if TYPE_CHECKING:
    from tocsin.store.store import Store

__all__ = ["AlertStore", "Deliveries", "DueEscalation"]


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


class AlertStore:
    """Alerts on a `Store`'s database (sync; call through `asyncio.to_thread` from async
    code); their deliveries go to `tocsin.store.outbox`."""

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
        escalation_step: int = 0,
        next_escalation_at: datetime | None = None,
    ) -> tuple[Alert, bool]:
        """Store `alert` with its `deliveries` and escalation start (the chain's name, the
        last step already enqueued, when the next is due) in one transaction, unless an
        alert with its `key` exists: then return the stored one and False, enqueueing
        nothing (so the same alert is never sent twice)."""
        row = _alert_row(alert, now) | {
            "escalation": escalation,
            "escalation_step": escalation_step,
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
            enqueue_in(
                conn, self.store._insert, _resolve(deliveries, stored), now, alert_id=stored.id
            )
        return stored, True

    def open_watching(
        self,
        key: str,
        deliveries: Deliveries = (),
        *,
        now: datetime,
        reasons: Sequence[str] | None = None,
        escalation: str | None = None,
        escalation_step: int = 0,
        next_escalation_at: datetime | None = None,
    ) -> Alert | None:
        """Turn the ``watching`` alert `key` into ``open`` (its reasons replaced by `reasons`
        when given) and enqueue `deliveries`, in one transaction. None when there is no such
        alert or it is no longer watching (another worker opened it first)."""
        values: dict[str, Any] = {
            "state": "open",
            "updated_at": now,
            "escalation": escalation,
            "escalation_step": escalation_step,
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
            enqueue_in(
                conn, self.store._insert, _resolve(deliveries, opened), now, alert_id=opened.id
            )
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
        with self.store._write() as conn, conn.begin():
            row = conn.execute(stmt).first()
            if row is None:  # unknown, or already in that state: read it back unchanged
                row = conn.execute(sa.select(t).where(t.c.id == alert_id)).first()
            else:  # someone has it: escalation pages not sent yet would only wake others
                cancel_pages_in(conn, alert_id)
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
    ) -> int | None:
        """Move the *open* alert to `step` of `escalation`, next due at `next_at` (None: no
        further step), and enqueue that step's `deliveries`, in one transaction: how many
        were added (those already queued are skipped). None (and nothing enqueued) when the
        alert is no longer open, e.g. acknowledged meanwhile."""
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
                return None
            if deliveries and now is not None:
                return enqueue_in(conn, self.store._insert, deliveries, now, alert_id=alert_id)
        return 0

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


def _resolve(new: Deliveries, alert: Alert) -> Sequence[NewDelivery]:
    return new(alert) if callable(new) else new
