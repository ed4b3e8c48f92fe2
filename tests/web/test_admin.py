"""Admin pages: people and roles, the audit log after each change, escaping."""

from __future__ import annotations

import json
from typing import Any

import pytest
from accounts_helpers import (
    PASSWORD,
    T0,
    add_user,
    client_as,
    sign_in,
)
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tocsin.store import Store
from tocsin.store.sessions import SessionStore
from tocsin.store.users import AuditRecord, UserStore
from tocsin.web import audit, auth

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def boss(store: Store) -> auth.User:
    return add_user(store, "boss@example.org", "admin", name="Boss")


@pytest.fixture
def admin(app: FastAPI, store: Store, boss: auth.User) -> tuple[TestClient, str]:
    return client_as(app, store, boss)


def _last(store: Store) -> AuditRecord:
    [entry] = UserStore(store).audit_entries(limit=1)
    return entry


def _add(client: TestClient, csrf: str, **fields: str) -> Any:
    data = {"email": "carol@example.org", "name": "Carol", "role": "responder"}
    data |= {"password": PASSWORD, "csrf": csrf} | fields
    return client.post("/admin/users", data=data)


def test_an_admin_adds_someone_who_can_then_sign_in(
    app: FastAPI, store: Store, admin: tuple[TestClient, str], boss: auth.User
) -> None:
    client, csrf = admin
    response = _add(client, csrf)
    assert response.status_code == 303
    page = client.get(response.headers["location"])
    assert "carol@example.org" in page.text
    assert "The account is created." in page.text
    entry = _last(store)
    assert (entry.action, entry.actor, entry.user_id) == ("user.create", boss.email, boss.id)
    assert entry.subject.startswith("user:")
    assert entry.address == "testclient"
    assert json.loads(entry.before) is None
    assert json.loads(entry.after) == {
        "email": "carol@example.org",
        "name": "Carol",
        "role": "responder",
        "disabled": False,
    }
    assert "argon2" not in entry.after  # never the hash
    fresh = TestClient(app, follow_redirects=False)
    assert sign_in(fresh, "carol@example.org").status_code == 303


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"password": "short"}, 400, "at least 12 characters"),
        ({"email": "not-an-email"}, 400, "email address"),
        ({"role": "overlord"}, 400, "Choose a role"),
        ({"name": " "}, 400, "name"),
        ({"email": "BOSS@example.org"}, 409, "exists already"),
    ],
)
def test_bad_new_accounts_are_refused_clearly(
    store: Store, admin: tuple[TestClient, str], fields: dict[str, str], status: int, message: str
) -> None:
    client, csrf = admin
    response = _add(client, csrf, **fields)
    assert response.status_code == status
    assert message in response.text
    assert len(UserStore(store).list()) == 1
    assert UserStore(store).audit_entries() == []


def test_role_changes_are_audited_before_and_after(
    store: Store, admin: tuple[TestClient, str]
) -> None:
    client, csrf = admin
    carol = add_user(store, "carol@example.org", "viewer")
    response = client.post(f"/admin/users/{carol.id}/role", data={"role": "lead", "csrf": csrf})
    assert response.status_code == 303
    entry = _last(store)
    assert (entry.action, entry.subject) == ("user.role", f"user:{carol.id}")
    assert json.loads(entry.before)["role"] == "viewer"
    assert json.loads(entry.after)["role"] == "lead"
    bad = client.post(f"/admin/users/{carol.id}/role", data={"role": "king", "csrf": csrf})
    assert bad.status_code == 400
    missing = client.post("/admin/users/999/role", data={"role": "lead", "csrf": csrf})
    assert missing.status_code == 404


def test_disabling_ends_sessions_and_is_audited(
    app: FastAPI, store: Store, admin: tuple[TestClient, str]
) -> None:
    client, csrf = admin
    carol = add_user(store, "carol@example.org", "responder")
    carol_client, _ = client_as(app, store, carol)
    assert carol_client.get("/account/tokens").status_code == 200
    assert client.post(f"/admin/users/{carol.id}/disable", data={"csrf": csrf}).status_code == 303
    assert carol_client.get("/account/tokens").status_code == 303  # to the login page
    assert SessionStore(store).sessions_of(carol.id) == []
    entry = _last(store)
    assert entry.action == "user.disable"
    assert (json.loads(entry.before)["disabled"], json.loads(entry.after)["disabled"]) == (
        False,
        True,
    )
    assert client.post(f"/admin/users/{carol.id}/enable", data={"csrf": csrf}).status_code == 303
    assert _last(store).action == "user.enable"


def test_new_password_by_an_admin(
    app: FastAPI, store: Store, admin: tuple[TestClient, str]
) -> None:
    client, csrf = admin
    carol = add_user(store, "carol@example.org")
    new = "a brand new long password"
    short = client.post(f"/admin/users/{carol.id}/password", data={"password": "x", "csrf": csrf})
    assert short.status_code == 400
    done = client.post(f"/admin/users/{carol.id}/password", data={"password": new, "csrf": csrf})
    assert done.status_code == 303
    entry = _last(store)
    assert entry.action == "user.password"
    assert json.loads(entry.after)["password"] == "changed"
    fresh = TestClient(app, follow_redirects=False)
    assert sign_in(fresh, "carol@example.org", new).status_code == 303


def test_tocsin_keeps_an_admin(
    store: Store, admin: tuple[TestClient, str], boss: auth.User
) -> None:
    client, csrf = admin
    myself = client.post(f"/admin/users/{boss.id}/disable", data={"csrf": csrf})
    assert myself.status_code == 409
    assert "your own account" in myself.text
    demote = client.post(f"/admin/users/{boss.id}/role", data={"role": "viewer", "csrf": csrf})
    assert demote.status_code == 409
    assert "last admin" in demote.text
    other = add_user(store, "other@example.org", "admin")
    ok = client.post(f"/admin/users/{other.id}/role", data={"role": "viewer", "csrf": csrf})
    assert ok.status_code == 303


def test_names_are_escaped_in_the_admin_pages(
    store: Store, admin: tuple[TestClient, str], boss: auth.User
) -> None:
    client, csrf = admin
    response = _add(client, csrf, name=HOSTILE, email="x@example.org")
    assert response.status_code == 303
    audit.record(store, boss, HOSTILE, f"alert:{HOSTILE}", {"title": HOSTILE}, None, "1.2.3.4")
    for url in ("/admin/users", "/admin/audit"):
        page = client.get(url).text
        assert "<script>" not in page, url
        assert "<img" not in page, url
        assert "&lt;script&gt;" in page, url


def test_the_audit_log_pages_back(store: Store, admin: tuple[TestClient, str]) -> None:
    client, _ = admin
    for n in range(120):
        audit.record(store, "cli:test", "thing.change", f"thing:{n}", {"n": n}, {"n": n + 1})
    first = client.get("/admin/audit")
    assert first.text.count('<tr id="audit-') == 50
    assert "thing:119" in first.text
    assert "thing:69" not in first.text
    older = first.text.split('href="/admin/audit?before=')[1].split('"')[0]
    second = client.get(f"/admin/audit?before={older}")
    assert "thing:69" in second.text
    assert "thing:119" not in second.text
    third_id = second.text.split('href="/admin/audit?before=')[1].split('"')[0]
    third = client.get(f"/admin/audit?before={third_id}")
    assert third.text.count('<tr id="audit-') == 20
    assert "Older entries" not in third.text
    one = client.get("/admin/audit", params={"subject": "thing:7"})
    assert one.text.count('<tr id="audit-') == 1


def test_audit_record_helper(store: Store, boss: auth.User) -> None:
    entry_id = audit.record(
        store,
        boss,
        "watch.update",
        "watch:acme",
        {"query": "a"},
        {"query": "b"},
        "10.0.0.1",
        at=T0,
    )
    [entry] = UserStore(store).audit_entries()
    assert entry.id == entry_id
    assert entry.at == T0
    assert (entry.actor, entry.user_id, entry.address) == (boss.email, boss.id, "10.0.0.1")
    assert json.loads(entry.before) == {"query": "a"}
    assert audit.actor_of(None) == "anonymous"
    assert audit.actor_of("cli:bob") == "cli:bob"
