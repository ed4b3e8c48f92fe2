"""The author rollup (`author_rollup`): per author and hour of publication, the largest reach
of their mentions with a watch, how many, which watches they matched and the author's name,
kept as mentions are stored so that `tocsin.store.authors` ranks authors over any range
without reading the range's mentions.

An author is a source and a handle (the name when there is no handle); authors with neither
are left out. A mention's reach, for the rollup, is the largest of its reach and its
author's followers (`reach_of`).

`add` maintains the table inside `Store.save_batch`'s transaction, before the batch is
written. A mention is counted when it is first stored with a watch; saving it again (an
engagement refresh) counts nothing but raises ``reach_max`` when its reach or followers grew
and adds the watches it gained; a mention saved again with nothing the rollup keeps changed
writes nothing. The rollup keeps the largest value ever stored (a refresh that lowers a
mention's reach does not lower it), and a mention stays with the author it was first
counted under. `purge` forgets old hours with the mentions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from tocsin.mention import Mention
from tocsin.store.rollups import HOUR, hour_of
from tocsin.store.rows import clean
from tocsin.store.tables import author_rollup, mention_watches, mentions

__all__ = ["NEVER", "SEP", "Author", "Tally", "add", "audience", "purge", "reach_of"]

SEP = "\x1f"
"""Separates the watches of a row (``watches`` is ``SEP + w1 + SEP + w2 + SEP``); watch names
lose it."""
NEVER = datetime.min.replace(tzinfo=UTC)
_INT_MAX = 2**63 - 1
_IDS = 500  # ids per IN (...) list

Author = tuple[str, str]
"""An author: source and handle (or name)."""
_Key = tuple[str, str, datetime]  # source, handle, hour


def reach_of(m: Mention) -> int:
    """What a mention says of its author's audience: its reach or the author's followers,
    whichever is larger (0 when neither is known)."""
    return audience(m.reach, m.author.followers)


def audience(reach: int | None, followers: int | None) -> int:
    """The largest of `reach` and `followers` (unknown: 0), at least 0, at most 2**63 - 1."""
    return min(max(reach or 0, followers or 0, 0), _INT_MAX)


@dataclass(slots=True)
class Tally:
    """What is known of one author (in one hour, or over a range; `latest`: their latest
    mention seen, when that matters)."""

    reach: int = 0
    mentions: int = 0
    name: str = ""
    url: str = ""
    verified: bool = False
    watches: set[str] = field(default_factory=set)
    latest: datetime = NEVER

    def see(self, reach: int, counted: int, name: str, url: str, verified: bool) -> None:
        self.reach = max(self.reach, reach)
        self.mentions += counted
        self.name = name or self.name
        self.url = url or self.url
        self.verified = self.verified or verified


# -- writing ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Seen:
    """A mention as the rollup takes it (stored, or about to be)."""

    author: Author
    reach: int
    name: str
    url: str
    verified: bool
    watches: tuple[str, ...]


def add(conn: sa.Connection, insert: Any, batch: Sequence[Mention], existing: set[str]) -> None:
    """Fold `batch` into `author_rollup` (`insert` is the dialect's upsert-capable insert).
    Call it before the batch is written: `existing` holds the ids of `batch` already stored,
    whose stored state says what is new. A mention stays with the author it was first
    counted under."""
    ids = [m.id for m in batch if m.id in existing]
    before: dict[str, _Seen] = {}
    for begin in range(0, len(ids), _IDS):
        before |= _seen(conn.execute(_STORED_BY_ID, {"ids": ids[begin : begin + _IDS]}))
    tallies: dict[_Key, Tally] = {}
    for m in batch:
        a = m.author
        now = _Seen(
            (clean(m.source), clean(a.handle) or clean(a.name)),
            reach_of(m),
            clean(a.name),
            clean(a.url),
            bool(a.verified),
            tuple(dict.fromkeys(clean(w) for w in m.watches)),
        )
        old = before.get(m.id)
        if old is None or not old.watches or not old.author[1]:  # not counted yet
            if not now.author[1] or not now.watches:
                continue
            key, counted, watches = (*now.author, hour_of(m.published_at)), 1, now.watches
        elif _news(old, now):  # counted: may raise its row's reach or add watches to it
            key, counted = (*old.author, hour_of(m.published_at)), 0
            watches = (*old.watches, *now.watches)
        else:
            continue
        tally = tallies.setdefault(key, Tally())
        tally.see(now.reach, counted, now.name, now.url, now.verified)
        tally.watches.update(watches)
    _upsert(conn, insert, tallies)


def _news(old: _Seen, now: _Seen) -> bool:
    """Whether saving `now` over `old` (the same mention) can change the rollup."""
    return (
        now.reach > old.reach
        or (now.verified and not old.verified)
        or bool(now.name and now.name != old.name)
        or bool(now.url and now.url != old.url)
        or not set(now.watches) <= set(old.watches)
    )


def _upsert(conn: sa.Connection, insert: Any, tallies: Mapping[_Key, Tally]) -> None:
    """Add `tallies` to their rows (see `_upsert_statement`)."""
    if not tallies:
        return
    sql, order, fixed, convert = _compiled_upsert(conn, insert)
    hours: dict[datetime, Any] = {}
    rows = []
    for (source, handle, hour), v in tallies.items():
        if hour not in hours:
            hours[hour] = convert["hour"](hour)
        row = fixed | {
            "source": source,
            "handle": handle,
            "hour": hours[hour],
            "reach_max": v.reach,
            "mentions": v.mentions,
            "name": v.name,
            "url": v.url,
            "verified": convert["verified"](v.verified),
            "watches": SEP + SEP.join(sorted(w.replace(SEP, "") for w in v.watches)) + SEP,
        }
        rows.append(tuple(row[name] for name in order) if order else row)
    conn.exec_driver_sql(sql, rows)


_Compiled = tuple[str, list[str] | None, dict[str, Any], dict[str, Any]]
_COMPILED: dict[str, _Compiled] = {}


def _compiled_upsert(conn: sa.Connection, insert: Any) -> _Compiled:
    """`_upsert_statement` compiled for `conn`'s dialect, once: its SQL, the order of its
    parameters (None when they are named), the values of its constant parameters, and the
    dialect's conversion of an hour and of a boolean. `_upsert` hands rows straight to the
    driver: SQLAlchemy's per-row parameter work cost three times SQLite's own (25 against 7
    microseconds a row in `bench/store.py`), a tenth of a batch's time."""
    name = conn.dialect.name
    if name not in _COMPILED:
        compiled = _upsert_statement(insert, name).compile(dialect=conn.dialect)
        t = author_rollup

        def converter(column: sa.Column[Any]) -> Any:
            process = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
            return process if process is not None else (lambda value: value)

        fixed = {k: v for k, v in compiled.params.items() if k not in t.c}
        convert = {"hour": converter(t.c.hour), "verified": converter(t.c.verified)}
        order = list(compiled.positiontup) if compiled.positiontup else None
        _COMPILED[name] = (str(compiled), order, fixed, convert)
    return _COMPILED[name]


def _upsert_statement(insert: Any, dialect: str) -> Any:
    """Insert a row, or add it to the stored one: largest reach, mentions summed, name and
    URL when given, verified once seen, watches joined (appended unless all already there in
    that order: a row may list a watch twice, never miss one)."""
    t = author_rollup
    stmt = insert(t)
    new = stmt.excluded
    find = sa.func.strpos if dialect == "postgresql" else sa.func.instr
    return stmt.on_conflict_do_update(
        index_elements=[c.name for c in t.primary_key],
        set_={
            "reach_max": sa.case(
                (new.reach_max > t.c.reach_max, new.reach_max), else_=t.c.reach_max
            ),
            "mentions": t.c.mentions + new.mentions,
            "name": sa.case((new.name != "", new.name), else_=t.c.name),
            "url": sa.case((new.url != "", new.url), else_=t.c.url),
            "verified": sa.or_(t.c.verified, new.verified),
            "watches": sa.case(
                (find(t.c.watches, new.watches) > 0, t.c.watches),
                else_=t.c.watches + sa.func.substr(new.watches, 2),
            ),
        },
    )


def purge(conn: sa.Connection, insert: Any, before: datetime) -> None:
    """Forget the hours before `before`; the hour holding it (when `before` is not a whole
    hour) is rebuilt from its mentions published from `before` on (call it after those
    before `before` are deleted, or before: only later ones are read)."""
    cut = hour_of(before)
    t = author_rollup
    conn.execute(sa.delete(t).where(t.c.hour < cut))
    if cut == before:
        return
    conn.execute(sa.delete(t).where(t.c.hour == cut))
    tallies: dict[_Key, Tally] = {}
    query = _mentions_query(mentions.c.published_at >= before, mentions.c.published_at < cut + HOUR)
    for m in _seen(conn.execute(query)).values():
        tally = tallies.setdefault((*m.author, cut), Tally())
        tally.see(m.reach, 1, m.name, m.url, m.verified)
        tally.watches.update(m.watches)
    _upsert(conn, insert, tallies)


def _mentions_query(*where: Any, outer: bool = False) -> sa.Select[Any]:
    """The mentions matching `where` with an author (handle, else name), one row per watch
    (`outer`: also those without a watch, with ``watch`` NULL)."""
    m, w = mentions, mention_watches
    handle = sa.case((m.c.author_handle != "", m.c.author_handle), else_=m.c.author_name)
    columns = (m.c.id, m.c.source, handle.label("handle"), m.c.reach)
    author = (m.c.author_followers, m.c.author_name, m.c.author_url, m.c.author_verified)
    on = w.c.mention_id == m.c.id
    query = sa.select(*columns, *author, w.c.watch).where(*where)
    return query.outerjoin(w, on) if outer else query.join(w, on).where(handle != "")


def _seen(rows: Iterable[Any]) -> dict[str, _Seen]:
    """``{id: mention}`` from rows of `_mentions_query`."""
    first: dict[str, Any] = {}
    watches: dict[str, list[str]] = {}
    for r in rows:
        first.setdefault(r.id, r)
        if r.watch is not None:
            watches.setdefault(r.id, []).append(r.watch)
    return {
        i: _Seen(
            (r.source, r.handle),
            audience(r.reach, r.author_followers),
            r.author_name,
            r.author_url,
            bool(r.author_verified),
            tuple(sorted(watches.get(i, ()))),
        )
        for i, r in first.items()
    }


_STORED_BY_ID = _mentions_query(mentions.c.id.in_(sa.bindparam("ids", expanding=True)), outer=True)
