"""`UserStore` on SQLite and PostgreSQL: accounts and the audit log."""

from __future__ import annotations

import json

import pytest
from store_helpers import T0

from tocsin.store import Store
from tocsin.store.users import AuditEntry, UserExists, UserStore, write_audit


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
