"""`RssSource` end to end against feeds served from 127.0.0.1, hostile feeds included."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pydantic
import pytest

from tocsin.clock import FakeClock
from tocsin.mention import Mention
from tocsin.plugins import source_classes
from tocsin.sources.base import Batch, SourceError
from tocsin.sources.rss import FeedError, RssOptions, RssSource, google_news_url

NOW = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
Bytes = Callable[[str], bytes]


def make_source(client: httpx.AsyncClient, url: str, **options: Any) -> RssSource:
    return RssSource("feed", RssOptions(url=url, **options), client=client, clock=FakeClock(NOW))


async def read(source: RssSource, cursor: str | None = None) -> tuple[Batch, list[Mention]]:
    batch = await source.fetch(cursor)
    return batch, [source.normalise(item) for item in batch.items]


async def serve(server: Any, client: httpx.AsyncClient, body: bytes, **headers: str) -> RssSource:
    url = server.static("/feed", body, **headers)
    return make_source(client, url)


async def test_rss2(server: Any, client: httpx.AsyncClient, fixture_bytes: Bytes) -> None:
    source = await serve(
        server, client, fixture_bytes("rss2.xml"), Content_Type="application/rss+xml"
    )
    batch, mentions = await read(source)
    assert batch.errors == ()
    first, second = mentions
    assert first.id == "rss:https://gazette.example/2026/01/cafes-lunaires"
    assert first.source == "rss"
    assert first.url == "https://gazette.example/2026/01/cafes-lunaires"
    assert first.title == "Les Cafés Lunaires ouvrent une boutique"
    assert first.text == "Les Cafés Lunaires ouvrent rue des Ormes.\nInauguration samedi."
    assert first.author.name == "Odile Ferrand"
    assert first.published_at == datetime(2026, 1, 5, 8, 30, tzinfo=UTC)
    assert first.seen_at == NOW
    assert first.lang == "fr"
    assert first.raw["id"] == "gazette-1001"
    json.dumps(dict(first.raw))  # JSON-safe
    assert second.published_at == NOW  # no date: seen now
    assert batch.items[0].ref == f"entry 1 of {source.options.url}"


async def test_atom(server: Any, client: httpx.AsyncClient, fixture_bytes: Bytes) -> None:
    source = await serve(server, client, fixture_bytes("atom.xml"))
    _, mentions = await read(source)
    assert [m.native_id for m in mentions] == [
        "https://blog.widgetworks.example/posts/springs",
        "https://blog.widgetworks.example/posts/4-2",
    ]
    assert mentions[0].title == "Why our widgets <3 springs"
    assert mentions[0].text == "Springs are great."
    assert mentions[0].author.name == "Priya Quill"
    assert mentions[0].published_at == datetime(2026, 1, 9, 13, 15, tzinfo=UTC)
    assert mentions[1].published_at == datetime(2026, 1, 11, 10, 0, tzinfo=UTC)  # updated
    assert {m.lang for m in mentions} == {"en"}


async def test_rss1(server: Any, client: httpx.AsyncClient, fixture_bytes: Bytes) -> None:
    source = await serve(server, client, fixture_bytes("rss1.xml"))
    _, mentions = await read(source)
    assert [m.title for m in mentions] == ["The great teapot race", "Umbrella amnesty"]
    assert mentions[0].published_at == datetime(2026, 1, 2, 7, 0, tzinfo=UTC)
    assert mentions[0].author.name == "Almanac Staff"


async def test_json_feed(server: Any, client: httpx.AsyncClient, fixture_bytes: Bytes) -> None:
    body = fixture_bytes("feed.json")
    source = await serve(server, client, body, Content_Type="application/feed+json")
    batch, mentions = await read(source)
    assert [m.id for m in mentions] == ["rss:https://moss-stone.example/episodes/12", "rss:ep-11"]
    assert mentions[0].text == "All about lichens."  # script dropped
    assert mentions[0].author.name == "Rowan Tarn"
    assert mentions[1].author.name == "Moss & Stone"  # feed author
    assert mentions[0].lang == "en"
    assert [e.ref for e in batch.errors] == [
        f"entry 3 of {source.options.url}",
        f"entry 4 of {source.options.url}",
    ]
    assert "not an object" in batch.errors[0].error
    assert "no link, no guid and no title" in batch.errors[1].error
    assert "an item with no id" in batch.errors[1].raw


async def test_lang_option_overrides_feed(
    server: Any, client: httpx.AsyncClient, fixture_bytes: Bytes
) -> None:
    url = server.static("/feed", fixture_bytes("rss2.xml"))
    _, mentions = await read(make_source(client, url, lang="br"))
    assert {m.lang for m in mentions} == {"br"}


async def test_conditional_get_and_304(
    server: Any, client: httpx.AsyncClient, fixture_bytes: Bytes
) -> None:
    body = fixture_bytes("atom.xml")
    state = {"calls": 0}

    def handler(h: Any) -> None:
        state["calls"] += 1
        if h.headers.get("If-None-Match") == '"v7"':
            server.reply(h, 304, b"", {"ETag": '"v7"'})
        else:
            server.reply(
                h, 200, body, {"ETag": '"v7"', "Last-Modified": "Sat, 10 Jan 2026 12:00:00 GMT"}
            )

    source = make_source(client, server.route("/feed", handler))
    first = await source.fetch(None)
    assert len(first.items) == 2
    assert json.loads(first.cursor or "") == {
        "etag": '"v7"',
        "last_modified": "Sat, 10 Jan 2026 12:00:00 GMT",
    }
    second = await source.fetch(first.cursor)
    assert second == Batch((), first.cursor)
    headers = server.requests[1][1]
    assert headers["If-Modified-Since"] == "Sat, 10 Jan 2026 12:00:00 GMT"
    assert state["calls"] == 2


async def test_unreadable_cursor_is_ignored(
    server: Any, client: httpx.AsyncClient, fixture_bytes: Bytes
) -> None:
    source = await serve(server, client, fixture_bytes("atom.xml"))
    for cursor in ("not json", "[1]", '{"etag": 5}'):
        batch = await source.fetch(cursor)
        assert len(batch.items) == 2
    assert "If-None-Match" not in server.requests[-1][1]


async def test_malformed_xml_keeps_entries_before_the_break(
    server: Any, client: httpx.AsyncClient, fixture_bytes: Bytes
) -> None:
    source = await serve(server, client, fixture_bytes("malformed.xml"))
    _, mentions = await read(source)
    assert [m.title for m in mentions][:2] == ["Good one", "Good two"]
    assert mentions[0].text == "fine"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32-le"])
async def test_billion_laughs_is_refused_quickly(
    server: Any, client: httpx.AsyncClient, fixture_bytes: Bytes, encoding: str
) -> None:
    text = fixture_bytes("billion_laughs.xml").decode()
    text = text.replace('<?xml version="1.0"?>', f'<?xml version="1.0" encoding="{encoding}"?>')
    source = await serve(server, client, text.encode(encoding))
    started = time.monotonic()
    with pytest.raises(FeedError, match=r"refuses to expand.*billion laughs"):
        await source.fetch(None)
    assert time.monotonic() - started < 2


async def test_external_entities_are_dropped_not_resolved(
    server: Any, client: httpx.AsyncClient, fixture_bytes: Bytes
) -> None:
    source = await serve(server, client, fixture_bytes("xxe.xml"))
    _, (m,) = await read(source)
    assert m.url == "https://xxe.example/1"
    assert "root:" not in m.title
    assert m.title.startswith("leak")


async def test_xhtml_entity_set_doctype_is_removed_and_feed_kept(
    server: Any, client: httpx.AsyncClient, fixture_bytes: Bytes
) -> None:
    source = await serve(server, client, fixture_bytes("xhtml_entities.xml"))
    _, (m,) = await read(source)
    assert m.title == "Café news"


async def test_simple_entities_are_not_expanded_nor_fatal(
    server: Any, client: httpx.AsyncClient, fixture_bytes: Bytes
) -> None:
    source = await serve(server, client, fixture_bytes("simple_entity.xml"))
    _, mentions = await read(source)
    assert mentions[0].url == "https://ent.example/1"


async def test_latin1_without_declaration_gives_usable_text(
    server: Any, client: httpx.AsyncClient, fixture_bytes: Bytes
) -> None:
    source = await serve(server, client, fixture_bytes("latin1_undeclared.xml"))
    _, mentions = await read(source)
    assert mentions[0].title == "Crème brûlée à volonté"
    assert mentions[0].text == "Délicieux"


async def test_wrong_declared_encoding_gives_usable_text(
    server: Any, client: httpx.AsyncClient, fixture_bytes: Bytes
) -> None:
    body = fixture_bytes("wrong_declared_utf8.xml")
    source = await serve(server, client, body, Content_Type="application/xml; charset=utf-8")
    _, mentions = await read(source)
    assert mentions[0].title == "Noël à Brumeville"


async def test_http_charset_is_honoured(server: Any, client: httpx.AsyncClient) -> None:
    body = "<rss version='2.0'><channel><title>t</title><item><title>Žluťoučký kůň</title>"
    body += "<link>https://cz.example/1</link></item></channel></rss>"
    source = await serve(
        server, client, body.encode("cp1250"), Content_Type="text/xml; charset=windows-1250"
    )
    _, mentions = await read(source)
    assert mentions[0].title == "Žluťoučký kůň"


async def test_duplicates_and_missing_guids(
    server: Any, client: httpx.AsyncClient, fixture_bytes: Bytes
) -> None:
    source = await serve(server, client, fixture_bytes("duplicates.xml"))
    batch, mentions = await read(source)
    assert [m.title for m in mentions] == ["First", "No guid", "Only a title", "Last"]
    assert mentions[1].url == "https://dupes.example/2"
    assert mentions[2].native_id.startswith("sha256:")
    assert mentions[2].url == ""
    assert len({m.id for m in mentions}) == 4
    (error,) = batch.errors
    assert error.ref == f"entry 7 of {source.options.url}"
    assert "nothing identifies it" in error.error
    assert "nothing identifies me" in error.raw
    assert error.at == NOW


async def test_hostile_html_is_stripped_to_text(
    server: Any, client: httpx.AsyncClient, fixture_bytes: Bytes
) -> None:
    source = await serve(server, client, fixture_bytes("hostile_html.xml"))
    _, (first, second) = await read(source)
    assert first.title == "Click me"
    assert first.text == "Hello world\nlink&é☃"
    for word in ("script", "cookie", "alert", "onerror", "frame text", "obj"):
        assert word not in first.text
    assert second.id == "rss:hostile-2"  # javascript: link dropped, guid used
    assert second.url == ""


async def test_not_a_feed_is_a_clear_error(server: Any, client: httpx.AsyncClient) -> None:
    source = await serve(server, client, b"<html><body>Just a page</body></html>")
    with pytest.raises(FeedError, match="is not a readable feed"):
        await source.fetch(None)
    source = await serve(server, client, b"{not json", Content_Type="application/json")
    with pytest.raises(FeedError, match="is not valid JSON"):
        await source.fetch(None)


async def test_http_failures_surface_as_source_errors(
    server: Any, client: httpx.AsyncClient
) -> None:
    url = server.static("/busy", b"", status=429, Retry_After="60")
    with pytest.raises(SourceError) as info:
        await make_source(client, url).fetch(None)
    assert info.value.retry_after == 60
    url = server.route("/hang", lambda h: server.release.wait(10))
    with pytest.raises(SourceError, match="timed out"):
        await make_source(client, url, timeout=0.2).fetch(None)
    url = server.static("/small", b"<rss>" + b" " * 2000, Content_Type="application/xml")
    with pytest.raises(SourceError, match="body exceeds 1000 bytes"):
        await make_source(client, url, max_bytes=1000).fetch(None)


async def test_stream_polls_every_interval(
    server: Any, client: httpx.AsyncClient, fixture_bytes: Bytes
) -> None:
    source = await serve(server, client, fixture_bytes("atom.xml"))
    stream = source.stream(None)
    await anext(stream)
    await anext(stream)
    assert source.clock.sleeps == [900.0]  # type: ignore[attr-defined]


def test_options_validation() -> None:
    with pytest.raises(pydantic.ValidationError, match="not http or https"):
        RssOptions(url="file:///etc/passwd")
    with pytest.raises(pydantic.ValidationError, match="greater than or equal to 60"):
        RssOptions(url="https://x.example/feed", interval=5)
    with pytest.raises(pydantic.ValidationError, match="Extra inputs"):
        RssOptions(url="https://x.example/feed", intervall=900)  # type: ignore[call-arg]


def test_registered_describe_and_google_news(client: httpx.AsyncClient) -> None:
    assert source_classes()["rss"] is RssSource
    source = RssSource(
        "gn",
        RssOptions(url=google_news_url('"Cafés Lunaires" OR lunaires.example')),
        client=client,
        clock=FakeClock(),
    )
    assert source.describe() == (
        "https://news.google.com/rss/search?q=%22Caf%C3%A9s+Lunaires%22+OR+lunaires.example"
        "&hl=fr&gl=FR&ceid=FR%3Afr"
    )
    assert "Google Alerts" in RssSource.description
