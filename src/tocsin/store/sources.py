"""Source state: each source's cursor and its health.

A cursor is set inside `Store.save_batch`'s transaction, so it is committed only with the
mentions it covers. Health is recorded per fetch: totals and failures in `source_health`,
items per minute in `source_health_minutes` (only the last `HEALTH_WINDOW` is kept).
Functions take a connection (inside the caller's transaction where they write) and, where
they upsert, the dialect's upsert-capable insert.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from tocsin.sources.base import SourceHealth
from tocsin.store.rows import clean
from tocsin.store.tables import source_cursors, source_health, source_health_minutes

__all__ = ["HEALTH_WINDOW", "get_cursor", "health", "record_health", "set_cursor"]

HEALTH_WINDOW = timedelta(minutes=15)


def _minute(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(second=0, microsecond=0)


# -- cursors ---------------------------------------------------------------------------------


def set_cursor(conn: sa.Connection, insert: Any, source: str, cursor: str, now: datetime) -> None:
    """Set `source`'s cursor (replacing the previous one)."""
    stmt = insert(source_cursors).values(source=source, cursor=clean(cursor), updated_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=["source"],
        set_={"cursor": stmt.excluded.cursor, "updated_at": stmt.excluded.updated_at},
    )
    conn.execute(stmt)


def get_cursor(conn: sa.Connection, source: str) -> str | None:
    """The cursor last committed for `source`, or None."""
    query = sa.select(source_cursors.c.cursor).where(source_cursors.c.source == source)
    value: str | None = conn.scalar(query)
    return value


# -- health ----------------------------------------------------------------------------------


def record_health(
    conn: sa.Connection,
    insert: Any,
    source: str,
    platform: str,
    *,
    ok: bool,
    items: int,
    error: str | None,
    at: datetime,
) -> None:
    """Record a fetch of `source`: a success (with `items` stored) or a failure."""
    values: dict[str, Any] = {
        "source": source,
        "platform": platform,
        "items_total": items,
        "consecutive_failures": 0 if ok else 1,
    }
    t = source_health.c
    if ok:
        values["last_success_at"] = at
        failures: Any = 0
    else:
        values |= {"last_error_at": at, "last_error": clean(error or "unknown error")}
        failures = t.consecutive_failures + 1
    stmt = insert(source_health).values(**values)
    update = {k: stmt.excluded[k] for k in values if k not in ("source", "items_total")}
    update |= {"items_total": t.items_total + items, "consecutive_failures": failures}
    stmt = stmt.on_conflict_do_update(index_elements=["source"], set_=update)
    conn.execute(stmt)
    if items:
        _count_items(conn, insert, source, items, at)


def _count_items(conn: sa.Connection, insert: Any, source: str, items: int, at: datetime) -> None:
    t = source_health_minutes
    stmt = insert(t).values(source=source, minute=_minute(at), item_count=items)
    stmt = stmt.on_conflict_do_update(
        index_elements=["source", "minute"], set_={"item_count": t.c.item_count + items}
    )
    conn.execute(stmt)
    old = _minute(at) - HEALTH_WINDOW
    conn.execute(sa.delete(t).where(t.c.source == source, t.c.minute <= old))


def health(conn: sa.Connection, now: datetime) -> list[SourceHealth]:
    """Every recorded source, by name; items/min is the mean over the last `HEALTH_WINDOW`."""
    t, m = source_health, source_health_minutes
    start = _minute(now) - HEALTH_WINDOW
    recent = (
        sa.select(m.c.source, sa.func.sum(m.c.item_count).label("n"))
        .where(m.c.minute > start, m.c.minute <= now)
        .group_by(m.c.source)
    )
    per_source = {row.source: int(row.n or 0) for row in conn.execute(recent)}
    rows = conn.execute(sa.select(t).order_by(t.c.source)).all()
    window = HEALTH_WINDOW.total_seconds() / 60
    return [
        SourceHealth(
            source=r.source,
            platform=r.platform,
            last_success_at=r.last_success_at,
            last_error_at=r.last_error_at,
            last_error=r.last_error,
            items_total=int(r.items_total),
            items_per_minute=per_source.get(r.source, 0) / window,
            consecutive_failures=int(r.consecutive_failures),
        )
        for r in rows
    ]
