"""`WebPageSource` against pages served from 127.0.0.1: new blocks only, 304, hostile HTML."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest

from tocsin.clock import FakeClock
from tocsin.mention import Mention
from tocsin.plugins import source_classes
from tocsin.sources import webpage
from tocsin.sources.base import Batch, SourceError
from tocsin.sources.webpage import WebPageOptions, WebPageSource, fingerprint

NOW = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
FIXTURES = Path(__file__).parent.parent / "fixtures" / "webpage"
HTML = "text/html; charset=utf-8"


def page(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def make_source(client: httpx.AsyncClient, url: str, **options: Any) -> WebPageSource:
    opts = WebPageOptions(url=url, **options)
    return WebPageSource("forum", opts, client=client, clock=FakeClock(NOW))


async def read(source: WebPageSource, cursor: str | None = None) -> tuple[Batch, list[Mention]]:
    batch = await source.fetch(cursor)
    return batch, [source.normalise(item) for item in batch.items]


class Pages:
    """A route serving whichever fixture is current, with an ETag per fixture."""

    def __init__(self, server: Any, name: str) -> None:
        self.name = name
        self.server = server
        self.url = server.route("/t/42", self.handle)

    def handle(self, h: Any) -> None:
        etag = f'"{self.name}"'
        if h.headers.get("If-None-Match") == etag:
            self.server.reply(h, 304, b"", {"ETag": etag})
        else:
            self.server.reply(h, 200, page(self.name), {"ETag": etag, "Content-Type": HTML})


async def test_first_run_reports_every_block(server: Any, client: httpx.AsyncClient) -> None:
    pages = Pages(server, "thread_v1.html")
    batch, mentions = await read(make_source(client, pages.url))
    assert batch.errors == ()
    texts = [m.text for m in mentions]
    assert texts[0] == "Kettle K-200 review thread"
    assert "Boils in three minutes, which is quick" in texts  # a list item is a block
    assert "Reply" not in texts  # shorter than min_block_chars
    assert len(texts) == 8
    first = mentions[1]
    digest = fingerprint(first.text)[:16]
    assert first.id == f"webpage:{pages.url}#{digest}"
    assert first.url == pages.url
    assert first.title == "Kettle K-200 review thread"
    assert first.author.name == "Forum Staff"
    assert first.published_at == datetime(2026, 1, 10, tzinfo=UTC)  # the page's date
    assert first.seen_at == NOW
    assert first.lang == "en"
    comment = mentions[-1]
    assert comment.raw["part"] == "comments"
    assert comment.author.name == ""  # the page author did not write the comments
    json.dumps(dict(comment.raw))


async def test_new_comment_is_the_only_new_mention(server: Any, client: httpx.AsyncClient) -> None:
    pages = Pages(server, "thread_v1.html")
    source = make_source(client, pages.url)
    first = await source.fetch(None)
    pages.name = "thread_v2.html"
    batch, mentions = await read(source, first.cursor)
    assert [m.text for m in mentions] == [
        "Acme support finally agreed to cover the return shipping for my cracked kettle."
    ]
    assert mentions[0].published_at == NOW  # seen now, not the page's date
    assert batch.items[0].ref.startswith("comment ")
    again = await source.fetch(batch.cursor)  # 304 now
    assert again == Batch((), batch.cursor)


async def test_304_keeps_the_cursor(server: Any, client: httpx.AsyncClient) -> None:
    pages = Pages(server, "thread_v1.html")
    source = make_source(client, pages.url)
    first = await source.fetch(None)
    second = await source.fetch(first.cursor)
    assert second == Batch((), first.cursor)
    assert server.requests[1][1]["If-None-Match"] == '"thread_v1.html"'


async def test_unchanged_page_without_etag_gives_nothing(
    server: Any, client: httpx.AsyncClient
) -> None:
    url = server.static("/p", page("thread_v1.html"), Content_Type=HTML)
    source = make_source(client, url)
    first = await source.fetch(None)
    second = await source.fetch(first.cursor)
    assert second.items == ()
    assert json.loads(second.cursor or "")["seen"] == json.loads(first.cursor or "")["seen"]
    assert "If-None-Match" not in server.requests[1][1]


async def test_hostile_html_never_reaches_the_text(server: Any, client: httpx.AsyncClient) -> None:
    url = server.static("/avis", page("hostile.html"), Content_Type=HTML)
    _, mentions = await read(make_source(client, url))
    text = "\n".join(m.text + m.title for m in mentions)
    assert "d'Acme a répondu en deux jours, cliquez ici pour voir" in text
    for bad in ("alert", "evil", "script", "onload", "javascript", "piégé", "<", "cookie"):
        assert bad not in text
    assert {m.lang for m in mentions} == {"fr"}


async def test_page_without_main_content_is_a_clear_error(
    server: Any, client: httpx.AsyncClient
) -> None:
    url = server.static("/app", page("no_content.html"), Content_Type=HTML)
    with pytest.raises(SourceError, match=r"no main content.*/app.*JavaScript off"):
        await make_source(client, url).fetch(None)


async def test_not_html_is_refused(server: Any, client: httpx.AsyncClient) -> None:
    url = server.static("/doc.pdf", b"%PDF-1.7", Content_Type="application/pdf")
    with pytest.raises(SourceError, match=r"doc.pdf is application/pdf, not an HTML page"):
        await make_source(client, url).fetch(None)


async def test_http_error_names_the_url(server: Any, client: httpx.AsyncClient) -> None:
    url = server.static("/gone", b"no", status=404)
    with pytest.raises(SourceError, match=r"/gone returned HTTP 404; check the URL"):
        await make_source(client, url).fetch(None)


async def test_same_text_twice_is_one_block(server: Any, client: httpx.AsyncClient) -> None:
    body = page("thread_v1.html").replace(
        b'<div class="comment"><p>Reply</p></div>',
        b'<div class="comment"><p>SAME  here, my hinge cracked after two weeks. '
        b"Acme replaced it without fuss though.</p></div>",
    )
    url = server.static("/p", body, Content_Type=HTML)
    _, mentions = await read(make_source(client, url))
    same = [m for m in mentions if "my hinge cracked after two weeks" in m.text]
    assert len(same) == 1
    assert len({m.id for m in mentions}) == len(mentions)


async def test_min_block_chars_option(server: Any, client: httpx.AsyncClient) -> None:
    url = server.static("/p", page("thread_v1.html"), Content_Type=HTML)
    _, mentions = await read(make_source(client, url, min_block_chars=1, lang="br"))
    assert "Reply" in [m.text for m in mentions]
    assert {m.lang for m in mentions} == {"br"}


async def test_cursor_is_bounded_and_keeps_the_current_page(
    server: Any, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webpage, "SEEN_LIMIT", 10)
    url = server.static("/p", page("thread_v1.html"), Content_Type=HTML)
    old = json.dumps({"etag": None, "last_modified": None, "seen": [f"{n:016x}" for n in range(9)]})
    batch = await make_source(client, url).fetch(old)
    seen = json.loads(batch.cursor or "")["seen"]
    assert len(seen) == 10
    assert seen[:2] == [f"{n:016x}" for n in (7, 8)]  # the oldest dropped first
    assert len(batch.items) == 8
    assert all(i.native_id.split("#")[1] in seen for i in batch.items)


async def test_unreadable_cursor_means_first_run(server: Any, client: httpx.AsyncClient) -> None:
    url = server.static("/p", page("thread_v1.html"), Content_Type=HTML)
    for cursor in ("not json", "[1]", '{"seen": 5}'):
        batch = await make_source(client, url).fetch(cursor)
        assert len(batch.items) == 8


def test_options_are_checked() -> None:
    with pytest.raises(pydantic.ValidationError, match="not http or https"):
        WebPageOptions(url="file:///etc/passwd")
    with pytest.raises(pydantic.ValidationError, match="greater than or equal to 300"):
        WebPageOptions(url="https://forum.example/t/1", interval=60)
    with pytest.raises(pydantic.ValidationError, match="Extra inputs"):
        WebPageOptions(url="https://forum.example/t/1", intervall=600)  # type: ignore[call-arg]


def test_registered_as_a_plugin() -> None:
    assert webpage.tocsin_sources() == [WebPageSource]
    classes = source_classes()
    assert classes.get("webpage", WebPageSource) is WebPageSource
