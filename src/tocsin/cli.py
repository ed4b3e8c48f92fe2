"""The `tocsin` command line (Typer + Rich).

Exit codes scripts can trust: 0 success; 1 a runtime failure (database unreachable, ...);
2 bad usage, configuration or query; 3 partial success (some input lines were skipped, the
rest was imported: see `tocsin errors`); for `query check --text`, 1 means "does not match".
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import logging
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Column, Table
from rich.text import Text

from tocsin import __version__
from tocsin.clock import SystemClock
from tocsin.config import ConfigError, Settings, load_settings, unknown_env_vars
from tocsin.health import source_status
from tocsin.mention import Mention
from tocsin.normalise import site_of
from tocsin.pipeline import BatchReport, Pipeline
from tocsin.plugins import source_classes
from tocsin.query import Document, Node, QueryError, describe, explain, fold, matches, parse
from tocsin.redaction import redact_url
from tocsin.runtime import (
    build_matcher,
    build_sources,
    enforce_retention,
    enrichers,
    http_client,
    open_store,
    query_terms,
    reload_watches,
    run_until_signalled,
    zero_config_sources,
)
from tocsin.sources.file import ImportOptions, ImportSource, ReplayOptions, ReplaySource
from tocsin.sources.rss import google_news_url
from tocsin.store import Store
from tocsin.watch import watch_live
from tocsin.workspace import add_source, find_workspace, init_workspace

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
        pipeline = Pipeline(
            store,
            sources,
            matcher=matcher,
            clock=clock,
            enrichers=enrichers(),
            queue_size=settings.run.queue_size,
            shutdown_timeout=settings.run.shutdown_timeout,
            on_batch=_log_batch,
        )
        chores = [
            asyncio.create_task(enforce_retention(store, settings.retention, clock)),
            asyncio.create_task(reload_watches(pipeline, workspace, clock)),
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
            enrichers=enrichers(),
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


# --- reading -------------------------------------------------------------------------------


def _mention_row(m: Mention) -> dict[str, Any]:
    return {
        "published_at": m.published_at.isoformat(),
        "source": m.source,
        "author": m.author.handle or m.author.name,
        "watches": ",".join(m.watches),
        "title": m.title,
        "text": m.text,
        "url": m.url,
        "id": m.id,
    }


def _print_mentions(mentions: list[Mention], fmt: str) -> None:
    if fmt == "json":
        for m in mentions:
            sys.stdout.write(json.dumps(m.to_dict(), ensure_ascii=False, default=str) + "\n")
    elif fmt == "csv":
        writer = csv.DictWriter(
            sys.stdout, fieldnames=list(_mention_row(mentions[0]) if mentions else ["id"])
        )
        writer.writeheader()
        for m in mentions:
            writer.writerow(_mention_row(m))
    else:
        table = Table("when (UTC)", "source", "author", "watches", "text", show_lines=False)
        for m in mentions:
            text = (m.title + " — " if m.title else "") + m.text
            _row(
                table,
                m.published_at.strftime("%Y-%m-%d %H:%M"),
                m.source,
                m.author.handle or m.author.name,
                ", ".join(m.watches),
                text[:160],
            )
        out.print(table)
        out.print(f"{len(mentions)} mention(s)")


@app.command()
def mentions(
    query: Annotated[
        str | None, typer.Argument(help="Boolean query (see docs/query-language.md).")
    ] = None,
    workspace: WorkspaceOpt = None,
    watch: Annotated[str | None, typer.Option(help="Only mentions matched by this watch.")] = None,
    since: Annotated[str | None, typer.Option(help="2h, 7d, or a date (2026-11-01).")] = None,
    source: Annotated[
        str | None, typer.Option(help="Only this platform (rss, bluesky, ...).")
    ] = None,
    lang: Annotated[str | None, typer.Option(help="Only this language (fr, en, ...).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    format: Annotated[
        str, typer.Option("--format", help="table, json (one per line) or csv.")
    ] = "table",
) -> None:
    """Search the stored mentions, newest first."""
    if format not in ("table", "json", "csv"):
        raise _fail(f"--format {format!r}: choose table, json or csv")
    with _workspace(workspace) as (folder, settings):
        since_at = parse_since(since, datetime.now(UTC)) if since else None
        store = _open(settings, folder)
        try:
            found = store.search(
                query, watch=watch, source=source, lang=lang, since=since_at, limit=limit
            )
        except QueryError as exc:
            raise _fail(str(exc)) from None
        finally:
            store.close()
        _print_mentions(found, format)


@app.command()
def errors(
    workspace: WorkspaceOpt = None,
    source: Annotated[str | None, typer.Option(help="Only errors of this source.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 20,
    raw: Annotated[bool, typer.Option(help="Show the offending item's raw text.")] = False,
) -> None:
    """Items that could not be read, with where they came from and why."""
    with _workspace(workspace) as (folder, settings):
        store = _open(settings, folder)
        try:
            found = store.errors(source=source, limit=limit)
        finally:
            store.close()
    table = Table("when (UTC)", "source", "where", "error", *(["raw"] if raw else []))
    for e in found:
        row = [e.at.strftime("%Y-%m-%d %H:%M:%S"), e.source, e.ref, e.error]
        _row(table, *row, *([e.raw[:300]] if raw else []))
    out.print(table)


@query_app.command("check")
def query_check(
    expression: Annotated[str, typer.Argument(help="The query to check.")],
    text: Annotated[str | None, typer.Option(help="A text to test the query against.")] = None,
    title: Annotated[str, typer.Option(help="A title to go with --text.")] = "",
    lang: Annotated[
        str | None, typer.Option(help="Language of --text (for lang: filters).")
    ] = None,
) -> None:
    """Show how a query parses and, with --text, whether and why it matches."""
    try:
        node = parse(expression)
    except QueryError as exc:
        raise _fail(str(exc)) from None
    out.print("[bold]parses as:[/]")
    out.print(describe(node), highlight=False, markup=False)
    if text is None:
        return
    doc = Document.from_text(text, title=title, lang=lang)
    hit = matches(node, doc)
    out.print("[bold green]MATCH[/]" if hit else "[bold yellow]NO MATCH[/]")
    for line in explain(node, doc):
        out.print(line, highlight=False, markup=False)
    raise typer.Exit(EXIT_OK if hit else EXIT_FAILURE)


# --- sources -------------------------------------------------------------------------------


_STATUS_STYLE = {"ok": "green", "failing": "yellow", "down": "bold red", "silent": "bold red"}


def _ago(at: datetime | None, now: datetime) -> str:
    if at is None:
        return "never"
    seconds = int((now - at).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


@sources_app.callback(invoke_without_command=True)
def sources(ctx: typer.Context, workspace: WorkspaceOpt = None) -> None:
    """The workspace's sources with their health (last success, last error, items/min)."""
    if ctx.invoked_subcommand is not None:
        return
    with _workspace(workspace) as (folder, settings):
        store = _open(settings, folder)
        now = datetime.now(UTC)
        try:
            health = {h.source: h for h in store.health(now=now)}
        finally:
            store.close()
        table = Table(
            Column("name", no_wrap=True),
            Column("type", no_wrap=True),
            Column("status", no_wrap=True),
            "listens to",
            "last success",
            "items/min",
            "why",
        )
        for kind, name, options in settings.source_configs():
            h = health.get(name)
            status = source_status(h, interval=getattr(options, "interval", None), now=now)
            target = str(getattr(options, "url", "") or getattr(options, "path", ""))
            cells = [
                target,
                _ago(h.last_success_at if h else None, now),
                f"{h.items_per_minute:.1f}" if h else "0.0",
                status.reason,
            ]
            style = _STATUS_STYLE.get(status.state, "")
            table.add_row(
                Text(name), Text(kind), Text(status.state, style=style), *map(Text, cells)
            )
        out.print(table)


_RECIPES = ("google-news", "google-alerts", "rss")


def _default_source_name(recipe: str, target: str, lang: str) -> str:
    """`google-news-acme-fr` for a search, `rss-lemonde-fr` for a feed."""
    words = target if recipe == "google-news" else site_of(target)
    slug = re.sub(r"[^a-z0-9]+", "-", fold(words)).strip("-")[:40].strip("-") or "feed"
    return f"{recipe}-{slug}-{lang}" if recipe == "google-news" else f"{recipe}-{slug}"


@sources_app.command("add")
def sources_add(
    recipe: Annotated[str, typer.Argument(help="google-news, google-alerts or rss.")],
    target: Annotated[str, typer.Argument(help="google-news: a search; others: a feed URL.")],
    workspace: WorkspaceOpt = None,
    name: Annotated[
        str | None, typer.Option(help="Source name (default: from the target).")
    ] = None,
    lang: Annotated[str, typer.Option(help="google-news: language of the edition.")] = "fr",
    country: Annotated[str, typer.Option(help="google-news: country of the edition.")] = "FR",
    interval: Annotated[int, typer.Option(min=60, help="Seconds between polls.")] = 900,
) -> None:
    """Add a news source to tocsin.toml: a Google News search, a Google Alerts feed, a feed."""
    if recipe not in _RECIPES:
        raise _fail(f"unknown recipe {recipe!r}: choose {', '.join(_RECIPES)}")
    with _workspace(workspace) as (folder, _settings):
        url = google_news_url(target, lang, country) if recipe == "google-news" else target
        default = _default_source_name(recipe, target, lang)
        comment = f"Added by `tocsin sources add {recipe}` on {datetime.now(UTC):%Y-%m-%d}."
        try:
            add_source(
                folder,
                "rss",
                name or default,
                {"url": url, "interval": interval},
                comment=comment,
            )
        except ConfigError as exc:
            raise _fail(str(exc)) from None
        out.print(f"added source [bold]{escape(name or default)}[/]: {escape(url)}")


@sources_app.command("types")
def source_types() -> None:
    """Every source type tocsin knows (built-in and from installed plugins)."""
    table = Table("type", "description")
    for name, cls in source_classes().items():
        _row(table, name, cls.description.strip().splitlines()[0])
    out.print(table)


def main() -> None:
    """Entry point of the `tocsin` command."""
    app()
