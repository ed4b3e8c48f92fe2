"""`SessionStore`: how people sign in: browser sessions, API tokens and failed logins.

Only hashes are stored: SHA-256 for session and API tokens (computed by
`tocsin.web.sessions`). Nothing here knows a secret. A session or token counts only while
its account is enabled.

Changes that touch an account and its sign-ins together stay in one transaction: a login
(`SessionStore.logged_in`) stamps the account through `tocsin.store.users.stamp_login_in`,
and `UserStore.update` ends an account's sessions with `end_sessions_in(conn, user_id)`.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, replace
from datetime import datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tocsin.store.rows import clean
from tocsin.store.tables import api_tokens, login_failures, users, web_sessions
from tocsin.store.users import (
    AuditEntry,
    UserRecord,
    normalise_email,
    row_user,
    stamp_login_in,
    write_audit,
)

if TYPE_CHECKING:
    from tocsin.store.store import Store

__all__ = ["SessionRecord", "SessionStore", "TokenRecord", "end_sessions_in"]


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A signed-in browser: the SHA-256 of its cookie token and its CSRF token."""

    token_hash: str
    user_id: int
    csrf: str
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """An API token (its SHA-256 only)."""

    id: int
    user_id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def end_sessions_in(conn: sa.Connection, user_id: int) -> None:
    """Inside the caller's transaction on `conn`: end every session of `user_id`."""
    conn.execute(sa.delete(web_sessions).where(web_sessions.c.user_id == user_id))


def _unprefixed(mapping: Any, prefix: str) -> SimpleNamespace:
    """The columns of a joined row labelled ``<prefix><name>``, by their own names."""
    return SimpleNamespace(
        **{k[len(prefix) :]: v for k, v in mapping.items() if k.startswith(prefix)}
    )


def _session(row: Any) -> SessionRecord:
    return SessionRecord(
        token_hash=row.token_hash,
        user_id=int(row.user_id),
        csrf=row.csrf,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_seen_at=row.last_seen_at,
    )


def _session_values(session: SessionRecord) -> dict[str, Any]:
    return {
        "token_hash": session.token_hash,
        "user_id": session.user_id,
        "csrf": session.csrf,
        "created_at": session.created_at,
        "expires_at": session.expires_at,
        "last_seen_at": session.last_seen_at,
    }


def _token(row: Any) -> TokenRecord:
    return TokenRecord(
        id=int(row.id),
        user_id=int(row.user_id),
        name=row.name,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


class SessionStore:
    """Sessions, API tokens and login failures on a `Store`'s database (sync; call through
    `asyncio.to_thread` from async code)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _read(self) -> sa.Connection:
        return self.store.engine.connect()

    def logged_in(
        self,
        user_id: int,
        *,
        now: datetime,
        password_hash: str | None = None,
        session: SessionRecord | None = None,
        audit: AuditEntry | None = None,
    ) -> None:
        """A successful login: stamp it, store a rehashed password when given, open
        `session`, clear the account's failed logins and record `audit`, in one go."""
        with self.store._write() as conn, conn.begin():
            email = stamp_login_in(conn, user_id, now=now, password_hash=password_hash)
            if email is not None:
                conn.execute(sa.delete(login_failures).where(login_failures.c.email == email))
            if session is not None:
                conn.execute(sa.insert(web_sessions).values(**_session_values(session)))
            if audit is not None:
                write_audit(conn, audit)

    # -- sessions --------------------------------------------------------------------------

    def create_session(self, session: SessionRecord) -> None:
        """Store a new session."""
        with self.store._write() as conn, conn.begin():
            conn.execute(sa.insert(web_sessions).values(**_session_values(session)))

    def session(
        self, token_hash: str, *, now: datetime, idle_since: datetime
    ) -> tuple[UserRecord, SessionRecord] | None:
        """The enabled account and the session whose token hashes to `token_hash`, when it
        has not expired (`expires_at` after `now`) nor idled (seen after `idle_since`)."""
        s = web_sessions
        query = (
            sa.select(users, *(c.label(f"s_{c.name}") for c in s.c))
            .join(s, s.c.user_id == users.c.id)
            .where(
                s.c.token_hash == token_hash,
                s.c.expires_at > now,
                s.c.last_seen_at > idle_since,
                users.c.disabled == sa.false(),
            )
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return row_user(row), _session(_unprefixed(row._mapping, "s_"))

    def touch_session(self, token_hash: str, *, now: datetime) -> None:
        """The session was used at `now` (keeps it from idling out)."""
        s = web_sessions
        with self.store._write() as conn, conn.begin():
            conn.execute(sa.update(s).where(s.c.token_hash == token_hash).values(last_seen_at=now))

    def delete_session(self, token_hash: str, *, audit: AuditEntry | None = None) -> bool:
        """End a session (logout); whether there was one. `audit` is recorded with it."""
        s = web_sessions
        with self.store._write() as conn, conn.begin():
            deleted = conn.execute(sa.delete(s).where(s.c.token_hash == token_hash)).rowcount
            if audit is not None:
                write_audit(conn, audit)
        return bool(deleted)

    def purge_sessions(self, *, now: datetime, idle_since: datetime) -> int:
        """Delete expired and idle sessions; how many."""
        s = web_sessions
        old = sa.or_(s.c.expires_at <= now, s.c.last_seen_at <= idle_since)
        with self.store._write() as conn, conn.begin():
            return int(conn.execute(sa.delete(s).where(old)).rowcount)

    def sessions_of(self, user_id: int) -> builtins.list[SessionRecord]:
        """The stored sessions of an account, newest first."""
        s = web_sessions
        query = sa.select(s).where(s.c.user_id == user_id).order_by(s.c.created_at.desc())
        with self._read() as conn:
            return [_session(row) for row in conn.execute(query)]

    # -- API tokens ------------------------------------------------------------------------

    def create_token(
        self,
        user_id: int,
        name: str,
        token_hash: str,
        *,
        now: datetime,
        audit: AuditEntry | None = None,
    ) -> TokenRecord:
        """Store a new API token of `user_id` (its hash); `audit` gets the token as `after`."""
        values = {
            "user_id": user_id,
            "name": clean(name).strip(),
            "token_hash": token_hash,
            "created_at": now,
        }
        with self.store._write() as conn, conn.begin():
            token_id = conn.execute(
                sa.insert(api_tokens).values(**values).returning(api_tokens.c.id)
            ).scalar_one()
            token = TokenRecord(int(token_id), user_id, str(values["name"]), now, None, None)
            if audit is not None:
                after = {"id": token.id, "name": token.name, "user_id": user_id}
                write_audit(conn, replace(audit, subject=f"token:{token.id}", after=after))
        return token

    def tokens(self, user_id: int, *, include_revoked: bool = False) -> builtins.list[TokenRecord]:
        """The API tokens of an account, newest first."""
        t = api_tokens
        query = sa.select(t).where(t.c.user_id == user_id).order_by(t.c.id.desc())
        if not include_revoked:
            query = query.where(t.c.revoked_at.is_(None))
        with self._read() as conn:
            return [_token(row) for row in conn.execute(query)]

    def token_user(self, token_hash: str) -> tuple[UserRecord, TokenRecord] | None:
        """The enabled account and the unrevoked token whose hash is `token_hash`."""
        t = api_tokens
        query = (
            sa.select(users, *(c.label(f"t_{c.name}") for c in t.c))
            .join(t, t.c.user_id == users.c.id)
            .where(
                t.c.token_hash == token_hash,
                t.c.revoked_at.is_(None),
                users.c.disabled == sa.false(),
            )
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return row_user(row), _token(_unprefixed(row._mapping, "t_"))

    def touch_token(self, token_id: int, *, now: datetime) -> None:
        """The token was used at `now`."""
        t = api_tokens
        with self.store._write() as conn, conn.begin():
            conn.execute(sa.update(t).where(t.c.id == token_id).values(last_used_at=now))

    def revoke_token(
        self,
        token_id: int,
        *,
        user_id: int,
        now: datetime,
        audit: AuditEntry | None = None,
    ) -> TokenRecord | None:
        """Revoke `user_id`'s unrevoked token `token_id`; None when it has no such token."""
        t = api_tokens
        where = (t.c.id == token_id, t.c.user_id == user_id, t.c.revoked_at.is_(None))
        with self.store._write() as conn, conn.begin():
            row = conn.execute(
                sa.update(t).where(*where).values(revoked_at=now).returning(*t.c)
            ).first()
            if row is None:
                return None
            token = _token(row)
            if audit is not None:
                state = {"id": token.id, "name": token.name, "user_id": user_id}
                write_audit(
                    conn,
                    replace(
                        audit,
                        subject=audit.subject or f"token:{token.id}",
                        before=state,
                        after=state | {"revoked_at": now.isoformat()},
                    ),
                )
        return token

    # -- failed logins ---------------------------------------------------------------------

    def record_failure(
        self, email: str, address: str, *, now: datetime, forget_before: datetime
    ) -> None:
        """A failed login for `email` from `address`; failures before `forget_before` go."""
        f = login_failures
        with self.store._write() as conn, conn.begin():
            conn.execute(sa.delete(f).where(f.c.at < forget_before))
            conn.execute(
                sa.insert(f).values(email=normalise_email(email), address=clean(address), at=now)
            )

    def failures(self, *, email: str, address: str, since: datetime) -> tuple[int, int]:
        """``(for the account, from the address)``: failed logins since `since`."""
        f = login_failures

        def count(*where: Any) -> Any:
            return sa.select(sa.func.count()).select_from(f).where(f.c.at >= since, *where)

        with self._read() as conn:
            by_email = conn.scalar(count(f.c.email == normalise_email(email)))
            by_address = conn.scalar(count(f.c.address == clean(address)))
        return int(by_email or 0), int(by_address or 0)
