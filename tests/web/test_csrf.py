"""CSRF: every state-changing request made with a session cookie needs the session's token."""

from __future__ import annotations

import re

import pytest
from accounts_helpers import T0, add_user, client_as
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tocsin.alert import Alert
from tocsin.notify.signing import sign
from tocsin.store import Store
from tocsin.store.sessions import SessionStore
from tocsin.store.users import UserStore
from tocsin.web import auth, csrf

_PARAM = re.compile(r"\{[^}]+\}")


@pytest.fixture
def admin(app: FastAPI, store: Store) -> tuple[TestClient, str]:
    return client_as(app, store, add_user(store, "admin@example.org", "admin"))


def _unsafe_routes(app: FastAPI) -> list[tuple[str, str]]:
    found = []
    for route in auth.iter_routes(app):
        path = getattr(route, "path", None)
        if path is None or csrf.exempt(_PARAM.sub("1", path)):
            continue
        for method in sorted((getattr(route, "methods", None) or set()) & csrf.UNSAFE_METHODS):
            found.append((method, _PARAM.sub("1", path)))
    return found


def test_every_state_changing_route_refuses_a_missing_or_wrong_token(
    app: FastAPI, store: Store, admin: tuple[TestClient, str]
) -> None:
    client, token = admin
    routes = _unsafe_routes(app)
    assert ("POST", "/admin/users") in routes
    assert ("POST", "/logout") in routes
    before = len(UserStore(store).audit_entries(limit=1000))
    for method, url in routes:
        missing = client.request(method, url, data={"name": "x", "role": "admin"})
        assert missing.status_code == 403, f"{method} {url} without a token"
        assert "CSRF" in missing.text
        wrong = client.request(method, url, data={"csrf": token[:-1] + "x", "name": "x"})
        assert wrong.status_code == 403, f"{method} {url} with a wrong token"
        header = client.request(method, url, headers={"X-CSRF-Token": "nope"})
        assert header.status_code == 403, f"{method} {url} with a wrong header"
    assert len(UserStore(store).audit_entries(limit=1000)) == before  # nothing changed


def test_the_token_passes_in_the_form_the_header_or_a_multipart_form(
    admin: tuple[TestClient, str], store: Store
) -> None:
    client, token = admin
    assert client.post("/account/tokens", data={"name": "a", "csrf": token}).status_code == 200
    header = client.post("/account/tokens", data={"name": "b"}, headers={"X-CSRF-Token": token})
    assert header.status_code == 200
    multipart = client.post(
        "/account/tokens",
        files={"csrf": (None, token), "upload": ("csrf.txt", b'filename="csrf"', "text/plain")},
    )
    assert multipart.status_code == 415  # the token was found; the route wants urlencoded
    assert sorted(t.name for t in SessionStore(store).tokens(1)) == ["a", "b"]


def test_another_sessions_token_is_refused(app: FastAPI, store: Store) -> None:
    alice_client, _ = client_as(app, store, add_user(store, "alice@example.org"))
    _, bob_token = client_as(app, store, add_user(store, "bob@example.org"))
    response = alice_client.post("/account/tokens", data={"name": "x", "csrf": bob_token})
    assert response.status_code == 403


def test_api_tokens_need_no_csrf_token(app: FastAPI, store: Store) -> None:
    client, token = client_as(app, store, add_user(store, "alice@example.org"))
    page = client.post("/account/tokens", data={"name": "script", "csrf": token})
    api_token = re.search(r"tocsin_[\w-]+", page.text)
    assert api_token is not None
    bearer = TestClient(app, follow_redirects=False)
    response = bearer.post(
        "/account/tokens",
        data={"name": "made by a script"},
        headers={"Authorization": f"Bearer {api_token.group(0)}"},
    )
    assert response.status_code == 200  # browsers never add this header by themselves


def test_forms_carry_the_session_token(admin: tuple[TestClient, str]) -> None:
    client, token = admin
    for url in ("/admin/users", "/account/tokens"):
        page = client.get(url)
        forms = page.text.count("<form")
        assert forms > 0
        assert page.text.count(f'name="csrf" value="{token}"') == forms, url


def test_signed_alert_links_work_without_a_session_or_token(app: FastAPI, store: Store) -> None:
    """``/a/{token}`` is exempt: the signed link is the credential (people open it from a
    chat or a mail, usually signed out)."""
    alert = Alert(
        key="k1",
        rule="negative",
        kind="negative_mention",
        subject="x:1",
        title="t",
        created_at=T0,
        reasons=("r",),
    )
    stored, _ = store.alerts.save(alert, [], now=T0)
    assert stored.id is not None
    link = sign(app.state.secret, stored.id, "ack", "alice", T0.replace(year=2027))
    assert TestClient(app).post(f"/a/{link}").status_code == 200
    signed_in, _ = client_as(app, store, add_user(store, "bob@example.org"))
    assert signed_in.post(f"/a/{link}").status_code == 200  # a session does not change that


def test_exempt_and_matches() -> None:
    assert csrf.exempt("/a/abc")
    assert csrf.exempt("/login")
    assert not csrf.exempt("/admin/users")
    assert not csrf.exempt("/login/x")
    assert not csrf.exempt("/about")
    assert csrf.matches("abc", "abc")
    assert not csrf.matches("abc", "abd")
    assert not csrf.matches("abc", None)
    assert not csrf.matches("", "")
