"""The audit log: every state change, who made it, when, from where, before and after.

Call `record` after a change (or `entry` to build the row and hand it to a store method that
writes it in the change's own transaction, like `tocsin.store.users.UserStore.update`, or
to `tocsin.store.users.write_audit` inside your own store code)::

    from tocsin.web import audit

    await audit.record_request(request, "inbox.assign", f"triage:{subject}",
                               {"assignee": None}, {"assignee": "alice"})

``before`` / ``after`` are small JSON-able mappings of what changed (never a secret: no
password hash, no token); None means "did not exist" / "no longer exists". `action` is a
dotted name (``user.create``, ``token.revoke``, ``login``); `subject` names the thing
(``user:3``, ``token:7``, ``alert:12``). Admins read the log at ``/admin/audit``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import Request

from tocsin.store import Store
from tocsin.store.users import AuditEntry, UserStore
from tocsin.web.auth import User

__all__ = ["actor_of", "address_of", "entry", "record", "record_request", "request_entry"]


def actor_of(user: User | str | None) -> str:
    """How the log names who acted: the user's email, a given name (``cli:alice``), or
    ``anonymous``."""
    if isinstance(user, User):
        return user.email
    return user or "anonymous"


def address_of(request: Request) -> str:
    """The client address of `request` (the proxy's, unless uvicorn trusts the proxy's
    ``X-Forwarded-For``: see ``docs/web-accounts.md``)."""
    return request.client.host if request.client is not None else ""


def entry(
    user: User | str | None,
    action: str,
    subject: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    address: str = "",
    *,
    at: datetime | None = None,
) -> AuditEntry:
    """An audit row (not written): `user` is the `User` who acted, or a name for actors
    without an account (``cli:alice``, ``link``), or None."""
    return AuditEntry(
        at=at or datetime.now(UTC),
        user_id=user.id if isinstance(user, User) else None,
        actor=actor_of(user),
        action=action,
        subject=subject,
        before=before,
        after=after,
        address=address,
    )


def record(
    store: Store,
    user: User | str | None,
    action: str,
    subject: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    address: str = "",
    *,
    at: datetime | None = None,
) -> int:
    """Write one audit row (sync; its own transaction) and return its id."""
    return UserStore(store).audit(entry(user, action, subject, before, after, address, at=at))


def request_entry(
    request: Request,
    action: str,
    subject: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
) -> AuditEntry:
    """An audit row for a change made by `request`'s user, from its address, at the app
    clock's now."""
    user = getattr(request.state, "user", None)
    return entry(
        user if isinstance(user, User) else None,
        action,
        subject,
        before,
        after,
        address_of(request),
        at=request.app.state.clock.now(),
    )


async def record_request(
    request: Request,
    action: str,
    subject: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
) -> int:
    """`record` for a web request (async): its user, address and the app clock."""
    row = request_entry(request, action, subject, before, after)
    return await asyncio.to_thread(UserStore(request.app.state.store).audit, row)
