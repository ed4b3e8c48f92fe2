"""Shared by the search, inbox, alerts and API tests: an app with those routers, people in the
database, and a tiny middleware that signs in whoever the ``X-Test-User`` header names (the
real session middleware is tested on its own)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient

from tocsin.clock import FakeClock
from tocsin.config import Settings
from tocsin.configfile import ConfigFile
from tocsin.mention import Author, Mention, Metrics
from tocsin.store import Store
from tocsin.store.tables import audit_log, users
from tocsin.web import auth, create_app
from tocsin.web.auth import User
from tocsin.web.routes import alerts_page, api, inbox, search

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ROLES = {"vera": "viewer", "rita": "responder", "rob": "responder", "lea": "lead"}

SETTINGS: dict[str, Any] = {
    "organisation": {"name": "Acme", "languages": ["en"], "timezone": "Europe/Paris"},
    "watches": [{"name": "brand", "query": "acme"}, {"name": "rival", "query": "globex"}],
    "channels": [{"name": "ops", "urls": ["json://127.0.0.1:9/hook"]}],
    "people": [{"name": "alice", "channels": ["ops"]}, {"name": "bob", "channels": ["ops"]}],
    "oncall": [
        {"name": "comms", "business": ["alice"], "rota": ["bob"], "rota_start": "2026-01-05"}
    ],
}


@dataclass
class Env:
    """The app under test: its client, store, clock and people (by first name)."""

    client: TestClient
    store: Store
    clock: FakeClock
    people: dict[str, User]

    def as_(self, name: str | None) -> dict[str, str]:
        """Headers signing in `name` (None: nobody)."""
        return {} if name is None else {"X-Test-User": name}

    def add_person(self, name: str, role: str) -> User:
        """Another person, signed in by `as_(name)`."""
        self.people.update(_add_people(self.store, {name: role}))
        return self.people[name]

    def audit(self) -> list[Any]:
        with self.store.engine.connect() as conn:
            return list(conn.execute(sa.select(audit_log).order_by(audit_log.c.id)).all())


def _add_people(store: Store, roles: dict[str, str] = ROLES) -> dict[str, User]:
    rows = [
        {
            "email": f"{n}@example.org",
            "name": n.title(),
            "role": role,
            "password_hash": "x",
            "created_at": T0,
        }
        for n, role in roles.items()
    ]
    with store.engine.begin() as conn:
        conn.execute(sa.insert(users), rows)
        found = conn.execute(sa.select(users).where(users.c.email.in_(r["email"] for r in rows)))
    return {r.email.split("@")[0]: User(int(r.id), r.email, r.name, r.role) for r in found}


def make_env(
    store: Store, *, settings: Settings | None = None, config: ConfigFile | None = None
) -> Env:
    """An app on `store` with the search, inbox, alerts and API routers (`config`: the
    tocsin.toml the Settings pages may write)."""
    clock = FakeClock(T0)
    settings = settings or Settings.model_validate(SETTINGS)
    app: FastAPI = create_app(settings, store, secret="test-secret", clock=clock, config=config)
    paths = {getattr(r, "path", None) for r in auth.iter_routes(app)}
    for module in (search, inbox, alerts_page, api):
        if "/search" not in paths:  # until create_app includes them
            app.include_router(module.router)
    people = _add_people(store)

    @app.middleware("http")
    async def sign_in(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        name = request.headers.get("x-test-user")
        request.state.user = people.get(name) if name else None
        return await call_next(request)

    client = TestClient(app, follow_redirects=False)
    return Env(client, store, clock, people)


def mention(native: str, text: str = "acme", *, minutes: int = 0, **fields: Any) -> Mention:
    """A mention published `minutes` after T0 (minus one day: in the past of the clock)."""
    at = T0 - timedelta(days=1) + timedelta(minutes=minutes)
    values: dict[str, Any] = {
        "id": f"rss:{native}",
        "source": "rss",
        "url": f"https://example.com/{native}",
        "text": text,
        "published_at": at,
        "seen_at": at,
        "author": Author(handle="someone", name="Some One", followers=10),
        "metrics": Metrics(likes=1),
        "watches": ("brand",),
        "raw": {},
    }
    values.update(fields)
    return Mention(**values)
