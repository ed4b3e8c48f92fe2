"""`FacebookPageSource` against a fake Graph API on 127.0.0.1: paging, resume, errors, secrecy."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx
import pydantic
import pytest

from tocsin.clock import FakeClock
from tocsin.mention import Mention
from tocsin.sources import facebook
from tocsin.sources.base import Batch, SourceError
from tocsin.sources.facebook import FacebookOptions, FacebookPageSource, GraphError

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
TOKEN = "EAAB-test-page-token-SECRET"
FIXTURES = Path(__file__).parent.parent / "fixtures" / "facebook"
FEED = "/v21.0/104857600/feed"
COMMENTS = "/v21.0/104857600_2001/comments"


def doc(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


class Graph:
    """A fake Graph API: serves documents by path, checks the token travels in the header."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.docs: dict[str, Any] = {
            FEED: doc("feed_page1.json"),
            FEED + "?after": doc("feed_page2.json"),
            COMMENTS: doc("post_2001_comments_page2.json"),
        }
        self.headers: dict[str, str] = {}
        for path in (FEED, COMMENTS):
            server.route(path, self.handle)

    def handle(self, h: Any) -> None:
        path, _, query = h.path.partition("?")
        key = path + ("?after" if path == FEED and "after=" in query else "")
        if h.headers.get("Authorization") != f"Bearer {TOKEN}" or "access_token" in query:
            self.server.reply(h, 400, b'{"error": {"message": "token in URL", "code": 1}}')
            return
        status = 200 if "suppress_http_code=1" in query else 400
        body = json.dumps(self.docs[key]).encode()
        self.server.reply(h, status, body, {"Content-Type": "application/json", **self.headers})

    @property
    def base_url(self) -> str:
        return str(self.server.url(""))


def make_source(base_url: str, client: httpx.AsyncClient, **options: Any) -> FacebookPageSource:
    opts = FacebookOptions(page_id="104857600", page_token=TOKEN, base_url=base_url, **options)
    return FacebookPageSource("acme-fb", opts, client=client, clock=FakeClock(NOW))


async def read(
    source: FacebookPageSource, cursor: str | None = None
) -> tuple[Batch, list[Mention]]:
    batch = await source.fetch(cursor)
    return batch, [source.normalise(item) for item in batch.items]


async def test_comments_with_paging(server: Any, client: httpx.AsyncClient) -> None:
    graph = Graph(server)
    batch, mentions = await read(make_source(graph.base_url, client))
    assert batch.errors == ()
    assert [m.id for m in mentions] == [
        "facebook:2001_3005",
        "facebook:2001_3004",
        "facebook:2001_3001",  # from the second comments page
        "facebook:1999_2990",  # from the second feed page
    ]  # 2001_3003 has no message (deleted): skipped; 2001_3000 is older than the backfill
    first = mentions[0]
    assert first.source == "facebook"
    assert first.url == "https://www.facebook.com/acmekettles/posts/2001?comment_id=3005"
    assert first.text == "Mine arrived with a cracked lid hinge. Not happy."
    assert first.author.name == "Maud Ferrier"
    assert (first.metrics.likes, first.metrics.replies) == (12, 1)
    assert first.published_at == datetime(2026, 11, 24, 8, 50, tzinfo=UTC)
    assert first.seen_at == NOW
    assert first.parent_id == "facebook:104857600_2001"  # a top-level comment: the post
    assert first.thread_id == "facebook:104857600_2001"
    reply = mentions[1]
    assert reply.author.name == ""  # no `from` without pages_read_user_content
    assert reply.parent_id == "facebook:2001_3001"
    assert reply.raw.get("is_hidden_by_moderator_v2") is None
    assert first.raw["is_hidden_by_moderator_v2"] is False  # an unknown field is just kept
    paths = [p for p, _ in server.requests]
    assert len(paths) == 3
    assert all("access_token" not in p and "suppress_http_code=1" in p for p in paths)
    assert "since=" in paths[0]
    assert "comments.filter(stream).order(reverse_chronological)" in unquote(paths[0])


async def test_include_posts(server: Any, client: httpx.AsyncClient) -> None:
    graph = Graph(server)
    source = make_source(graph.base_url, client, include_posts=True, backfill_hours=24 * 7)
    _, mentions = await read(source)
    posts = [m for m in mentions if m.parent_id is None]
    assert [m.id for m in posts] == [
        "facebook:104857600_2001",
        "facebook:104857600_2000",
        "facebook:104857600_1999",
    ]
    assert posts[0].metrics.replies == 5  # comments.summary.total_count
    assert posts[0].url == "https://www.facebook.com/acmekettles/posts/2001"
    assert "facebook:2001_3000" in {m.id for m in mentions}  # within 7 days now


async def test_resume_without_gap_nor_duplicate(server: Any, client: httpx.AsyncClient) -> None:
    graph = Graph(server)
    source = make_source(graph.base_url, client)
    first = await source.fetch(None)
    cursor = json.loads(first.cursor or "")
    assert cursor["mark"] == datetime(2026, 11, 24, 8, 50, tzinfo=UTC).timestamp()
    assert "2001_3005" in cursor["seen"]
    comments = graph.docs[FEED]["data"][0]["comments"]["data"]
    late = {"id": "2001_3006", "message": "Shown late by Facebook, written at 08:45.",
            "created_time": "2026-11-24T08:45:00+0000"}  # fmt: skip
    new = {"id": "2001_3007", "message": "Any news on the hinge recall?",
           "created_time": "2026-11-24T09:03:00+0000"}  # fmt: skip
    comments[:0] = [new]
    comments.insert(2, late)
    source.clock.advance(300)  # type: ignore[attr-defined]
    second, mentions = await read(source, first.cursor)
    assert [m.id for m in mentions] == ["facebook:2001_3007", "facebook:2001_3006"]
    third = await source.fetch(second.cursor)
    assert third.items == ()


async def test_unreadable_cursor_starts_from_backfill(
    server: Any, client: httpx.AsyncClient
) -> None:
    graph = Graph(server)
    for cursor in ("not json", "[]", '{"mark": "x", "seen": {}}'):
        batch = await make_source(graph.base_url, client).fetch(cursor)
        assert len(batch.items) == 4


async def error_source(
    server: Any, client: httpx.AsyncClient, body: bytes, status: int = 200, **headers: str
) -> FacebookPageSource:
    server.static(FEED, body, status=status, Content_Type="application/json", **headers)
    return make_source(server.url(""), client)


async def test_expired_token(server: Any, client: httpx.AsyncClient) -> None:
    body = (FIXTURES / "error_token_expired.json").read_bytes()
    source = await error_source(server, client, body)
    with pytest.raises(GraphError, match=r"error 190/463.*renew it.*/me/accounts") as info:
        await source.fetch(None)
    assert info.value.code == 190
    assert info.value.retry_after is None


async def test_rate_limit_waits_what_the_usage_header_says(
    server: Any, client: httpx.AsyncClient
) -> None:
    usage = {"104857600": [{"type": "pages", "call_count": 100, "total_cputime": 20,
                            "total_time": 25, "estimated_time_to_regain_access": 7}]}  # fmt: skip
    body = (FIXTURES / "error_rate_limit.json").read_bytes()
    headers = {"X-Business-Use-Case-Usage": json.dumps(usage)}
    source = await error_source(server, client, body, **headers)
    with pytest.raises(GraphError, match=r"rate limited.*waits 420s") as info:
        await source.fetch(None)
    assert info.value.retry_after == 420


async def test_rate_limit_without_header_waits_300s(server: Any, client: httpx.AsyncClient) -> None:
    body = b'{"error": {"message": "(#4) Application request limit reached", "code": 4}}'
    source = await error_source(server, client, body, X_App_Usage='{"call_count": 100}')
    with pytest.raises(GraphError) as info:
        await source.fetch(None)
    assert info.value.retry_after == 300


async def test_missing_permission_is_named(server: Any, client: httpx.AsyncClient) -> None:
    body = (FIXTURES / "error_permission.json").read_bytes()
    source = await error_source(server, client, body)
    with pytest.raises(GraphError, match=r"pages_read_engagement.*pages_read_user_content"):
        await source.fetch(None)


@pytest.mark.parametrize("status", [500, 502])
async def test_server_error(server: Any, client: httpx.AsyncClient, status: int) -> None:
    source = await error_source(server, client, b"<html>oops</html>", status=status)
    with pytest.raises(SourceError, match=rf"HTTP {status}.*Facebook is failing"):
        await source.fetch(None)


async def test_timeout(server: Any, client: httpx.AsyncClient) -> None:
    server.route(FEED, lambda h: server.release.wait(10))
    source = make_source(server.url(""), client, timeout=0.2)
    with pytest.raises(SourceError, match=r"timed out.*raise `timeout`"):
        await source.fetch(None)


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"paging": {}}'])
async def test_malformed_json(server: Any, client: httpx.AsyncClient, body: bytes) -> None:
    source = await error_source(server, client, body)
    with pytest.raises(SourceError, match=r"valid JSON|not an object|without a 'data' list"):
        await source.fetch(None)


async def test_bad_entries_are_errors_not_failures(server: Any, client: httpx.AsyncClient) -> None:
    graph = Graph(server)
    comments = graph.docs[FEED]["data"][0]["comments"]["data"]
    comments.insert(0, {"id": "2001_3010", "message": "no time"})
    comments.insert(0, "not an object")
    batch = await make_source(graph.base_url, client).fetch(None)
    assert len(batch.items) == 4
    assert [e.error for e in batch.errors] == [
        "entry is not a JSON object",
        "created_time None is not a Graph API time",
    ]


async def test_token_never_leaks(
    server: Any, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    leak = {"error": {"message": f"bad token {TOKEN} at https://x/?access_token={TOKEN}",
                      "code": 190}}  # fmt: skip
    source = await error_source(server, client, json.dumps(leak).encode())
    assert TOKEN not in repr(source.options)
    assert TOKEN not in str(source.options)
    with pytest.raises(GraphError) as info:
        await source.fetch(None)
    assert TOKEN not in str(info.value)
    assert "[page_token]" in str(info.value)
    assert info.value.__cause__ is None
    graph = Graph(server)
    batch = await make_source(graph.base_url, client).fetch(None)
    text = json.dumps([dict(i.payload) for i in batch.items]) + (batch.cursor or "")
    assert TOKEN not in text
    assert TOKEN not in caplog.text
    assert all(TOKEN not in p for p, _ in server.requests)


def test_options_are_checked() -> None:
    with pytest.raises(pydantic.ValidationError, match="greater than or equal to 60"):
        FacebookOptions(page_id="1", page_token=TOKEN, interval=10)
    with pytest.raises(pydantic.ValidationError, match="api_version"):
        FacebookOptions(page_id="1", page_token=TOKEN, api_version="21")
    with pytest.raises(pydantic.ValidationError, match="page_id"):
        FacebookOptions(page_id="1/../me", page_token=TOKEN)
    with pytest.raises(pydantic.ValidationError, match="page_token"):
        FacebookOptions(page_id="1")  # type: ignore[call-arg]


def test_registered_as_a_plugin() -> None:
    assert facebook.tocsin_sources() == [FacebookPageSource]


# -- engagement refresh --------------------------------------------------------------------


class GraphIds:
    """``GET /v21.0/?ids=…``: posts and comments by id; an unknown id fails the whole request
    with Graph's error 803, as Graph does."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.objects = doc("ids_posts.json") | doc("ids_comments.json")
        self.asked: list[dict[str, str]] = []
        server.route("/v21.0/", self.handle)

    def handle(self, h: Any) -> None:
        query = dict(parse_qsl(urlsplit(h.path).query))
        self.asked.append(query)
        assert h.headers.get("Authorization") == f"Bearer {TOKEN}"
        ids = query["ids"].split(",")
        missing = [i for i in ids if i not in self.objects]
        if missing:
            error = doc("error_aliases_missing.json")
            error["error"]["message"] = error["error"]["message"].replace("2001_3099", missing[0])
            body = error
        else:
            body = {i: self.objects[i] for i in ids}
        self.server.reply(h, 200, json.dumps(body).encode(), {"Content-Type": "application/json"})


async def test_refresh_reads_posts_and_comments_by_id(
    server: Any, client: httpx.AsyncClient
) -> None:
    graph = GraphIds(server)
    source = make_source(server.url(""), client)
    assert source.can_refresh
    items = await source.refresh(["104857600_2001", "2001_3005", "2001_3099", "not an id"])
    post, comment = [source.normalise(item) for item in items]  # 2001_3099 was deleted
    assert post.id == "facebook:104857600_2001"
    assert (post.metrics.likes, post.metrics.reposts, post.metrics.replies) == (412, 37, 58)
    assert post.url == "https://www.facebook.com/acmekettles/posts/2001"
    assert comment.id == "facebook:2001_3005"
    assert (comment.metrics.likes, comment.metrics.replies) == (19, 6)
    assert comment.thread_id == comment.parent_id == "facebook:104857600_2001"
    asked = [(q["ids"], q["fields"].split(",")[0]) for q in graph.asked]
    assert asked == [
        ("104857600_2001", "id"),
        ("2001_3005,2001_3099", "id"),
        ("2001_3005", "id"),  # asked again without the deleted comment
    ]
    assert "reactions.limit(0).summary(true)" in graph.asked[0]["fields"]
    assert "like_count" in graph.asked[1]["fields"]
    assert all("access_token" not in q for q in graph.asked)


async def test_refresh_looks_up_the_numeric_id_of_a_named_page_once(
    server: Any, client: httpx.AsyncClient
) -> None:
    GraphIds(server)
    server.static("/v21.0/acmekettles", b'{"id": "104857600"}')
    opts = FacebookOptions(page_id="acmekettles", page_token=TOKEN, base_url=server.url(""))
    source = FacebookPageSource("acme-fb", opts, client=client, clock=FakeClock(NOW))
    for _ in range(2):
        items = await source.refresh(["104857600_2001"])
        assert [i.payload["kind"] for i in items] == ["post"]
    assert [p.split("?")[0] for p, _ in server.requests].count("/v21.0/acmekettles") == 1


async def test_refresh_errors(server: Any, client: httpx.AsyncClient) -> None:
    source = make_source(server.url(""), client)
    server.static("/v21.0/", (FIXTURES / "error_rate_limit.json").read_bytes())
    with pytest.raises(GraphError, match="rate limited") as limited:
        await source.refresh(["2001_3005"])
    assert limited.value.retry_after == 300
    server.static("/v21.0/", b"{}", status=429, Retry_After="25")
    with pytest.raises(SourceError, match="HTTP 429") as info:
        await source.refresh(["2001_3005"])
    assert info.value.retry_after == 25
    server.static("/v21.0/", b"<html>oops</html>", status=503)
    with pytest.raises(SourceError, match="HTTP 503"):
        await source.refresh(["2001_3005"])
