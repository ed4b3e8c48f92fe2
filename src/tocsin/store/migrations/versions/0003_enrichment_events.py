"""Enrichment columns (language confidence, complaint, urgent reasons, velocity, priority
factors), an index on stories, and the `events` table (source down/up, later crisis levels).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tocsin.store.tables import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("mentions", sa.Column("lang_confidence", sa.Float))
    op.add_column(
        "mentions",
        sa.Column("complaint", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.add_column("mentions", sa.Column("urgent", sa.Text, nullable=False, server_default=""))
    op.add_column("mentions", sa.Column("velocity", sa.Float))
    op.add_column(
        "mentions", sa.Column("priority_factors", sa.Text, nullable=False, server_default="{}")
    )
    op.create_index("ix_mentions_story", "mentions", ["story_id"])
    op.create_index("ix_mentions_priority", "mentions", ["priority"])
    op.create_table(
        "events",
        sa.Column("id", _PK, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_events_at", "events", ["at"])
    op.create_index("ix_events_subject", "events", ["subject", "id"])


def downgrade() -> None:
    op.drop_index("ix_events_subject", table_name="events")
    op.drop_index("ix_events_at", table_name="events")
    op.drop_table("events")
    op.drop_index("ix_mentions_priority", table_name="mentions")
    op.drop_index("ix_mentions_story", table_name="mentions")
    for column in ("priority_factors", "velocity", "urgent", "complaint", "lang_confidence"):
        op.drop_column("mentions", column)
