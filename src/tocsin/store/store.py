"""`Store`: every read and write tocsin makes to its database (SQLite or PostgreSQL).

Sync SQLAlchemy Core; the asyncio pipeline calls it through `asyncio.to_thread`. A batch of
mentions, its watches, its ingest errors and the source cursor are written in one
transaction, so a crash (kill -9) keeps all of a batch or none of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from tocsin.events import Event
from tocsin.mention import Mention, Metrics
from tocsin.query.ast import Node
from tocsin.sources.base import IngestError, SourceHealth
from tocsin.store import author_rollup as author_rollup_sql
from tocsin.store import authors as authors_sql
from tocsin.store import detectors as detectors_sql
from tocsin.store import events as events_sql
from tocsin.store import refresh, writes
from tocsin.store import rollups as rollups_sql
from tocsin.store import search as search_sql
from tocsin.store import signals as signals_sql
from tocsin.store import sources as sources_sql
from tocsin.store.alerts import AlertStore
from tocsin.store.database import WRITE, connect, run_migrations
from tocsin.store.outbox import Outbox
from tocsin.store.rows import chunks, error_row, row_mention
from tocsin.store.tables import (
    FTS_TABLE,
    ingest_errors,
    mention_refresh,
    mention_watches,
    mentions,
)
from tocsin.store.users import UserStore

__all__ = ["SaveResult", "Store"]


@dataclass(frozen=True)
class SaveResult:
    """What `Store.save_batch` wrote."""

    inserted: int
    updated: int
    errors: int


class Store:
    """The database: mentions, watches, cursors, source health and ingest errors."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    @classmethod
    def open(cls, url: str, *, workspace: Path | None = None) -> Store:
        """Open `url` (relative SQLite paths resolve against `workspace`); `StoreError` if
        the database cannot be reached."""
        return cls(connect(url, workspace=workspace))

    def upgrade(self) -> None:
        """Bring the schema to the latest migration (a no-op when it already is)."""
        run_migrations(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def users(self) -> UserStore:
        """People and the audit log (see `tocsin.store.users`)."""
        return UserStore(self)

    @property
    def alerts(self) -> AlertStore:
        """Alerts and their escalation state (see `tocsin.store.alerts`)."""
        return AlertStore(self)

    @property
    def outbox(self) -> Outbox:
        """The deliveries outbox: every message to send (see `tocsin.store.outbox`)."""
        return Outbox(self)

    def _write(self) -> sa.Connection:
        return self.engine.connect().execution_options(**WRITE)

    def _insert(self, table: sa.Table) -> Any:
        """A dialect INSERT supporting ``on_conflict_do_update`` / ``on_conflict_do_nothing``."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    # -- mentions --------------------------------------------------------------------------

    def save_batch(
        self,
        source: str,
        mentions: Sequence[Mention],
        *,
        errors: Sequence[IngestError] = (),
        cursor: str | None = None,
        now: datetime,
    ) -> SaveResult:
        """Upsert `mentions`, add their watches, keep `errors`, then set `source`'s cursor:
        all in one transaction, so either all of it is stored or none of it."""
        batch = writes.dedupe(mentions)
        with self._write() as conn, conn.begin():
            existing = writes.existing_ids(conn, [m.id for m in batch])
            author_rollup_sql.add(conn, self._insert, batch, existing)  # reads the old rows
            pks = writes.upsert(conn, self._insert, batch, now)
            if self.dialect == "sqlite":
                writes.index_sqlite(conn, batch, pks)
            rollups_sql.add(conn, self._insert, rollups_sql.new_pairs(conn, batch, existing))
            writes.add_watches(conn, self._insert, batch, now)
            refresh.schedule(conn, (m for m in batch if m.id not in existing), now)
            if errors:
                rows = [error_row(e.source, e.ref, e.error, e.raw, e.at) for e in errors]
                conn.execute(sa.insert(ingest_errors), rows)
            if cursor is not None:
                sources_sql.set_cursor(conn, self._insert, source, cursor, now)
        inserted = sum(1 for m in batch if m.id not in existing)
        return SaveResult(inserted=inserted, updated=len(batch) - inserted, errors=len(errors))

    def get(self, mention_id: str) -> Mention | None:
        """The stored mention with this id (its watches filled), or None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(mentions).where(mentions.c.id == mention_id)).first()
            if row is None:
                return None
            watches = search_sql.load_watches(conn, [mention_id])
        return row_mention(row._mapping, watches.get(mention_id, ()))

    def get_many(self, mention_ids: Sequence[str]) -> dict[str, Mention]:
        """The stored mentions among `mention_ids`, by id (missing ids are left out)."""
        found: dict[str, Mention] = {}
        with self.engine.connect() as conn:
            for chunk in chunks(list(mention_ids)):
                rows = conn.execute(sa.select(mentions).where(mentions.c.id.in_(chunk))).all()
                watches = search_sql.load_watches(conn, [r.id for r in rows])
                for row in rows:
                    found[row.id] = row_mention(row._mapping, watches.get(row.id, ()))
        return found

    def engagement(
        self, mention_ids: Sequence[str]
    ) -> dict[str, tuple[Metrics, datetime, float | None]]:
        """``{id: (metrics, updated_at, velocity)}`` as last stored, for the stored ids among
        `mention_ids`: what the pipeline needs to measure engagement growth between fetches."""
        t = mentions
        columns = (t.c.id, t.c.likes, t.c.reposts, t.c.replies, t.c.quotes, t.c.views)
        found: dict[str, tuple[Metrics, datetime, float | None]] = {}
        with self.engine.connect() as conn:
            for chunk in chunks(list(mention_ids)):
                query = sa.select(*columns, t.c.updated_at, t.c.velocity).where(t.c.id.in_(chunk))
                for r in conn.execute(query):
                    metrics = Metrics(r.likes, r.reposts, r.replies, r.quotes, r.views)
                    found[r.id] = (metrics, r.updated_at, r.velocity)
        return found

    def story_seeds(self, *, since: datetime) -> list[tuple[str, str, datetime, str | None]]:
        """``(id, text, published_at, story_id)`` of mentions published since `since`, oldest
        first: what the stories enricher needs to rebuild its index after a restart."""
        t = mentions
        query = (
            sa.select(t.c.id, t.c.title, t.c.text, t.c.published_at, t.c.story_id)
            .where(t.c.published_at >= since)
            .order_by(t.c.published_at, t.c.pk)
        )
        with self.engine.connect() as conn:
            return [
                (r.id, f"{r.title}\n{r.text}" if r.title else r.text, r.published_at, r.story_id)
                for r in conn.execute(query)
            ]

    def count(self) -> int:
        """How many mentions are stored."""
        with self.engine.connect() as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(mentions)) or 0)

    def search(
        self,
        query: str | Node | None = None,
        *,
        watch: str | None = None,
        source: str | None = None,
        lang: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[Mention]:
        """Mentions matching `query` (a query string or tree) and the filters, newest
        published first. `since` is inclusive, `until` exclusive. A bad query string raises
        `tocsin.query.QueryError`."""
        filters = search_sql.Filters(
            watch=watch, source=source, lang=lang, since=since, until=until
        )
        with self.engine.connect() as conn:
            return search_sql.search(conn, query, filters, limit)

    # -- cursors ---------------------------------------------------------------------------

    def get_cursor(self, source: str) -> str | None:
        """The cursor last committed for `source`, or None."""
        with self.engine.connect() as conn:
            return sources_sql.get_cursor(conn, source)

    # -- source health ---------------------------------------------------------------------

    def record_health(
        self,
        source: str,
        platform: str,
        *,
        ok: bool,
        items: int = 0,
        error: str | None = None,
        at: datetime,
    ) -> None:
        """Record a fetch of `source`: a success (with `items` stored) or a failure."""
        with self._write() as conn, conn.begin():
            sources_sql.record_health(
                conn, self._insert, source, platform, ok=ok, items=items, error=error, at=at
            )

    def health(self, *, now: datetime) -> list[SourceHealth]:
        """Every recorded source, by name; items/min is the mean over the last 15 minutes."""
        with self.engine.connect() as conn:
            return sources_sql.health(conn, now)

    # -- rollups ---------------------------------------------------------------------------

    def series(
        self,
        *,
        start: datetime,
        end: datetime,
        step: timedelta = timedelta(minutes=1),
        watches: Sequence[str] = (),
        sources: Sequence[str] = (),
    ) -> dict[str, list[rollups_sql.Bucket]]:
        """Per-watch buckets of mentions, sentiment and reach from the rollups (no scan)."""
        with self.engine.connect() as conn:
            return rollups_sql.series(
                conn, start=start, end=end, step=step, watches=watches, sources=sources
            )

    def top_authors(
        self, *, start: datetime, end: datetime, limit: int = 10
    ) -> list[authors_sql.AuthorReach]:
        """The `limit` authors of the mentions with a watch published from `start` to `end`
        with the largest reach, then the most mentions: exact, from the author rollup (see
        `tocsin.store.authors`)."""
        with self.engine.connect() as conn:
            return authors_sql.top(conn, start, end, limit=limit)

    def mention_signals(self, watch: str, *, since: datetime) -> signals_sql.MentionSignals:
        """Influential negative, media and urgent mentions of `watch` published since."""
        with self.engine.connect() as conn:
            return signals_sql.mention_signals(conn, watch, since)

    def growing_stories(
        self, *, since: datetime, min_recent: int = 2, limit: int = 50
    ) -> list[signals_sql.StoryCount]:
        """Stories with at least `min_recent` mentions published since `since`."""
        with self.engine.connect() as conn:
            return signals_sql.growing_stories(conn, since, min_recent=min_recent, limit=limit)

    # -- detection state -------------------------------------------------------------------

    def detector_states(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Saved states of the detectors whose name starts with `prefix`."""
        with self.engine.connect() as conn:
            return detectors_sql.load_states(conn, prefix)

    def save_detector_states(
        self, states: Mapping[str, Mapping[str, Any]], *, now: datetime
    ) -> None:
        """Save detector states by name (replacing the previous ones)."""
        with self._write() as conn, conn.begin():
            detectors_sql.save_states(conn, self._insert, states, now)

    def crisis_levels(self) -> dict[str, detectors_sql.CrisisRow]:
        """``{watch: (level, since, reasons)}`` as last saved."""
        with self.engine.connect() as conn:
            return detectors_sql.load_crisis(conn)

    def save_crisis_level(
        self,
        watch: str,
        level: int,
        *,
        since: datetime,
        reasons: Sequence[str],
        now: datetime,
        event: Event | None = None,
    ) -> None:
        """Save `watch`'s crisis level, with the event recording a change, in one go."""
        with self._write() as conn, conn.begin():
            detectors_sql.save_crisis(
                conn, self._insert, watch, (level, since, tuple(reasons)), now
            )
            if event is not None:
                events_sql.append(conn, event)

    # -- events ----------------------------------------------------------------------------

    def record_event(self, event: Event) -> None:
        """Append an event (source down/up, ...)."""
        with self._write() as conn, conn.begin():
            events_sql.append(conn, event)

    def events(
        self,
        *,
        kinds: Sequence[str] = (),
        subject: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[Event]:
        """Recorded events, newest first."""
        with self.engine.connect() as conn:
            return events_sql.select(conn, kinds=kinds, subject=subject, since=since, limit=limit)

    def last_event(self, subject: str, kinds: Sequence[str]) -> Event | None:
        """The newest event of one of `kinds` about `subject`."""
        with self.engine.connect() as conn:
            return events_sql.last(conn, subject, kinds)

    # -- ingest errors ---------------------------------------------------------------------

    def errors(self, *, source: str | None = None, limit: int = 100) -> list[IngestError]:
        """Kept ingest errors, newest first."""
        t = ingest_errors
        query = sa.select(t).order_by(t.c.id.desc()).limit(limit)
        if source is not None:
            query = query.where(t.c.source == source)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            IngestError(source=r.source, ref=r.ref, error=r.error, raw=r.raw, at=r.at) for r in rows
        ]

    # -- retention -------------------------------------------------------------------------

    def due_for_refresh(self, source: str, *, now: datetime, limit: int = 100) -> list[str]:
        """Ids of the platform `source`'s mentions whose engagement should be re-polled now."""
        with self.engine.connect() as conn:
            return refresh.due(conn, source, now, limit)

    def refreshed(self, mention_ids: Sequence[str], *, now: datetime) -> None:
        """Record that these mentions were re-polled: move them to their next refresh."""
        with self._write() as conn, conn.begin():
            for chunk in chunks(mention_ids):
                refresh.advance(conn, chunk, now)

    def purge(
        self, *, mentions_before: datetime | None = None, errors_before: datetime | None = None
    ) -> int:
        """Delete mentions published before `mentions_before` (with their watches and index
        entries) and errors recorded before `errors_before`; return how many were deleted."""
        deleted = 0
        with self._write() as conn, conn.begin():
            if mentions_before is not None:
                deleted += self._purge_mentions(conn, mentions_before)
            if errors_before is not None:
                old = ingest_errors.c.at < errors_before
                deleted += conn.execute(sa.delete(ingest_errors).where(old)).rowcount
        return deleted

    def _purge_mentions(self, conn: sa.Connection, before: datetime) -> int:
        old = sa.select(mentions.c.id).where(mentions.c.published_at < before)
        conn.execute(sa.delete(mention_watches).where(mention_watches.c.mention_id.in_(old)))
        conn.execute(sa.delete(mention_refresh).where(mention_refresh.c.mention_id.in_(old)))
        if self.dialect == "sqlite":
            old_pks = sa.select(mentions.c.pk).where(mentions.c.published_at < before)
            fts = sa.table(FTS_TABLE, sa.column("rowid"))
            conn.execute(sa.delete(fts).where(fts.c.rowid.in_(old_pks)))
        rollups_sql.purge(conn, before)
        author_rollup_sql.purge(conn, self._insert, before)
        result = conn.execute(sa.delete(mentions).where(mentions.c.published_at < before))
        return int(result.rowcount)
