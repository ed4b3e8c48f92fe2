"""`MastodonSource` against a local Mastodon-speaking server: REST timelines, search and SSE."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pydantic
import pytest

from tocsin.clock import FakeClock
from tocsin.mention import Mention
from tocsin.sources.base import Batch, SourceError
from tocsin.sources.mastodon import MastodonOptions, MastodonSource, id_key, tocsin_sources
from tocsin.sources.mastodon_status import read_cursor

FIXTURES = Path(__file__).parent.parent / "fixtures" / "mastodon"
NOW = datetime(2026, 1, 21, 8, 0, tzinfo=UTC)
TOKEN = "tok-9f8e7d6c5b4a-SECRET"
TAG = "/api/v1/timelines/tag/moonbeam"
STREAM = "/api/v1/streaming/hashtag"
URI_1 = "https://toot.example/users/ines/statuses/113500000000000103"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


def make(client: httpx.AsyncClient, *instances: str, **options: Any) -> MastodonSource:
    options.setdefault("hashtags", ["moonbeam"])
    opts = MastodonOptions(instances=list(instances), **options)
    return MastodonSource("fedi", opts, client=client, clock=FakeClock(NOW))


def query(path: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}


def requests_to(server: Any, path: str) -> list[tuple[dict[str, str], dict[str, str]]]:
    return [(query(p), h) for p, h in server.requests if urlsplit(p).path == path]


def mentions(source: MastodonSource, batch: Batch) -> dict[str, Mention]:
    return {m.native_id: m for m in (source.normalise(item) for item in batch.items)}


def timeline(server: Any, path: str, pages: dict[str | None, list[Any]]) -> None:
    """Serve `pages[min_id]` (None: no min_id) at `path`; unknown min_id: an empty page."""

    def handler(h: Any) -> None:
        server.reply(h, 200, body(pages.get(query(h.path).get("min_id"), [])))

    server.route(path, handler)


def sse(server: Any, path: str, connections: list[bytes]) -> None:
    """Stream `connections[n]` on the n-th connection, then close; later ones hold open."""
    count = {"n": 0}

    def handler(h: Any) -> None:
        n, count["n"] = count["n"], count["n"] + 1
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.end_headers()
        if n < len(connections):
            h.wfile.write(connections[n])
            h.wfile.flush()
        else:
            server.release.wait(10)

    server.route(path, handler)


async def collect(
    source: MastodonSource,
    cursor: str | None,
    want: set[str],
    until: Callable[[dict[str, Mention]], bool] = lambda seen: True,
) -> tuple[list[Batch], dict[str, Mention]]:
    """Read the live stream until every uri in `want` was seen and `until` holds (10 s at most)."""
    stream: AsyncIterator[Batch] = source.stream(cursor)
    batches: list[Batch] = []
    seen: dict[str, Mention] = {}
    try:
        async with asyncio.timeout(10):
            while not (want <= seen.keys() and until(seen)):
                batch = await anext(stream)
                batches.append(batch)
                seen.update(mentions(source, batch))
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    return batches, seen


# -- options -------------------------------------------------------------------------------


def test_options_defaults_and_validation() -> None:
    opts = MastodonOptions(hashtags=["#Moonbeam", "moonbeam", "bikes"])
    assert opts.instances == ["https://mastodon.social"]
    assert opts.hashtags == ["Moonbeam", "bikes"]
    assert (opts.stream, opts.interval, opts.public, opts.query) == (True, 120.0, False, None)
    with pytest.raises(pydantic.ValidationError, match="something to listen to"):
        MastodonOptions()
    with pytest.raises(pydantic.ValidationError, match="needs `access_token`"):
        MastodonOptions(query="moonbeam bikes")
    with pytest.raises(pydantic.ValidationError, match="not a hashtag"):
        MastodonOptions(hashtags=["two words"])
    with pytest.raises(pydantic.ValidationError, match="greater than or equal to 30"):
        MastodonOptions(hashtags=["a"], interval=5)
    with pytest.raises(pydantic.ValidationError, match="not http or https"):
        MastodonOptions(hashtags=["a"], instances=["ftp://toot.example"])
    with pytest.raises(pydantic.ValidationError, match="extra"):
        MastodonOptions(hashtags=["a"], acess_token="typo")


def test_token_hidden_in_repr() -> None:
    opts = MastodonOptions(query="moonbeam", access_token=TOKEN)
    assert TOKEN not in repr(opts)
    assert TOKEN not in str(opts)
    assert TOKEN not in opts.model_dump_json()


def test_registered_by_hook() -> None:
    assert tocsin_sources() == [MastodonSource]
    assert MastodonSource.name == "mastodon"


def test_id_order() -> None:
    ids = ["99", "113500000000000103", "100", "113500000000000099"]
    assert sorted(ids, key=id_key) == ["99", "100", "113500000000000099", "113500000000000103"]


# -- REST ----------------------------------------------------------------------------------


async def test_hashtag_first_run(server: Any, client: httpx.AsyncClient) -> None:
    timeline(server, f"/a{TAG}", {None: fixture("tag_moonbeam.json")})
    source = make(client, server.url("/a"))
    batch = await source.fetch(None)
    assert batch.errors == ()
    ((params, _headers),) = requests_to(server, f"/a{TAG}")
    assert params == {"limit": "40"}  # first run: the latest page, no min_id
    got = mentions(source, batch)
    first = got[URI_1]
    assert first.id == f"mastodon:{URI_1}"
    assert first.url == "https://toot.example/@ines/113500000000000103"
    assert first.author.handle == "@ines@127.0.0.1"  # local account: the instance's domain
    assert first.author.name == "Inès Marchal"
    assert first.author.followers == 1520
    assert first.author.verified is True  # a verified profile link
    assert first.title == "Bike review"
    assert (
        first.text
        == "Picked up my new #moonbeam cargo bike today. The brakes squeal though.\nAnyone else?"
    )
    assert first.lang == "en"
    assert (first.metrics.likes, first.metrics.reposts, first.metrics.replies) == (7, 3, 2)
    assert first.metrics.quotes == 1
    assert first.published_at == datetime(2026, 1, 20, 10, 15, 30, tzinfo=UTC)
    assert first.seen_at == NOW
    assert first.parent_id is None
    assert first.raw["id"] == "113500000000000103"
    assert read_cursor(batch.cursor) == {(server.url("/a"), "tag:moonbeam"): "113500000000000103"}


async def test_hostile_html_unknown_fields_and_parent(
    server: Any, client: httpx.AsyncClient
) -> None:
    timeline(server, f"/a{TAG}", {None: fixture("tag_moonbeam.json")})
    source = make(client, server.url("/a"))
    reply = mentions(source, await source.fetch(None))[
        "https://bikes.example/users/odile/statuses/9931"
    ]
    assert reply.text == "#moonbeam support answered in 5 minutes click& fixed it"
    assert "script" not in reply.text
    assert "alert" not in reply.text
    assert reply.author.handle == "@odile@bikes.example"
    assert reply.author.name == "Odile Rider"  # bidi override removed
    assert reply.author.verified is False
    assert reply.lang == "fr"
    assert reply.metrics.quotes == 0  # null count
    assert reply.raw["a_field_from_mastodon_9"] == {"nested": ["never", "seen"]}  # kept, unused
    # its parent is in the same page: the parent's own mention id
    assert reply.parent_id == "mastodon:https://toot.example/users/ines/statuses/113500000000000101"


async def test_unknown_parent_gets_instance_id(server: Any, client: httpx.AsyncClient) -> None:
    page = fixture("tag_moonbeam.json")[1:2]
    timeline(server, f"/a{TAG}", {None: page})
    source = make(client, server.url("/a"))
    (reply,) = mentions(source, await source.fetch(None)).values()
    assert reply.parent_id == "mastodon:127.0.0.1/113500000000000101"


async def test_restart_resumes_from_cursor(server: Any, client: httpx.AsyncClient) -> None:
    page = fixture("tag_moonbeam.json")
    newer = dict(page[0], id="113500000000000110", uri=URI_1 + "0", url=None)
    timeline(server, f"/a{TAG}", {None: page, "113500000000000103": [newer]})
    first = await make(client, server.url("/a")).fetch(None)
    # a new process: a fresh source given only the stored cursor
    source = make(client, server.url("/a"))
    second = await source.fetch(first.cursor)
    params = [p for p, _ in requests_to(server, f"/a{TAG}")]
    assert params[-1] == {"limit": "40", "min_id": "113500000000000103"}
    assert [i.native_id for i in second.items] == [URI_1 + "0"]
    assert not {i.native_id for i in first.items} & {i.native_id for i in second.items}
    assert mentions(source, second)[URI_1 + "0"].url == URI_1 + "0"  # no url: the uri
    third = await source.fetch(second.cursor)
    assert third.items == ()
    assert read_cursor(third.cursor) == read_cursor(second.cursor)


async def test_pages_until_caught_up(server: Any, client: httpx.AsyncClient) -> None:
    base = fixture("tag_moonbeam.json")[0]

    def status(n: int) -> dict[str, Any]:
        return dict(base, id=str(1000 + n), uri=f"https://toot.example/s/{n}")

    full = [status(n) for n in range(40, 0, -1)]  # newest first, as Mastodon sends
    timeline(server, f"/a{TAG}", {"1000": full, "1040": [status(41)]})
    batch = await make(client, server.url("/a")).fetch(
        json.dumps({"newest": {server.url("/a"): {"tag:moonbeam": "1000"}}})
    )
    assert len(batch.items) == 41
    assert read_cursor(batch.cursor)[(server.url("/a"), "tag:moonbeam")] == "1041"


async def test_same_post_via_two_instances_is_one_mention(
    server: Any, client: httpx.AsyncClient
) -> None:
    timeline(server, f"/a{TAG}", {None: fixture("tag_moonbeam.json")})
    timeline(server, f"/b{TAG}", {None: fixture("tag_moonbeam_other_instance.json")})
    source = make(client, server.url("/a"), server.url("/b"))
    batch = await source.fetch(None)
    ids = [item.native_id for item in batch.items]
    assert len(ids) == len(set(ids)) == 3  # b's post and reblog are a's first and third posts
    got = mentions(source, batch)
    assert got[URI_1].author.handle == "@ines@127.0.0.1"
    assert got[URI_1].metrics.likes == 9  # the last version read wins
    assert read_cursor(batch.cursor) == {
        (server.url("/a"), "tag:moonbeam"): "113500000000000103",
        (server.url("/b"), "tag:moonbeam"): "220000000000000556",  # the reblog's own id
    }


async def test_bad_status_is_an_ingest_error(server: Any, client: httpx.AsyncClient) -> None:
    page = fixture("tag_moonbeam.json")
    no_uri = dict(page[1], uri=None)
    timeline(server, f"/a{TAG}", {None: [page[0], "not a status", no_uri, page[2]]})
    source = make(client, server.url("/a"))
    batch = await source.fetch(None)
    assert len(batch.items) == 2
    refs = [e.ref for e in batch.errors]
    url = server.url(f"/a{TAG}?limit=40")
    assert refs == [f"status 2 of {url}", f"status 3 of {url}"]
    assert "not a status object" in batch.errors[0].error
    assert batch.errors[0].raw == '"not a status"'
    assert "no 'uri'" in batch.errors[1].error
    assert "9931" in batch.errors[1].raw


async def test_429_retry_after(server: Any, client: httpx.AsyncClient) -> None:
    server.static(f"/a{TAG}", b'{"error":"Too many requests"}', 429, Retry_After="90")
    with pytest.raises(SourceError, match="HTTP 429") as info:
        await make(client, server.url("/a")).fetch(None)
    assert info.value.retry_after == 90


async def test_5xx_and_bad_json(server: Any, client: httpx.AsyncClient) -> None:
    server.static(f"/a{TAG}", b"oops", 502)
    with pytest.raises(SourceError, match="HTTP 502"):
        await make(client, server.url("/a")).fetch(None)
    server.static(f"/a{TAG}", b"<html>maintenance</html>")
    with pytest.raises(SourceError, match="did not return JSON"):
        await make(client, server.url("/a")).fetch(None)


async def test_timeout(server: Any, client: httpx.AsyncClient) -> None:
    server.route(f"/a{TAG}", lambda h: server.release.wait(10))
    with pytest.raises(SourceError, match="timed out"):
        await make(client, server.url("/a"), timeout=0.2).fetch(None)


async def test_one_failing_instance_keeps_the_others(
    server: Any, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    timeline(server, f"/a{TAG}", {None: fixture("tag_moonbeam.json")})
    server.static(f"/b{TAG}", b"down", 503)
    cursor = json.dumps({"newest": {server.url("/b"): {"tag:moonbeam": "5"}}})
    batch = await make(client, server.url("/a"), server.url("/b")).fetch(cursor)
    assert len(batch.items) == 3
    assert read_cursor(batch.cursor)[(server.url("/b"), "tag:moonbeam")] == "5"  # kept
    assert "HTTP 503" in caplog.text


async def test_public_needs_token(server: Any, client: httpx.AsyncClient) -> None:
    server.static(
        "/a/api/v1/timelines/public",
        b'{"error":"This method requires an authenticated user"}',
        422,
    )
    source = make(client, server.url("/a"), hashtags=[], public=True)
    with pytest.raises(SourceError, match="set `access_token`"):
        await source.fetch(None)


async def test_search_sends_token_to_first_instance_only(
    server: Any, client: httpx.AsyncClient
) -> None:
    server.static("/a/api/v2/search", body(fixture("search_moonbeam.json")))
    timeline(server, f"/a{TAG}", {None: []})
    timeline(server, f"/b{TAG}", {None: []})
    source = make(client, server.url("/a"), server.url("/b"), query="moonbeam", access_token=TOKEN)
    batch = await source.fetch(None)
    assert [i.native_id for i in batch.items] == [URI_1]
    ((params, headers),) = requests_to(server, "/a/api/v2/search")
    assert params == {"q": "moonbeam", "type": "statuses", "limit": "40"}
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert requests_to(server, f"/a{TAG}")[0][1]["Authorization"] == f"Bearer {TOKEN}"
    assert "Authorization" not in requests_to(server, f"/b{TAG}")[0][1]
    assert read_cursor(batch.cursor)[(server.url("/a"), "search:moonbeam")] == URI_1.rsplit("/")[-1]


async def test_token_never_in_logs_or_errors(
    server: Any, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.static("/a/api/v2/search", b'{"error":"The access token is invalid"}', 401)
    source = make(client, server.url("/a"), hashtags=[], query="moonbeam", access_token=TOKEN)
    with pytest.raises(SourceError) as info:
        await source.fetch(None)
    assert "access_token" in str(info.value)
    texts = [str(info.value), repr(info.value), caplog.text, repr(source.options)]
    texts += [str(exc) for exc in (info.value.__cause__, info.value.__context__) if exc]
    assert not [t for t in texts if TOKEN in t]


# -- streaming -----------------------------------------------------------------------------

URI_4 = "https://bikes.example/users/odile/statuses/9940"
URI_5 = "https://toot.example/users/ines/statuses/113500000000000105"


def status(n: int) -> dict[str, Any]:
    return dict(fixture("tag_moonbeam.json")[0], id=str(n), uri=f"https://toot.example/s/{n}")


def cursor_at(instance: str, newest: str) -> str:
    return json.dumps({"v": 1, "newest": {instance: {"tag:moonbeam": newest}}})


async def test_stream_updates_edits_deletes_heartbeats(
    server: Any, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    timeline(server, f"/a{TAG}", {})
    sse(server, f"/a{STREAM}", [(FIXTURES / "stream_hashtag.txt").read_bytes()])
    source = make(client, server.url("/a"), access_token=TOKEN)
    batches, seen = await collect(
        source,
        cursor_at(server.url("/a"), "113500000000000103"),
        {URI_4, URI_5},
        until=lambda seen: "completely" in seen[URI_4].text,
    )
    assert seen[URI_4].text == "Second ride on the #moonbeam: squeal completely gone."  # edit
    assert seen[URI_5].text == "Thanks #moonbeam!"  # data spread over several lines
    assert [e for b in batches for e in b.errors] == []  # delete, announcement: skipped
    newest = read_cursor(batches[-1].cursor)[(server.url("/a"), "tag:moonbeam")]
    assert newest == "113500000000000105"
    (params, headers), *_ = requests_to(server, f"/a{STREAM}")
    assert params == {"tag": "moonbeam"}
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    # caught up by REST from the cursor once connected
    assert requests_to(server, f"/a{TAG}")[0][0]["min_id"] == "113500000000000103"
    assert TOKEN not in caplog.text


async def test_stream_cut_mid_message_resumes_by_rest(
    server: Any, client: httpx.AsyncClient
) -> None:
    complete = b"event: update\ndata: " + body(status(1001)) + b"\n\n"
    partial = b"event: update\ndata: " + body(status(1002))[:60]
    sse(server, f"/a{STREAM}", [b":thump\n\n" + complete + partial])
    timeline(server, f"/a{TAG}", {"1001": [status(1002)]})
    source = make(client, server.url("/a"))
    batches, _seen = await collect(
        source,
        cursor_at(server.url("/a"), "1000"),
        {"https://toot.example/s/1001", "https://toot.example/s/1002"},
    )
    assert [e for b in batches for e in b.errors] == []  # the partial event is not an error
    min_ids = [p.get("min_id") for p, _ in requests_to(server, f"/a{TAG}")]
    assert min_ids[:2] == ["1000", "1001"]  # resumed after the last complete event
    assert len(requests_to(server, f"/a{STREAM}")) >= 2
    assert source.clock.sleeps[0] == 2.0  # type: ignore[attr-defined]  # backoff, fake clock
    assert read_cursor(batches[-1].cursor)[(server.url("/a"), "tag:moonbeam")] == "1002"
    # a restart from that cursor asks only for what is newer
    assert (await make(client, server.url("/a")).fetch(batches[-1].cursor)).items == ()
    assert requests_to(server, f"/a{TAG}")[-1][0]["min_id"] == "1002"


async def test_stream_malformed_event_is_an_ingest_error(
    server: Any, client: httpx.AsyncClient
) -> None:
    good = b"event: update\ndata: " + body(status(1001)) + b"\n\n"
    sse(server, f"/a{STREAM}", [b"event: update\ndata: {not json\n\n" + good])
    timeline(server, f"/a{TAG}", {})
    source = make(client, server.url("/a"))
    batches, _seen = await collect(
        source, cursor_at(server.url("/a"), "1000"), {"https://toot.example/s/1001"}
    )
    (error,) = [e for b in batches for e in b.errors]
    assert error.ref == f"update event on {server.url(f'/a{STREAM}?tag=moonbeam')}"
    assert error.raw == "{not json"
    assert "not JSON" in error.error


async def test_stream_refused_falls_back_to_polling(
    server: Any, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    server.static(f"/a{STREAM}", b'{"error":"Missing access token"}', 401)
    timeline(server, f"/a{TAG}", {None: fixture("tag_moonbeam.json")})
    source = make(client, server.url("/a"))
    _batches, seen = await collect(source, None, {URI_1})
    assert seen[URI_1].author.handle == "@ines@127.0.0.1"
    assert "Missing access token" in caplog.text
    assert "polling every 120s instead" in caplog.text
    assert len(requests_to(server, f"/a{STREAM}")) == 1  # not retried


async def test_stream_429_waits_retry_after(server: Any, client: httpx.AsyncClient) -> None:
    calls = {"n": 0}
    good = b"event: update\ndata: " + body(status(1001)) + b"\n\n"

    def handler(h: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            server.reply(h, 429, b"{}", {"Retry-After": "60"})
            return
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.end_headers()
        h.wfile.write(good)
        server.release.wait(10)

    server.route(f"/a{STREAM}", handler)
    timeline(server, f"/a{TAG}", {})
    source = make(client, server.url("/a"))
    await collect(source, cursor_at(server.url("/a"), "1000"), {"https://toot.example/s/1001"})
    assert source.clock.sleeps[0] == 60  # type: ignore[attr-defined]


async def test_stream_false_polls_every_interval(server: Any, client: httpx.AsyncClient) -> None:
    timeline(server, f"/a{TAG}", {None: fixture("tag_moonbeam.json")})
    source = make(client, server.url("/a"), stream=False, interval=45)
    stream = source.stream(None)
    first = await anext(stream)
    second = await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]
    assert len(first.items) == 3
    assert second.items == ()
    assert source.clock.sleeps == [45]  # type: ignore[attr-defined]
    assert requests_to(server, f"/a{STREAM}") == []


# -- engagement refresh --------------------------------------------------------------------


def local_status(server: Any, local_id: str, **fields: Any) -> dict[str, Any]:
    """The first fixture status, as its own instance (the local server) serves it."""
    status = dict(fixture("tag_moonbeam.json")[0])
    base = server.url("")
    status |= {
        "id": local_id,
        "uri": f"{base}/users/ines/statuses/{local_id}",
        "url": f"{base}/@ines/{local_id}",
        **fields,
    }
    return status


async def test_refresh_reads_each_status_on_its_instance(
    server: Any, client: httpx.AsyncClient
) -> None:
    base = server.url("")
    fresh = local_status(server, "101", favourites_count=70, reblogs_count=9, replies_count=4)
    reply = local_status(server, "102", in_reply_to_id="100", in_reply_to_account_id="4101")
    parent = local_status(server, "100")
    for status in (fresh, reply, parent):
        server.static(f"/api/v1/statuses/{status['id']}", body(status))
    server.static("/api/v1/statuses/103", b'{"error": "Record not found"}', 404)
    source = make(client, base, access_token="sekret-token")
    assert source.can_refresh
    uris = [
        fresh["uri"],
        reply["uri"],
        f"{base}/users/ines/statuses/103",  # deleted
        "https://misskey.example/notes/9abc",  # not a Mastodon URI: never asked
        "http://elsewhere.example/users/x/statuses/1",  # plain http, not configured: refused
        "https://10.0.0.1/users/x/statuses/1",  # an IP literal: refused
    ]
    items = await source.refresh(uris)
    by_id = {m.native_id: m for m in (source.normalise(i) for i in items)}
    assert list(by_id) == [fresh["uri"], reply["uri"]]
    counts = by_id[fresh["uri"]].metrics
    assert (counts.likes, counts.reposts, counts.replies) == (70, 9, 4)
    assert by_id[reply["uri"]].parent_id == f"mastodon:{parent['uri']}"  # read from the instance
    asked = sorted(urlsplit(p).path for p, _ in server.requests)
    assert asked == [f"/api/v1/statuses/{n}" for n in ("100", "101", "102", "103")]
    assert all(h["Authorization"] == "Bearer sekret-token" for _, h in server.requests)


async def test_refresh_raises_only_when_nothing_could_be_read(
    server: Any, client: httpx.AsyncClient
) -> None:
    base = server.url("")
    source = make(client, base)
    server.static("/api/v1/statuses/1", b"{}", 429, Retry_After="40")
    server.static("/api/v1/statuses/2", b"down", 502)
    uris = [f"{base}/users/a/statuses/1", f"{base}/users/a/statuses/2"]
    with pytest.raises(SourceError) as info:
        await source.refresh(uris)
    assert info.value.retry_after == 40
    server.static("/api/v1/statuses/3", body(local_status(server, "3")))
    items = await source.refresh([*uris, f"{base}/users/ines/statuses/3"])
    assert [i.native_id for i in items] == [f"{base}/users/ines/statuses/3"]  # others skipped
    assert "Authorization" not in server.requests[-1][1]  # no token configured
