"""Who is asking: the signed-in `User` and the role a route needs.

Roles, from least to most: ``viewer`` (reads), ``responder`` (triages and answers), ``lead``
(approves messages, runs crisis mode), ``admin`` (settings, users). A route declares the
least role it needs with ``Depends(require("responder"))``; the session middleware (or an
API token) puts the user on ``request.state.user``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException, Request, status

__all__ = ["ROLES", "User", "current_user", "require"]

ROLES = ("viewer", "responder", "lead", "admin")


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

    return dependency
