"""`tocsin sources`: health verdicts, source types, and recipes to add news sources."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Column, Table
from rich.text import Text

from tocsin.cli.common import (
    WorkspaceOpt,
    _fail,
    _open,
    _row,
    _workspace,
    out,
    sources_app,
)
from tocsin.config import ConfigError
from tocsin.health import source_status
from tocsin.normalise import site_of
from tocsin.plugins import source_classes
from tocsin.query import fold
from tocsin.sources.rss import google_news_url
from tocsin.workspace import add_source

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
