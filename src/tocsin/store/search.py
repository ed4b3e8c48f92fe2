"""A query tree -> SQL candidates -> exact matches.

The database narrows the candidates with what it can express: a full-text prefilter (FTS5
``MATCH`` on SQLite, ``tsvector @@ tsquery`` on PostgreSQL, both from `tocsin.store.fts`,
which return a *superset* expression or None) and column conditions for the field filters
found inside top-level ANDs. Every candidate is then checked with `tocsin.query.matches`, the
one definition of what a query means, so SQLite and PostgreSQL return the same mentions.
Candidates are read newest first in pages (keyset on ``published_at, pk``) until `limit`
matches are found.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tocsin.mention import Mention
from tocsin.query import Document, matches, parse
from tocsin.query.ast import And, Field, Node
from tocsin.store import fts
from tocsin.store.rows import row_mention
from tocsin.store.tables import mention_watches, mentions

__all__ = ["COMMON_MATCHES", "Filters", "field_conditions", "load_watches", "search"]

_FIRST_PAGE = 200
COMMON_MATCHES = 20_000
"""From this many full-text matches on, SQLite reads newest first without the prefilter..."""
COMMON_WALK = 5_000
"""...for at most this many candidates, then with it."""
_MAX_PAGE = 5000
_TRUE = frozenset({"true", "yes", "1"})
_ORDER = (mentions.c.published_at.desc(), mentions.c.pk.desc())


@dataclass(frozen=True)
class Filters:
    """Filters given beside the query (`since` inclusive, `until` exclusive)."""

    watch: str | None = None
    source: str | None = None
    lang: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def load_watches(conn: sa.Connection, ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """``{mention id: watches}`` (sorted) for `ids`."""
    found: dict[str, list[str]] = {}
    t = mention_watches
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        query = sa.select(t.c.mention_id, t.c.watch).where(t.c.mention_id.in_(chunk))
        for mention_id, watch in conn.execute(query):
            found.setdefault(mention_id, []).append(watch)
    return {k: tuple(sorted(v)) for k, v in found.items()}


def _filter_conditions(filters: Filters) -> list[sa.ColumnElement[bool]]:
    c = mentions.c
    conditions: list[sa.ColumnElement[bool]] = []
    if filters.watch is not None:
        t = mention_watches
        conditions.append(sa.exists().where(t.c.mention_id == c.id, t.c.watch == filters.watch))
    if filters.source is not None:
        conditions.append(c.source == filters.source)
    if filters.lang is not None:
        conditions.append(c.lang == filters.lang)
    if filters.since is not None:
        conditions.append(c.published_at >= filters.since)
    if filters.until is not None:
        conditions.append(c.published_at < filters.until)
    return conditions


def _conjuncts(node: Node) -> Iterator[Node]:
    """The nodes that must all hold for `node` to hold (flattening nested ANDs)."""
    if isinstance(node, And):
        for child in node.children:
            yield from _conjuncts(child)
    else:
        yield node


def _int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def _followers(op: str, value: str) -> sa.ColumnElement[bool] | None:
    number = _int(value)
    if number is None:
        return None
    column = mentions.c.author_followers
    ops: dict[str, Any] = {
        "=": column == number,
        ">": column > number,
        ">=": column >= number,
        "<": column < number,
        "<=": column <= number,
    }
    condition: sa.ColumnElement[bool] | None = ops.get(op)
    return condition


def _site(value: str) -> sa.ColumnElement[bool]:
    host = value.lower().split("/")[0].removeprefix("www.")
    site = mentions.c.site
    return sa.or_(site == host, site.endswith("." + host, autoescape=True))


def _field_condition(node: Field) -> sa.ColumnElement[bool] | None:
    """A column condition implied by `node`: a superset of what `tocsin.query.matches`
    accepts for it (the matcher has the last word), or None."""
    name, op, value = node.name.lower(), node.op, node.value
    c = mentions.c
    if name == "followers":
        return _followers(op, value)
    if op != "=":
        return None
    if name == "lang":
        code = value.lower().replace("_", "-")
        lang = sa.func.lower(sa.func.replace(c.lang, "_", "-"))
        return sa.or_(lang == code, lang.startswith(code + "-", autoescape=True))
    if name == "source":
        return sa.func.lower(c.source) == value.lower()
    if name == "author":
        handle = value.strip().lstrip("@").lower()
        if not handle.isascii():  # SQLite's lower() folds ASCII only: let the matcher decide
            return None
        return sa.func.lower(c.author_handle).contains(handle, autoescape=True)
    if name == "site":
        return _site(value)
    if name == "verified":
        return c.author_verified.is_(value.strip().lower() in _TRUE)
    return None


def field_conditions(node: Node | None) -> list[sa.ColumnElement[bool]]:
    """Column conditions for the field filters every match of `node` must satisfy."""
    if node is None:
        return []
    found = (_field_condition(n) for n in _conjuncts(node) if isinstance(n, Field))
    return [condition for condition in found if condition is not None]


def _fulltext(conn: sa.Connection, node: Node | None) -> tuple[list[sa.ColumnElement[bool]], bool]:
    """The full-text superset condition for `node` (or nothing), and whether it is *common*.

    On SQLite, a query that matches very many mentions (the brand's own name, in a store of
    the brand's mentions) is better read newest first and checked row by row: the first page
    is then mostly matches, while ``pk IN (every match)`` first collects them all (1.5 s on a
    million mentions). A count of the full-text matches capped at `COMMON_MATCHES` (a few
    milliseconds) tells which.
    """
    if node is None:
        return [], False
    if conn.dialect.name == "sqlite":
        expression = fts.to_fts5(node)
        if expression is None:
            return [], False
        matching = sa.text("SELECT rowid FROM mentions_fts WHERE mentions_fts MATCH :fts")
        found = conn.execute(
            sa.text(
                "SELECT count(*) FROM (SELECT rowid FROM mentions_fts "
                "WHERE mentions_fts MATCH :fts LIMIT :cap)"
            ),
            {"fts": expression, "cap": COMMON_MATCHES},
        ).scalar_one()
        subquery = matching.bindparams(fts=expression).columns(sa.column("rowid", sa.Integer))
        return [mentions.c.pk.in_(subquery)], found >= COMMON_MATCHES
    tsquery = fts.to_tsquery(node)
    if tsquery is None:
        return [], False
    vector: sa.ColumnElement[Any] = sa.literal_column("mentions.search_vector")
    query = sa.func.to_tsquery(sa.literal_column("'simple'::regconfig"), tsquery)
    return [vector.op("@@")(query)], False


_Position = tuple[datetime, int]


def _pages(
    conn: sa.Connection,
    conditions: Sequence[sa.ColumnElement[bool]],
    first: int,
    after: _Position | None = None,
) -> Iterator[tuple[list[Mention], _Position]]:
    """Candidate mentions, newest first, a page at a time (pages grow up to _MAX_PAGE), each
    with the keyset position of its last row."""
    size = first
    while True:
        query = sa.select(mentions).where(*conditions).order_by(*_ORDER).limit(size)
        if after is not None:
            c = mentions.c
            query = query.where(
                sa.or_(
                    c.published_at < after[0],
                    sa.and_(c.published_at == after[0], c.pk < after[1]),
                )
            )
        rows = conn.execute(query).all()
        if not rows:
            return
        watches = load_watches(conn, [r.id for r in rows])
        after = (rows[-1].published_at, rows[-1].pk)
        yield [row_mention(r._mapping, watches.get(r.id, ())) for r in rows], after
        if len(rows) < size:
            return
        size = min(size * 2, _MAX_PAGE)


def _take(
    pages: Iterable[tuple[list[Mention], _Position]],
    node: Node | None,
    limit: int,
    *,
    budget: int | None = None,
) -> tuple[list[Mention], _Position | None]:
    """Up to `limit` matches of `node` from `pages`; with a `budget`, stop after reading that
    many candidates and also give the position reached (None when the pages ran out)."""
    found: list[Mention] = []
    read = 0
    for page, after in pages:
        for mention in page:
            if node is None or matches(node, Document.from_mention(mention)):
                found.append(mention)
                if len(found) >= limit:
                    return found, None
        read += len(page)
        if budget is not None and read >= budget:
            return found, after
    return found, None


def search(
    conn: sa.Connection, query: str | Node | None, filters: Filters, limit: int
) -> list[Mention]:
    """Up to `limit` mentions matching `query` and `filters`, newest published first.

    A common query is first read without its full-text prefilter (see `_fulltext`); if the
    filters beside it make matches rare after all, the rest is read with the prefilter, so
    neither plan can scan the whole store row by row.
    """
    if limit <= 0:
        return []
    node = parse(query) if isinstance(query, str) else query
    conditions = [*_filter_conditions(filters), *field_conditions(node)]
    prefilter, common = _fulltext(conn, node)
    first = limit if node is None else max(limit, _FIRST_PAGE)
    if not common:
        return _take(_pages(conn, [*conditions, *prefilter], first), node, limit)[0]
    found, after = _take(_pages(conn, conditions, first), node, limit, budget=COMMON_WALK)
    if after is None:
        return found
    rest = _pages(conn, [*conditions, *prefilter], first, after)
    return found + _take(rest, node, limit - len(found))[0]
