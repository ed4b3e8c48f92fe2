"""`tocsin user add|list|disable|enable|password`: web accounts from the command line.

``tocsin user add EMAIL --name NAME --role admin`` creates the first admin (who then adds
everyone else in the web app). Passwords are asked twice with a hidden prompt, or read from
standard input with ``--password-stdin`` (one line) for scripts; they never go on the
command line, where other users of the machine could read them. Every change is written to
the audit log as ``cli:<your login>``.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import typer
from rich.table import Table
from rich.text import Text

from tocsin.cli.common import EXIT_FAILURE, WorkspaceOpt, _fail, _open, _workspace, app, out
from tocsin.store import Store
from tocsin.store.users import AuditEntry, UserExists, UserRecord, UserStore
from tocsin.web.auth import ROLES, hash_password, password_problem

__all__ = ["user_app"]

user_app = typer.Typer(help="Web app accounts: add, list, disable.", no_args_is_help=True)
app.add_typer(user_app, name="user")

T = TypeVar("T")
FIRST_ADMIN = "`tocsin user add EMAIL --name NAME --role admin`"

PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from standard input (one line) instead of asking.",
    ),
]


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _entry(action: str, subject: str) -> AuditEntry:
    return AuditEntry(
        at=datetime.now(UTC),
        user_id=None,
        actor=_actor(),
        action=action,
        subject=subject,
        before=None,
        after=None,
        address="cli",
    )


def _password(from_stdin: bool) -> str:
    """A new password: from stdin, or asked twice with a hidden prompt; checked."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = password_problem(password)
    if problem is not None:
        raise _fail(problem)
    return password


def _with_users(workspace: WorkspaceOpt, work: Callable[[UserStore], T]) -> T:
    with _workspace(workspace) as (folder, settings):
        store: Store = _open(settings, folder)
        try:
            return work(UserStore(store))
        finally:
            store.close()


def _found(users: UserStore, email: str) -> UserRecord:
    record = users.by_email(email)
    if record is None:
        raise _fail(f"no account {email!r}; `tocsin user list` shows them", EXIT_FAILURE)
    return record


@user_app.command("add")
def add(
    email: Annotated[str, typer.Argument(help="The person's email: their sign-in name.")],
    name: Annotated[str, typer.Option(help="Their name, as the team knows them.")],
    role: Annotated[
        str, typer.Option(help=f"One of {', '.join(ROLES)} (admin manages users).")
    ] = "viewer",
    password_stdin: PasswordStdin = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Create an account (the first one: --role admin)."""
    if role not in ROLES:
        raise _fail(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    if "@" not in email or any(c.isspace() for c in email):
        raise _fail(f"{email!r} is not an email address (name@example.org)")
    if not name.strip():
        raise _fail("--name cannot be empty")
    password_hash = hash_password(_password(password_stdin))

    def work(users: UserStore) -> UserRecord:
        try:
            return users.add(
                email,
                name,
                role,
                password_hash,
                now=datetime.now(UTC),
                audit=_entry("user.create", ""),
            )
        except UserExists as exc:
            raise _fail(f"{exc}; `tocsin user list` shows the accounts") from None

    record = _with_users(workspace, work)
    out.print(Text(f"added {record.email} ({record.name}) as {record.role}"))


@user_app.command("list")
def list_users(
    workspace: WorkspaceOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List the accounts."""
    records = _with_users(workspace, lambda users: users.list())
    if as_json:
        for r in records:
            row = r.public() | {
                "id": r.id,
                "created_at": r.created_at.isoformat(),
                "last_login_at": r.last_login_at.isoformat() if r.last_login_at else None,
            }
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    table = Table("email", "name", "role", "status", "last sign-in")
    for r in records:
        last = r.last_login_at.strftime("%Y-%m-%d %H:%M") if r.last_login_at else "never"
        table.add_row(
            Text(r.email),
            Text(r.name),
            Text(r.role),
            Text("disabled" if r.disabled else "active", style="red" if r.disabled else ""),
            Text(last),
        )
    out.print(table if records else f"no accounts yet: {FIRST_ADMIN}")


def _set_disabled(email: str, disabled: bool, workspace: WorkspaceOpt) -> None:
    action = "user.disable" if disabled else "user.enable"

    def work(users: UserStore) -> UserRecord:
        record = _found(users, email)
        last_admin = record.role == "admin" and not record.disabled
        if disabled and last_admin and users.count_admins() <= 1:
            raise _fail("this is the last admin: make someone else admin first")
        changed = users.update(
            record.id, disabled=disabled, audit=_entry(action, f"user:{record.id}")
        )
        assert changed is not None
        return changed[1]

    record = _with_users(workspace, work)
    state = "disabled (sessions ended)" if record.disabled else "enabled"
    out.print(Text(f"{record.email} is {state}"))


@user_app.command("disable")
def disable(
    email: Annotated[str, typer.Argument(help="The account's email.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Disable an account: it can no longer sign in; its sessions and API tokens stop."""
    _set_disabled(email, True, workspace)


@user_app.command("enable")
def enable(
    email: Annotated[str, typer.Argument(help="The account's email.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Enable a disabled account again."""
    _set_disabled(email, False, workspace)


@user_app.command("password")
def password(
    email: Annotated[str, typer.Argument(help="The account's email.")],
    password_stdin: PasswordStdin = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Set a new password for an account (ends its sessions)."""
    password_hash = hash_password(_password(password_stdin))

    def work(users: UserStore) -> UserRecord:
        record = _found(users, email)
        entry = _entry("user.password", f"user:{record.id}")
        users.update(record.id, password_hash=password_hash, audit=entry)
        return record

    record = _with_users(workspace, work)
    out.print(Text(f"new password set for {record.email}"))
