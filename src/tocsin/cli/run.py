"""`tocsin init`, `run`, `db upgrade` and `watch`: setting up and listening."""

from __future__ import annotations

import asyncio
import gc
import logging
import tempfile
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from tocsin import __version__
from tocsin.alerting import Alerting
from tocsin.cli.common import (
    WorkspaceOpt,
    _fail,
    _open,
    _setup_logging,
    _workspace,
    app,
    db_app,
    err,
    log,
    out,
)
from tocsin.clock import SystemClock
from tocsin.config import ConfigError, Settings
from tocsin.configfile import ConfigFile
from tocsin.pipeline import BatchReport, Pipeline
from tocsin.query import Node, QueryError, parse
from tocsin.redaction import redact_url
from tocsin.runtime import (
    SettingsListener,
    build_matcher,
    build_sources,
    enforce_retention,
    enrichers,
    follow_settings,
    http_client,
    monitor_sources,
    pipeline_listener,
    query_terms,
    run_until_signalled,
    zero_config_sources,
)
from tocsin.store import Store
from tocsin.watch import watch_live
from tocsin.web import create_app
from tocsin.web.broadcast import Broadcaster
from tocsin.web.serve import serve
from tocsin.workspace import init_workspace

# --- init, run, db -------------------------------------------------------------------------


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create the workspace in.")] = Path(
        "."
    ),
    organisation: Annotated[
        str | None, typer.Option(help="Your organisation or brand name (one line to change).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing tocsin.toml.")] = False,
) -> None:
    """Create a workspace: a commented tocsin.toml ready to run."""
    try:
        path = init_workspace(directory, organisation=organisation, force=force)
    except (ConfigError, FileExistsError) as exc:
        raise _fail(str(exc)) from None
    out.print(
        f"Wrote [bold]{escape(str(path))}[/]. Then: [bold]tocsin run -w {escape(str(directory))}[/]"
    )


@app.command()
def run(
    workspace: WorkspaceOpt = None,
    upgrade: Annotated[
        bool, typer.Option(help="Upgrade the database schema before starting.")
    ] = True,
) -> None:
    """Listen: run every enabled source into the store until Ctrl-C (SIGINT) or SIGTERM."""
    with _workspace(workspace) as (folder, settings):
        _setup_logging(settings.run.log_level)
        store = _open(settings, folder, upgrade=upgrade)
        try:
            log.info("database: %s", redact_url(settings.database_url_for(folder)))
            asyncio.run(_run(settings, store, folder))
        except KeyboardInterrupt:
            err.print("aborted")
        finally:
            store.close()


async def _run(settings: Settings, store: Store, workspace: Path) -> None:
    clock = SystemClock()
    async with http_client() as client:
        sources = build_sources(settings, client=client, clock=clock)
        matcher = build_matcher(settings)
        log.info(
            "tocsin %s: %d watch(es), %d source(s); Ctrl-C to stop",
            __version__,
            len(matcher),
            len(sources),
        )
        for source in sources:
            log.info("  %s (%s): %s", source.key, source.name, source.describe())
        if not await asyncio.to_thread(store.users.count_admins):
            log.warning(
                "the web app has no admin yet: create one with `tocsin user add EMAIL "
                "--name NAME --role admin -w %s`, then sign in at http://%s:%d",
                workspace,
                settings.web.host,
                settings.web.port,
            )
        alerting = Alerting(settings, store, workspace=workspace, clock=clock)

        broadcaster = Broadcaster()

        def on_batch(report: BatchReport) -> None:
            _log_batch(report)
            alerting.on_batch(report)
            broadcaster.publish(report.mentions)

        pipeline = Pipeline(
            store,
            sources,
            matcher=matcher,
            clock=clock,
            enrichers=enrichers(settings),
            queue_size=settings.run.queue_size,
            shutdown_timeout=settings.run.shutdown_timeout,
            on_batch=on_batch,
            forever=True,
        )
        app = create_app(
            settings,
            store,
            secret=alerting.secret,
            clock=clock,
            broadcaster=broadcaster,
            config=ConfigFile(workspace),
        )
        listeners: list[SettingsListener] = [
            pipeline_listener(pipeline, settings, client=client, clock=clock),
            alerting.apply_settings,
            partial(setattr, app.state, "settings"),
        ]
        # Everything built so far lives as long as the process: keep it out of the garbage
        # collector's full passes (70-120 ms each on a large heap, the web pages' p95).
        gc.freeze()
        chores = [
            asyncio.create_task(alerting.run(asyncio.Event())),
            asyncio.create_task(serve(app, settings.web.host, settings.web.port)),
            asyncio.create_task(enforce_retention(store, settings.retention, clock)),
            asyncio.create_task(follow_settings(workspace, clock, listeners)),
            asyncio.create_task(monitor_sources(store, pipeline.sources, clock)),
        ]
        try:
            await run_until_signalled(pipeline)
        finally:
            for chore in chores:
                chore.cancel()
    log.info("stopped cleanly")


def _log_batch(report: BatchReport) -> None:
    level = logging.INFO if report.matched or report.errors else logging.DEBUG
    log.log(
        level,
        "%s: %d item(s), %d matched (%d new, %d updated), %d error(s)",
        report.source,
        report.items,
        report.matched,
        report.inserted,
        report.updated,
        report.errors,
    )


@db_app.command("upgrade")
def db_upgrade(workspace: WorkspaceOpt = None) -> None:
    """Create or upgrade the database schema to the latest version."""
    with _workspace(workspace) as (folder, settings):
        store = _open(settings, folder, upgrade=True)
        store.close()
        out.print("database schema is up to date")


# --- watch: zero-config live view ---------------------------------------------------------


@app.command("watch")
def watch_command(
    query: Annotated[str, typer.Argument(help="What to listen for, e.g. 'acme OR #acme'.")],
    sources: Annotated[
        str | None,
        typer.Option(help="Comma-separated source types (default: all that need no key)."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many mentions to keep on screen.")] = 20,
) -> None:
    """Listen live for a query on the sources that need no key; no workspace needed."""
    try:
        node = parse(query)
    except QueryError as exc:
        raise _fail(str(exc)) from None
    terms = query_terms(node)
    if not terms:
        raise _fail("the query has no word to search for; add one, e.g. 'acme -job'")
    _setup_logging("WARNING")
    only = [name.strip() for name in sources.split(",") if name.strip()] if sources else []
    with tempfile.TemporaryDirectory(prefix="tocsin-watch-") as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'watch.db'}")
        store.upgrade()
        try:
            asyncio.run(_watch(query, node, terms, only, store, limit))
        except ValueError as exc:
            raise _fail(str(exc)) from None
        finally:
            store.close()


async def _watch(
    query: str, node: Node, terms: list[str], only: list[str], store: Store, limit: int
) -> None:
    clock = SystemClock()
    async with http_client() as client:
        found = zero_config_sources(terms, client=client, clock=clock, only=only)
        if not found:
            raise ValueError(f"none of {', '.join(only)} can listen without configuration")
        await watch_live(query, node, found, store, console=out, clock=clock, limit=limit)
