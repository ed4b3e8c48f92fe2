"""What every command shares: the Typer apps, consoles, workspace loading, exit codes."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tocsin.config import ConfigError, Settings, load_settings, unknown_env_vars
from tocsin.runtime import open_store
from tocsin.store import Store
from tocsin.workspace import find_workspace

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3

app = typer.Typer(
    name="tocsin",
    help="Hear what is said about you online, answer with one voice, ring the bell early.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
query_app = typer.Typer(help="Check and explain Boolean queries.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)
sources_app = typer.Typer(help="Configured sources and their health.")
app.add_typer(query_app, name="query")
app.add_typer(db_app, name="db")
app.add_typer(sources_app, name="sources")

out = Console()
err = Console(stderr=True)
log = logging.getLogger("tocsin")

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace folder (with tocsin.toml). Default: $TOCSIN_WORKSPACE, else here.",
        show_default=False,
    ),
]


def _row(table: Table, *cells: str) -> None:
    """Add a row of plain text: text from the internet is never read as Rich markup."""
    table.add_row(*(Text(cell) for cell in cells))


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(console=err, show_path=False, markup=False)],
        force=True,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


@contextmanager
def _workspace(path: Path | None) -> Iterator[tuple[Path, Settings]]:
    """Find and load the workspace, turning configuration mistakes into exit code 2."""
    try:
        workspace = find_workspace(path)
        settings = load_settings(workspace)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    for warning in unknown_env_vars():
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    yield workspace, settings


def _open(settings: Settings, workspace: Path, *, upgrade: bool = True) -> Store:
    try:
        return open_store(settings, workspace, upgrade=upgrade)
    except Exception as exc:
        raise _fail(f"cannot open the database: {exc}", EXIT_FAILURE) from None


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(value: str, now: datetime) -> datetime:
    """`2h`, `30m`, `7d`, `1w` ago, or an ISO 8601 date/time (UTC if no zone given)."""
    match = _DURATION.match(value)
    if match:
        return now - timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is neither a duration (30m, 2h, 7d, 1w) nor a date (2026-11-01)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
