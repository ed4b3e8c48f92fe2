"""`TriageStore`: the inbox of mentions and stories to handle, and its edit locks.

One row of ``triage`` per item (`subject` ``mention:<mention id>`` or ``story:<story id>``):
its state, priority (for ordering), response deadline, assignee and edit lock.

- Items enter through `TriageStore.upsert` (idempotent: a second upsert only raises the
  priority and brings the deadline forward; it never reopens a closed item nor resets who
  has it). `TriageStore.ingest` is the pipeline's entry: a pure selection
  (`tocsin.triage.select`) and this upsert.
- Lists are read per state through ``ix_triage_state (state, priority DESC)`` with a keyset
  and a LIMIT, merged in Python for multi-state views: every read is bounded.
- Changes (state, assignee, lock) are made in one transaction that reads the rows (``FOR
  UPDATE`` on PostgreSQL; SQLite has one writer) and skips items locked by someone else, so
  two people never act on the same post; each change returns its before/after for the
  audit log.
"""

from __future__ import annotations

import builtins
import heapq
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tocsin.store.rows import chunks, clean
from tocsin.store.tables import mentions, triage, users
from tocsin.store.users import AuditEntry, write_audit

if TYPE_CHECKING:
    from tocsin.mention import Mention
    from tocsin.store.store import Store

__all__ = [
    "ACTIVE_STATES",
    "LOCK_TTL",
    "STORY_MIN_MENTIONS",
    "TRIAGE_KINDS",
    "TRIAGE_STATES",
    "AuditHook",
    "Candidate",
    "Change",
    "LockResult",
    "Outcome",
    "TriageItem",
    "TriageStore",
    "mention_subject",
    "split_subject",
    "story_subject",
]

TRIAGE_KINDS = ("mention", "story")
TRIAGE_STATES = ("new", "watching", "to_respond", "responded", "ignored", "escalated")
ACTIVE_STATES = ("new", "to_respond", "escalated", "watching")
"""States still to handle (the inbox's default view); ``responded`` and ``ignored`` are done."""
LOCK_TTL = timedelta(minutes=10)
STORY_MIN_MENTIONS = 3
"""A story enters the inbox as one item once it has at least this many stored mentions."""

_COUNT_CAP = 1000


def mention_subject(mention_id: str) -> str:
    """The triage subject of a mention."""
    return f"mention:{mention_id}"


def story_subject(story_id: str) -> str:
    """The triage subject of a story."""
    return f"story:{story_id}"


def split_subject(subject: str) -> tuple[str, str]:
    """``(kind, id)`` of a triage subject; ValueError when it is neither kind."""
    kind, sep, ref = subject.partition(":")
    if not sep or kind not in TRIAGE_KINDS or not ref:
        raise ValueError(f"{subject!r} is not a triage subject (mention:ID or story:ID)")
    return kind, ref


@dataclass(frozen=True, slots=True)
class Candidate:
    """An item that should be in the inbox: `priority` orders it, `due_at` is its response
    deadline. A ``story`` candidate enters only once its story has `STORY_MIN_MENTIONS`."""

    subject: str
    kind: str
    priority: float
    due_at: datetime | None


@dataclass(frozen=True, slots=True)
class TriageItem:
    """One inbox row."""

    subject: str
    kind: str
    state: str
    priority: float
    due_at: datetime | None
    assignee_id: int | None
    locked_by: int | None
    locked_until: datetime | None
    created_at: datetime
    updated_at: datetime
    updated_by: int | None

    @property
    def ref(self) -> str:
        """The mention id or story id."""
        return split_subject(self.subject)[1]

    def holder(self, now: datetime) -> int | None:
        """Who holds the edit lock at `now` (None: nobody, or it expired)."""
        if self.locked_by is None or self.locked_until is None or self.locked_until <= now:
            return None
        return self.locked_by

    def locked_against(self, user_id: int, now: datetime) -> bool:
        """True when someone other than `user_id` holds the lock at `now`."""
        holder = self.holder(now)
        return holder is not None and holder != user_id

    def overdue(self, now: datetime) -> bool:
        """Still to handle and past its deadline."""
        return (
            self.state in ("new", "to_respond", "escalated")
            and self.due_at is not None
            and self.due_at <= now
        )

    def audit_view(self) -> dict[str, Any]:
        """What the audit log keeps of the item (before/after a change)."""
        return {
            "state": self.state,
            "assignee_id": self.assignee_id,
            "locked_by": self.locked_by,
            "locked_until": None if self.locked_until is None else self.locked_until.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Change:
    """A change made to one item, for the audit log."""

    subject: str
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a (bulk) action did: `changed`, items refused because someone else holds their
    lock (`locked`), items already as asked (`unchanged`), unknown subjects (`missing`)."""

    changed: tuple[Change, ...] = ()
    locked: tuple[TriageItem, ...] = ()
    unchanged: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LockResult:
    """The result of `TriageStore.acquire`: `ok` when the caller now holds the lock; `item`
    as it is after the attempt (None if unknown); `change` for the audit log when the lock
    changed hands; `taken_from` the previous holder when it was taken over."""

    ok: bool
    item: TriageItem | None
    change: Change | None = None
    taken_from: int | None = None


AuditHook = Callable[[str, Change], AuditEntry]
"""Makes the audit entry of a change: called with the action (``triage.state``,
``triage.assign``, ``triage.take``, ``triage.take_over``, ``triage.release``) and the
`Change`; the entry is written in the change's own transaction."""


def _row_item(row: Any) -> TriageItem:
    return TriageItem(
        subject=row.subject,
        kind=row.kind,
        state=row.state,
        priority=float(row.priority),
        due_at=row.due_at,
        assignee_id=None if row.assignee_id is None else int(row.assignee_id),
        locked_by=None if row.locked_by is None else int(row.locked_by),
        locked_until=row.locked_until,
        created_at=row.created_at,
        updated_at=row.updated_at,
        updated_by=None if row.updated_by is None else int(row.updated_by),
    )


def _order_key(item: TriageItem) -> tuple[float, str]:
    return (-item.priority, item.subject)


class TriageStore:
    """The inbox on a `Store`'s database (sync; call through `asyncio.to_thread`)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- entering the inbox ----------------------------------------------------------------

    def ingest(self, batch: Iterable[Mention], now: datetime) -> int:
        """Put the stored, matched mentions of `batch` that need a person into the inbox
        (see `tocsin.triage.select`); return how many items are new."""
        from tocsin.triage import select  # the rules import this module's Candidate

        return self.upsert(select(batch, now), now)

    def upsert(self, candidates: Sequence[Candidate], now: datetime) -> int:
        """Add `candidates` as ``new`` items; for items already there raise the priority and
        bring the deadline forward, nothing else. Story candidates whose story has fewer
        than `STORY_MIN_MENTIONS` stored mentions are skipped. Returns how many were added."""
        best: dict[str, Candidate] = {}
        for c in candidates:
            if c.kind not in TRIAGE_KINDS:
                raise ValueError(f"unknown triage kind {c.kind!r}; one of {TRIAGE_KINDS}")
            old = best.get(c.subject)
            if old is None or c.priority > old.priority:
                best[c.subject] = c
        with self.store._write() as conn, conn.begin():
            wanted = [c for c in best.values() if c.kind == "mention" or self._story_big(conn, c)]
            existing = self._rows(conn, [c.subject for c in wanted])
            added = 0
            for c in wanted:
                row = existing.get(c.subject)
                if row is None:
                    conn.execute(sa.insert(triage).values(**self._new_row(c, now)))
                    added += 1
                    continue
                values: dict[str, Any] = {}
                if c.priority > row.priority:
                    values["priority"] = c.priority
                if c.due_at is not None and (row.due_at is None or c.due_at < row.due_at):
                    values["due_at"] = c.due_at
                if values:
                    values["updated_at"] = now
                    conn.execute(
                        sa.update(triage).where(triage.c.subject == c.subject).values(values)
                    )
        return added

    @staticmethod
    def _new_row(c: Candidate, now: datetime) -> dict[str, Any]:
        return {
            "subject": clean(c.subject),
            "kind": c.kind,
            "state": "new",
            "priority": c.priority,
            "due_at": c.due_at,
            "created_at": now,
            "updated_at": now,
        }

    @staticmethod
    def _story_big(conn: sa.Connection, c: Candidate) -> bool:
        """Whether the story has `STORY_MIN_MENTIONS` stored mentions (a bounded count)."""
        story_id = split_subject(c.subject)[1]
        some = (
            sa.select(mentions.c.pk)
            .where(mentions.c.story_id == story_id)
            .limit(STORY_MIN_MENTIONS)
            .subquery()
        )
        found = conn.scalar(sa.select(sa.func.count()).select_from(some)) or 0
        return int(found) >= STORY_MIN_MENTIONS

    def _rows(
        self, conn: sa.Connection, subjects: Sequence[str], *, lock: bool = False
    ) -> dict[str, TriageItem]:
        found: dict[str, TriageItem] = {}
        for chunk in chunks(list(subjects)):
            query = sa.select(triage).where(triage.c.subject.in_(chunk))
            if lock and self.store.dialect == "postgresql":
                query = query.with_for_update()
            found.update({r.subject: _row_item(r) for r in conn.execute(query)})
        return found

    # -- reading ---------------------------------------------------------------------------

    def get(self, subject: str) -> TriageItem | None:
        """The item with this subject, or None."""
        with self.store.engine.connect() as conn:
            return self._rows(conn, [subject]).get(subject)

    def get_many(self, subjects: Sequence[str]) -> dict[str, TriageItem]:
        """The items among `subjects`, by subject."""
        with self.store.engine.connect() as conn:
            return self._rows(conn, subjects)

    def list(
        self,
        states: Sequence[str] = ACTIVE_STATES,
        *,
        assignee_id: int | None = None,
        after: tuple[float, str] | None = None,
        limit: int = 50,
    ) -> builtins.list[TriageItem]:
        """Items in `states` (optionally assigned to `assignee_id`), highest priority first
        (then by subject); `after` is the ``(priority, subject)`` of the last item of the
        previous page. One index-backed query per state, each with a LIMIT, merged."""
        for state in states:
            if state not in TRIAGE_STATES:
                raise ValueError(f"unknown triage state {state!r}; one of {TRIAGE_STATES}")
        t = triage
        per_state: builtins.list[builtins.list[TriageItem]] = []
        with self.store.engine.connect() as conn:
            for state in dict.fromkeys(states):
                query = sa.select(t).where(t.c.state == state)
                if assignee_id is not None:
                    query = query.where(t.c.assignee_id == assignee_id)
                if after is not None:
                    priority, subject = after
                    query = query.where(
                        sa.or_(
                            t.c.priority < priority,
                            sa.and_(t.c.priority == priority, t.c.subject > subject),
                        )
                    )
                order: sa.ColumnElement[Any] = t.c.priority
                if assignee_id is not None:
                    # `+ 0`: keep the planner on ix_triage_assignee (one person's items, then
                    # a small sort) rather than walking the whole state in priority order
                    order = t.c.priority + 0
                query = query.order_by(order.desc(), t.c.subject).limit(limit)
                per_state.append([_row_item(r) for r in conn.execute(query)])
        merged = heapq.merge(*per_state, key=_order_key)
        return [item for _, item in zip(range(limit), merged, strict=False)]

    def counts(self, states: Sequence[str] = TRIAGE_STATES) -> dict[str, int]:
        """How many items are in each state, counted up to 1000 (index-only, bounded): a
        value of 1000 means "1000 or more"."""
        t = triage
        out: dict[str, int] = {}
        with self.store.engine.connect() as conn:
            for state in states:
                # state and priority only: answered from ix_triage_state alone
                some = sa.select(t.c.priority).where(t.c.state == state).limit(_COUNT_CAP)
                count = conn.scalar(sa.select(sa.func.count()).select_from(some.subquery()))
                out[state] = int(count or 0)
        return out

    def people(self, ids: Iterable[int | None]) -> dict[int, str]:
        """``{user id: name}`` for the given ids (unknown ids are left out)."""
        wanted = sorted({i for i in ids if i is not None})
        if not wanted:
            return {}
        query = sa.select(users.c.id, users.c.name).where(users.c.id.in_(wanted))
        with self.store.engine.connect() as conn:
            return {int(r.id): r.name for r in conn.execute(query)}

    def assignable(self, limit: int = 500) -> builtins.list[tuple[int, str]]:
        """``(id, name)`` of the enabled people who can triage (responder and above)."""
        u = users
        query = (
            sa.select(u.c.id, u.c.name)
            .where(u.c.role.in_(["responder", "lead", "admin"]), u.c.disabled.is_(False))
            .order_by(u.c.name, u.c.id)
            .limit(limit)
        )
        with self.store.engine.connect() as conn:
            return [(int(r.id), r.name) for r in conn.execute(query)]

    def story_summary(self, story_id: str, *, cap: int = 1000) -> tuple[int, str | None]:
        """``(mentions counted up to `cap`, id of its first stored mention)`` of a story."""
        m = mentions
        some = sa.select(m.c.pk).where(m.c.story_id == story_id).limit(cap).subquery()
        first = sa.select(m.c.id).where(m.c.story_id == story_id).order_by(m.c.pk).limit(1)
        with self.store.engine.connect() as conn:
            count = int(conn.scalar(sa.select(sa.func.count()).select_from(some)) or 0)
            first_id: str | None = conn.scalar(first)
        return count, first_id

    # -- acting ----------------------------------------------------------------------------

    def set_state(
        self,
        subjects: Sequence[str],
        state: str,
        *,
        user_id: int,
        now: datetime,
        audit: AuditHook | None = None,
    ) -> Outcome:
        """Move the items to `state`, except those someone else holds the lock of."""
        if state not in TRIAGE_STATES:
            raise ValueError(f"unknown triage state {state!r}; one of {TRIAGE_STATES}")
        return self._apply(subjects, "triage.state", {"state": state}, user_id, now, audit)

    def assign(
        self,
        subjects: Sequence[str],
        assignee_id: int | None,
        *,
        user_id: int,
        now: datetime,
        audit: AuditHook | None = None,
    ) -> Outcome:
        """Give the items to `assignee_id` (None: to nobody), except locked ones."""
        values = {"assignee_id": assignee_id}
        return self._apply(subjects, "triage.assign", values, user_id, now, audit)

    def _apply(
        self,
        subjects: Sequence[str],
        action: str,
        values: Mapping[str, Any],
        user_id: int,
        now: datetime,
        audit: AuditHook | None,
    ) -> Outcome:
        changed: builtins.list[Change] = []
        locked: builtins.list[TriageItem] = []
        unchanged: builtins.list[str] = []
        wanted = list(dict.fromkeys(subjects))
        with self.store._write() as conn, conn.begin():
            rows = self._rows(conn, wanted, lock=True)
            for subject in wanted:
                item = rows.get(subject)
                if item is None:
                    continue
                if item.locked_against(user_id, now):
                    locked.append(item)
                    continue
                before = item.audit_view()
                after = before | dict(values)
                if after == before:
                    unchanged.append(subject)
                    continue
                stmt = (
                    sa.update(triage)
                    .where(triage.c.subject == subject)
                    .values(**values, updated_at=now, updated_by=user_id)
                )
                conn.execute(stmt)
                change = Change(subject, before, after)
                if audit is not None:
                    write_audit(conn, audit(action, change))
                changed.append(change)
        missing = tuple(s for s in wanted if s not in rows)
        return Outcome(tuple(changed), tuple(locked), tuple(unchanged), missing)

    # -- edit locks ------------------------------------------------------------------------

    def acquire(
        self,
        subject: str,
        user_id: int,
        now: datetime,
        *,
        take_over: bool = False,
        ttl: timedelta = LOCK_TTL,
        audit: AuditHook | None = None,
    ) -> LockResult:
        """Take the edit lock of an item until ``now + ttl``. Refused (``ok`` False) while
        someone else holds it, unless `take_over` (then `taken_from` says from whom, and
        the audit action is ``triage.take_over``)."""
        with self.store._write() as conn, conn.begin():
            item = self._rows(conn, [subject], lock=True).get(subject)
            if item is None:
                return LockResult(False, None)
            holder = item.holder(now)
            if holder is not None and holder != user_id and not take_over:
                return LockResult(False, item)
            values = {"locked_by": user_id, "locked_until": now + ttl}
            conn.execute(sa.update(triage).where(triage.c.subject == subject).values(values))
            after = self._rows(conn, [subject])[subject]
            taken = holder if holder is not None and holder != user_id else None
            change = None
            if holder != user_id:  # a lock refreshed by its holder is not worth an entry
                change = Change(subject, item.audit_view(), after.audit_view())
                if audit is not None:
                    action = "triage.take_over" if taken is not None else "triage.take"
                    write_audit(conn, audit(action, change))
        return LockResult(True, after, change, taken)

    def refresh(
        self, subject: str, user_id: int, now: datetime, *, ttl: timedelta = LOCK_TTL
    ) -> TriageItem | None:
        """Extend `user_id`'s lock to ``now + ttl``; None when they no longer hold it (it was
        taken over, or released)."""
        t = triage
        stmt = (
            sa.update(t)
            .where(t.c.subject == subject, t.c.locked_by == user_id)
            .values(locked_until=now + ttl)
        )
        with self.store._write() as conn, conn.begin():
            if conn.execute(stmt).rowcount == 0:
                return None
            return self._rows(conn, [subject]).get(subject)

    def release(
        self, subject: str, user_id: int, now: datetime, *, audit: AuditHook | None = None
    ) -> Change | None:
        """Let go of `user_id`'s lock; the change, or None when they did not hold it."""
        with self.store._write() as conn, conn.begin():
            item = self._rows(conn, [subject], lock=True).get(subject)
            if item is None or item.locked_by != user_id:
                return None
            values = {"locked_by": None, "locked_until": None}
            conn.execute(sa.update(triage).where(triage.c.subject == subject).values(values))
            change = Change(subject, item.audit_view(), item.audit_view() | values)
            if audit is not None:
                write_audit(conn, audit("triage.release", change))
        return change
