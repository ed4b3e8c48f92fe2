"""Top authors by reach over a range, exact, from the author rollup
(`tocsin.store.author_rollup`).

An author's reach over a range is the largest, over their mentions with a watch in it, of
the mention's reach and the author's followers; authors rank by it, then by how many
mentions they have in the range, each counted once.

`top` reads whole hours from the rollup and the parts of an hour at either end of the range
straight from the mentions. Up to `SUM_SPAN` of whole hours, it sums every author's rows of
the range (``ix_author_rollup_hour``); over longer ranges it reads rows by reach, largest
first (``ix_author_rollup_reach``), until no row left can change the ranking, then counts
the mentions of the authors found, one range of the key each: the largest reach of an author
over a range is the largest of their hourly rows, so the top authors are among the authors
of the rows with the largest reach.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from tocsin.store.author_rollup import NEVER, SEP, Author, Tally, audience
from tocsin.store.rollups import HOUR, hour_of
from tocsin.store.tables import UTCDateTime, author_rollup, mention_watches, mentions

__all__ = ["SUM_SPAN", "AuthorReach", "top"]

SUM_SPAN = timedelta(hours=48)
"""Ranges with at most this many whole hours sum all their rollup rows; longer ones read rows
by reach, largest first (see `top`)."""
_FIRST_PAGE = 64  # rows per wanted author on the first read by reach; x8 on each further read
_CHUNK = 12  # authors per counting statement (a UNION ALL branch each)


@dataclass(frozen=True, slots=True)
class AuthorReach:
    """An author over a range: their largest audience, how many mentions, which watches."""

    source: str
    handle: str
    name: str
    url: str
    verified: bool
    reach: int
    mentions: int
    watches: tuple[str, ...]


# -- reading -----------------------------------------------------------------------------------
# The statements are built once: building SQLAlchemy expressions per call cost more than
# running them (about 0.2 ms per author).

_LOW: sa.BindParameter[datetime] = sa.bindparam("low")
_HIGH: sa.BindParameter[datetime] = sa.bindparam("high")


def _scan_statement(dialect: str) -> sa.Select[Any]:
    """The distinct authors among the `rows` rows of hours [`low`, `high`) with the largest
    reach, each with their largest reach there, and beside each how many rows were read and
    the smallest reach read (one row per author: the rows stay in SQL). The rows are read
    along ``ix_author_rollup_reach``; on SQLite the hours are compared as ``+hour`` (the same
    value), or without statistics it takes ``ix_author_rollup_hour`` and sorts the range."""
    t = author_rollup
    hour: Any = t.c.hour
    if dialect == "sqlite":
        hour = sa.literal_column(f"+{t.name}.hour", UTCDateTime())
    top = (
        sa.select(t.c.reach_max, t.c.source, t.c.handle)
        .where(hour >= _LOW, hour < _HIGH)
        .order_by(t.c.reach_max.desc())
        .limit(sa.bindparam("rows", type_=sa.Integer))
        .cte("top")
    )
    read = sa.select(sa.func.count()).select_from(top).scalar_subquery()
    floor = sa.select(sa.func.min(top.c.reach_max)).scalar_subquery()
    return sa.select(
        top.c.source,
        top.c.handle,
        sa.func.max(top.c.reach_max).label("reach"),
        read.label("read"),
        floor.label("floor"),
    ).group_by(top.c.source, top.c.handle)


def _sum_statement() -> sa.Select[Any]:
    """Every author of hours [`low`, `high`): largest reach, mentions, and whether seen
    verified (``ix_author_rollup_hour`` holds every column it reads)."""
    t = author_rollup
    return (
        sa.select(
            t.c.source,
            t.c.handle,
            sa.func.max(t.c.reach_max).label("reach"),
            sa.func.sum(t.c.mentions).label("mentions"),
            sa.func.max(sa.case((t.c.verified, 1), else_=0)).label("verified"),
        )
        .where(t.c.hour >= _LOW, t.c.hour < _HIGH)
        .group_by(t.c.source, t.c.handle)
    )


def _count_statement(size: int, dialect: str) -> sa.CompoundSelect[Any]:
    """For authors ``s0, h0`` to ``s<size-1>, h<size-1>``: their mentions in hours [`low`,
    `high`), whether seen verified, their rows' watches end to end, and name and URL on their
    latest row there. One ``UNION ALL`` branch per author, each a range of the key (an OR of
    authors made SQLite collect every matching key before reading a row, and ``(source,
    handle) IN (VALUES ...)`` scanned the table)."""
    t, n = author_rollup, author_rollup.alias("n")
    concat = sa.func.string_agg if dialect == "postgresql" else sa.func.group_concat
    branches = []
    for i in range(size):
        source: sa.BindParameter[str] = sa.bindparam(f"s{i}")
        handle: sa.BindParameter[str] = sa.bindparam(f"h{i}")

        def mine(x: Any, source: Any = source, handle: Any = handle) -> Any:
            return sa.and_(
                x.c.source == source,
                x.c.handle == handle,
                x.c.hour >= _LOW,
                x.c.hour < _HIGH,
            )

        latest = sa.select(n.c.name, n.c.url).where(mine(n)).order_by(n.c.hour.desc()).limit(1)
        branches.append(
            sa.select(
                sa.literal_column(str(i)).label("i"),
                sa.func.coalesce(sa.func.sum(t.c.mentions), 0).label("mentions"),
                sa.func.max(sa.case((t.c.verified, 1), else_=0)).label("verified"),
                concat(t.c.watches, sa.literal_column("''")).label("watches"),
                latest.with_only_columns(n.c.name).scalar_subquery().label("name"),
                latest.with_only_columns(n.c.url).scalar_subquery().label("url"),
            ).where(mine(t))
        )
    return sa.union_all(*branches)


def _edge_sum_statement() -> sa.Select[Any]:
    """Per author of the mentions with a watch published in [`start`, `end`): the largest of
    reach and followers, how many, and whether seen verified."""
    m, w = mentions, mention_watches
    handle = sa.case((m.c.author_handle != "", m.c.author_handle), else_=m.c.author_name)
    reach, followers = sa.func.coalesce(m.c.reach, 0), sa.func.coalesce(m.c.author_followers, 0)
    watched = sa.select(w.c.watch).where(w.c.mention_id == m.c.id).exists()
    return (
        sa.select(
            m.c.source,
            handle.label("handle"),
            sa.func.max(sa.case((reach > followers, reach), else_=followers)).label("reach"),
            sa.func.count().label("mentions"),
            sa.func.max(sa.case((m.c.author_verified, 1), else_=0)).label("verified"),
        )
        .where(m.c.published_at >= sa.bindparam("start"), m.c.published_at < sa.bindparam("end"))
        .where(handle != "", watched)
        .group_by(m.c.source, handle)
    )


def _edge_watch_statement() -> sa.Select[Any]:
    """Per author among `sources` x `handles` and watch of their mentions published in
    [`start`, `end`): when the latest of them giving a name was published."""
    m, w = mentions, mention_watches
    handle = sa.case((m.c.author_handle != "", m.c.author_handle), else_=m.c.author_name)
    named = sa.case((m.c.author_name != "", m.c.published_at))
    return (
        sa.select(m.c.source, handle.label("handle"), w.c.watch, sa.func.max(named).label("at"))
        .join_from(m, w, w.c.mention_id == m.c.id)
        .where(m.c.published_at >= sa.bindparam("start"), m.c.published_at < sa.bindparam("end"))
        .where(m.c.source.in_(sa.bindparam("sources", expanding=True)))
        .where(handle.in_(sa.bindparam("handles", expanding=True)))
        .group_by(m.c.source, handle, w.c.watch)
    )


def _edge_name_statement() -> sa.Select[Any]:
    """Authors, names and URLs of the mentions published at `times` (index seeks)."""
    m = mentions
    handle = sa.case((m.c.author_handle != "", m.c.author_handle), else_=m.c.author_name)
    return sa.select(
        m.c.source, handle.label("handle"), m.c.author_name, m.c.author_url, m.c.published_at
    ).where(m.c.published_at.in_(sa.bindparam("times", expanding=True)))


_DIALECTS = ("sqlite", "postgresql")
_SCAN = {dialect: _scan_statement(dialect) for dialect in _DIALECTS}
_SUM = _sum_statement()
_COUNT = {dialect: _count_statement(_CHUNK, dialect) for dialect in _DIALECTS}
_EDGE_SUM = _edge_sum_statement()
_EDGE_WATCHES = _edge_watch_statement()
_EDGE_NAMES = _edge_name_statement()


def top(
    conn: sa.Connection, start: datetime, end: datetime, *, limit: int = 10
) -> list[AuthorReach]:
    """The `limit` authors of the mentions with a watch published from `start` (inclusive)
    to `end` (exclusive) with the largest reach, then the most mentions (then by handle and
    source); their watches are those of their mentions in the range, their name and URL as
    last stored for their latest hour in it."""
    if limit < 1 or end <= start:
        return []
    low = hour_of(start) if hour_of(start) == start else hour_of(start) + HOUR
    high = hour_of(end)
    if low >= high:  # no whole hour: the range is read from the mentions
        low = high = start
        edges = [(start, end)]
    else:
        edges = [(a, b) for a, b in ((start, low), (high, end)) if a < b]
    found = _from_mentions(conn, edges)
    hours = {"low": low, "high": high}
    details: dict[Author, Tally] = {}  # from `_counts`: with names and watches
    if low >= high:
        rolled: dict[Author, Tally] = {}
    elif high - low <= SUM_SPAN:
        rolled = {
            (r.source, r.handle): Tally(int(r.reach), int(r.mentions), verified=bool(r.verified))
            for r in conn.execute(_SUM, hours)
        }
    else:
        rolled = details = _candidates(conn, hours, limit, found)
    ranked = _merge(rolled, found)[:limit]
    missing = [a for a, _ in ranked if a in rolled and a not in details]
    details = {**details, **_counts(conn, missing, hours)}
    around = _edge_details(conn, edges, [a for a, _ in ranked if a in found])
    return [_describe(a, tally, details.get(a), around.get(a), high) for a, tally in ranked]


def _merge(
    rolled: Mapping[Author, Tally], found: Mapping[Author, Tally]
) -> list[tuple[Author, Tally]]:
    """The authors of the rollup's whole hours (`rolled`) and of the mentions around them
    (`found`) together (reach, mentions, verified, watches), ranked."""
    merged: dict[Author, Tally] = {}
    for a in dict.fromkeys([*rolled, *found]):
        tally = Tally()
        for part in (rolled.get(a), found.get(a)):
            if part is not None:
                tally.see(part.reach, part.mentions, "", "", part.verified)
                tally.watches |= part.watches
        merged[a] = tally
    return sorted(merged.items(), key=lambda x: (-x[1].reach, -x[1].mentions, x[0][1], x[0][0]))


def _describe(
    author: Author, tally: Tally, rolled: Tally | None, edge: Tally | None, high: datetime
) -> AuthorReach:
    """`author` as shown: name and URL from their latest hour of the rollup (`rolled`), or
    from their latest mention around it (`edge`) when that is later (from `high` on) or the
    rollup has none; watches from both."""
    name, url, watches = "", "", set(tally.watches)
    if rolled is not None:
        name, url = rolled.name, rolled.url
        watches |= rolled.watches
    if edge is not None:
        watches |= edge.watches
        if edge.name and (edge.latest >= high or not name):
            name, url = edge.name, edge.url or url
    return AuthorReach(
        source=author[0],
        handle=author[1],
        name=name,
        url=url,
        verified=tally.verified,
        reach=tally.reach,
        mentions=tally.mentions,
        watches=tuple(sorted(watches)),
    )


def _candidates(
    conn: sa.Connection, hours: Mapping[str, Any], limit: int, found: Mapping[Author, Tally]
) -> dict[Author, Tally]:
    """The authors of the rollup rows of `hours` who can be among the `limit` with the largest
    reach once `found` (read outside those hours) is added, with their rollup tallies: those
    whose reach known after `_by_reach` is at least the `limit`-th largest (ties included).
    An author of `found` whose reach there is below it can have no larger one in the rollup
    (all its rows at or above it were read), so ranks below `limit` others and is left out."""
    best = _byaudience(conn, hours, limit, {a: v.reach for a, v in found.items()})
    if not best:
        return {}
    reach = {a: v.reach for a, v in found.items()}
    for a, r in best.items():
        reach[a] = max(r, reach.get(a, -1))
    threshold = _kth(reach.values(), limit)
    tallies = _counts(conn, [a for a, r in reach.items() if r >= threshold], hours)
    for a, tally in tallies.items():
        tally.reach = best.get(a, 0)
    return tallies


def _kth(values: Iterable[int], k: int) -> int:
    """The `k`-th largest of `values`, or -1 when there are fewer."""
    ordered = sorted(values, reverse=True)
    return ordered[k - 1] if len(ordered) >= k else -1


def _byaudience(
    conn: sa.Connection, hours: Mapping[str, Any], limit: int, elsewhere: Mapping[Author, int]
) -> dict[Author, int]:
    """``{author: largest reach_max}`` over the rollup rows of `hours` of every author who
    can be among the `limit` largest once `elsewhere` (reaches known from outside those
    hours) is taken into account: rows are read by reach, largest first, until the next ones
    are below the `limit`-th largest reach known (ties included)."""
    rows = _FIRST_PAGE * limit
    while True:
        found = conn.execute(_SCAN[conn.dialect.name], {**hours, "rows": rows}).all()
        best = {(r.source, r.handle): int(r.reach) for r in found}
        if not found or found[0].read < rows:
            return best
        known = dict(elsewhere)
        for a, r in best.items():
            known[a] = max(known.get(a, -1), r)
        if int(found[0].floor) < _kth(known.values(), limit):
            return best
        rows *= 8


def _per_author(
    conn: sa.Connection,
    statement: sa.CompoundSelect[Any],
    authors: Sequence[Author],
    params: Mapping[str, Any],
) -> Iterator[tuple[Author, Any]]:
    """``(author, row)`` from `statement`, one ``UNION ALL`` branch per author (numbered in
    column ``i``, the author in ``s<i>``, ``h<i>``), `_CHUNK` authors per execution, the last
    chunk padded with no one: the statement is always the same, compiled once."""
    for begin in range(0, len(authors), _CHUNK):
        chunk = list(authors[begin : begin + _CHUNK])
        values = dict(params)
        for i in range(_CHUNK):
            values[f"s{i}"], values[f"h{i}"] = chunk[i] if i < len(chunk) else ("", "")
        for r in conn.execute(statement, values):
            if int(r.i) < len(chunk):
                yield chunk[int(r.i)], r


def _counts(
    conn: sa.Connection, authors: Sequence[Author], hours: Mapping[str, Any]
) -> dict[Author, Tally]:
    """Mentions, verified, name, URL and watches of each of `authors` over the rollup rows
    of `hours`."""
    return {
        a: Tally(
            mentions=int(r.mentions),
            verified=bool(r.verified),
            name=r.name or "",
            url=r.url or "",
            watches={w for w in (r.watches or "").split(SEP) if w},
        )
        for a, r in _per_author(conn, _COUNT[conn.dialect.name], authors, hours)
    }


def _from_mentions(
    conn: sa.Connection, spans: Sequence[tuple[datetime, datetime]]
) -> dict[Author, Tally]:
    """Each author's largest reach, mentions and verified over the mentions with a watch
    published in `spans`, summed in SQL from the mentions themselves."""
    found: dict[Author, Tally] = {}
    for start, end in spans:
        for r in conn.execute(_EDGE_SUM, {"start": start, "end": end}):
            tally = found.setdefault((r.source, r.handle), Tally())
            tally.see(audience(r.reach, 0), int(r.mentions), "", "", bool(r.verified))
    return found


def _edge_details(
    conn: sa.Connection, spans: Sequence[tuple[datetime, datetime]], authors: Sequence[Author]
) -> dict[Author, Tally]:
    """Name and URL on the latest mention giving a name, and watches, of each of `authors`
    over their mentions with a watch published in `spans` (a few authors: the ones shown):
    summed per author and watch in SQL, then the names read by time of publication."""
    found: dict[Author, Tally] = {}
    if not authors:
        return found
    wanted = set(authors)
    for start, end in spans:
        params = {"start": start, "end": end, "sources": sorted({a[0] for a in authors})}
        params["handles"] = sorted({a[1] for a in authors})
        for r in conn.execute(_EDGE_WATCHES, params):
            if (r.source, r.handle) in wanted:
                tally = found.setdefault((r.source, r.handle), Tally())
                tally.watches.add(r.watch)
                tally.latest = max(tally.latest, r.at or NEVER)
    times = sorted({t.latest for t in found.values() if t.latest != NEVER})
    for r in conn.execute(_EDGE_NAMES, {"times": times}) if times else ():
        named = found.get((r.source, r.handle))
        if named is not None and r.published_at == named.latest and r.author_name:
            named.name, named.url = r.author_name, r.author_url
    return found
