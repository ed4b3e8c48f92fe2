"""`tocsin alerts`, `tocsin ack` and `tocsin resolve`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tocsin.alert import Alert
from tocsin.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, app
from tocsin.store import Store

runner = CliRunner()
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "ws"
    assert runner.invoke(app, ["init", str(folder), "--organisation", "Acme"]).exit_code == 0
    store = Store.open(f"sqlite:///{folder / 'tocsin.db'}")
    store.upgrade()
    for n, state in ((1, "open"), (2, "watching"), (3, "resolved")):
        alert = Alert(
            key=f"k{n}",
            rule="negative",
            kind="negative_mention",
            subject=f"x:{n}",
            title=f"Negative mention <b>{n}</b> [/]",
            created_at=T0,
            reasons=("priority 70",),
            state=state,
        )
        store.alerts.save(alert, [], now=T0)
    store.close()
    return folder


def test_alerts_lists_open_watching_and_acknowledged_by_default(workspace: Path) -> None:
    result = runner.invoke(app, ["alerts", "-w", str(workspace), "--json"])
    assert result.exit_code == EXIT_OK, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(r["state"] for r in rows) == ["open", "watching"]
    table = runner.invoke(app, ["alerts", "-w", str(workspace)])
    assert "<b>1</b> [/]" in table.stdout  # shown as text, never read as markup


def test_ack_then_resolve(workspace: Path) -> None:
    [first] = [
        json.loads(line)
        for line in runner.invoke(
            app, ["alerts", "-w", str(workspace), "--json"]
        ).stdout.splitlines()
        if json.loads(line)["state"] == "open"
    ]
    acked = runner.invoke(app, ["ack", str(first["id"]), "--by", "alice", "-w", str(workspace)])
    assert acked.exit_code == EXIT_OK, acked.output
    assert "acknowledged by alice" in acked.stdout
    done = runner.invoke(app, ["resolve", str(first["id"]), "--by", "bob", "-w", str(workspace)])
    assert "resolved by bob" in done.stdout
    missing = runner.invoke(app, ["ack", "999", "-w", str(workspace)])
    assert missing.exit_code == EXIT_FAILURE
    assert "no alert 999" in missing.stderr
    bad = runner.invoke(app, ["alerts", "--state", "opn", "-w", str(workspace)])
    assert bad.exit_code == EXIT_USAGE


def test_alerts_tell_how_their_messages_stand(workspace: Path) -> None:
    from datetime import timedelta

    from tocsin.store.outbox import NewDelivery

    store = Store.open(f"sqlite:///{workspace / 'tocsin.db'}")
    [first] = [a for a in store.alerts.list(states=["open"]) if a.id is not None]
    expires = T0 + timedelta(minutes=1)
    store.outbox.enqueue(
        [NewDelivery("ops", "carol", "t", "b", "esc:[1]", expires, alert_id=first.id)], now=T0
    )
    store.outbox.expire(T0 + timedelta(minutes=2))
    store.close()
    result = runner.invoke(app, ["alerts", "-w", str(workspace), "--json"])
    rows = {r["id"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert rows[first.id]["messages"] == {"expired": 1}
    table = runner.invoke(app, ["alerts", "-w", str(workspace)], env={"COLUMNS": "200"})
    assert "1 expired" in table.stdout
