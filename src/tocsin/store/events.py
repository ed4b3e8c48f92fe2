"""SQL for the `events` table: append and read back (see `tocsin.events`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tocsin.events import Event
from tocsin.store.rows import clean
from tocsin.store.tables import events

__all__ = ["append", "last", "select"]


def append(conn: sa.Connection, event: Event) -> None:
    conn.execute(
        sa.insert(events).values(
            kind=clean(event.kind),
            subject=clean(event.subject),
            message=clean(event.message),
            details=json.dumps(dict(event.details), default=str, ensure_ascii=True),
            at=event.at,
        )
    )


def _event(row: Any) -> Event:
    try:
        details = json.loads(row.details)
    except ValueError:
        details = {"_unreadable": row.details}
    return Event(
        kind=row.kind,
        subject=row.subject,
        message=row.message,
        at=row.at,
        details=details if isinstance(details, dict) else {"_value": details},
        id=int(row.id),
    )


def select(
    conn: sa.Connection,
    *,
    kinds: Sequence[str] = (),
    subject: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[Event]:
    """Events newest first, filtered by kind, subject and time."""
    t = events
    query = sa.select(t).order_by(t.c.id.desc()).limit(limit)
    if kinds:
        query = query.where(t.c.kind.in_(list(kinds)))
    if subject is not None:
        query = query.where(t.c.subject == subject)
    if since is not None:
        query = query.where(t.c.at >= since)
    return [_event(row) for row in conn.execute(query)]


def last(conn: sa.Connection, subject: str, kinds: Sequence[str]) -> Event | None:
    """The newest event of one of `kinds` about `subject`, or None."""
    found = select(conn, kinds=kinds, subject=subject, limit=1)
    return found[0] if found else None
