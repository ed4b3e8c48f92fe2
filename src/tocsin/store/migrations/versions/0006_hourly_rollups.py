"""Hourly rollups: per watch, hour and source, the sums a series bucket needs, filled from the
per-minute rows already stored.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tocsin.store.tables import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The hour of a per-minute row, in each dialect's own terms. SQLite keeps naive UTC text
# ``YYYY-MM-DD HH:MM:SS.ffffff`` (see `UTCDateTime`): the hour is its first 13 characters.
# PostgreSQL's date_trunc on a timestamptz truncates in the session's time zone (wrong for
# zones a half hour off UTC), hence the round trip through UTC.
_HOUR = {
    "sqlite": "substr(minute, 1, 13) || ':00:00.000000'",
    "postgresql": "date_trunc('hour', minute AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
}


def upgrade() -> None:
    op.create_table(
        "rollups_hourly",
        sa.Column("hour", UTCDateTime, primary_key=True),
        sa.Column("watch", sa.Text, primary_key=True),
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("mentions", sa.BigInteger, nullable=False),
        sa.Column("negative", sa.BigInteger, nullable=False),
        sa.Column("neutral", sa.BigInteger, nullable=False),
        sa.Column("positive", sa.BigInteger, nullable=False),
        sa.Column("reach", sa.BigInteger, nullable=False),
        sa.Column("negative_reach", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    hour = _HOUR[op.get_bind().dialect.name]
    # `hour` is one of the constant expressions above, never outside input
    op.execute(
        "INSERT INTO rollups_hourly (hour, watch, source, mentions, negative, neutral, "  # noqa: S608
        "positive, reach, negative_reach) "
        f"SELECT {hour}, watch, source, SUM(mentions), "
        "SUM(CASE WHEN sentiment = 'negative' THEN mentions ELSE 0 END), "
        "SUM(CASE WHEN sentiment = 'neutral' THEN mentions ELSE 0 END), "
        "SUM(CASE WHEN sentiment = 'positive' THEN mentions ELSE 0 END), "
        "SUM(reach), SUM(CASE WHEN sentiment = 'negative' THEN reach ELSE 0 END) "
        f"FROM rollups GROUP BY {hour}, watch, source"
    )


def downgrade() -> None:
    op.drop_table("rollups_hourly")
