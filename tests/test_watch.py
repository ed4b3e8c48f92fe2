"""`tocsin watch`: zero-config sources for a query, and the live table of what matches."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner

from tocsin.cli import EXIT_USAGE, app
from tocsin.clock import FakeClock
from tocsin.query import parse
from tocsin.runtime import query_terms, zero_config_sources
from tocsin.sources.rss import RssOptions, RssSource
from tocsin.store import Store
from tocsin.watch import watch_live

FEED = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<item><title>Acme [bold]en panne[/bold]</title><link>http://127.0.0.1/a</link>
<pubDate>Tue, 24 Nov 2026 08:00:00 +0000</pubDate><description>tout est noir</description></item>
<item><title>Autre chose</title><link>http://127.0.0.1/b</link>
<pubDate>Tue, 24 Nov 2026 09:00:00 +0000</pubDate></item></channel></rss>"""


class _Feed(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(FEED)))
        self.end_headers()
        self.wfile.write(FEED)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def feed_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Feed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/feed"
    server.shutdown()
    server.server_close()


def test_query_terms_keep_what_is_searched_for_not_what_is_excluded() -> None:
    node = parse('(acme OR "service client" OR #acmefail) NEAR/5 rembours* -job lang:fr a*')
    assert query_terms(node) == ["acme", "service client", "acmefail", "rembours"]


async def test_zero_config_sources_search_google_news_for_the_terms() -> None:
    async with httpx.AsyncClient() as client:
        sources = zero_config_sources(["acme", "service client"], client=client, clock=FakeClock())
        assert {s.key for s in sources if s.name == "rss"} == {"google-news-fr", "google-news-en"}
        assert {s.key for s in sources if s.name == "hackernews"} == {
            "hackernews-1",
            "hackernews-2",
        }
        assert [s.describe() for s in sources if s.name == "reddit"] != []
        mastodon = [s for s in sources if s.name == "mastodon"]
        assert [s.options.hashtags for s in mastodon] == [["acme"]]  # type: ignore[attr-defined]
        assert all(
            "acme+OR+%22service+client%22" in s.describe() for s in sources if s.name == "rss"
        )
        with pytest.raises(ValueError, match="unknown source"):
            zero_config_sources(["acme"], client=client, clock=FakeClock(), only=["myspace"])


async def test_watch_shows_matching_mentions_live(tmp_path: Path, feed_url: str) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'w.db'}")
    store.upgrade()
    screen = io.StringIO()
    console = Console(file=screen, width=160, force_terminal=False)
    stop = asyncio.Event()
    async with httpx.AsyncClient() as client:
        source = RssSource("feed", RssOptions(url=feed_url), client=client, clock=FakeClock())
        task = asyncio.create_task(
            watch_live(
                "acme",
                parse("acme"),
                [source],
                store,
                console=console,
                clock=FakeClock(),
                stop=stop,
            )
        )
        for _ in range(500):
            if store.count():
                break
            await asyncio.sleep(0.01)
        stop.set()
        shown = await asyncio.wait_for(task, 30)
    store.close()
    assert [m.url for m in shown] == ["http://127.0.0.1/a"]
    assert "[bold]en panne[/bold]" in screen.getvalue()  # shown as written, not as markup
    assert shown[0].published_at == datetime(2026, 11, 24, 8, tzinfo=UTC)


def test_watch_refuses_a_query_with_nothing_to_search() -> None:
    result = CliRunner().invoke(app, ["watch", "NOT job"])
    assert result.exit_code == EXIT_USAGE
    assert "no word to search for" in result.output
