"""The inbox store on SQLite and PostgreSQL: ingest, ordering, state changes, locks."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from store_helpers import T0, MakeMention

from tocsin.mention import Sentiment
from tocsin.store import Store
from tocsin.store.tables import audit_log, users
from tocsin.store.triage import (
    ACTIVE_STATES,
    LOCK_TTL,
    Candidate,
    Change,
    TriageStore,
    mention_subject,
    split_subject,
    story_subject,
)
from tocsin.store.users import AuditEntry

NEG = Sentiment("negative", -0.8)
POS = Sentiment("positive", 0.6)


def _users(store: Store, *names: str) -> list[int]:
    rows = [
        {
            "email": f"{n}@example.org",
            "name": n.title(),
            "role": "responder",
            "password_hash": "x",
            "created_at": T0,
        }
        for n in names
    ]
    with store.engine.begin() as conn:
        conn.execute(sa.insert(users), rows)
        found = conn.execute(sa.select(users.c.id, users.c.email)).all()
    by_email = {r.email: int(r.id) for r in found}
    return [by_email[f"{n}@example.org"] for n in names]


def _add(triage: TriageStore, *items: tuple[str, float]) -> None:
    triage.upsert(
        [Candidate(mention_subject(s), "mention", p, T0 + timedelta(hours=1)) for s, p in items],
        T0,
    )


def test_subjects_round_trip() -> None:
    assert split_subject(mention_subject("rss:1")) == ("mention", "rss:1")
    assert split_subject(story_subject("s1")) == ("story", "s1")
    with pytest.raises(ValueError, match="not a triage subject"):
        split_subject("alert:1")


def test_ingest_selects_mentions_needing_a_person(store: Store, mention: MakeMention) -> None:
    batch = [
        mention("1", watches=("brand",), priority=20.0, sentiment=NEG),
        mention("2", watches=("brand",), priority=20.0, sentiment=POS),
        mention("3", watches=("brand",), priority=80.0, sentiment=POS),
        mention("4", watches=(), priority=90.0, sentiment=NEG),  # matched no watch
        mention("5", watches=("brand",), priority=10.0, urgent=("safety",)),
        mention("6", watches=("brand",), priority=None, sentiment=NEG),
    ]
    store.save_batch("rss", batch, now=T0)
    triage = TriageStore(store)
    assert triage.ingest(batch, T0) == 3
    assert triage.ingest(batch, T0) == 0  # idempotent
    items = triage.list()
    assert [i.subject for i in items] == ["mention:rss:3", "mention:rss:1", "mention:rss:5"]
    top = items[0]
    assert top.state == "new"
    assert top.due_at == T0 + timedelta(minutes=30)
    assert items[1].due_at == T0 + timedelta(hours=24)


def test_a_story_enters_once_it_has_several_mentions(store: Store, mention: MakeMention) -> None:
    triage = TriageStore(store)
    first = [mention(str(i), watches=("b",), priority=60.0, story_id="s1") for i in range(2)]
    store.save_batch("rss", first, now=T0)
    triage.ingest(first, T0)
    assert triage.get(story_subject("s1")) is None
    third = [mention("9", watches=("b",), priority=75.0, story_id="s1")]
    store.save_batch("rss", third, now=T0)
    triage.ingest(third, T0)
    story = triage.get(story_subject("s1"))
    assert story is not None
    assert (story.kind, story.priority) == ("story", 75.0)
    assert triage.story_summary("s1") == (3, "rss:0")


def test_upsert_raises_priority_and_never_reopens(store: Store) -> None:
    triage = TriageStore(store)
    (alice,) = _users(store, "alice")
    _add(triage, ("rss:1", 30.0))
    triage.set_state([mention_subject("rss:1")], "responded", user_id=alice, now=T0)
    later = T0 + timedelta(minutes=5)
    triage.upsert([Candidate(mention_subject("rss:1"), "mention", 90.0, later)], later)
    item = triage.get(mention_subject("rss:1"))
    assert item is not None
    assert (item.state, item.priority, item.due_at) == ("responded", 90.0, later)
    triage.upsert(
        [Candidate(mention_subject("rss:1"), "mention", 10.0, T0 + timedelta(days=1))], T0
    )
    again = triage.get(mention_subject("rss:1"))
    assert again is not None
    assert (again.priority, again.due_at) == (90.0, later)


def test_list_orders_by_priority_with_a_keyset_across_states(store: Store) -> None:
    triage = TriageStore(store)
    (alice,) = _users(store, "alice")
    _add(triage, *[(f"rss:{i}", float(i * 10 % 70)) for i in range(1, 15)])
    triage.set_state(["mention:rss:3", "mention:rss:4"], "to_respond", user_id=alice, now=T0)
    triage.set_state(["mention:rss:5"], "ignored", user_id=alice, now=T0)
    page = triage.list(limit=5)
    assert [i.priority for i in page] == sorted((i.priority for i in page), reverse=True)
    rest = triage.list(after=(page[-1].priority, page[-1].subject), limit=100)
    seen = [i.subject for i in page + rest]
    assert len(seen) == len(set(seen)) == 13  # all but the ignored one, each once
    assert "mention:rss:5" not in seen
    assert {i.state for i in page + rest} <= set(ACTIVE_STATES)
    assert triage.counts(["new", "to_respond", "ignored"]) == {
        "new": 11,
        "to_respond": 2,
        "ignored": 1,
    }
    assert [i.subject for i in triage.list(["ignored"])] == ["mention:rss:5"]


def test_bulk_actions_return_before_and_after(store: Store) -> None:
    triage = TriageStore(store)
    alice, bob = _users(store, "alice", "bob")
    _add(triage, ("rss:1", 50.0), ("rss:2", 40.0))
    subjects = ["mention:rss:1", "mention:rss:2", "mention:rss:404"]
    outcome = triage.assign(subjects, bob, user_id=alice, now=T0)
    assert [c.subject for c in outcome.changed] == subjects[:2]
    assert outcome.changed[0].before["assignee_id"] is None
    assert outcome.changed[0].after["assignee_id"] == bob
    assert outcome.missing == ("mention:rss:404",)
    again = triage.assign(subjects[:2], bob, user_id=alice, now=T0)
    assert again.unchanged == tuple(subjects[:2])
    assert [i.subject for i in triage.list(assignee_id=bob)] == subjects[:2]
    assert triage.people([alice, bob, None, 999]) == {alice: "Alice", bob: "Bob"}
    assert triage.assignable() == [(alice, "Alice"), (bob, "Bob")]


def test_locks_keep_others_out_until_they_expire_or_are_taken_over(store: Store) -> None:
    triage = TriageStore(store)
    alice, bob = _users(store, "alice", "bob")
    _add(triage, ("rss:1", 50.0))
    subject = "mention:rss:1"
    got = triage.acquire(subject, alice, T0)
    assert got.ok
    assert got.change is not None
    assert got.item is not None
    assert got.item.locked_until == T0 + LOCK_TTL
    refused = triage.acquire(subject, bob, T0 + timedelta(minutes=1))
    assert not refused.ok
    blocked = triage.set_state([subject], "ignored", user_id=bob, now=T0 + timedelta(minutes=1))
    assert blocked.changed == ()
    assert [i.subject for i in blocked.locked] == [subject]
    # alice keeps it alive; her own actions go through
    assert triage.refresh(subject, alice, T0 + timedelta(minutes=9)) is not None
    assert triage.acquire(subject, bob, T0 + timedelta(minutes=12)).ok is False
    done = triage.set_state([subject], "to_respond", user_id=alice, now=T0)
    assert len(done.changed) == 1
    # bob takes it over explicitly
    taken = triage.acquire(subject, bob, T0 + timedelta(minutes=13), take_over=True)
    assert taken.ok
    assert taken.taken_from == alice
    assert taken.change is not None
    assert taken.change.before["locked_by"] == alice
    assert taken.change.after["locked_by"] == bob
    assert triage.refresh(subject, alice, T0 + timedelta(minutes=14)) is None
    assert triage.release(subject, alice, T0) is None
    assert triage.release(subject, bob, T0 + timedelta(minutes=15)) is not None
    item = triage.get(subject)
    assert item is not None
    assert item.holder(T0) is None


def test_an_expired_lock_is_free(store: Store) -> None:
    triage = TriageStore(store)
    alice, bob = _users(store, "alice", "bob")
    _add(triage, ("rss:1", 50.0))
    triage.acquire("mention:rss:1", alice, T0)
    late = T0 + LOCK_TTL + timedelta(seconds=1)
    outcome = triage.set_state(["mention:rss:1"], "ignored", user_id=bob, now=late)
    assert len(outcome.changed) == 1
    got = triage.acquire("mention:rss:1", bob, late)
    assert got.ok
    assert got.taken_from is None


def test_changes_write_their_audit_entry_in_the_same_transaction(store: Store) -> None:
    triage = TriageStore(store)
    alice, bob = _users(store, "alice", "bob")
    _add(triage, ("rss:1", 50.0))

    def hook(action: str, change: Change) -> AuditEntry:
        return AuditEntry(T0, alice, "alice@example.org", action, change.subject, change.before,
                          change.after, "127.0.0.1")  # fmt: skip

    triage.set_state(["mention:rss:1"], "to_respond", user_id=alice, now=T0, audit=hook)
    triage.assign(["mention:rss:1"], bob, user_id=alice, now=T0, audit=hook)
    triage.acquire("mention:rss:1", bob, T0, audit=hook)
    triage.acquire("mention:rss:1", alice, T0, take_over=True, audit=hook)
    triage.release("mention:rss:1", alice, T0, audit=hook)
    triage.set_state(["mention:rss:1"], "to_respond", user_id=alice, now=T0, audit=hook)
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(audit_log).order_by(audit_log.c.id)).all()
    assert [r.action for r in rows] == [
        "triage.state",
        "triage.assign",
        "triage.take",
        "triage.take_over",
        "triage.release",
    ]
    assert json.loads(rows[0].before)["state"] == "new"
    assert json.loads(rows[0].after)["state"] == "to_respond"
    assert json.loads(rows[3].before)["locked_by"] == bob
