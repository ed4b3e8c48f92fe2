"""SQL for what detection reads beyond the rollups: the last hour's urgent and influential
negative mentions of a watch, and the stories growing now. Both are bounded by publication
time (an index), never a scan of all mentions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from tocsin.store.tables import mention_watches, mentions

__all__ = ["MentionSignals", "StoryCount", "growing_stories", "mention_signals"]

#: An author with at least this many followers (or verified) is influential.
INFLUENTIAL_FOLLOWERS = 10_000


@dataclass(frozen=True, slots=True)
class MentionSignals:
    """Counts over a watch's mentions published in a time range."""

    influential_negative: int = 0
    media: int = 0
    urgent: int = 0


@dataclass(frozen=True, slots=True)
class StoryCount:
    """A story of a watch: its mentions published since the start of the range, in all."""

    story_id: str
    watch: str
    recent: int
    size: int


def _of_watch(watch: str) -> sa.ColumnElement[bool]:
    t = mention_watches
    return sa.exists().where(t.c.mention_id == mentions.c.id, t.c.watch == watch)


def mention_signals(conn: sa.Connection, watch: str, since: datetime) -> MentionSignals:
    c = mentions.c
    influential = sa.and_(
        c.sentiment_label == "negative",
        sa.or_(c.author_verified, c.author_followers >= INFLUENTIAL_FOLLOWERS),
    )
    query = sa.select(
        sa.func.count().filter(influential),
        sa.func.count().filter(c.urgent.like("%media%")),
        sa.func.count().filter(c.urgent != ""),
    ).where(c.published_at >= since, _of_watch(watch))
    row = conn.execute(query).one()
    return MentionSignals(int(row[0] or 0), int(row[1] or 0), int(row[2] or 0))


def growing_stories(
    conn: sa.Connection, since: datetime, *, min_recent: int, limit: int = 50
) -> list[StoryCount]:
    """Stories with at least `min_recent` mentions published since `since`, per watch,
    fastest first."""
    c, w = mentions.c, mention_watches.c
    # coalesce() keeps SQLite from scanning every mention through ix_mentions_story (about
    # a second on a million mentions): with it, the published_at index bounds the read.
    story = sa.func.coalesce(c.story_id, "").label("story_id")
    recent = (
        sa.select(story, w.watch, sa.func.count().label("recent"))
        .join(mention_watches, w.mention_id == c.id)
        .where(c.published_at >= since, story != "")
        .group_by(story, w.watch)
        .having(sa.func.count() >= min_recent)
        .order_by(sa.func.count().desc())
        .limit(limit)
        .subquery()
    )
    size = sa.select(sa.func.count()).where(c.story_id == recent.c.story_id).scalar_subquery()
    query = sa.select(recent.c.story_id, recent.c.watch, recent.c.recent, size.label("size"))
    return [
        StoryCount(r.story_id, r.watch, int(r.recent), int(r.size)) for r in conn.execute(query)
    ]
