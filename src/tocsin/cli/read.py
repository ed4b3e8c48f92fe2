"""`tocsin mentions`, `errors` and `query check`: reading what was stored and why."""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from tocsin.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    WorkspaceOpt,
    _fail,
    _open,
    _row,
    _workspace,
    app,
    out,
    parse_since,
    query_app,
)
from tocsin.mention import Mention
from tocsin.query import Document, QueryError, describe, explain, matches, parse

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
