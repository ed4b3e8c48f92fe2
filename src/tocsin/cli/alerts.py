"""`tocsin alerts`, `tocsin ack ID` and `tocsin resolve ID`: alerts from the command line."""

from __future__ import annotations

import getpass
import json
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Column, Table
from rich.text import Text

from tocsin.alert import ALERT_STATES, Alert
from tocsin.cli.common import EXIT_FAILURE, WorkspaceOpt, _fail, _open, _workspace, app, out
from tocsin.store.outbox import MESSAGE_STATES, UNDELIVERED

__all__ = ["ack", "alerts_command", "resolve"]

_STYLE = {"open": "bold red", "watching": "yellow", "acknowledged": "cyan", "resolved": "green"}


def _who(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _as_json(alert: Alert, messages: dict[str, int]) -> dict[str, object]:
    return {
        "id": alert.id,
        "state": alert.state,
        "kind": alert.kind,
        "rule": alert.rule,
        "severity": alert.severity,
        "title": alert.title,
        "reasons": list(alert.reasons),
        "watch": alert.watch,
        "subject": alert.subject,
        "url": alert.url,
        "created_at": alert.created_at.isoformat(),
        "acknowledged_by": alert.acknowledged_by,
        "resolved_by": alert.resolved_by,
        "messages": messages,
    }


def _messages(counts: dict[str, int]) -> Text:
    """``2 sent, 1 expired``: how an alert's messages stand, problems in red."""
    text = Text()
    for state in (s for s in MESSAGE_STATES if counts.get(s)):
        if text:
            text.append(", ")
        text.append(f"{counts[state]} {state}", style="bold red" if state in UNDELIVERED else "")
    return text


@app.command("alerts")
def alerts_command(
    workspace: WorkspaceOpt = None,
    state: Annotated[
        list[str] | None,
        typer.Option(help="Only these states (open, watching, acknowledged, resolved)."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many alerts, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List alerts, newest first (open and watching ones by default)."""
    states = state or ["open", "watching", "acknowledged"]
    unknown = sorted(set(states) - set(ALERT_STATES))
    if unknown:
        raise _fail(f"unknown state(s): {', '.join(unknown)}; use {', '.join(ALERT_STATES)}")
    with _workspace(workspace) as (folder, settings):
        store = _open(settings, folder)
        try:
            found = store.alerts.list(states=states, limit=limit)
            progress = store.outbox.progress([a.id for a in found if a.id is not None])
        finally:
            store.close()
    if as_json:
        for alert in found:
            line = _as_json(alert, progress.get(alert.id or 0, {}))
            sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
        return
    columns: list[Column | str] = [Column("id", justify="right"), "state", "sev", "when"]
    columns += ["title", "why", "by", *(["messages"] if progress else [])]
    table = Table(*columns)
    for a in found:
        cells = [
            Text(str(a.id)),
            Text(a.state, style=_STYLE.get(a.state, "")),
            Text(str(a.severity)),
            Text(a.created_at.strftime("%Y-%m-%d %H:%M")),
            Text(a.title),
            Text("; ".join(a.reasons[:2])),
            Text(a.acknowledged_by or ""),
        ]
        if progress:  # a column only when some alert has messages
            cells.append(_messages(progress.get(a.id or 0, {})))
        table.add_row(*cells)
    out.print(table if found else "no alerts")


def _transition(alert_id: int, by: str | None, workspace: WorkspaceOpt, action: str) -> None:
    with _workspace(workspace) as (folder, settings):
        store = _open(settings, folder)
        try:
            now = datetime.now(UTC)
            who = _who(by)
            if action == "ack":
                alert = store.alerts.acknowledge(alert_id, who, now=now)
            else:
                alert = store.alerts.resolve(alert_id, who, now=now)
        finally:
            store.close()
    if alert is None:
        raise _fail(f"no alert {alert_id}; `tocsin alerts` lists them", EXIT_FAILURE)
    by_whom = alert.acknowledged_by if action == "ack" else alert.resolved_by
    out.print(Text(f"alert {alert_id} {alert.state} by {by_whom}: {alert.title}"))


@app.command()
def ack(
    alert_id: Annotated[int, typer.Argument(help="The alert's id (see `tocsin alerts`).")],
    by: Annotated[str | None, typer.Option(help="Who takes it (default: you).")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Acknowledge an alert: you have it, escalation stops."""
    _transition(alert_id, by, workspace, "ack")


@app.command()
def resolve(
    alert_id: Annotated[int, typer.Argument(help="The alert's id (see `tocsin alerts`).")],
    by: Annotated[str | None, typer.Option(help="Who resolved it (default: you).")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Resolve an alert: it is handled."""
    _transition(alert_id, by, workspace, "resolve")
