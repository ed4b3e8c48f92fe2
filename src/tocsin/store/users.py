"""`UserStore`: web accounts and the audit log.

Only hashes are stored: argon2 for passwords (computed by `tocsin.web.auth`). Nothing here
knows a secret. Sessions, API tokens and failed logins live in `tocsin.store.sessions`.

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
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tocsin.store.rows import clean
from tocsin.store.tables import audit_log, users

if TYPE_CHECKING:
    from tocsin.store.store import Store

__all__ = [
    "AuditEntry",
    "AuditRecord",
    "UserExists",
    "UserRecord",
    "UserStore",
    "normalise_email",
    "row_user",
    "stamp_login_in",
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


def stamp_login_in(
    conn: sa.Connection, user_id: int, *, now: datetime, password_hash: str | None = None
) -> str | None:
    """Inside the caller's transaction on `conn`: `user_id` signed in at `now` (with
    `password_hash`, a rehash, stored when given); the account's email, or None when there
    is no such account."""
    values: dict[str, Any] = {"last_login_at": now}
    if password_hash is not None:
        values["password_hash"] = password_hash
    conn.execute(sa.update(users).where(users.c.id == user_id).values(**values))
    email = conn.scalar(sa.select(users.c.email).where(users.c.id == user_id))
    return None if email is None else str(email)


def row_user(row: Any) -> UserRecord:
    """The `UserRecord` of a row holding the ``users`` columns."""
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
    """Accounts and the audit log on a `Store`'s database (sync; call through
    `asyncio.to_thread` from async code)."""

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
        return None if row is None else row_user(row)

    def by_email(self, email: str) -> UserRecord | None:
        """The account with this email (any case), or None."""
        query = sa.select(users).where(users.c.email == normalise_email(email))
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else row_user(row)

    def list(self) -> builtins.list[UserRecord]:
        """Every account, by email."""
        with self._read() as conn:
            rows = conn.execute(sa.select(users).order_by(users.c.email)).all()
        return [row_user(row) for row in rows]

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
        # Here, not at the top: `tocsin.store.sessions` imports this module.
        from tocsin.store.sessions import end_sessions_in

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
            before = row_user(row)
            if values:
                conn.execute(sa.update(users).where(users.c.id == user_id).values(**values))
            if disabled or password_hash is not None:
                end_sessions_in(conn, user_id)
            after = row_user(conn.execute(sa.select(users).where(users.c.id == user_id)).one())
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
