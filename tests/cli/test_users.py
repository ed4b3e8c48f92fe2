"""`tocsin user add|list|disable|enable|password`."""

from __future__ import annotations

import json
from pathlib import Path

import argon2
import pytest
from typer.testing import CliRunner, Result

import tocsin.cli.users  # noqa: F401  (registers `tocsin user` until cli/__init__ imports it)
from tocsin.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, app
from tocsin.store import Store
from tocsin.store.users import UserStore
from tocsin.web import auth

runner = CliRunner()
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _cheap_hasher(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(auth, "HASHER", cheap)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "ws"
    assert runner.invoke(app, ["init", str(folder), "--organisation", "Acme"]).exit_code == 0
    return folder


def _store(folder: Path) -> Store:
    return Store.open(f"sqlite:///{folder / 'tocsin.db'}")


def _add(folder: Path, email: str, role: str = "admin", password: str = PASSWORD) -> Result:
    args = ["user", "add", email, "--name", "Alice <b>", "--role", role, "-w", str(folder)]
    return runner.invoke(app, [*args, "--password-stdin"], input=password + "\n")


def test_the_first_admin(workspace: Path) -> None:
    result = _add(workspace, "Alice@Example.org")
    assert result.exit_code == EXIT_OK, result.output
    assert "added alice@example.org (Alice <b>) as admin" in result.stdout
    store = _store(workspace)
    try:
        users = UserStore(store)
        record = users.by_email("alice@example.org")
        assert record is not None
        assert record.password_hash.startswith("$argon2id$")
        assert auth.verify_password(record.password_hash, PASSWORD)[0]
        [entry] = users.audit_entries()
        assert entry.action == "user.create"
        assert entry.actor.startswith("cli")
        assert json.loads(entry.after)["role"] == "admin"
    finally:
        store.close()


def test_the_password_is_asked_twice_hidden(workspace: Path) -> None:
    args = ["user", "add", "bob@example.org", "--name", "Bob", "-w", str(workspace)]
    result = runner.invoke(app, args, input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == EXIT_OK, result.output
    assert "Repeat for confirmation" in result.output
    assert PASSWORD not in result.output  # hidden
    listed = runner.invoke(app, ["user", "list", "-w", str(workspace), "--json"])
    [row] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (row["email"], row["role"], row["disabled"]) == ("bob@example.org", "viewer", False)


def test_bad_input_is_refused_clearly(workspace: Path) -> None:
    short = _add(workspace, "alice@example.org", password="short")
    assert short.exit_code == EXIT_USAGE
    assert "at least 12 characters" in short.output
    role = _add(workspace, "alice@example.org", role="boss")
    assert role.exit_code == EXIT_USAGE
    assert "unknown role" in role.output
    email = _add(workspace, "alice")
    assert "not an email address" in email.output
    assert _add(workspace, "alice@example.org").exit_code == EXIT_OK
    again = _add(workspace, "ALICE@example.org")
    assert again.exit_code == EXIT_USAGE
    assert "exists" in again.output


def test_list_disable_enable_and_password(workspace: Path) -> None:
    _add(workspace, "alice@example.org")
    _add(workspace, "bob@example.org", role="responder")
    table = runner.invoke(app, ["user", "list", "-w", str(workspace)])
    assert "Alice <b>" in table.stdout  # text, never Rich markup
    assert "responder" in table.stdout
    w = ["-w", str(workspace)]
    last = runner.invoke(app, ["user", "disable", "alice@example.org", *w])
    assert last.exit_code == EXIT_USAGE
    assert "last admin" in last.output
    done = runner.invoke(app, ["user", "disable", "bob@example.org", *w])
    assert done.exit_code == EXIT_OK, done.output
    rows = runner.invoke(app, ["user", "list", "--json", *w]).stdout.splitlines()
    assert [json.loads(r)["disabled"] for r in rows] == [False, True]
    assert runner.invoke(app, ["user", "enable", "bob@example.org", *w]).exit_code == EXIT_OK
    new = "another long password"
    changed = runner.invoke(
        app, ["user", "password", "bob@example.org", "--password-stdin", *w], input=new + "\n"
    )
    assert changed.exit_code == EXIT_OK, changed.output
    missing = runner.invoke(app, ["user", "disable", "nobody@example.org", *w])
    assert missing.exit_code == EXIT_FAILURE
    assert "no account" in missing.output
    store = _store(workspace)
    try:
        users = UserStore(store)
        actions = [e.action for e in reversed(users.audit_entries())]
        record = users.by_email("bob@example.org")
        assert record is not None
        assert auth.verify_password(record.password_hash, new)[0]
    finally:
        store.close()
    assert actions == [
        "user.create",
        "user.create",
        "user.disable",
        "user.enable",
        "user.password",
    ]


def test_an_empty_list_says_how_to_start(workspace: Path) -> None:
    result = runner.invoke(app, ["user", "list", "-w", str(workspace)])
    assert "tocsin user add EMAIL --name NAME --role admin" in result.stdout
