"""`UserStore`: web accounts, their sessions and API tokens, failed logins and the audit log.

Only hashes are stored: argon2 for passwords (computed by `tocsin.web.auth`), SHA-256 for
session and API tokens (computed by `tocsin.web.sessions`). Nothing here knows a secret.

Emails are kept lower-case and trimmed, so ``Alice@Example.org`` and ``alice@example.org``
are one account. A change and its audit entry can be written in one transaction: mutating
methods take an optional `AuditEntry`, and `write_audit(conn, entry)` lets other store
modules do the same in theirs.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tocsin.store.rows import clean
from tocsin.store.tables import api_tokens, audit_log, login_failures, users, web_sessions

if TYPE_CHECKING:
    from tocsin.store.store import Store

__all__ = [
    "AuditEntry",
    "AuditRecord",
    "SessionRecord",
    "TokenRecord",
    "UserExists",
    "UserRecord",
    "UserStore",
    "normalise_email",
    "write_audit",
]


class UserExists(ValueError):
    """An account with this email exists already."""


def normalise_email(email: str) -> str:
    """`email` as stored: trimmed and lower-case."""
    return clean(email).strip().lower()


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A stored account (with its password hash: never show it, never log it)."""

    id: int
    email: str
    name: str
    role: str
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None
    password_hash: str

    def public(self) -> dict[str, Any]:
        """What an audit entry may keep of this account (no hash)."""
        return {
            "email": self.email,
            "name": self.name,
            "role": self.role,
            "disabled": self.disabled,
        }


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


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One state change to record: who (`user_id`, `actor`), what (`action` on `subject`),
    when (`at`), from where (`address`), and the state `before` and `after` (JSON-able
    mappings, or None when the thing did not exist before / does not exist after)."""

    at: datetime
    user_id: int | None
    actor: str
    action: str
    subject: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    address: str = ""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """A stored audit entry; `before` and `after` as stored (JSON text)."""

    id: int
    at: datetime
    user_id: int | None
    actor: str
    action: str
    subject: str
    before: str
    after: str
    address: str


def _json(value: Mapping[str, Any] | None) -> str:
    if value is None:
        return "null"
    return json.dumps(dict(value), default=str, ensure_ascii=True, sort_keys=True)


def write_audit(conn: sa.Connection, entry: AuditEntry) -> int:
    """Append `entry` to the audit log on `conn` (inside the caller's transaction)."""
    stmt = (
        sa.insert(audit_log)
        .values(
            at=entry.at,
            user_id=entry.user_id,
            actor=clean(entry.actor),
            action=clean(entry.action),
            subject=clean(entry.subject),
            before=_json(entry.before),
            after=_json(entry.after),
            address=clean(entry.address),
        )
        .returning(audit_log.c.id)
    )
    return int(conn.execute(stmt).scalar_one())


def _user(row: Any) -> UserRecord:
    return UserRecord(
        id=int(row.id),
        email=row.email,
        name=row.name,
        role=row.role,
        disabled=bool(row.disabled),
        created_at=row.created_at,
        last_login_at=row.last_login_at,
        password_hash=row.password_hash,
    )


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


def _token(row: Any) -> TokenRecord:
    return TokenRecord(
        id=int(row.id),
        user_id=int(row.user_id),
        name=row.name,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def _audit(row: Any) -> AuditRecord:
    return AuditRecord(
        id=int(row.id),
        at=row.at,
        user_id=None if row.user_id is None else int(row.user_id),
        actor=row.actor,
        action=row.action,
        subject=row.subject,
        before=row.before,
        after=row.after,
        address=row.address,
    )


class UserStore:
    """Accounts, sessions, API tokens, login failures and the audit log on a `Store`'s
    database (sync; call through `asyncio.to_thread` from async code)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _read(self) -> sa.Connection:
        return self.store.engine.connect()

    # -- accounts --------------------------------------------------------------------------

    def add(
        self,
        email: str,
        name: str,
        role: str,
        password_hash: str,
        *,
        now: datetime,
        audit: AuditEntry | None = None,
    ) -> UserRecord:
        """Create an account; `UserExists` when its email is taken. When `audit` is given
        (its `after` left None), it is recorded with the new account as `after`."""
        values = {
            "email": normalise_email(email),
            "name": clean(name).strip(),
            "role": role,
            "password_hash": password_hash,
            "disabled": False,
            "created_at": now,
        }
        stmt = (
            self.store._insert(users)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["email"])
            .returning(users.c.id)
        )
        with self.store._write() as conn, conn.begin():
            new_id = conn.scalar(stmt)
            if new_id is None:
                raise UserExists(f"an account with the email {values['email']!r} exists")
            user = UserRecord(
                id=int(new_id),
                email=str(values["email"]),
                name=str(values["name"]),
                role=role,
                disabled=False,
                created_at=now,
                last_login_at=None,
                password_hash=password_hash,
            )
            if audit is not None:
                after = audit.after if audit.after is not None else user.public()
                write_audit(
                    conn, replace(audit, subject=audit.subject or f"user:{user.id}", after=after)
                )
        return user

    def get(self, user_id: int) -> UserRecord | None:
        """The account with this id, or None."""
        with self._read() as conn:
            row = conn.execute(sa.select(users).where(users.c.id == user_id)).first()
        return None if row is None else _user(row)

    def by_email(self, email: str) -> UserRecord | None:
        """The account with this email (any case), or None."""
        query = sa.select(users).where(users.c.email == normalise_email(email))
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _user(row)

    def list(self) -> builtins.list[UserRecord]:
        """Every account, by email."""
        with self._read() as conn:
            rows = conn.execute(sa.select(users).order_by(users.c.email)).all()
        return [_user(row) for row in rows]

    def count_admins(self) -> int:
        """How many enabled accounts have the admin role."""
        query = (
            sa.select(sa.func.count())
            .select_from(users)
            .where(users.c.role == "admin", users.c.disabled == sa.false())
        )
        with self._read() as conn:
            return int(conn.scalar(query) or 0)

    def update(
        self,
        user_id: int,
        *,
        name: str | None = None,
        role: str | None = None,
        disabled: bool | None = None,
        password_hash: str | None = None,
        audit: AuditEntry | None = None,
    ) -> tuple[UserRecord, UserRecord] | None:
        """Change an account; return ``(before, after)``, or None when there is no such
        account. Disabling it or changing its password ends its sessions. `audit`, when
        given, is recorded with the account's public fields before and after."""
        values: dict[str, Any] = {}
        if name is not None:
            values["name"] = clean(name).strip()
        if role is not None:
            values["role"] = role
        if disabled is not None:
            values["disabled"] = disabled
        if password_hash is not None:
            values["password_hash"] = password_hash
        with self.store._write() as conn, conn.begin():
            row = conn.execute(sa.select(users).where(users.c.id == user_id)).first()
            if row is None:
                return None
            before = _user(row)
            if values:
                conn.execute(sa.update(users).where(users.c.id == user_id).values(**values))
            if disabled or password_hash is not None:
                conn.execute(sa.delete(web_sessions).where(web_sessions.c.user_id == user_id))
            after = _user(conn.execute(sa.select(users).where(users.c.id == user_id)).one())
            if audit is not None:
                changed = {"password": "changed"} if password_hash is not None else {}
                write_audit(
                    conn,
                    replace(
                        audit,
                        subject=audit.subject or f"user:{user_id}",
                        before=before.public(),
                        after=after.public() | changed,
                    ),
                )
        return before, after

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
        values: dict[str, Any] = {"last_login_at": now}
        if password_hash is not None:
            values["password_hash"] = password_hash
        with self.store._write() as conn, conn.begin():
            conn.execute(sa.update(users).where(users.c.id == user_id).values(**values))
            email = conn.scalar(sa.select(users.c.email).where(users.c.id == user_id))
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
        return _user(row), _session(_unprefixed(row._mapping, "s_"))

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
        return _user(row), _token(_unprefixed(row._mapping, "t_"))

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

    # -- audit log -------------------------------------------------------------------------

    def audit(self, entry: AuditEntry) -> int:
        """Append `entry` to the audit log (its own transaction); its id."""
        with self.store._write() as conn, conn.begin():
            return write_audit(conn, entry)

    def audit_entries(
        self,
        *,
        before_id: int | None = None,
        limit: int = 50,
        subject: str | None = None,
    ) -> builtins.list[AuditRecord]:
        """Audit entries newest first; `before_id` pages back (entries with a smaller id)."""
        a = audit_log
        query = sa.select(a).order_by(a.c.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(a.c.id < before_id)
        if subject is not None:
            query = query.where(a.c.subject == subject)
        with self._read() as conn:
            return [_audit(row) for row in conn.execute(query)]


def _session_values(session: SessionRecord) -> dict[str, Any]:
    return {
        "token_hash": session.token_hash,
        "user_id": session.user_id,
        "csrf": session.csrf,
        "created_at": session.created_at,
        "expires_at": session.expires_at,
        "last_seen_at": session.last_seen_at,
    }
