"""`UserStore` on SQLite and PostgreSQL: accounts, sessions, tokens, failures, audit log."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from store_helpers import T0

from tocsin.store import Store
from tocsin.store.users import AuditEntry, SessionRecord, UserExists, UserStore, write_audit

HOUR = timedelta(hours=1)


def _entry(action: str, subject: str = "") -> AuditEntry:
    return AuditEntry(T0, None, "cli:test", action, subject, None, None, "cli")


def test_accounts(store: Store) -> None:
    users = UserStore(store)
    alice = users.add(
        " Alice@Example.org ", " Alice ", "admin", "hash1", now=T0, audit=_entry("user.create")
    )
    assert (alice.email, alice.name, alice.role, alice.disabled) == (
        "alice@example.org",
        "Alice",
        "admin",
        False,
    )
    with pytest.raises(UserExists):
        users.add("ALICE@example.org", "Other", "viewer", "hash2", now=T0)
    assert users.by_email("alice@EXAMPLE.org") == alice == users.get(alice.id)
    assert users.get(999) is None
    assert users.by_email("bob@example.org") is None
    bob = users.add("bob@example.org", "Bob", "viewer", "hash3", now=T0)
    assert [u.email for u in users.list()] == ["alice@example.org", "bob@example.org"]
    assert users.count_admins() == 1
    changed = users.update(bob.id, role="admin", audit=_entry("user.role", f"user:{bob.id}"))
    assert changed is not None
    assert changed[0].role == "viewer"
    assert changed[1].role == "admin"
    assert users.count_admins() == 2
    assert users.update(999, role="admin") is None
    [role, create] = users.audit_entries()
    assert create.subject == f"user:{alice.id}"
    assert json.loads(create.after)["email"] == ("alice@example.org")
    assert json.loads(role.before)["role"] == "viewer"
    assert "hash" not in role.after


def test_sessions_expire_idle_and_end_with_the_account(store: Store) -> None:
    users = UserStore(store)
    alice = users.add("alice@example.org", "Alice", "viewer", "h", now=T0)
    session = SessionRecord("digest", alice.id, "csrf", T0, T0 + 7 * 24 * HOUR, T0)
    users.create_session(session)
    found = users.session("digest", now=T0 + HOUR, idle_since=T0 - HOUR)
    assert found is not None
    assert found[1] == session
    assert found[0].id == alice.id
    assert users.session("other", now=T0, idle_since=T0 - HOUR) is None
    assert users.session("digest", now=T0 + 13 * HOUR, idle_since=T0 + HOUR) is None  # idle
    users.touch_session("digest", now=T0 + 12 * HOUR)
    assert users.session("digest", now=T0 + 13 * HOUR, idle_since=T0 + HOUR) is not None
    assert users.session("digest", now=T0 + 8 * 24 * HOUR, idle_since=T0) is None  # too old
    users.update(alice.id, disabled=True)
    assert users.sessions_of(alice.id) == []
    users.update(alice.id, disabled=False)
    users.create_session(session)
    assert users.purge_sessions(now=T0 + 8 * 24 * HOUR, idle_since=T0) == 1
    users.create_session(session)
    assert users.delete_session("digest", audit=_entry("logout")) is True
    assert users.delete_session("digest") is False
    assert [e.action for e in users.audit_entries()] == ["logout"]


def test_api_tokens(store: Store) -> None:
    users = UserStore(store)
    alice = users.add("alice@example.org", "Alice", "lead", "h", now=T0)
    bob = users.add("bob@example.org", "Bob", "viewer", "h", now=T0)
    token = users.create_token(
        alice.id, " script ", "tokdigest", now=T0, audit=_entry("token.create")
    )
    assert token.name == "script"
    assert users.tokens(alice.id) == [token]
    found = users.token_user("tokdigest")
    assert found is not None
    assert found[0].email == "alice@example.org"
    users.touch_token(token.id, now=T0 + HOUR)
    assert users.tokens(alice.id)[0].last_used_at == T0 + HOUR
    assert users.revoke_token(token.id, user_id=bob.id, now=T0) is None  # not Bob's
    revoked = users.revoke_token(token.id, user_id=alice.id, now=T0, audit=_entry("token.revoke"))
    assert revoked is not None
    assert revoked.revoked_at == T0
    assert users.token_user("tokdigest") is None
    assert users.tokens(alice.id) == []
    assert len(users.tokens(alice.id, include_revoked=True)) == 1
    assert [e.subject for e in users.audit_entries()] == [f"token:{token.id}"] * 2


def test_login_failures_are_counted_and_forgotten(store: Store) -> None:
    users = UserStore(store)
    for minutes in (0, 5, 10):
        at = T0 + timedelta(minutes=minutes)
        users.record_failure("Alice@example.org", "10.0.0.1", now=at, forget_before=at - HOUR)
    users.record_failure("bob@example.org", "10.0.0.1", now=T0, forget_before=T0 - HOUR)
    assert users.failures(email="alice@example.org", address="10.0.0.1", since=T0) == (3, 4)
    since = T0 + timedelta(minutes=6)
    assert users.failures(email="alice@example.org", address="10.0.0.2", since=since) == (1, 0)
    later = T0 + 2 * HOUR
    users.record_failure("carol@example.org", "10.0.0.9", now=later, forget_before=later - HOUR)
    with store.engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM login_failures")) == 1


def test_audit_entries_page_back_and_join_other_transactions(store: Store) -> None:
    users = UserStore(store)
    ids = [users.audit(_entry("thing.change", f"thing:{n % 3}")) for n in range(10)]
    page = users.audit_entries(limit=4)
    assert [e.id for e in page] == ids[::-1][:4]
    assert [e.id for e in users.audit_entries(before_id=page[-1].id, limit=4)] == ids[::-1][4:8]
    assert len(users.audit_entries(subject="thing:0")) == 4

    def failing_change() -> None:
        with store._write() as conn, conn.begin():
            write_audit(conn, _entry("rolled.back"))
            raise RuntimeError("the change failed: its audit entry goes too")

    with pytest.raises(RuntimeError):
        failing_change()
    assert all(e.action != "rolled.back" for e in users.audit_entries(limit=100))
    stored = users.audit(AuditEntry(T0, 7, "a\x00b", "x", "y", {"at": T0}, None))
    [entry] = users.audit_entries(before_id=stored + 1, limit=1)
    assert entry.actor == "ab"
    assert json.loads(entry.before) == {"at": str(T0)}
