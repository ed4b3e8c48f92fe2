"""Initial schema: mentions (+ full text), watches, cursors, source health, ingest errors.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TSVECTOR

from tocsin.store.tables import UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _mentions_columns(postgres: bool) -> list[sa.Column[Any]]:
    text = [
        "source", "url", "site", "title", "text", "lang", "author_handle", "author_name",
        "author_url", "sentiment_label", "demand", "story_id", "parent_id", "thread_id",
    ]  # fmt: skip
    optional = {"lang", "sentiment_label", "demand", "story_id", "parent_id", "thread_id"}
    counts = ["likes", "reposts", "replies", "quotes"]
    columns: list[sa.Column[Any]] = [
        sa.Column("pk", _PK, primary_key=True, autoincrement=True),
        sa.Column("id", sa.Text, nullable=False, unique=True),
        *(sa.Column(name, sa.Text, nullable=name in optional) for name in text),
        sa.Column("author_followers", sa.BigInteger),
        sa.Column("author_verified", sa.Boolean, nullable=False),
        *(sa.Column(name, sa.BigInteger, nullable=False) for name in counts),
        sa.Column("views", sa.BigInteger),
        sa.Column("sentiment_score", sa.Float),
        sa.Column("reach", sa.BigInteger),
        sa.Column("priority", sa.Float),
        sa.Column("published_at", UTCDateTime, nullable=False),
        sa.Column("seen_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
    ]
    if postgres:
        columns.append(sa.Column("search_vector", TSVECTOR))
    return columns


def _create_full_text(postgres: bool) -> None:
    if postgres:
        op.create_index(
            "ix_mentions_search_vector", "mentions", ["search_vector"], postgresql_using="gin"
        )
    else:
        op.execute(
            "CREATE VIRTUAL TABLE mentions_fts USING fts5("
            "body, tokenize='unicode61 remove_diacritics 2')"
        )


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table("mentions", *_mentions_columns(postgres))
    op.create_index(
        "ix_mentions_published", "mentions", [sa.text("published_at DESC"), sa.text("pk DESC")]
    )
    op.create_index("ix_mentions_source_published", "mentions", ["source", "published_at"])
    _create_full_text(postgres)
    op.create_table(
        "mention_watches",
        sa.Column(
            "mention_id",
            sa.Text,
            sa.ForeignKey("mentions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("watch", sa.Text, primary_key=True),
        sa.Column("matched_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_mention_watches_watch", "mention_watches", ["watch", "mention_id"])
    op.create_table(
        "source_cursors",
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("cursor", sa.Text, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "source_health",
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("platform", sa.Text, nullable=False),
        sa.Column("last_success_at", UTCDateTime),
        sa.Column("last_error_at", UTCDateTime),
        sa.Column("last_error", sa.Text),
        sa.Column("items_total", sa.BigInteger, nullable=False),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
    )
    op.create_table(
        "source_health_minutes",
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("minute", UTCDateTime, primary_key=True),
        sa.Column("item_count", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "ingest_errors",
        sa.Column("id", _PK, primary_key=True, autoincrement=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("ref", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_ingest_errors_at", "ingest_errors", ["at"])
    op.create_index("ix_ingest_errors_source", "ingest_errors", ["source", "id"])


def downgrade() -> None:
    for table in ("ingest_errors", "source_health_minutes", "source_health", "source_cursors"):
        op.drop_table(table)
    op.drop_table("mention_watches")
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE mentions_fts")
    op.drop_table("mentions")
