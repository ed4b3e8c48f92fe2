"""Author rollup: per author and hour, the largest reach, the number of mentions and the
watches matched (the Overview's top authors), filled from the mentions already stored.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tocsin.store.tables import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The hour of publication in each dialect's own terms (see 0006): SQLite keeps naive UTC text
# ``YYYY-MM-DD HH:MM:SS.ffffff``; PostgreSQL truncates in UTC whatever the session's zone.
_HOUR = {
    "sqlite": "substr(m.published_at, 1, 13) || ':00:00.000000'",
    "postgresql": "date_trunc('hour', m.published_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
}
# A mention's reach as the rollup counts it: its reach or the author's followers, at least 0.
_REACH = {
    "sqlite": "max(COALESCE(m.reach, 0), COALESCE(m.author_followers, 0), 0)",
    "postgresql": "GREATEST(COALESCE(m.reach, 0), COALESCE(m.author_followers, 0), 0)",
}
# The watches of a row: each followed by the separator \x1f, which also starts the list.
_WATCHES = {
    "sqlite": "char(31) || group_concat(watch, char(31)) || char(31)",
    "postgresql": "chr(31) || string_agg(watch, chr(31) ORDER BY watch) || chr(31)",
}
_HANDLE = "CASE WHEN m.author_handle <> '' THEN m.author_handle ELSE m.author_name END"


def upgrade() -> None:
    op.create_table(
        "author_rollup",
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("handle", sa.Text, primary_key=True),
        sa.Column("hour", UTCDateTime, primary_key=True),
        sa.Column("reach_max", sa.BigInteger, nullable=False),
        sa.Column("mentions", sa.BigInteger, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("verified", sa.Boolean, nullable=False),
        sa.Column("watches", sa.Text, nullable=False),
        sqlite_with_rowid=False,
    )
    dialect = op.get_bind().dialect.name
    hour, reach, watches = _HOUR[dialect], _REACH[dialect], _WATCHES[dialect]
    # the expressions are the constants above, never outside input
    per_mention = (
        f"SELECT m.source, {_HANDLE} AS handle, {hour} AS hour, MAX({reach}) AS reach_max, "  # noqa: S608
        "COUNT(*) AS mentions, MAX(m.author_name) AS name, MAX(m.author_url) AS url, "
        "MAX(CASE WHEN m.author_verified THEN 1 ELSE 0 END) = 1 AS verified "
        f"FROM mentions m WHERE {_HANDLE} <> '' AND EXISTS "
        "(SELECT 1 FROM mention_watches w WHERE w.mention_id = m.id) GROUP BY 1, 2, 3"
    )
    per_watch = (
        f"SELECT source, handle, hour, {watches} AS watches FROM "  # noqa: S608
        f"(SELECT DISTINCT m.source, {_HANDLE} AS handle, {hour} AS hour, w.watch "
        "FROM mentions m JOIN mention_watches w ON w.mention_id = m.id "
        f"WHERE {_HANDLE} <> '' ORDER BY w.watch) d GROUP BY source, handle, hour"
    )
    op.execute(
        "INSERT INTO author_rollup (source, handle, hour, reach_max, mentions, name, url, "  # noqa: S608
        "verified, watches) SELECT a.source, a.handle, a.hour, a.reach_max, a.mentions, "
        f"a.name, a.url, a.verified, b.watches FROM ({per_mention}) a JOIN ({per_watch}) b "
        "ON b.source = a.source AND b.handle = a.handle AND b.hour = a.hour"
    )
    op.create_index(
        "ix_author_rollup_reach", "author_rollup", ["reach_max", "hour", "source", "handle"]
    )
    op.create_index(
        "ix_author_rollup_hour",
        "author_rollup",
        ["hour", "source", "handle", "reach_max", "mentions", "verified"],
    )


def downgrade() -> None:
    op.drop_table("author_rollup")
