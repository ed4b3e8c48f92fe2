"""Engagement refresh schedule: when each recent mention's metrics are next re-polled.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tocsin.store.tables import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mention_refresh",
        sa.Column(
            "mention_id",
            sa.Text,
            sa.ForeignKey("mentions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("published_at", UTCDateTime, nullable=False),
        sa.Column("due_at", UTCDateTime, nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
    )
    op.create_index("ix_mention_refresh_due", "mention_refresh", ["source", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_mention_refresh_due", table_name="mention_refresh")
    op.drop_table("mention_refresh")
