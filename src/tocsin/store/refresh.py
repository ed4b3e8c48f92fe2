"""The engagement refresh schedule: metrics of recent mentions are re-polled on a decaying
schedule (5 min, 15 min, 1 h, 6 h and 24 h after publication) so reach and velocity stay true.

A new mention gets the first step still ahead of it; each refresh moves it to the next step
still ahead; after the last step it leaves the schedule. Functions take a connection inside
the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa

from tocsin.mention import Mention
from tocsin.store.tables import mention_refresh

__all__ = ["REFRESH_AFTER", "advance", "due", "next_step", "schedule"]

REFRESH_AFTER: tuple[timedelta, ...] = tuple(
    timedelta(seconds=s) for s in (300, 900, 3600, 6 * 3600, 24 * 3600)
)


def next_step(published_at: datetime, now: datetime, after: int = -1) -> int | None:
    """The first step past `after` whose time is still ahead of `now`, or None."""
    for step in range(after + 1, len(REFRESH_AFTER)):
        if published_at + REFRESH_AFTER[step] > now:
            return step
    return None


def schedule(conn: sa.Connection, mentions: Iterable[Mention], now: datetime) -> None:
    """Put new mentions on the schedule (those too old for any step are left out)."""
    rows = []
    for m in mentions:
        step = next_step(m.published_at, now)
        if step is not None:
            due_at = m.published_at + REFRESH_AFTER[step]
            rows.append(
                {
                    "mention_id": m.id,
                    "source": m.source,
                    "published_at": m.published_at,
                    "due_at": due_at,
                    "step": step,
                }
            )
    if rows:
        conn.execute(sa.insert(mention_refresh), rows)


def due(conn: sa.Connection, source: str, now: datetime, limit: int) -> list[str]:
    """Ids of `source`'s mentions whose refresh is due, the most overdue first."""
    query = (
        sa.select(mention_refresh.c.mention_id)
        .where(mention_refresh.c.source == source, mention_refresh.c.due_at <= now)
        .order_by(mention_refresh.c.due_at)
        .limit(limit)
    )
    return list(conn.scalars(query))


def advance(conn: sa.Connection, ids: Sequence[str], now: datetime) -> None:
    """Move refreshed mentions to their next step ahead, or off the schedule."""
    if not ids:
        return
    rows = conn.execute(
        sa.select(
            mention_refresh.c.mention_id, mention_refresh.c.published_at, mention_refresh.c.step
        ).where(mention_refresh.c.mention_id.in_(ids))
    ).all()
    done: list[str] = []
    for mention_id, published_at, step in rows:
        following = next_step(published_at, now, step)
        if following is None:
            done.append(mention_id)
            continue
        conn.execute(
            sa.update(mention_refresh)
            .where(mention_refresh.c.mention_id == mention_id)
            .values(step=following, due_at=published_at + REFRESH_AFTER[following])
        )
    if done:
        conn.execute(sa.delete(mention_refresh).where(mention_refresh.c.mention_id.in_(done)))
