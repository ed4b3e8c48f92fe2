"""`XSource` against a fake X API v2 on 127.0.0.1: recent search, rules, the filtered stream."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pydantic
import pytest

from tocsin.clock import FakeClock
from tocsin.mention import Mention
from tocsin.sources import x
from tocsin.sources.base import Batch, SourceError
from tocsin.sources.x import XOptions, XSource, x_query

FIXTURES = Path(__file__).parent.parent / "fixtures" / "x"
NOW = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
TOKEN = "AAAAAAAAAAAAAAAAAAAAAtest%2Fbearer%3Dsecret"
SEARCH = "/2/tweets/search/recent"
STREAM = "/2/tweets/search/stream"
RULES = "/2/tweets/search/stream/rules"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def params(path: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}


def make_source(client: httpx.AsyncClient, server: Any, **options: Any) -> XSource:
    options.setdefault("rules", ["acme"])
    opts = XOptions(base_url=server.url(""), bearer_token=TOKEN, **options)
    return XSource("x", opts, client=client, clock=FakeClock(NOW))


async def read(source: XSource, cursor: str | None = None) -> tuple[Batch, list[Mention]]:
    batch = await source.fetch(cursor)
    return batch, [source.normalise(item) for item in batch.items]


def post(post_id: int, text: str = "acme again") -> dict[str, Any]:
    return {
        "id": str(post_id),
        "text": text,
        "created_at": "2026-02-01T08:00:00.000Z",
        "author_id": "901",
        "public_metrics": {"like_count": 1},
    }


def page(posts: list[dict[str, Any]], **meta: Any) -> bytes:
    users = [{"id": "901", "username": "wile_e", "name": "Wile"}]
    return json.dumps({"data": posts, "includes": {"users": users}, "meta": meta}).encode()


@pytest.fixture
def posts(server: Any) -> dict[str, Any]:
    """Teach the local server POST: routes in the returned dict, bodies in ``bodies``."""
    routes: dict[str, Any] = {"bodies": []}

    def do_post(h: Any) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = json.loads(h.rfile.read(length))
        routes["bodies"].append((h.path, body, dict(h.headers.items())))
        handler = routes.get(h.path)
        if handler is None:
            server.reply(h, 404, b"{}")
        else:
            handler(h, body)

    server.httpd.RequestHandlerClass.do_POST = do_post
    return routes


async def test_recent_search_pages_and_posts(server: Any, client: httpx.AsyncClient) -> None:
    def search(h: Any) -> None:
        second = params(h.path).get("next_token") == "b26v89c19zqg8o3fpzbkk"
        server.reply(h, 200, fixture("recent_page2.json" if second else "recent_page1.json"))

    server.route(SEARCH, search)
    batch, mentions = await read(
        make_source(client, server, query='acme "repair centre"', rules=[])
    )
    assert [m.id for m in mentions] == [
        "x:1888000000000000030",
        "x:1888000000000000020",
        "x:1888000000000000010",
    ]
    first, reply, withheld = mentions
    assert first.url == "https://x.com/wile_e/status/1888000000000000030"
    assert (
        first.text
        == 'Mon enclume @Acme s\'est fendue au bout de deux jours & le SAV dit "6 semaines"'
    )
    assert first.lang == "fr"
    assert first.author.handle == "@wile_e"
    assert (first.author.name, first.author.followers, first.author.verified) == (
        "Wile E. Coyote",
        15200,
        True,
    )
    m = first.metrics
    assert (m.likes, m.reposts, m.replies, m.quotes, m.views) == (57, 12, 4, 2, 4321)
    assert first.thread_id == first.id
    assert first.parent_id is None
    assert first.published_at == datetime(2026, 2, 1, 8, 55, tzinfo=UTC)
    assert first.raw["community_vibe_v3"] == {"score": 0.7}  # unknown fields ride along
    assert reply.parent_id == reply.thread_id == "x:1888000000000000001"  # parent deleted: kept
    assert reply.metrics.views is None
    assert withheld.url == "https://x.com/i/web/status/1888000000000000010"  # author suspended
    assert withheld.author.handle == ""
    assert withheld.lang is None  # "und"
    (error,) = batch.errors
    assert error.ref.startswith("post 3 of http://127.0.0.1:")
    assert "no numeric string id" in error.error
    assert "lost its id" in error.raw
    assert json.loads(batch.cursor or "") == {"newest_id": "1888000000000000030"}
    (p1, headers), (p2, _) = server.requests
    assert params(p1)["query"] == 'acme "repair centre"'
    assert params(p1)["max_results"] == "100"
    assert params(p1)["start_time"] == "2026-01-31T09:00:00Z"
    assert params(p1)["expansions"] == "author_id"
    assert "public_metrics" in params(p1)["tweet.fields"]
    assert "referenced_tweets" in params(p1)["tweet.fields"]
    assert params(p1)["user.fields"] == "username,name,public_metrics,verified"
    assert params(p2)["next_token"] == "b26v89c19zqg8o3fpzbkk"
    assert headers["Authorization"] == f"Bearer {TOKEN}"


async def test_cursor_resumes_with_since_id(server: Any, client: httpx.AsyncClient) -> None:
    stored = [post(105), post(103), post(101)]

    def search(h: Any) -> None:
        since = int(params(h.path).get("since_id", "0"))
        found = [p for p in stored if int(p["id"]) > since]
        newest = {"newest_id": found[0]["id"]} if found else {}
        server.reply(h, 200, page(found, result_count=len(found), **newest))

    server.route(SEARCH, search)
    source = make_source(client, server, rules=["acme", "anvil"])
    first, mentions = await read(source)
    assert [m.native_id for m in mentions] == ["105", "103", "101"]  # one per post, two rules
    stored.insert(0, post(107))
    second, mentions = await read(source, first.cursor)
    assert [m.native_id for m in mentions] == ["107"]
    assert [params(p).get("since_id") for p, _ in server.requests[2:]] == ["105", "105"]
    third, mentions = await read(source, second.cursor)
    assert mentions == []
    assert third.cursor == second.cursor == '{"newest_id": "107"}'


async def test_page_cap_is_reported(server: Any, client: httpx.AsyncClient) -> None:
    server.static(SEARCH, page([post(5)], newest_id="5", next_token="more"))
    batch, _ = await read(make_source(client, server, max_pages=2))
    assert len(server.requests) == 2
    assert "raise `max_pages`" in batch.errors[-1].error


async def test_429_waits_until_rate_limit_reset(server: Any, client: httpx.AsyncClient) -> None:
    reset = str(int(NOW.timestamp()) + 420)
    server.static(SEARCH, b'{"title": "Too Many Requests"}', 429, x_rate_limit_reset=reset)
    with pytest.raises(SourceError, match=r"HTTP 429 \(Too Many Requests\).*waiting 420s") as info:
        await make_source(client, server).fetch(None)
    assert info.value.retry_after == 420


async def test_429_honours_retry_after(server: Any, client: httpx.AsyncClient) -> None:
    server.static(SEARCH, b"{}", 429, Retry_After="33")
    with pytest.raises(SourceError, match="HTTP 429") as info:
        await make_source(client, server).fetch(None)
    assert info.value.retry_after == 33


async def test_5xx_is_a_source_error(server: Any, client: httpx.AsyncClient) -> None:
    server.static(SEARCH, b"<html>over capacity</html>", 503)
    with pytest.raises(SourceError, match=r"search/recent\?.*HTTP 503"):
        await make_source(client, server).fetch(None)


async def test_timeout_is_a_source_error(server: Any, client: httpx.AsyncClient) -> None:
    server.route(SEARCH, lambda h: server.release.wait(10))
    with pytest.raises(SourceError, match=r"timed out.*raise `timeout`"):
        await make_source(client, server, timeout=0.2).fetch(None)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"data": [', r"search/recent\?.*did not return valid JSON"),
        (b'{"data": "nope"}', "`data` is not a list of posts"),
    ],
)
async def test_malformed_body_names_the_url(
    server: Any, client: httpx.AsyncClient, body: bytes, message: str
) -> None:
    server.static(SEARCH, body)
    with pytest.raises(SourceError, match=message):
        await make_source(client, server).fetch(None)


async def test_bad_token_and_access_level_errors_name_the_fix(
    server: Any, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.static(SEARCH, fixture("error_unauthorized.json"), 401)
    source = make_source(client, server)
    with pytest.raises(SourceError, match=r"HTTP 401 \(Unauthorized.*set `bearer_token`") as info:
        await source.fetch(None)
    server.static(SEARCH, fixture("error_client_forbidden.json"), 403)
    with pytest.raises(SourceError, match=r"Client Forbidden.*access level") as forbidden:
        await source.fetch(None)
    for text in (str(info.value), str(forbidden.value), caplog.text, repr(source.options)):
        assert TOKEN not in text
    assert TOKEN not in str(source.options.model_dump())
    assert all(TOKEN not in p for p, _ in server.requests)


async def test_rules_sync_adds_and_deletes_exactly_what_is_needed(
    server: Any, client: httpx.AsyncClient, posts: dict[str, Any]
) -> None:
    server.static(RULES, fixture("rules_list.json"))
    answer = {"data": [], "meta": {"summary": {"created": 1, "not_created": 0}}}
    posts[RULES] = lambda h, body: server.reply(h, 200, json.dumps(answer).encode())
    server.static(STREAM, fixture("error_client_forbidden.json"), 403)
    source = make_source(
        client, server, rules=["acme (refund OR broken)", '"acme anvil"'], stream=True
    )
    with pytest.raises(SourceError, match=r"stream\?.*HTTP 403.*set `stream = false`"):
        await _first_batch(source)
    bodies = [(path, body) for path, body, _ in posts["bodies"]]
    assert bodies == [
        (RULES, {"delete": {"ids": ["1700000000000000002"]}}),  # stale, ours
        (RULES, {"add": [{"value": '"acme anvil"', "tag": "tocsin:x"}]}),  # missing
    ]  # "from:acme" has another tag: untouched
    assert posts["bodies"][0][2]["Authorization"] == f"Bearer {TOKEN}"


async def test_refused_rule_is_named(
    server: Any, client: httpx.AsyncClient, posts: dict[str, Any]
) -> None:
    server.static(RULES, b'{"meta": {"result_count": 0}}')
    answer = {
        "meta": {"summary": {"created": 0, "not_created": 1, "invalid": 1}},
        "errors": [{"value": "acme (", "title": "UnprocessableEntity", "details": ["bad ("]}],
    }
    posts[RULES] = lambda h, body: server.reply(h, 200, json.dumps(answer).encode())
    source = make_source(client, server, rules=["acme ("], stream=True)
    with pytest.raises(SourceError, match=r"refused rule\(s\) 'acme \(': .*fix them in `rules`"):
        await _first_batch(source)


async def _first_batch(source: XSource) -> Batch:
    stream = source.stream(None)
    try:
        batch = await anext(stream)
    finally:
        await stream.aclose()
    return batch


async def test_stream_cut_mid_line_reconnects_and_backfills_the_gap(
    server: Any, client: httpx.AsyncClient, posts: dict[str, Any]
) -> None:
    server.static(RULES, b'{"data": [{"id": "9", "value": "acme", "tag": "tocsin:x"}]}')
    searches: list[str | None] = []

    def search(h: Any) -> None:
        since = params(h.path).get("since_id")
        searches.append(since)
        found = [post(202)] if since == "201" else []  # 202 was lost in the cut
        server.reply(h, 200, page(found, result_count=len(found)))

    connections: list[int] = []

    def stream(h: Any) -> None:
        connections.append(1)
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.end_headers()
        if len(connections) == 1:
            line = json.dumps({"data": post(201), "includes": {"users": []}})
            other = json.dumps({"data": post(200), "matching_rules": [{"id": "1", "tag": "dash"}]})
            h.wfile.write(b"\r\n" + line.encode() + b"\r\n" + other.encode() + b"\r\n")
            h.wfile.write(b"\r\nnot json at all\r\n")
            h.wfile.write(json.dumps({"data": post(202)}).encode()[:25])  # cut mid-line
            h.wfile.flush()
            return
        mine = {"data": post(203), "matching_rules": [{"id": "9", "tag": "tocsin:x"}]}
        h.wfile.write(json.dumps(mine).encode() + b"\r\n")
        h.wfile.flush()
        server.release.wait(10)

    server.route(SEARCH, search)
    server.route(STREAM, stream)
    source = make_source(client, server, stream=True)
    batches: list[Batch] = []
    gen = source.stream(None)
    try:
        async for batch in gen:
            batches.append(batch)
            if any(i.native_id == "203" for i in batch.items):
                break
    finally:
        await gen.aclose()
    ids = [[i.native_id for i in b.items] for b in batches]
    assert ids == [[], ["201"], [], ["202"], ["203"]]  # gap, 201, bad line, gap after cut, 203
    assert "not JSON" in batches[2].errors[0].error
    assert searches == [None, "201"]
    assert batches[-1].cursor == '{"newest_id": "203"}'
    assert source.clock.sleeps == [0.0]  # type: ignore[attr-defined]  # reconnect at once
    assert posts["bodies"] == []  # rules already in place
    stream_path = next(p for p, _ in server.requests if urlsplit(p).path == STREAM)
    assert params(stream_path)["expansions"] == "author_id"


def test_backoff_follows_x_policy() -> None:
    from tocsin.sources.x_stream import Backoff

    backoff = Backoff()
    cut = SourceError("cut")
    assert [backoff.delay(cut, None, None) for _ in range(3)] == [0.0, 0.25, 0.5]
    assert [backoff.delay(cut, 503, None) for _ in range(8)] == [5, 10, 20, 40, 80, 160, 320, 320]
    assert backoff.delay(cut, 429, 600.0) == 600
    assert backoff.delay(cut, 429, None) == 120
    backoff.reset()
    assert backoff.delay(cut, None, None) == 0.0


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("acme", "acme"),
        ('acme AND ("service client" OR refund) -job', 'acme ("service client" OR refund) -job'),
        ("acme NOT (job OR hiring)", "acme -(job OR hiring)"),
        ("#BoycottAcme OR @acme", "#BoycottAcme OR @acme"),
    ],
)
def test_query_translation(query: str, expected: str) -> None:
    assert x_query(query) == expected


@pytest.mark.parametrize("query", ["rembours*", "acme NEAR/5 panne", "{Orange}", "lang:fr acme"])
def test_untranslatable_query_points_to_rules(query: str) -> None:
    with pytest.raises(ValueError, match="write the X search in `rules`"):
        x_query(query)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rules": ["acme"]}, "bearer_token"),
        ({"bearer_token": TOKEN}, "nothing to search"),
        ({"bearer_token": TOKEN, "query": " "}, "query is blank"),
        ({"bearer_token": TOKEN, "query": "acme*"}, "`rules`"),
        ({"bearer_token": TOKEN, "rules": ["a" * 600]}, "over `max_rule_length`"),
        ({"bearer_token": TOKEN, "rules": ["a"], "token": "x"}, "Extra inputs"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message) as info:
        XOptions(**options)
    assert TOKEN not in str(info.value)


def test_registered_by_hook() -> None:
    assert x.tocsin_sources() == [XSource]
    assert XSource.name == "x"
    assert XSource.zero_config(["acme"]) == []
    opts = XOptions(bearer_token=TOKEN, query="acme", rules=["acme", "from:acme"])
    assert opts.x_queries() == ["acme", "from:acme"]
    assert opts.base_url == "https://api.x.com"
    assert opts.stream is False


# -- engagement refresh --------------------------------------------------------------------

LOOKUP = "/2/tweets"


async def test_refresh_looks_posts_up_by_id_and_skips_deleted_ones(
    server: Any, client: httpx.AsyncClient
) -> None:
    server.static(LOOKUP, fixture("lookup_partial.json"))
    source = make_source(client, server)
    assert source.can_refresh
    items = await source.refresh(["1885000000000000101", "1885000000000000102", "bad"])
    (mention,) = [source.normalise(item) for item in items]  # ...102 was deleted
    assert mention.id == "x:1885000000000000101"
    assert (mention.metrics.likes, mention.metrics.reposts, mention.metrics.views) == (
        230,
        12,
        18044,
    )
    assert mention.author.followers == 4200
    ((path, headers),) = server.requests
    asked = params(path)
    assert asked["ids"] == "1885000000000000101,1885000000000000102"
    assert "public_metrics" in asked["tweet.fields"]
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert await source.refresh(["nope"]) == []


async def test_refresh_of_only_deleted_posts_is_empty(
    server: Any, client: httpx.AsyncClient
) -> None:
    gone = json.loads(fixture("lookup_partial.json"))
    del gone["data"], gone["includes"]
    server.static(LOOKUP, json.dumps(gone).encode())
    assert await make_source(client, server).refresh(["1885000000000000102"]) == []


async def test_refresh_429_and_5xx_are_source_errors(
    server: Any, client: httpx.AsyncClient
) -> None:
    source = make_source(client, server)
    reset = str(int(NOW.timestamp()) + 90)
    server.static(LOOKUP, b'{"title": "Too Many Requests"}', 429, x_rate_limit_reset=reset)
    with pytest.raises(SourceError, match="HTTP 429") as info:
        await source.refresh(["1"])
    assert info.value.retry_after == 90
    server.static(LOOKUP, b"over capacity", 503)
    with pytest.raises(SourceError, match=r"/2/tweets\?ids=1.*HTTP 503"):
        await source.refresh(["1"])
