"""Alerting: alerts, the deliveries outbox, per-minute rollups, detector state and crisis
levels.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tocsin.store.tables import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", _PK, primary_key=True, autoincrement=True),
        sa.Column("key", sa.Text, nullable=False, unique=True),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("severity", sa.Integer, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("watch", sa.Text),
        sa.Column("mention_id", sa.Text),
        sa.Column("story_id", sa.Text),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("acknowledged_by", sa.Text),
        sa.Column("acknowledged_at", UTCDateTime),
        sa.Column("resolved_by", sa.Text),
        sa.Column("resolved_at", UTCDateTime),
        sa.Column("escalation", sa.Text),
        sa.Column("escalation_step", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_escalation_at", UTCDateTime),
    )
    op.create_index("ix_alerts_state", "alerts", ["state", "created_at"])
    op.create_index("ix_alerts_subject", "alerts", ["subject"])
    op.create_index("ix_alerts_escalation", "alerts", ["next_escalation_at"])
    op.create_table(
        "deliveries",
        sa.Column("id", _PK, primary_key=True, autoincrement=True),
        sa.Column("alert_id", _PK, sa.ForeignKey("alerts.id", ondelete="CASCADE")),
        sa.Column("key", sa.Text, nullable=False, unique=True),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("sent_at", UTCDateTime),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["status", "next_attempt_at"])
    op.create_table(
        "rollups",
        sa.Column("watch", sa.Text, primary_key=True),
        sa.Column("minute", UTCDateTime, primary_key=True),
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("lang", sa.Text, primary_key=True),
        sa.Column("sentiment", sa.Text, primary_key=True),
        sa.Column("mentions", sa.BigInteger, nullable=False),
        sa.Column("reach", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_rollups_minute", "rollups", ["minute"])
    op.create_table(
        "detector_state",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "crisis_levels",
        sa.Column("watch", sa.Text, primary_key=True),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("since", UTCDateTime, nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("crisis_levels")
    op.drop_table("detector_state")
    op.drop_index("ix_rollups_minute", table_name="rollups")
    op.drop_table("rollups")
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index("ix_alerts_escalation", table_name="alerts")
    op.drop_index("ix_alerts_subject", table_name="alerts")
    op.drop_index("ix_alerts_state", table_name="alerts")
    op.drop_table("alerts")
