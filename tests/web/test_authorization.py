"""Every route of the app, against every role: each declares the least role it needs
(``Depends(require(role))``, ``Depends(public)`` or `PUBLIC_PATHS`), nobody below gets in.

The routes are read from the app itself, so pages added later are checked too; a route that
declares nothing fails `test_every_route_declares_who_may_use_it`.
"""

from __future__ import annotations

import re
from typing import Any

from accounts_helpers import add_user, client_as
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tocsin.store import Store
from tocsin.web import auth

_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


def _endpoints(app: FastAPI) -> list[tuple[str, str, Any]]:
    """``(method, path, route)`` for every HTTP route (HEAD and OPTIONS left out)."""
    found = []
    for route in auth.iter_routes(app):
        path = getattr(route, "path", None)
        methods = getattr(route, "methods", None) or set()
        if path is None:
            continue
        for method in sorted(methods - {"HEAD", "OPTIONS"}) or ["GET"]:
            found.append((method, path, route))
    return found


def _url(path: str) -> str:
    return _PARAM.sub("1", path)


def test_every_route_declares_who_may_use_it(app: FastAPI) -> None:
    undeclared = [
        f"{method} {path}"
        for method, path, route in _endpoints(app)
        if auth.route_role(route) is None
    ]
    assert undeclared == [], (
        "declare the least role of these routes with Depends(require(role)) (or "
        "Depends(public) for pages anyone may open)"
    )


def test_an_undeclared_route_is_caught(app: FastAPI) -> None:
    @app.get("/forgotten")
    def forgotten() -> str:
        return "open to all by mistake"

    [route] = [r for r in auth.iter_routes(app) if getattr(r, "path", None) == "/forgotten"]
    assert auth.route_role(route) is None


def test_declarations_are_read_from_routes_and_routers(app: FastAPI) -> None:
    roles = {(method, path): auth.route_role(route) for method, path, route in _endpoints(app)}
    assert roles[("GET", "/admin/users")] == "admin"
    assert roles[("POST", "/account/tokens")] == "viewer"
    assert roles[("GET", "/login")] == auth.PUBLIC
    assert roles[("POST", "/a/{token}")] == auth.PUBLIC
    assert roles[("GET", "/api/openapi.json")] == auth.PUBLIC
    assert roles[("GET", "/docs/oauth2-redirect")] == auth.PUBLIC


def _refused_anonymous(response: Any, path: str) -> bool:
    if path.startswith("/api/"):
        return bool(response.status_code == 401)
    if response.status_code == 401:
        return True
    location = str(response.headers.get("location", ""))
    return bool(response.status_code == 303 and location.startswith("/login?next="))


def test_each_role_reaches_exactly_its_routes(app: FastAPI, store: Store) -> None:
    people = {role: add_user(store, f"{role}@example.org", role) for role in auth.ROLES}
    clients = {role: client_as(app, store, person) for role, person in people.items()}
    anonymous = TestClient(app, follow_redirects=False)
    checked = 0
    for method, path, route in _endpoints(app):
        needed = auth.route_role(route)
        if needed in (None, auth.PUBLIC):
            continue
        url = _url(path)
        response = anonymous.request(method, url)
        assert _refused_anonymous(response, path), f"{method} {path}: {response.status_code}"
        for role in auth.ROLES:
            if auth.ROLES.index(role) >= auth.ROLES.index(needed):
                continue  # allowed: other tests drive each page with good data
            client, csrf = clients[role]
            response = client.request(method, url, headers={"X-CSRF-Token": csrf})
            assert response.status_code == 403, f"{method} {path} as {role}: {response.text}"
            checked += 1
    assert checked > 0


def test_allowed_roles_pass_the_check(app: FastAPI, store: Store) -> None:
    """The role dependency itself lets the needed role and those above through (the pages
    are not opened here: some stream forever)."""
    for method, path, route in _endpoints(app):
        needed = auth.route_role(route)
        if needed in (None, auth.PUBLIC):
            continue
        for role in auth.ROLES[auth.ROLES.index(needed) :]:
            assert auth.User(1, "x@example.org", "x", role).can(needed), (method, path, role)


def test_signed_in_pages_open_for_their_role(app: FastAPI, store: Store) -> None:
    admin = add_user(store, "admin@example.org", "admin")
    viewer = add_user(store, "viewer@example.org", "viewer")
    admin_client, _ = client_as(app, store, admin)
    viewer_client, _ = client_as(app, store, viewer)
    for url in ("/admin/users", "/admin/audit", "/account/tokens"):
        assert admin_client.get(url).status_code == 200, url
    assert viewer_client.get("/account/tokens").status_code == 200
    assert viewer_client.get("/admin/users").status_code == 403
    assert "admin role" in viewer_client.get("/admin/audit").text
