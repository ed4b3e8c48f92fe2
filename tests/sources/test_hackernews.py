"""`HackerNewsSource` against a fake Algolia HN Search API on 127.0.0.1, misbehaviour included."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pydantic
import pytest

from tocsin.clock import FakeClock
from tocsin.mention import Mention
from tocsin.sources import hackernews
from tocsin.sources.base import Batch, SourceError
from tocsin.sources.hackernews import HackerNewsOptions, HackerNewsSource

FIXTURES = Path(__file__).parent.parent / "fixtures" / "hackernews"
NOW = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
SINCE = int(NOW.timestamp()) - 24 * 3600
PATH = "/api/v1/search_by_date"


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def make_source(client: httpx.AsyncClient, server: Any, **options: Any) -> HackerNewsSource:
    opts = HackerNewsOptions(query="Acme", base_url=server.url("/api/v1"), **options)
    return HackerNewsSource("hn", opts, client=client, clock=FakeClock(NOW))


async def read(source: HackerNewsSource, cursor: str | None = None) -> tuple[Batch, list[Mention]]:
    batch = await source.fetch(cursor)
    return batch, [source.normalise(item) for item in batch.items]


def params(request_path: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(request_path).query).items()}


class FakeAlgolia:
    """Answers ``search_by_date`` from a pool of hits, honouring numericFilters and paging."""

    def __init__(self, server: Any) -> None:
        self.pool: list[dict[str, Any]] = []
        server.route(PATH, self.handle)
        self.server = server

    def add(self, object_id: int, at: int, text: str = "Acme is fine") -> None:
        self.pool.append(
            {
                "created_at_i": at,
                "objectID": str(object_id),
                "author": f"user{object_id}",
                "comment_text": f"<p>{text} #{object_id}</p>",
                "story_id": 1,
                "parent_id": 1,
                "_tags": ["comment", f"author_user{object_id}", "story_1"],
            }
        )

    def handle(self, h: Any) -> None:
        query = params(h.path)
        hits = [hit for hit in self.pool if _matches(hit, query["numericFilters"])]
        hits.sort(key=lambda hit: (-hit["created_at_i"], -int(hit["objectID"])))
        per_page, page = int(query["hitsPerPage"]), int(query["page"])
        body = {
            "hits": hits[page * per_page : (page + 1) * per_page],
            "nbHits": len(hits),
            "page": page,
            "nbPages": math.ceil(len(hits) / per_page),
            "hitsPerPage": per_page,
            "query": query["query"],
        }
        self.server.reply(h, 200, json.dumps(body).encode(), {"Content-Type": "application/json"})


def _matches(hit: dict[str, Any], filters: str) -> bool:
    for condition in filters.split(","):
        if ">=" in condition:
            if hit["created_at_i"] < int(condition.split(">=")[1]):
                return False
        elif "<=" in condition and hit["created_at_i"] > int(condition.split("<=")[1]):
            return False
    return True


def serve_fixture_pages(server: Any) -> None:
    pages = [json.dumps(load("search_page0.json")), json.dumps(load("search_page1.json"))]

    def handler(h: Any) -> None:
        server.reply(h, 200, pages[int(params(h.path)["page"])].encode())

    server.route(PATH, handler)


async def test_first_poll_reads_every_page(server: Any, client: httpx.AsyncClient) -> None:
    serve_fixture_pages(server)
    source = make_source(client, server, hits_per_page=2)
    _, mentions = await read(source)
    assert [m.id for m in mentions] == [
        "hackernews:46100042",
        "hackernews:46100001",
        "hackernews:46099950",
    ]
    comment, story, ask = mentions
    assert comment.url == "https://news.ycombinator.com/item?id=46100042"
    assert (
        comment.text
        == "Acme's new anvil shipped with a cracked base.\nSupport answered in an hour though."
    )
    assert comment.title == ""
    assert comment.author.handle == "quillfeather"
    assert comment.author.url == "https://news.ycombinator.com/user?id=quillfeather"
    assert comment.parent_id == "hackernews:46100007"
    assert comment.thread_id == "hackernews:46100001"
    assert comment.published_at == datetime(2026, 1, 31, 18, 20, 5, tzinfo=UTC)
    assert comment.seen_at == NOW
    assert comment.lang is None
    assert story.title == story.text == "Acme launches the Anvil 3000"
    assert story.metrics.likes == 87
    assert story.metrics.replies == 41
    assert story.parent_id is None
    assert story.thread_id == "hackernews:46100001"
    assert story.raw["url"] == "https://acme.example/blog/anvil-3000"
    assert "_highlightResult" not in story.raw
    assert (
        ask.text == "We run about 40 nodes on Acme Cloud & the bill doubled.\nWhat did you move to?"
    )
    assert ask.title == "Ask HN: Has anyone moved off Acme Cloud?"
    first, second = (params(path) for path, _ in server.requests)
    assert first["query"] == "Acme"
    assert first["tags"] == "(story,comment)"
    assert first["numericFilters"] == f"created_at_i>={SINCE}"
    assert first["hitsPerPage"] == "2"
    assert (first["page"], second["page"]) == ("0", "1")


async def test_bad_hit_is_an_error_and_deleted_hit_is_skipped(
    server: Any, client: httpx.AsyncClient
) -> None:
    serve_fixture_pages(server)
    batch, mentions = await read(make_source(client, server, hits_per_page=2))
    assert "hackernews:46099961" not in {m.id for m in mentions}  # deleted: no error either
    (error,) = batch.errors
    assert error.ref.startswith("hit 3 of http://127.0.0.1:")
    assert "page=1" in error.ref
    assert "no objectID" in error.error
    assert "lost its objectID" in error.raw
    assert error.at == NOW
    assert json.loads(batch.cursor or "") == {
        "created_at_i": 1769883605,
        "ids": ["46100042"],
    }


async def test_hit_without_time_is_an_error_and_keeps_the_rest(
    server: Any, client: httpx.AsyncClient
) -> None:
    good = {"objectID": "7", "created_at_i": SINCE + 9, "author": "a", "title": "Acme up"}
    bad = {"objectID": "8", "author": "b", "comment_text": "Acme, when?", "_tags": ["comment"]}
    body = {"hits": [bad, good], "nbHits": 2, "page": 0, "nbPages": 1, "hitsPerPage": 100}
    server.static(PATH, json.dumps(body).encode())
    batch = await make_source(client, server).fetch(None)
    assert [item.native_id for item in batch.items] == ["7"]
    (error,) = batch.errors
    assert error.ref.startswith("hit 1 of ")
    assert "HN hit 8 has no integer created_at_i" in error.error
    assert json.loads(batch.cursor or "") == {"created_at_i": SINCE + 9, "ids": ["7"]}


async def test_cursor_resumes_without_gaps_or_duplicates(
    server: Any, client: httpx.AsyncClient
) -> None:
    api = FakeAlgolia(server)
    for object_id, at in [(10, SINCE + 100), (11, SINCE + 200), (12, SINCE + 200)]:
        api.add(object_id, at)
    source = make_source(client, server)
    first, mentions = await read(source)
    assert [m.native_id for m in mentions] == ["12", "11", "10"]
    assert json.loads(first.cursor or "") == {"created_at_i": SINCE + 200, "ids": ["11", "12"]}
    api.add(13, SINCE + 200)  # indexed late, in the very second of the mark
    api.add(14, SINCE + 300)
    second, mentions = await read(source, first.cursor)
    assert [m.native_id for m in mentions] == ["14", "13"]
    assert params(server.requests[-1][0])["numericFilters"] == f"created_at_i>={SINCE + 200}"
    third, mentions = await read(source, second.cursor)
    assert mentions == []
    assert third.cursor == second.cursor


async def test_burst_beyond_the_page_cap_is_read_by_later_polls(
    server: Any, client: httpx.AsyncClient
) -> None:
    api = FakeAlgolia(server)
    for n in range(7):
        api.add(100 + n, SINCE + 10 * n)
    source = make_source(client, server, hits_per_page=2, max_pages=2)
    seen: list[str] = []
    batch, mentions = await read(source)
    seen += [m.native_id for m in mentions]
    assert seen == ["106", "105", "104", "103"]
    assert "gap" in json.loads(batch.cursor or "")
    api.add(107, SINCE + 1000)  # arrives during the burst; read once the gap is closed
    for _ in range(3):
        batch, mentions = await read(source, batch.cursor)
        seen += [m.native_id for m in mentions]
    assert sorted(seen) == [str(100 + n) for n in range(8)]
    assert len(seen) == len(set(seen))
    assert json.loads(batch.cursor or "") == {"created_at_i": SINCE + 1000, "ids": ["107"]}


async def test_429_honours_retry_after(server: Any, client: httpx.AsyncClient) -> None:
    server.static(PATH, b'{"message":"slow down"}', status=429, Retry_After="30")
    with pytest.raises(SourceError, match="HTTP 429") as info:
        await make_source(client, server).fetch(None)
    assert info.value.retry_after == 30


async def test_5xx_is_a_source_error(server: Any, client: httpx.AsyncClient) -> None:
    server.static(PATH, b"<html>bad gateway</html>", status=502)
    with pytest.raises(SourceError, match=r"search_by_date.*HTTP 502"):
        await make_source(client, server).fetch(None)


async def test_timeout_is_a_source_error(server: Any, client: httpx.AsyncClient) -> None:
    server.route(PATH, lambda h: server.release.wait(10))
    with pytest.raises(SourceError, match=r"timed out.*raise `timeout`"):
        await make_source(client, server, timeout=0.2).fetch(None)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"hits": [', r"search_by_date\?query=Acme.*did not return valid JSON"),
        (b'{"results": []}', r"search_by_date\?query=Acme.*without a 'hits' list.*base_url"),
        (b"<html>maintenance</html>", "did not return valid JSON"),
    ],
)
async def test_malformed_body_names_the_url(
    server: Any, client: httpx.AsyncClient, body: bytes, message: str
) -> None:
    server.static(PATH, body)
    with pytest.raises(SourceError, match=message):
        await make_source(client, server).fetch(None)


async def test_unreadable_cursor_starts_over(server: Any, client: httpx.AsyncClient) -> None:
    api = FakeAlgolia(server)
    api.add(1, SINCE + 5)
    source = make_source(client, server)
    for cursor in ("not json", "[1]", '{"created_at_i": "yesterday"}', '{"created_at_i": true}'):
        batch = await source.fetch(cursor)
        assert [item.native_id for item in batch.items] == ["1"]
    assert params(server.requests[-1][0])["numericFilters"] == f"created_at_i>={SINCE}"


async def test_stream_waits_the_interval_on_the_clock(
    server: Any, client: httpx.AsyncClient
) -> None:
    api = FakeAlgolia(server)
    api.add(1, SINCE + 5)
    source = make_source(client, server, interval=120)
    stream = source.stream(None)
    first = await anext(stream)
    second = await anext(stream)
    assert [i.native_id for i in first.items] == ["1"]
    assert second.items == ()
    assert source.clock.sleeps == [120]  # type: ignore[attr-defined]
    await stream.aclose()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"query": "  "}, "query is blank"),
        ({"query": "Acme", "interval": 10}, "greater than or equal to 60"),
        ({"query": "Acme", "base_url": "ftp://hn.example"}, "not http or https"),
        ({"query": "Acme", "hits_per_page": 5000}, "less than or equal to 1000"),
        ({"query": "Acme", "querry": "typo"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        HackerNewsOptions(**options)


def test_registered_by_hook() -> None:
    assert hackernews.tocsin_sources() == [HackerNewsSource]
    assert HackerNewsSource.name == "hackernews"
    assert HackerNewsOptions(query="Acme").base_url == "https://hn.algolia.com/api/v1"


# -- engagement refresh --------------------------------------------------------------------


def story(object_id: int, points: int, comments: int) -> dict[str, Any]:
    return {
        "created_at": "2026-01-31T17:02:44.000Z",
        "title": f"Acme story {object_id}",
        "url": "https://acme.example/",
        "author": "roadrunner_fan",
        "points": points,
        "num_comments": comments,
        "story_id": object_id,
        "created_at_i": 1769878964,
        "_tags": ["story", "author_roadrunner_fan", f"story_{object_id}"],
        "objectID": str(object_id),
    }


def serve_stories(server: Any, stories: list[dict[str, Any]]) -> None:
    """Answer ``/search`` with the stories whose ``story_<id>`` tag is asked for."""

    def handler(h: Any) -> None:
        tags = params(h.path)["tags"]
        assert tags.startswith("story,(")
        assert tags.endswith(")")
        wanted = set(tags[len("story,(") : -1].split(","))
        hits = [s for s in stories if f"story_{s['objectID']}" in wanted]
        body = {"hits": hits, "nbHits": len(hits), "page": 0, "nbPages": 1}
        server.reply(h, 200, json.dumps(body).encode(), {"Content-Type": "application/json"})

    server.route("/api/v1/search", handler)


async def test_refresh_reads_current_points_of_stories_in_one_search(
    server: Any, client: httpx.AsyncClient
) -> None:
    dead = story(3, 0, 0) | {"author": None, "title": None}
    serve_stories(server, [story(1, 120, 55), story(2, 9, 1), dead])
    source = make_source(client, server)
    assert source.can_refresh
    items = await source.refresh(["1", "2", "3", "4", "not-a-number"])
    mentions = [source.normalise(item) for item in items]
    assert [m.id for m in mentions] == ["hackernews:1", "hackernews:2"]  # 3 dead, 4 deleted
    assert (mentions[0].metrics.likes, mentions[0].metrics.replies) == (120, 55)
    assert mentions[0].thread_id == "hackernews:1"
    ((path, _headers),) = server.requests
    assert params(path) == {"tags": "story,(story_1,story_2,story_3,story_4)", "hitsPerPage": "4"}
    assert await source.refresh(["x"]) == []
    assert len(server.requests) == 1


async def test_refresh_429_and_5xx_are_source_errors(
    server: Any, client: httpx.AsyncClient
) -> None:
    source = make_source(client, server)
    server.static("/api/v1/search", b"slow down", status=429, Retry_After="30")
    with pytest.raises(SourceError) as caught:
        await source.refresh(["1"])
    assert caught.value.retry_after == 30
    server.static("/api/v1/search", b"oops", status=502)
    with pytest.raises(SourceError, match="502"):
        await source.refresh(["1"])
