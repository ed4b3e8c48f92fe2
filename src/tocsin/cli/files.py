"""`tocsin import` and `tocsin replay`: files through the pipeline, with a progress bar."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from tocsin.cli.common import (
    EXIT_OK,
    EXIT_PARTIAL,
    WorkspaceOpt,
    _fail,
    _open,
    _setup_logging,
    _workspace,
    app,
    err,
    out,
)
from tocsin.clock import SystemClock
from tocsin.config import Settings
from tocsin.pipeline import BatchReport, Pipeline
from tocsin.runtime import (
    build_matcher,
    enrichers,
    run_until_signalled,
)
from tocsin.sources.file import ImportOptions, ImportSource, ReplayOptions, ReplaySource
from tocsin.store import Store

# --- import and replay ---------------------------------------------------------------------


def _file_key(kind: str, path: Path) -> str:
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]
    return f"{kind}-{path.stem}-{digest}"


def _mapping(pairs: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        if not sep or not field or not column:
            raise typer.BadParameter(f"--map {pair!r}: write FIELD=COLUMN, e.g. --map text=body")
        mapping[field.strip()] = column.strip()
    return mapping


def _run_file_source(
    settings: Settings,
    folder: Path,
    source: ImportSource | ReplaySource,
    *,
    keep_unmatched: bool,
) -> int:
    """Run one file source to its end with a progress bar; returns the exit code."""
    store = _open(settings, folder)
    try:
        reports = _with_progress(settings, store, source, keep_unmatched=keep_unmatched)
    finally:
        store.close()
    return _summarise(reports, source.key)


def _with_progress(
    settings: Settings, store: Store, source: ImportSource | ReplaySource, *, keep_unmatched: bool
) -> list[BatchReport]:
    reports: list[BatchReport] = []
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    ) as progress:
        task = progress.add_task(source.path.name, total=source.total_bytes())
        source.on_progress = lambda read, _total: progress.update(task, completed=read)

        pipeline = Pipeline(
            store,
            [source],
            matcher=build_matcher(settings),
            clock=source.clock,
            enrichers=enrichers(settings),
            queue_size=settings.run.queue_size,
            keep_unmatched=lambda _source: keep_unmatched,
            on_batch=reports.append,
        )
        asyncio.run(run_until_signalled(pipeline))
    return reports


def _summarise(reports: list[BatchReport], key: str) -> int:
    inserted = sum(r.inserted for r in reports)
    updated = sum(r.updated for r in reports)
    errors = sum(r.errors for r in reports)
    out.print(f"{inserted} new, {updated} updated, {errors} skipped")
    if errors:
        hint = escape(f"tocsin errors --source {key}")
        err.print(f"[yellow]{errors} line(s) skipped:[/] see [bold]{hint}[/]")
        return EXIT_PARTIAL
    return EXIT_OK


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL or CSV file.")],
    workspace: WorkspaceOpt = None,
    format: Annotated[
        str | None, typer.Option("--format", help="jsonl or csv (default: from the extension).")
    ] = None,
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help="FIELD=COLUMN, e.g. --map text=body --map author.handle=user"),
    ] = None,
    source_name: Annotated[
        str, typer.Option(help="Platform name for records that carry none.")
    ] = "import",
    id_field: Annotated[str | None, typer.Option(help="Column holding each item's id.")] = None,
) -> None:
    """Import an export (JSONL or CSV) into the store; every line is kept, matched or not.

    Resumable: run the same command again after an interruption and it goes on where it stopped.
    """
    with _workspace(workspace) as (folder, settings):
        _setup_logging("WARNING")
        if format not in (None, "jsonl", "csv"):
            raise _fail(f"--format {format!r}: choose jsonl or csv")
        options = ImportOptions(
            path=str(file.resolve()),
            format=format,  # checked just above
            mapping=_mapping(map_ or []),
            source_name=source_name,
            id_field=id_field,
            batch_size=settings.run.batch_size,
        )
        source = ImportSource(_file_key("import", file), options, client=None, clock=SystemClock())
        raise typer.Exit(_run_file_source(settings, folder, source, keep_unmatched=True))


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL recording.")],
    workspace: WorkspaceOpt = None,
    speed: Annotated[
        float, typer.Option(help="1 = original speed, 10 = ten times faster, 0 = no waiting.")
    ] = 1.0,
) -> None:
    """Replay a JSONL recording of mentions through matching, as if it were live."""
    with _workspace(workspace) as (folder, settings):
        _setup_logging("WARNING")
        options = ReplayOptions(
            path=str(file.resolve()), speed=speed, batch_size=settings.run.batch_size
        )
        source = ReplaySource(_file_key("replay", file), options, client=None, clock=SystemClock())
        raise typer.Exit(_run_file_source(settings, folder, source, keep_unmatched=False))
