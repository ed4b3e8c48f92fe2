"""`tocsin watch`: one query, the sources that need no key, a live table of what matches.

No workspace: mentions go through the normal pipeline into a throw-away SQLite store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from rich.console import Console
from rich.live import Live
from rich.table import Column, Table
from rich.text import Text

from tocsin.clock import Clock
from tocsin.mention import Mention
from tocsin.pipeline import BatchReport, Pipeline
from tocsin.query import Matcher, Node
from tocsin.runtime import run_until_signalled
from tocsin.sources.base import Source
from tocsin.store import Store

__all__ = ["watch_live"]


def _live_table(node_text: str, shown: Sequence[Mention], sources: int) -> Table:
    table = Table(
        Column("when (UTC)", no_wrap=True),
        Column("source", no_wrap=True),
        "author",
        "text",
        title=f"{node_text}: {len(shown)} shown, {sources} source(s); Ctrl-C to stop",
        title_justify="left",
    )
    for m in shown:
        text = (m.title + " — " if m.title else "") + m.text
        cells = (m.published_at.strftime("%m-%d %H:%M"), m.source, m.author.handle or m.author.name)
        # Text, never markup: mentions come from the internet.
        table.add_row(*(Text(c) for c in cells), Text(f"{text[:200]}\n{m.url}"))
    return table


async def watch_live(
    query: str,
    node: Node,
    sources: Sequence[Source],
    store: Store,
    *,
    console: Console,
    clock: Clock,
    limit: int = 20,
    stop: asyncio.Event | None = None,
) -> list[Mention]:
    """Run `sources` through one query and keep a live table of the newest matches."""
    shown: dict[str, Mention] = {}  # by id: a feed polled again repeats its entries
    with Live(_live_table(query, [], len(sources)), console=console, auto_refresh=False) as live:

        def on_batch(report: BatchReport) -> None:
            shown.update((m.id, m) for m in report.mentions)
            newest = sorted(shown.values(), key=lambda m: m.published_at, reverse=True)[:limit]
            if len(shown) > 10 * limit:  # forget what has scrolled off, keep memory bounded
                shown.clear()
                shown.update((m.id, m) for m in newest)
            live.update(_live_table(query, newest, len(sources)), refresh=True)

        pipeline = Pipeline(
            store, sources, matcher=Matcher({"watch": node}), clock=clock, on_batch=on_batch
        )
        if stop is None:
            await run_until_signalled(pipeline)
        else:
            await pipeline.run(stop)
    return sorted(shown.values(), key=lambda m: m.published_at, reverse=True)[:limit]
