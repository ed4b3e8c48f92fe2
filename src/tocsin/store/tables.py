"""The tables tocsin keeps, as SQLAlchemy Core objects (the migrations create them).

Datetimes go through `UTCDateTime`: PostgreSQL keeps ``timestamptz``; SQLite keeps naive UTC
ISO text (``YYYY-MM-DD HH:MM:SS.ffffff``), which sorts and compares correctly; both read back
as timezone-aware UTC.

Full text lives outside these objects because it differs by dialect: on SQLite an FTS5 table
``mentions_fts`` (rowid = ``mentions.pk``), on PostgreSQL a ``search_vector`` tsvector column
of ``mentions`` (see `mentions_pg`). Both are written by `Store.save_batch`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.engine import Dialect

__all__ = [
    "FTS_TABLE",
    "UTCDateTime",
    "alerts",
    "api_tokens",
    "audit_log",
    "author_rollup",
    "crisis_levels",
    "deliveries",
    "detector_state",
    "events",
    "ingest_errors",
    "login_failures",
    "mention_refresh",
    "mention_watches",
    "mentions",
    "mentions_pg",
    "metadata",
    "rollups",
    "rollups_hourly",
    "source_cursors",
    "source_health",
    "source_health_minutes",
    "triage",
    "users",
    "web_sessions",
]

FTS_TABLE = "mentions_fts"
"""SQLite only: FTS5 table of ``fts.index_text(title, text)``, rowid = ``mentions.pk``."""


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC in, aware UTC out; naive datetimes are refused rather than guessed."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"datetime {value.isoformat()} has no time zone; store needs aware UTC"
            )
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = sa.MetaData()

_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _mention_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("pk", _PK, primary_key=True, autoincrement=True),
        sa.Column("id", sa.Text, nullable=False, unique=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("site", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("lang", sa.Text),
        sa.Column("lang_confidence", sa.Float),
        sa.Column("author_handle", sa.Text, nullable=False),
        sa.Column("author_name", sa.Text, nullable=False),
        sa.Column("author_followers", sa.BigInteger),
        sa.Column("author_verified", sa.Boolean, nullable=False),
        sa.Column("author_url", sa.Text, nullable=False),
        sa.Column("likes", sa.BigInteger, nullable=False),
        sa.Column("reposts", sa.BigInteger, nullable=False),
        sa.Column("replies", sa.BigInteger, nullable=False),
        sa.Column("quotes", sa.BigInteger, nullable=False),
        sa.Column("views", sa.BigInteger),
        sa.Column("sentiment_label", sa.Text),
        sa.Column("sentiment_score", sa.Float),
        sa.Column("demand", sa.Text),
        sa.Column("complaint", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("urgent", sa.Text, nullable=False, server_default=""),
        sa.Column("reach", sa.BigInteger),
        sa.Column("velocity", sa.Float),
        sa.Column("priority", sa.Float),
        sa.Column("priority_factors", sa.Text, nullable=False, server_default="{}"),
        sa.Column("story_id", sa.Text),
        sa.Column("parent_id", sa.Text),
        sa.Column("thread_id", sa.Text),
        sa.Column("published_at", UTCDateTime, nullable=False),
        sa.Column("seen_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
    ]


mentions = sa.Table("mentions", metadata, *_mention_columns())
sa.Index("ix_mentions_published", mentions.c.published_at.desc(), mentions.c.pk.desc())
sa.Index("ix_mentions_source_published", mentions.c.source, mentions.c.published_at)
sa.Index("ix_mentions_story", mentions.c.story_id)
sa.Index("ix_mentions_priority", mentions.c.priority)

mentions_pg = sa.Table(
    "mentions",
    sa.MetaData(),
    *_mention_columns(),
    sa.Column("search_vector", TSVECTOR),
)
"""PostgreSQL's view of `mentions` for writes, with ``search_vector`` =
``to_tsvector('simple', fts.index_text(title, text))``, filled by the store. No ``unaccent``:
the text is already folded in Python exactly as queries are; unaccent would fold further
(``ё`` -> ``е``) and the query side would stop matching."""


mention_watches = sa.Table(
    "mention_watches",
    metadata,
    sa.Column(
        "mention_id",
        sa.Text,
        sa.ForeignKey("mentions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("watch", sa.Text, primary_key=True),
    sa.Column("matched_at", UTCDateTime, nullable=False),
)
sa.Index("ix_mention_watches_watch", mention_watches.c.watch, mention_watches.c.mention_id)

source_cursors = sa.Table(
    "source_cursors",
    metadata,
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("cursor", sa.Text, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

source_health = sa.Table(
    "source_health",
    metadata,
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("platform", sa.Text, nullable=False),
    sa.Column("last_success_at", UTCDateTime),
    sa.Column("last_error_at", UTCDateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("items_total", sa.BigInteger, nullable=False),
    sa.Column("consecutive_failures", sa.Integer, nullable=False),
)

source_health_minutes = sa.Table(
    "source_health_minutes",
    metadata,
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("minute", UTCDateTime, primary_key=True),
    sa.Column("item_count", sa.BigInteger, nullable=False),
)
"""Items stored per source per minute; only the last 15 minutes are kept (for items/min)."""

ingest_errors = sa.Table(
    "ingest_errors",
    metadata,
    sa.Column("id", _PK, primary_key=True, autoincrement=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("ref", sa.Text, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("raw", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
)
sa.Index("ix_ingest_errors_at", ingest_errors.c.at)
sa.Index("ix_ingest_errors_source", ingest_errors.c.source, ingest_errors.c.id)

mention_refresh = sa.Table(
    "mention_refresh",
    metadata,
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
"""When each recent mention's engagement is next re-polled (see `tocsin.store.refresh`)."""
sa.Index("ix_mention_refresh_due", mention_refresh.c.source, mention_refresh.c.due_at)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", _PK, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
)
"""What happened that someone may need to know: ``source_down``/``source_up`` for a source
(subject = its key), later crisis level changes; ``details`` is JSON. Alerting reads it."""
sa.Index("ix_events_at", events.c.at)
sa.Index("ix_events_subject", events.c.subject, events.c.id)

alerts = sa.Table(
    "alerts",
    metadata,
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
"""Alerts by `key` (one per rule, subject and throttle window): see `tocsin.alert`."""
sa.Index("ix_alerts_state", alerts.c.state, alerts.c.created_at)
sa.Index("ix_alerts_subject", alerts.c.subject)
sa.Index("ix_alerts_escalation", alerts.c.next_escalation_at)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", _PK, primary_key=True, autoincrement=True),
    sa.Column("alert_id", _PK, sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=True),
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
"""The outbox: one row per message to send (an alert to a channel at an escalation step, a
digest, a test message), written in the same transaction as what caused it, sent and retried
with backoff until delivered or expired. `key` makes enqueueing idempotent."""
sa.Index("ix_deliveries_due", deliveries.c.status, deliveries.c.next_attempt_at)

rollups = sa.Table(
    "rollups",
    metadata,
    sa.Column("watch", sa.Text, primary_key=True),
    sa.Column("minute", UTCDateTime, primary_key=True),
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("lang", sa.Text, primary_key=True),
    sa.Column("sentiment", sa.Text, primary_key=True),
    sa.Column("mentions", sa.BigInteger, nullable=False),
    sa.Column("reach", sa.BigInteger, nullable=False),
)
"""Per watch and minute (of publication), mentions and reach by source, language and
sentiment (``''`` when unknown), maintained by the pipeline as mentions are first stored."""
sa.Index("ix_rollups_minute", rollups.c.minute)

detector_state = sa.Table(
    "detector_state",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)
"""Streaming detectors' state (JSON) by name, so a restart resumes without a re-scan."""

crisis_levels = sa.Table(
    "crisis_levels",
    metadata,
    sa.Column("watch", sa.Text, primary_key=True),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("since", UTCDateTime, nullable=False),
    sa.Column("reasons", sa.Text, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)
"""The current crisis level (0-4) of each watch; every change is also an `events` row."""

# -- the web app: people, sessions, tokens, audit, triage -------------------------------------

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", _PK, primary_key=True, autoincrement=True),
    sa.Column("email", sa.Text, nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_login_at", UTCDateTime),
)
"""People who use the web app; `role` is admin, lead, responder or viewer (argon2 hashes)."""

web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("token_hash", sa.Text, primary_key=True),
    sa.Column("user_id", _PK, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("csrf", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
)
"""Logged-in browsers: the cookie holds a random token, the table only its SHA-256."""
sa.Index("ix_web_sessions_user", web_sessions.c.user_id)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", _PK, primary_key=True, autoincrement=True),
    sa.Column("user_id", _PK, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("token_hash", sa.Text, nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_used_at", UTCDateTime),
    sa.Column("revoked_at", UTCDateTime),
)
"""API tokens for /api/v1: shown once, stored as their SHA-256 only."""

login_failures = sa.Table(
    "login_failures",
    metadata,
    sa.Column("id", _PK, primary_key=True, autoincrement=True),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
)
"""Failed logins, to throttle guessing per account and per address."""
sa.Index("ix_login_failures_email", login_failures.c.email, login_failures.c.at)
sa.Index("ix_login_failures_address", login_failures.c.address, login_failures.c.at)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", _PK, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("user_id", _PK),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("before", sa.Text, nullable=False),
    sa.Column("after", sa.Text, nullable=False),
    sa.Column("address", sa.Text, nullable=False),
)
"""Every state change: who, what, when, before/after (JSON); admins read it."""
sa.Index("ix_audit_log_at", audit_log.c.at)
sa.Index("ix_audit_log_subject", audit_log.c.subject, audit_log.c.id)

triage = sa.Table(
    "triage",
    metadata,
    sa.Column("subject", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("assignee_id", _PK, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("priority", sa.Float, nullable=False),
    sa.Column("due_at", UTCDateTime),
    sa.Column("locked_by", _PK, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("locked_until", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("updated_by", _PK),
)
"""The inbox: a mention or story (`kind`) to handle, its state (new, watching, to_respond,
responded, ignored, escalated), who has it, its response deadline, and an edit lock."""
sa.Index("ix_triage_state", triage.c.state, triage.c.priority.desc())
sa.Index("ix_triage_assignee", triage.c.assignee_id, triage.c.state)

rollups_hourly = sa.Table(
    "rollups_hourly",
    metadata,
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
"""Per watch, hour (of publication) and source: what a `tocsin.store.rollups.Bucket` holds
(mentions, by sentiment, reach, reach of negative mentions), written in the same transaction
from the same (mention, watch) pairs as `rollups`, so long ranges read few rows: at most
watches x sources per hour, whatever the volume. The key starts with the hour, and on SQLite
the table is clustered on it (``WITHOUT ROWID``): a range of hours is one sequential read."""

author_rollup = sa.Table(
    "author_rollup",
    metadata,
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
"""Per author (source and handle, or name when there is no handle) and hour (of publication):
the largest reach of their mentions with a watch (a mention's reach or the author's
followers, whichever is larger), how many, the author's name and URL as last stored, whether
ever seen verified, and the watches matched (``\x1f``-separated, see
`tocsin.store.author_rollup.SEP`). Written by `Store.save_batch` in the same transaction as the
mentions, one row per author and hour whatever the number of watches. The key leads with the
author, so one author's hours are one range (their mentions over a range); the two indexes
give a range's rows by reach (the top authors of a long range) and by hour (every author of a
short one), each holding every column its query reads."""
sa.Index(
    "ix_author_rollup_reach",
    author_rollup.c.reach_max,
    author_rollup.c.hour,
    author_rollup.c.source,
    author_rollup.c.handle,
)
sa.Index(
    "ix_author_rollup_hour",
    author_rollup.c.hour,
    author_rollup.c.source,
    author_rollup.c.handle,
    author_rollup.c.reach_max,
    author_rollup.c.mentions,
    author_rollup.c.verified,
)
