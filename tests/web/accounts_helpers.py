"""Helpers of the accounts tests: a web app with accounts wired, people, sessions, sign-in.

`make_app` builds the app with `create_app` and wires accounts (`tocsin.web.sessions.install`)
unless `create_app` already does, so these tests check the production wiring once it exists.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import argon2
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tocsin.clock import FakeClock
from tocsin.config import Settings
from tocsin.store import Store
from tocsin.store.sessions import SessionStore
from tocsin.store.users import UserStore
from tocsin.web import auth, create_app, sessions

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SECRET = "web-test-secret"
PASSWORD = "correct horse battery"
CHEAP_HASHER = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
"""Cheap argon2id parameters: tests hash many passwords."""


def open_store(tmp_path: Path) -> Store:
    store = Store.open(f"sqlite:///{tmp_path / 'tocsin.db'}")
    store.upgrade()
    return store


def settings(**notify: Any) -> Settings:
    return Settings.model_validate(
        {"organisation": {"name": "Acme", "languages": ["en"]}, "notify": notify}
    )


def make_app(store: Store, clock: FakeClock, config: Settings | None = None) -> FastAPI:
    app = create_app(config or settings(), store, secret=SECRET, clock=clock)
    if not any(getattr(r, "path", None) == "/login" for r in auth.iter_routes(app)):
        sessions.install(app)
    return app


def add_user(
    store: Store,
    email: str,
    role: str = "viewer",
    *,
    name: str | None = None,
    password: str = PASSWORD,
) -> auth.User:
    record = UserStore(store).add(
        email, name or email.split("@")[0], role, CHEAP_HASHER.hash(password), now=T0
    )
    return auth.User(record.id, record.email, record.name, record.role)


def open_session(store: Store, user: auth.User, now: datetime) -> tuple[str, str]:
    """``(cookie token, CSRF token)`` of a fresh session of `user` (no password needed)."""
    token, session = sessions.start_session(user.id, now)
    SessionStore(store).create_session(session)
    return token, session.csrf


def client_as(app: FastAPI, store: Store, user: auth.User, **kw: Any) -> tuple[TestClient, str]:
    """A client signed in as `user` (a session cookie) and its CSRF token."""
    token, csrf_token = open_session(store, user, app.state.clock.now())
    client = TestClient(app, follow_redirects=False, **kw)
    client.cookies.set(sessions.COOKIE, token)
    return client, csrf_token


_LOGIN_TOKEN = re.compile(r'name="csrf" value="([^"]+)"')


def sign_in(client: TestClient, email: str, password: str = PASSWORD, next: str = "/") -> Any:
    """Open the login form and post it, as a browser does."""
    form = client.get("/login", params={"next": next})
    match = _LOGIN_TOKEN.search(form.text)
    assert match, form.text
    data = {"email": email, "password": password, "csrf": match.group(1), "next": next}
    return client.post("/login", data=data)


def csrf_of(html: str) -> str:
    match = _LOGIN_TOKEN.search(html)
    assert match, html
    return match.group(1)
