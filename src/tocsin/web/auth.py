"""Who is asking: the signed-in `User` and the role a route needs; passwords.

Roles, from least to most: ``viewer`` (reads), ``responder`` (triages and answers), ``lead``
(approves messages, runs crisis mode), ``admin`` (settings, users). A route declares the
least role it needs with ``Depends(require("responder"))`` (on the route or its router);
the session middleware (`tocsin.web.sessions`, a cookie or an API token) puts the user on
``request.state.user``.

A route anyone may open declares it with ``Depends(public)``, or, for routes defined where a
dependency cannot be added (FastAPI's own docs, the static files, the signed alert links),
with an entry in `PUBLIC_PATHS` saying why. `route_role(route)` reads the declaration back:
the authorization test walks every route of the app with it, and a route that declares
nothing fails that test.

Passwords are hashed with argon2id (argon2-cffi's `PasswordHasher`, its RFC 9106 defaults);
a hash made with older parameters is replaced at the next successful login.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import FastAPI, HTTPException, Request, status

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "PUBLIC",
    "PUBLIC_PATHS",
    "ROLES",
    "ROLE_DESCRIPTIONS",
    "User",
    "current_user",
    "hash_password",
    "iter_routes",
    "password_problem",
    "public",
    "require",
    "route_role",
    "verify_password",
]

ROLES = ("viewer", "responder", "lead", "admin")
ROLE_DESCRIPTIONS = {
    "viewer": "reads every page",
    "responder": "triages and answers mentions",
    "lead": "approves messages, runs crisis mode",
    "admin": "changes settings, manages users, reads the audit log",
}
PUBLIC = "public"
"""What `route_role` says of a route anyone may open."""

PUBLIC_PATHS: dict[str, str] = {
    "/a/{token}": "signed alert action links: the signed token is the credential",
    "/static": "style sheets, scripts and images",
    "/api/docs": "the API's description page",
    "/docs/oauth2-redirect": "part of the API's description page (FastAPI's fixed path)",
    "/api/openapi.json": "the API's description",
}
"""Routes open to anyone that cannot carry ``Depends(public)``, each with the reason."""

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024

HASHER = argon2.PasswordHasher()
"""The password hasher (argon2id). Tests may swap in a cheaper one."""
_dummy_hashes: dict[tuple[int, int, int], str] = {}


@dataclass(frozen=True, slots=True)
class User:
    """A signed-in person."""

    id: int
    email: str
    name: str
    role: str

    def can(self, role: str) -> bool:
        """Whether this user's role is `role` or above."""
        return ROLES.index(self.role) >= ROLES.index(role)


def current_user(request: Request) -> User:
    """The signed-in user; 401 when nobody is."""
    user = getattr(request.state, "user", None)
    if not isinstance(user, User):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "sign in first")
    return user


def require(role: str) -> Callable[[Request], User]:
    """A dependency: the signed-in user if their role is `role` or above, else 403."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")

    def dependency(request: Request) -> User:
        user = current_user(request)
        if not user.can(role):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the {role} role")
        return user

    dependency.tocsin_role = role  # type: ignore[attr-defined]  # read by route_role
    return dependency


def public(request: Request) -> User | None:
    """A dependency declaring a route open to anyone: the signed-in user, or None."""
    user = getattr(request.state, "user", None)
    return user if isinstance(user, User) else None


public.tocsin_role = PUBLIC  # type: ignore[attr-defined]


# -- declared roles --------------------------------------------------------------------------


def iter_routes(app: FastAPI) -> Iterator[Any]:
    """Every route of `app`, routers included (flattened), as objects with ``path``,
    ``methods`` and, for API routes, ``dependant``."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before lazily included routers: app.routes is flat
        yield from app.routes
        return
    yield from iter_route_contexts(app.routes)


def _declared(dependant: Any) -> Iterator[str]:
    for sub in getattr(dependant, "dependencies", ()):
        role = getattr(sub.call, "tocsin_role", None)
        if isinstance(role, str):
            yield role
        yield from _declared(sub)


def route_role(route: Any) -> str | None:
    """The least role `route` declares (`PUBLIC` for routes open to anyone), or None when it
    declares nothing. With several declarations, the highest role wins."""
    path = getattr(route, "path", None)
    if path in PUBLIC_PATHS:
        return PUBLIC
    roles = list(_declared(getattr(route, "dependant", None)))
    ranked = [r for r in roles if r in ROLES]
    if ranked:
        return max(ranked, key=ROLES.index)
    return PUBLIC if PUBLIC in roles else None


# -- passwords -------------------------------------------------------------------------------


def password_problem(password: str) -> str | None:
    """What is wrong with `password` as a new password, or None when it will do."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return (
            f"the password is too short: use at least {MIN_PASSWORD_LENGTH} characters "
            "(a few unrelated words make a good one)"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"the password is too long: use at most {MAX_PASSWORD_LENGTH} characters"
    if not password.strip():
        return "the password cannot be only spaces"
    return None


def hash_password(password: str) -> str:
    """The argon2id hash of `password` (raises ValueError when `password_problem` finds
    something wrong with it)."""
    problem = password_problem(password)
    if problem is not None:
        raise ValueError(problem)
    return HASHER.hash(password)


def _dummy_hash() -> str:
    key = (HASHER.time_cost, HASHER.memory_cost, HASHER.parallelism)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = HASHER.hash("not a password: timing filler for unknown accounts")
    return _dummy_hashes[key]


def verify_password(password_hash: str | None, password: str) -> tuple[bool, str | None]:
    """``(matches, new_hash)``: whether `password` matches `password_hash`, and a fresh hash
    to store when it matches but was made with other parameters (else None).

    With `password_hash` None (no such account) a dummy hash is checked instead, so an
    unknown email takes as long as a wrong password and tells nothing."""
    if password_hash is None:
        with contextlib.suppress(VerificationError):
            HASHER.verify(_dummy_hash(), password)
        return False, None
    try:
        HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, None
    if HASHER.check_needs_rehash(password_hash):
        return True, HASHER.hash(password)
    return True, None
