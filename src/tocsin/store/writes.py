"""Writing mentions: the steps of `Store.save_batch` that store a batch, its full-text index
entries and its watches, each inside the caller's transaction.

A batch is first deduplicated (`dedupe`); `existing_ids` tells new mentions from known ones;
`upsert` inserts or updates them keyed by `Mention.id` (a later save keeps the enrichment it
lacks and the first story id); on SQLite `index_sqlite` then fills the FTS5 table (PostgreSQL
keeps the ``tsvector`` in the row); `add_watches` adds the watches each mention matched.
Functions that upsert take the dialect's upsert-capable insert (`insert`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tocsin.mention import Mention
from tocsin.store.rows import chunks, clean, fts_body, mention_row
from tocsin.store.tables import mention_watches, mentions, mentions_pg

__all__ = ["add_watches", "dedupe", "existing_ids", "index_sqlite", "upsert"]

# Enrichment a later save may lack (e.g. enrichment failed): keep what we had.
_KEEP_IF_NULL = (
    "lang",
    "lang_confidence",
    "sentiment_label",
    "sentiment_score",
    "demand",
    "reach",
    "velocity",
    "priority",
)
# Once a mention belongs to a story it stays there (story ids are stable).
_KEEP_FIRST = ("story_id",)


def dedupe(batch: Sequence[Mention]) -> list[Mention]:
    """One mention per id (the last wins), with the watches of every copy."""
    latest: dict[str, Mention] = {}
    watches: dict[str, dict[str, None]] = {}
    for m in batch:
        latest[m.id] = m
        watches.setdefault(m.id, {}).update(dict.fromkeys(m.watches))
    return [
        m if m.watches == tuple(watches[m.id]) else replace(m, watches=tuple(watches[m.id]))
        for m in latest.values()
    ]


def existing_ids(conn: sa.Connection, ids: Sequence[str]) -> set[str]:
    """The ids among `ids` already stored."""
    found: set[str] = set()
    for chunk in chunks(ids):
        query = sa.select(mentions.c.id).where(mentions.c.id.in_(chunk))
        found.update(conn.scalars(query))
    return found


def upsert(
    conn: sa.Connection, insert: Any, batch: Sequence[Mention], now: datetime
) -> dict[str, int]:
    """Insert or update `batch`; return ``{id: pk}`` (on SQLite; empty on PostgreSQL)."""
    if not batch:
        return {}
    postgres = conn.dialect.name == "postgresql"
    table = mentions_pg if postgres else mentions
    rows = [mention_row(m, now) for m in batch]
    stmt = insert(table)
    if postgres:
        for row, m in zip(rows, batch, strict=True):
            row["body"] = fts_body(m)
        stmt = stmt.values(search_vector=_tsvector(sa.bindparam("body")))
    excluded = stmt.excluded
    keep = {"pk", "id", "seen_at"}

    def merged(name: str) -> Any:
        if name in _KEEP_IF_NULL:
            return sa.func.coalesce(excluded[name], table.c[name])
        if name in _KEEP_FIRST:
            return sa.func.coalesce(table.c[name], excluded[name])
        return excluded[name]

    update = {c.name: merged(c.name) for c in table.c if c.name not in keep}
    stmt = stmt.on_conflict_do_update(index_elements=["id"], set_=update)
    if postgres:  # the tsvector is in the row; no pks needed
        conn.execute(stmt, rows)
        return {}
    # A plain executemany, then one SELECT per chunk for the FTS rowids: RETURNING with
    # ON CONFLICT made SQLAlchemy send one statement per row (about 8% slower overall in
    # bench/store.py; most of the remaining cost is SQLAlchemy's per-row parameter work).
    conn.execute(stmt, rows)
    pks: dict[str, int] = {}
    for chunk in chunks([row["id"] for row in rows]):
        query = sa.select(table.c.id, table.c.pk).where(table.c.id.in_(chunk))
        pks.update({row.id: row.pk for row in conn.execute(query)})
    return pks


def _tsvector(text: sa.ColumnElement[Any]) -> Any:
    # No unaccent(): the text is already folded by tocsin (the same folding as the query
    # side); unaccent would fold further (ё -> е) and the tsquery would no longer match.
    return sa.func.to_tsvector(sa.literal_column("'simple'::regconfig"), text)


def index_sqlite(conn: sa.Connection, batch: Sequence[Mention], pks: dict[str, int]) -> None:
    """Put `batch` in SQLite's FTS5 table (`pks`: `upsert`'s ``{id: pk}``)."""
    rows = [{"pk": pks[m.id], "body": fts_body(m)} for m in batch]
    if rows:
        conn.execute(
            sa.text("INSERT OR REPLACE INTO mentions_fts(rowid, body) VALUES (:pk, :body)"),
            rows,
        )


def add_watches(conn: sa.Connection, insert: Any, batch: Sequence[Mention], now: datetime) -> None:
    """Add the watches each mention of `batch` matched (those already stored are kept)."""
    rows = [
        {"mention_id": clean(m.id), "watch": clean(w), "matched_at": now}
        for m in batch
        for w in m.watches
    ]
    if rows:
        stmt = insert(mention_watches).on_conflict_do_nothing()
        conn.execute(stmt, rows)
