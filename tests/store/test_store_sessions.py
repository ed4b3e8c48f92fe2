"""`SessionStore` on SQLite and PostgreSQL: sessions, API tokens and failed logins."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from store_helpers import T0

from tocsin.store import Store
from tocsin.store.sessions import SessionRecord, SessionStore
from tocsin.store.users import AuditEntry, UserStore

HOUR = timedelta(hours=1)


def _entry(action: str, subject: str = "") -> AuditEntry:
    return AuditEntry(T0, None, "cli:test", action, subject, None, None, "cli")


def test_sessions_expire_idle_and_end_with_the_account(store: Store) -> None:
    users, sessions = UserStore(store), SessionStore(store)
    alice = users.add("alice@example.org", "Alice", "viewer", "h", now=T0)
    session = SessionRecord("digest", alice.id, "csrf", T0, T0 + 7 * 24 * HOUR, T0)
    sessions.create_session(session)
    found = sessions.session("digest", now=T0 + HOUR, idle_since=T0 - HOUR)
    assert found is not None
    assert found[1] == session
    assert found[0].id == alice.id
    assert sessions.session("other", now=T0, idle_since=T0 - HOUR) is None
    assert sessions.session("digest", now=T0 + 13 * HOUR, idle_since=T0 + HOUR) is None  # idle
    sessions.touch_session("digest", now=T0 + 12 * HOUR)
    assert sessions.session("digest", now=T0 + 13 * HOUR, idle_since=T0 + HOUR) is not None
    assert sessions.session("digest", now=T0 + 8 * 24 * HOUR, idle_since=T0) is None  # too old
    users.update(alice.id, disabled=True)
    assert sessions.sessions_of(alice.id) == []
    users.update(alice.id, disabled=False)
    sessions.create_session(session)
    users.update(alice.id, password_hash="h2")
    assert sessions.sessions_of(alice.id) == []
    sessions.create_session(session)
    assert sessions.purge_sessions(now=T0 + 8 * 24 * HOUR, idle_since=T0) == 1
    sessions.create_session(session)
    assert sessions.delete_session("digest", audit=_entry("logout")) is True
    assert sessions.delete_session("digest") is False
    assert [e.action for e in users.audit_entries()] == ["logout"]


def test_a_login_stamps_the_account_opens_a_session_and_forgets_failures(store: Store) -> None:
    users, sessions = UserStore(store), SessionStore(store)
    alice = users.add("alice@example.org", "Alice", "viewer", "h", now=T0)
    sessions.record_failure("alice@example.org", "10.0.0.1", now=T0, forget_before=T0 - HOUR)
    session = SessionRecord("digest", alice.id, "csrf", T0, T0 + 7 * 24 * HOUR, T0)
    at = T0 + HOUR
    sessions.logged_in(
        alice.id, now=at, password_hash="rehash", session=session, audit=_entry("login")
    )
    record = users.get(alice.id)
    assert record is not None
    assert (record.last_login_at, record.password_hash) == (at, "rehash")
    assert sessions.sessions_of(alice.id) == [session]
    assert sessions.failures(email="alice@example.org", address="10.0.0.1", since=T0) == (0, 0)
    assert [e.action for e in users.audit_entries()] == ["login"]
    sessions.logged_in(alice.id, now=at + HOUR)  # no rehash, no session, no entry
    record = users.get(alice.id)
    assert record is not None
    assert (record.last_login_at, record.password_hash) == (at + HOUR, "rehash")
    assert len(sessions.sessions_of(alice.id)) == 1


def test_api_tokens(store: Store) -> None:
    users, sessions = UserStore(store), SessionStore(store)
    alice = users.add("alice@example.org", "Alice", "lead", "h", now=T0)
    bob = users.add("bob@example.org", "Bob", "viewer", "h", now=T0)
    token = sessions.create_token(
        alice.id, " script ", "tokdigest", now=T0, audit=_entry("token.create")
    )
    assert token.name == "script"
    assert sessions.tokens(alice.id) == [token]
    found = sessions.token_user("tokdigest")
    assert found is not None
    assert found[0].email == "alice@example.org"
    sessions.touch_token(token.id, now=T0 + HOUR)
    assert sessions.tokens(alice.id)[0].last_used_at == T0 + HOUR
    users.update(alice.id, disabled=True)
    assert sessions.token_user("tokdigest") is None  # a disabled account's tokens stop
    users.update(alice.id, disabled=False)
    assert sessions.token_user("tokdigest") is not None
    assert sessions.revoke_token(token.id, user_id=bob.id, now=T0) is None  # not Bob's
    revoked = sessions.revoke_token(
        token.id, user_id=alice.id, now=T0, audit=_entry("token.revoke")
    )
    assert revoked is not None
    assert revoked.revoked_at == T0
    assert sessions.token_user("tokdigest") is None
    assert sessions.tokens(alice.id) == []
    assert len(sessions.tokens(alice.id, include_revoked=True)) == 1
    assert [e.subject for e in users.audit_entries()] == [f"token:{token.id}"] * 2


def test_login_failures_are_counted_and_forgotten(store: Store) -> None:
    sessions = SessionStore(store)
    for minutes in (0, 5, 10):
        at = T0 + timedelta(minutes=minutes)
        sessions.record_failure("Alice@example.org", "10.0.0.1", now=at, forget_before=at - HOUR)
    sessions.record_failure("bob@example.org", "10.0.0.1", now=T0, forget_before=T0 - HOUR)
    assert sessions.failures(email="alice@example.org", address="10.0.0.1", since=T0) == (3, 4)
    since = T0 + timedelta(minutes=6)
    assert sessions.failures(email="alice@example.org", address="10.0.0.2", since=since) == (1, 0)
    later = T0 + 2 * HOUR
    sessions.record_failure("carol@example.org", "10.0.0.9", now=later, forget_before=later - HOUR)
    with store.engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM login_failures")) == 1
