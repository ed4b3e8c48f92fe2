"""`RedditSource` against fake Reddit listings on 127.0.0.1: format, paging, cursor, rate limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pydantic
import pytest

from tocsin.clock import FakeClock
from tocsin.mention import Mention
from tocsin.sources import reddit
from tocsin.sources.base import Batch, SourceError
from tocsin.sources.reddit import USER_AGENT, RedditOptions, RedditSource

FIXTURES = Path(__file__).parent.parent / "fixtures" / "reddit"
NOW = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
T0 = NOW.timestamp() - 3600  # an hour ago: inside the first poll's backfill
NEW = "/r/acme+anvils/new.json"
COMMENTS = "/r/acme+anvils/comments.json"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def make_source(client: httpx.AsyncClient, server: Any, **options: Any) -> RedditSource:
    opts = RedditOptions(base_url=server.url(""), **options)
    return RedditSource("reddit", opts, client=client, clock=FakeClock(NOW))


async def read(source: RedditSource, cursor: str | None = None) -> tuple[Batch, list[Mention]]:
    batch = await source.fetch(cursor)
    return batch, [source.normalise(item) for item in batch.items]


def params(request_path: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(request_path).query).items()}


def listing(children: list[dict[str, Any]], after: str | None) -> bytes:
    data = {"after": after, "dist": len(children), "children": children, "before": None}
    return json.dumps({"kind": "Listing", "data": data}).encode()


class FakeListing:
    """A newest-first Reddit listing of posts that honours ``limit`` and ``after``."""

    def __init__(self, server: Any, path: str) -> None:
        self.posts: list[dict[str, Any]] = []
        self.server = server
        server.route(path, self.handle)

    def add(self, post_id: str, at: float, text: str = "Acme again") -> None:
        self.posts.append(
            {
                "kind": "t3",
                "data": {
                    "id": post_id,
                    "name": f"t3_{post_id}",
                    "title": f"Post {post_id}",
                    "selftext": text,
                    "author": "someone",
                    "subreddit": "acme",
                    "permalink": f"/r/acme/comments/{post_id}/post/",
                    "created_utc": at,
                    "score": 1,
                    "num_comments": 0,
                },
            }
        )

    def handle(self, h: Any) -> None:
        query = params(h.path)
        posts = sorted(self.posts, key=lambda p: -p["data"]["created_utc"])
        names = [p["data"]["name"] for p in posts]
        start = names.index(query["after"]) + 1 if "after" in query else 0
        page = posts[start : start + int(query["limit"])]
        more = start + len(page) < len(posts)
        after = page[-1]["data"]["name"] if page and more else None
        self.server.reply(h, 200, listing(page, after), {"x-ratelimit-remaining": "90"})


async def test_search_posts(server: Any, client: httpx.AsyncClient) -> None:
    server.static("/search.json", fixture("search_new.json"))
    batch, mentions = await read(make_source(client, server, query="Acme"))
    assert batch.errors == ()
    assert [m.id for m in mentions] == ["reddit:t3_1qx7abc", "reddit:t3_1qx6zzz"]  # removed: gone
    post, link = mentions
    assert post.url == (
        "https://www.reddit.com/r/anvils/comments/1qx7abc/acme_anvil_3000_cracked_after_two_days/"
    )
    assert post.title == "Acme Anvil 3000 cracked after two days"
    assert post.text == (
        "Bought the **Acme Anvil 3000** last week.\n\n"
        'The base cracked on day two & support said "wait 6 weeks" <sigh>.'
    )
    assert post.author.handle == "u/coyote_w"
    assert post.author.url == "https://www.reddit.com/user/coyote_w"
    assert (post.metrics.likes, post.metrics.replies) == (57, 14)
    assert post.parent_id is None
    assert post.thread_id == "reddit:t3_1qx7abc"
    assert post.published_at == datetime.fromtimestamp(1769930000, UTC)
    assert post.seen_at == NOW
    assert post.lang is None
    assert post.raw["brand_safety_v3"] == 7  # unknown fields ride along, unused
    assert link.text == link.title == "Acme Corp opens a repair centre in Lyon"
    assert link.raw["url"] == "https://lyon-tribune.example/acme-repair-centre"
    path, headers = server.requests[0]
    assert params(path) == {
        "q": "Acme",
        "sort": "new",
        "type": "link",
        "limit": "100",
        "raw_json": "1",
    }
    assert headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("tocsin/")
    assert "social listening" in USER_AGENT


async def test_subreddit_comments(server: Any, client: httpx.AsyncClient) -> None:
    server.static(NEW, listing([], None))
    server.static(COMMENTS, fixture("subs_comments.json"))
    source = make_source(client, server, subreddits=["acme", "r/anvils"])
    batch, mentions = await read(source)
    assert [m.native_id for m in mentions] == ["t1_kq2c001", "t1_kq2c002"]  # [deleted] skipped
    first, second = mentions
    assert (
        first.text
        == "Same here. Acme replaced mine, but it took a month.\n\n> wait 6 weeks\n\nclassic"
    )
    assert first.title == ""
    assert first.parent_id == first.thread_id == "reddit:t3_1qx7abc"
    assert first.metrics.likes == 12
    assert second.parent_id == "reddit:t1_kq2c001"
    assert second.url == "https://www.reddit.com/r/anvils/comments/1qx7abc/_/kq2c002/"  # built
    (error,) = batch.errors
    assert error.ref.startswith("item 4 of http://127.0.0.1:")
    assert "comments.json" in error.ref
    assert "t1_kq2c004 has no numeric created_utc" in error.error
    assert "lost its timestamp" in error.raw
    assert [urlsplit(p).path for p, _ in server.requests] == [NEW, COMMENTS]


async def test_pagination_and_cursor_resume(server: Any, client: httpx.AsyncClient) -> None:
    posts = FakeListing(server, NEW)
    for n in range(5):
        posts.add(f"p{n}", T0 + 10 * n)
    posts.add("old", NOW.timestamp() - 48 * 3600)  # before the backfill window
    source = make_source(
        client, server, subreddits=["acme", "anvils"], include_comments=False, limit=2
    )
    first, mentions = await read(source)
    assert [m.native_id for m in mentions] == ["t3_p4", "t3_p3", "t3_p2", "t3_p1", "t3_p0"]
    assert [params(p).get("after") for p, _ in server.requests] == [None, "t3_p3", "t3_p1"]
    assert json.loads(first.cursor or "") == {
        "endpoints": {"r/acme+anvils/new": {"created_utc": T0 + 40, "names": ["t3_p4"]}}
    }
    posts.add("p5", T0 + 40)  # same second as the mark, listed late
    posts.add("p6", T0 + 50)
    second, mentions = await read(source, first.cursor)
    assert [m.native_id for m in mentions] == ["t3_p6", "t3_p5"]
    third, mentions = await read(source, second.cursor)
    assert mentions == []
    assert third.cursor == second.cursor


async def test_page_cap_is_reported(server: Any, client: httpx.AsyncClient) -> None:
    posts = FakeListing(server, NEW)
    for n in range(6):
        posts.add(f"p{n}", T0 + n)
    source = make_source(
        client, server, subreddits=["acme", "anvils"], include_comments=False, limit=2, max_pages=2
    )
    batch, _ = await read(source)
    assert len(batch.items) == 4
    (error,) = batch.errors
    assert error.ref == "r/acme+anvils/new"
    assert "raise `max_pages`" in error.error


async def test_requests_are_rate_limited_on_the_clock(
    server: Any, client: httpx.AsyncClient
) -> None:
    server.static("/search.json", listing([], None))
    server.static(NEW, listing([], None))
    server.static(COMMENTS, listing([], None))
    source = make_source(
        client, server, query="Acme", subreddits=["acme", "anvils"], max_requests_per_minute=2
    )
    clock: FakeClock = source.clock  # type: ignore[assignment]
    await source.fetch(None)
    assert clock.sleeps == [60.0]  # the third request waited for the minute to pass
    clock.advance(30)
    await source.fetch(None)
    assert clock.sleeps == [60.0, 30.0, 30.0]  # sliding window: never 3 in 60 s
    assert len(server.requests) == 6


async def test_exhausted_quota_header_blocks_next_request(
    server: Any, client: httpx.AsyncClient
) -> None:
    headers = {"x-ratelimit-remaining": "0.0", "x-ratelimit-reset": "42", "x-ratelimit-used": "10"}
    server.static(NEW, listing([], None), **headers)
    server.static(COMMENTS, listing([], None))
    source = make_source(client, server, subreddits=["acme", "anvils"])
    await source.fetch(None)
    assert source.clock.sleeps == [42.0]  # type: ignore[attr-defined]


async def test_long_quota_wait_is_handed_to_the_backoff(
    server: Any, client: httpx.AsyncClient
) -> None:
    server.static(NEW, listing([], None), x_ratelimit_remaining="0", x_ratelimit_reset="400")
    server.static(COMMENTS, listing([], None))
    source = make_source(client, server, subreddits=["acme", "anvils"])
    with pytest.raises(SourceError, match="budget is spent for 400s") as info:
        await source.fetch(None)
    assert info.value.retry_after == 400


async def test_429_honours_retry_after(server: Any, client: httpx.AsyncClient) -> None:
    server.static(
        "/search.json",
        b'{"message": "Too Many Requests", "error": 429}',
        status=429,
        Retry_After="45",
    )
    source = make_source(client, server, query="Acme")
    with pytest.raises(SourceError, match="HTTP 429") as info:
        await source.fetch(None)
    assert info.value.retry_after == 45


async def test_429_without_retry_after_uses_ratelimit_reset(
    server: Any, client: httpx.AsyncClient
) -> None:
    server.static(NEW, listing([], None), x_ratelimit_remaining="3", x_ratelimit_reset="120")
    server.static(COMMENTS, b'{"message": "Too Many Requests"}', status=429)
    source = make_source(client, server, subreddits=["acme", "anvils"])
    with pytest.raises(SourceError, match=r"HTTP 429.*waiting 120s") as info:
        await source.fetch(None)
    assert info.value.retry_after == 120


async def test_5xx_is_a_source_error(server: Any, client: httpx.AsyncClient) -> None:
    server.static("/search.json", b"<html>all our servers are busy</html>", status=500)
    with pytest.raises(SourceError, match=r"search.json.*HTTP 500"):
        await make_source(client, server, query="Acme").fetch(None)


async def test_timeout_is_a_source_error(server: Any, client: httpx.AsyncClient) -> None:
    server.route("/search.json", lambda h: server.release.wait(10))
    with pytest.raises(SourceError, match=r"timed out.*raise `timeout`"):
        await make_source(client, server, query="Acme", timeout=0.2).fetch(None)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"kind": "Listing", "data": {', r"search.json\?q=Acme.*did not return valid JSON"),
        (b"<!doctype html><title>reddit.com: blocked</title>", "did not return valid JSON"),
        (b'{"kind": "t2", "data": {"name": "x"}}', r"search.json.*not a Reddit Listing"),
    ],
)
async def test_malformed_body_names_the_url(
    server: Any, client: httpx.AsyncClient, body: bytes, message: str
) -> None:
    server.static("/search.json", body)
    with pytest.raises(SourceError, match=message):
        await make_source(client, server, query="Acme").fetch(None)


async def test_unreadable_cursor_starts_over(server: Any, client: httpx.AsyncClient) -> None:
    server.static("/search.json", fixture("search_new.json"))
    source = make_source(client, server, query="Acme")
    for cursor in ("nope", "[]", '{"endpoints": 3}', '{"endpoints": {"search Acme": {}}}'):
        batch = await source.fetch(cursor)
        assert len(batch.items) == 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "nothing to read"),
        ({"query": " "}, "query is blank"),
        ({"subreddits": ["no spaces please"]}, "is not a subreddit name"),
        ({"query": "Acme", "limit": 500}, "less than or equal to 100"),
        ({"query": "Acme", "interval": 5}, "greater than or equal to 60"),
        ({"query": "Acme", "token": "x"}, "Extra inputs are not permitted"),
        ({"query": "Acme", "client_secret": "x"}, "both `client_id` and `client_secret`"),
        ({"query": "Acme", "client_id": "a", "client_secret": "b", "username": "u"}, "go together"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        RedditOptions(**options)


def test_registered_by_hook() -> None:
    assert reddit.tocsin_sources() == [RedditSource]
    assert RedditSource.name == "reddit"
    opts = RedditOptions(subreddits=["/r/France/"])
    assert opts.subreddits == ["France"]
    assert opts.base_url == "https://www.reddit.com"
    assert opts.max_requests_per_minute == 8


async def test_refresh_reads_current_counts_through_api_info(
    server: Any, client: httpx.AsyncClient
) -> None:
    server.static("/api/info.json", fixture("search_new.json"))
    source = make_source(client, server, query="Acme")
    assert source.can_refresh
    items = await source.refresh(["t3_1qx7abc", "t3_1qx6zzz", "not-a-fullname"])
    mentions = [source.normalise(item) for item in items]
    assert [m.id for m in mentions] == ["reddit:t3_1qx7abc", "reddit:t3_1qx6zzz"]
    assert (mentions[0].metrics.likes, mentions[0].metrics.replies) == (57, 14)
    path, _headers = server.requests[0]
    assert params(path)["id"] == "t3_1qx7abc,t3_1qx6zzz"
    assert await source.refresh(["nothing"]) == []
