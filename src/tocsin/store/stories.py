"""SQL for one story: its mentions (through the story index), for the Story page."""

from __future__ import annotations

import sqlalchemy as sa

from tocsin.mention import Mention
from tocsin.store.rows import row_mention
from tocsin.store.search import load_watches
from tocsin.store.store import Store
from tocsin.store.tables import mentions

__all__ = ["story_mentions", "story_size"]


def story_size(store: Store, story_id: str) -> int:
    """How many stored mentions the story has."""
    query = sa.select(sa.func.count()).where(mentions.c.story_id == story_id)
    with store.engine.connect() as conn:
        return int(conn.scalar(query) or 0)


def story_mentions(store: Store, story_id: str, *, limit: int = 500) -> list[Mention]:
    """The story's first `limit` mentions, oldest first (with their watches)."""
    t = mentions
    query = (
        sa.select(t).where(t.c.story_id == story_id).order_by(t.c.published_at, t.c.pk).limit(limit)
    )
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
        watches = load_watches(conn, [r.id for r in rows])
    return [row_mention(r._mapping, watches.get(r.id, ())) for r in rows]
