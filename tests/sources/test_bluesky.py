"""Bluesky: Jetstream over a real local WebSocket server, the AppView over a local HTTP server.

Time is driven by `FakeClock` (reconnect backoff, cache expiry) or by `SteppedClock`, whose
sleeps wait until the test moves time on (batching by size and by time).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import ValidationError
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from tocsin.clock import FakeClock
from tocsin.sources import bluesky
from tocsin.sources.atproto_profiles import ProfileResolver
from tocsin.sources.base import Batch, RawItem, SourceError
from tocsin.sources.bluesky import BlueskyOptions, BlueskySource, subscribe_url

FIXTURES = Path(__file__).parent.parent / "fixtures" / "bluesky"
T0 = 1767225600_000000  # 2026-01-01T00:00:00Z, the FakeClock's start
ALICE = "did:plc:tocsinfictionalalice0001"
BRUNO = "did:plc:tocsinfictionalbruno0002"
CHLOE = "did:plc:tocsinfictionalchloe0003"


def post_id(did: str, rkey: str) -> str:
    return f"at://{did}/app.bsky.feed.post/{rkey}"


def fixture_lines() -> list[str]:
    return (FIXTURES / "events.jsonl").read_text(encoding="utf-8").splitlines()


def post_line(n: int, did: str = ALICE, seconds: float | None = None) -> str:
    """A fictional post create event, `n` seconds after T0 unless told."""
    time_us = T0 + int((n if seconds is None else seconds) * 1_000_000)
    return json.dumps(
        {
            "did": did,
            "time_us": time_us,
            "kind": "commit",
            "commit": {
                "rev": f"3lrev{n:05d}",
                "operation": "create",
                "collection": "app.bsky.feed.post",
                "rkey": f"3lpost{n:05d}",
                "record": {"$type": "app.bsky.feed.post", "text": f"post {n}", "langs": ["en"]},
                "cid": f"bafyfictional{n}",
            },
        }
    )


class SteppedClock(FakeClock):
    """A FakeClock whose `sleep` waits until the test advances time past its deadline."""

    def __init__(self) -> None:
        super().__init__()
        self._waiters: list[tuple[datetime, asyncio.Future[None]]] = []
        self.waiting = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        deadline = self.now() + timedelta(seconds=max(0.0, seconds))
        if deadline <= self.now():
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((deadline, future))
        self.waiting.set()
        await future

    async def sleeper(self) -> None:
        """Return once some task sleeps on this clock (10 s of real time at most)."""
        async with asyncio.timeout(10):
            while not any(not future.done() for _, future in self._waiters):
                self.waiting.clear()
                await self.waiting.wait()

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        for deadline, future in list(self._waiters):
            if deadline <= self.now() or future.done():
                self._waiters.remove((deadline, future))
                if not future.done():
                    future.set_result(None)


@dataclass
class Plan:
    """What the fake Jetstream does on one connection: send `count` events, then `end`."""

    count: int | None = None
    end: str = "hold"  # hold (stay open), close (normal close), cut (mid-message), reject (503)


class Jetstream:
    """A Jetstream-like server on 127.0.0.1: replays its events from the asked cursor."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.paths: list[str] = []
        self.plans: deque[Plan] = deque()
        self.release = asyncio.Event()
        self.server: Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/subscribe"

    def _events_from(self, path: str) -> list[str]:
        query = parse_qs(urlsplit(path).query)
        cursor = int(query["cursor"][0]) if "cursor" in query else None
        out = []
        for line in self.lines:
            try:
                time_us = json.loads(line)["time_us"]
            except (ValueError, KeyError, TypeError):
                time_us = None
            if cursor is None or time_us is None or time_us >= cursor:
                out.append(line)
        return out

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.plans and self.plans[0].end == "reject":
            self.plans.popleft()
            self.paths.append(request.path)
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "busy\n")
        return None

    async def handler(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request else ""
        self.paths.append(path)
        plan = self.plans.popleft() if self.plans else Plan()
        for line in self._events_from(path)[: plan.count]:
            await ws.send(line)
        if plan.end == "cut":  # a text frame announcing 100 bytes, of which 20 arrive
            ws.transport.write(b"\x81\x64" + b'{"did":"did:plc:cut"')
            ws.transport.close()
            return
        if plan.end == "close":
            await ws.close()
            return
        await self.release.wait()


@pytest.fixture
async def jetstream() -> AsyncIterator[Jetstream]:
    js = Jetstream(fixture_lines())
    js.server = await serve(js.handler, "127.0.0.1", 0, process_request=js.process_request)
    yield js
    js.release.set()
    js.server.close()
    await js.server.wait_closed()


class AppView:
    """getProfiles and searchPosts routes on the shared local HTTP server."""

    def __init__(self, server: Any) -> None:
        self.server = server
        views = json.loads((FIXTURES / "profiles.json").read_text(encoding="utf-8"))["profiles"]
        self.profiles = {v["did"]: v for v in views}
        self.profile_status = 200
        self.profile_calls: list[list[str]] = []
        self.search_status = 200
        self.search_queries: list[dict[str, list[str]]] = []
        server.route("/xrpc/app.bsky.actor.getProfiles", self._profiles)
        server.route("/xrpc/app.bsky.feed.searchPosts", self._search)

    @property
    def url(self) -> str:
        return str(self.server.url(""))

    def _profiles(self, handler: BaseHTTPRequestHandler) -> None:
        actors = parse_qs(urlsplit(handler.path).query).get("actors", [])
        self.profile_calls.append(actors)
        if self.profile_status != 200:
            self.server.reply(
                handler,
                self.profile_status,
                b'{"error":"RateLimitExceeded"}',
                {"Retry-After": "120"},
            )
            return
        body = {"profiles": [self.profiles[a] for a in actors if a in self.profiles]}
        self.server.reply(
            handler, 200, json.dumps(body).encode(), {"Content-Type": "application/json"}
        )

    def _search(self, handler: BaseHTTPRequestHandler) -> None:
        query = parse_qs(urlsplit(handler.path).query)
        self.search_queries.append(query)
        if self.search_status != 200:
            self.server.reply(handler, self.search_status, b'{"error":"AuthMissing"}')
            return
        name = "search_page2.json" if query.get("cursor") == ["25"] else "search_page1.json"
        self.server.reply(
            handler, 200, (FIXTURES / name).read_bytes(), {"Content-Type": "application/json"}
        )


@pytest.fixture
def appview(server: Any) -> AppView:
    return AppView(server)


def make_source(
    instances: list[str], client: httpx.AsyncClient, clock: FakeClock, appview_url: str, **opts: Any
) -> BlueskySource:
    options = BlueskyOptions(
        instances=instances, appview_url=appview_url, **{"resolve_authors": True, **opts}
    )
    return BlueskySource("bsky", options, client=client, clock=clock)


async def collect(
    stream: AsyncIterator[Batch], until: Callable[[list[Batch]], bool]
) -> list[Batch]:
    """Batches from `stream` until `until(batches)` holds (10 s of real time at most)."""
    batches: list[Batch] = []
    async with asyncio.timeout(10):
        async for batch in stream:
            batches.append(batch)
            if until(batches):
                break
    return batches


def ids(batches: list[Batch]) -> list[str]:
    return [item.native_id for batch in batches for item in batch.items]


def has_items(n: int) -> Callable[[list[Batch]], bool]:
    return lambda batches: len(set(ids(batches))) >= n


@pytest.fixture
def closed_port_url() -> str:
    """A ws:// URL on which nothing listens (connection refused)."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"ws://127.0.0.1:{port}/subscribe"


# --- events to mentions ----------------------------------------------------------------------


async def test_jetstream_events_become_mentions(
    jetstream: Jetstream, appview: AppView, client: httpx.AsyncClient
) -> None:
    clock = FakeClock()
    source = make_source([jetstream.url], client, clock, appview.url)
    stream = source.stream(None)
    batches = await collect(stream, lambda b: b[-1].cursor == str(T0 + 5_000_000))
    await stream.aclose()  # type: ignore[attr-defined]
    found = {item.native_id: source.normalise(item) for b in batches for item in b.items}
    assert set(found) == {
        post_id(ALICE, "3lfakepost0001"),
        post_id(BRUNO, "3lfakepost0002"),
        post_id(CHLOE, "3lfakepost0003"),
        post_id(CHLOE, "3lfakepost0004"),
    }  # identity, account and delete events make no mention
    assert not [e for b in batches for e in b.errors]
    reply_post = found[post_id(BRUNO, "3lfakepost0002")]
    assert reply_post.id == f"bluesky:{post_id(BRUNO, '3lfakepost0002')}"
    assert reply_post.url == f"https://bsky.app/profile/{BRUNO}/post/3lfakepost0002"
    assert reply_post.lang == "fr"
    assert (
        reply_post.parent_id
        == reply_post.thread_id
        == f"bluesky:{post_id(ALICE, '3lfakepost0001')}"
    )
    assert reply_post.published_at.isoformat() == "2026-01-01T00:00:01.800000+00:00"
    assert (reply_post.author.handle, reply_post.author.followers) == ("bruno.example.fr", 48)
    assert reply_post.raw["time_us"] == T0 + 2_000_000
    alice = found[post_id(ALICE, "3lfakepost0001")]
    assert (alice.author.name, alice.author.verified) == ("Alice Martin", True)
    future = found[post_id(CHLOE, "3lfakepost0003")]
    assert future.published_at.isoformat() == "2026-01-01T00:00:04+00:00"  # clamped to time_us
    assert future.author.handle == CHLOE  # the AppView does not know her: the DID stays
    assert "wantedCollections=app.bsky.feed.post" in jetstream.paths[0]
    assert "cursor=" not in jetstream.paths[0]  # no cursor, no backfill: live


async def test_update_replaces_create_within_a_batch(
    jetstream: Jetstream, client: httpx.AsyncClient
) -> None:
    clock = SteppedClock()
    source = make_source([jetstream.url], client, clock, "http://127.0.0.1:9", batch_size=4)
    source.options = source.options.model_copy(update={"resolve_authors": False})
    stream = source.stream(None)
    batches = await collect(stream, lambda b: True)
    await stream.aclose()  # type: ignore[attr-defined]
    texts = {i.native_id: source.normalise(i).text for i in batches[0].items}
    assert texts[post_id(ALICE, "3lfakepost0001")].endswith("(edited)")
    assert batches[0].cursor == str(T0 + 5_000_000)


# --- batching ---------------------------------------------------------------------------------


async def test_batches_by_size(jetstream: Jetstream, client: httpx.AsyncClient) -> None:
    jetstream.lines = [post_line(n) for n in range(1, 6)]
    clock = SteppedClock()
    source = make_source(
        [jetstream.url], client, clock, "http://127.0.0.1:9", batch_size=2, resolve_authors=False
    )
    stream = source.stream(None)
    batches = await collect(stream, lambda b: len(b) == 2)
    assert [len(b.items) for b in batches] == [2, 2]
    assert [b.cursor for b in batches] == [str(T0 + 2_000_000), str(T0 + 4_000_000)]
    last = asyncio.ensure_future(anext(stream))  # one post left: waits for batch_seconds
    await clock.sleeper()
    assert not last.done()
    clock.advance(1.0)
    async with asyncio.timeout(10):
        batch = await last
    assert [i.native_id for i in batch.items] == [post_id(ALICE, "3lpost00005")]
    await stream.aclose()  # type: ignore[attr-defined]


async def test_batches_by_time_on_the_injected_clock(
    jetstream: Jetstream, client: httpx.AsyncClient
) -> None:
    jetstream.lines = [post_line(n) for n in range(1, 4)]
    clock = SteppedClock()
    source = make_source(
        [jetstream.url], client, clock, "http://127.0.0.1:9", resolve_authors=False
    )
    stream = source.stream(None)
    first = asyncio.ensure_future(anext(stream))
    await clock.sleeper()  # a post is buffered and the batch timer runs
    for _ in range(20):
        await asyncio.sleep(0)
    assert not first.done()  # 3 posts < batch_size: nothing until batch_seconds pass
    assert clock.sleeps == [0.25]
    clock.advance(0.25)
    async with asyncio.timeout(10):
        batches = [await first]
    while len(set(ids(batches))) < 3:
        nxt = asyncio.ensure_future(anext(stream))
        await clock.sleeper()
        clock.advance(1.0)
        async with asyncio.timeout(10):
            batches.append(await nxt)
    assert len(ids(batches)) == 3
    await stream.aclose()  # type: ignore[attr-defined]


# --- cursor, fail-over, reconnects ------------------------------------------------------------


async def test_resumes_from_cursor_with_rewind(
    jetstream: Jetstream, client: httpx.AsyncClient
) -> None:
    source = make_source(
        [jetstream.url], client, FakeClock(), "http://127.0.0.1:9", resolve_authors=False
    )
    stream = source.stream(str(T0 + 8_000_000))
    batches = await collect(stream, has_items(3))
    await stream.aclose()  # type: ignore[attr-defined]
    assert f"cursor={T0 + 3_000_000}" in jetstream.paths[0]  # 8 s minus the 5 s rewind
    assert set(ids(batches)) == {
        post_id(ALICE, "3lfakepost0001"),  # the update at +3 s
        post_id(CHLOE, "3lfakepost0003"),
        post_id(CHLOE, "3lfakepost0004"),
    }


async def test_fails_over_when_the_first_instance_refuses(
    jetstream: Jetstream, client: httpx.AsyncClient, closed_port_url: str
) -> None:
    clock = FakeClock()
    source = make_source(
        [closed_port_url, jetstream.url], client, clock, "http://127.0.0.1:9", resolve_authors=False
    )
    stream = source.stream(None)
    batches = await collect(stream, has_items(4))
    await stream.aclose()  # type: ignore[attr-defined]
    assert len(set(ids(batches))) == 4
    assert [urlsplit(u).port for u in source.connections] == [urlsplit(jetstream.url).port]
    assert clock.sleeps[0] == 1.0  # reconnect_min before the second instance


async def test_fails_over_on_http_503_and_backs_off_exponentially(
    jetstream: Jetstream, client: httpx.AsyncClient, closed_port_url: str
) -> None:
    jetstream.plans.append(Plan(end="reject"))
    clock = FakeClock()
    source = make_source(
        [jetstream.url, closed_port_url], client, clock, "http://127.0.0.1:9", resolve_authors=False
    )
    stream = source.stream(None)
    batches = await collect(stream, has_items(4))
    await stream.aclose()  # type: ignore[attr-defined]
    # 503, refused, then served: delays 1 then 2
    assert [s for s in clock.sleeps if s >= 1.0][:2] == [1.0, 2.0]
    assert len(set(ids(batches))) == 4


async def test_every_instance_failing_raises_a_clear_error(
    client: httpx.AsyncClient, closed_port_url: str
) -> None:
    clock = FakeClock()
    source = make_source([closed_port_url], client, clock, "http://127.0.0.1:9")
    stream = source.stream(None)
    with pytest.raises(SourceError, match=r"no Jetstream instance answers.*`instances`"):
        async with asyncio.timeout(10):
            await anext(stream)
    assert clock.sleeps == [1.0]


async def test_stream_cut_mid_message_reconnects_from_last_complete_event(
    jetstream: Jetstream, client: httpx.AsyncClient
) -> None:
    jetstream.lines = [post_line(n, seconds=n * 10) for n in range(1, 5)]
    jetstream.plans.append(Plan(count=2, end="cut"))
    clock = FakeClock()
    source = make_source(
        [jetstream.url], client, clock, "http://127.0.0.1:9", resolve_authors=False
    )
    stream = source.stream(None)
    batches = await collect(stream, has_items(4))
    await stream.aclose()  # type: ignore[attr-defined]
    assert len(jetstream.paths) == 2
    assert f"cursor={T0 + 20_000_000 - 5_000_000}" in jetstream.paths[1]
    assert len(set(ids(batches))) == 4
    assert not [e for b in batches for e in b.errors]  # the cut message is not an error


async def test_malformed_event_is_an_ingest_error_and_the_rest_is_kept(
    jetstream: Jetstream, client: httpx.AsyncClient
) -> None:
    jetstream.lines = [post_line(1), '{"did": "did:plc:x", "time_us": 17', post_line(2)]
    source = make_source(
        [jetstream.url], client, FakeClock(), "http://127.0.0.1:9", resolve_authors=False
    )
    stream = source.stream(None)
    batches = await collect(stream, has_items(2))
    await stream.aclose()  # type: ignore[attr-defined]
    errors = [e for b in batches for e in b.errors]
    assert len(errors) == 1
    assert errors[0].ref.startswith("message 2 from ws://127.0.0.1:")
    assert "not valid JSON" in errors[0].error
    assert errors[0].raw == '{"did": "did:plc:x", "time_us": 17'
    assert len(set(ids(batches))) == 2


# --- authors ----------------------------------------------------------------------------------


async def test_profiles_are_batched_by_25_and_cached_with_expiry(
    appview: AppView, client: httpx.AsyncClient
) -> None:
    dids = [f"did:plc:fictional{n:015d}" for n in range(30)]
    for did in dids:
        appview.profiles[did] = {"did": did, "handle": f"{did[-4:]}.example", "followersCount": 1}
    clock = FakeClock()
    resolver = ProfileResolver(client, appview.url, clock, ttl=3600, max_size=100, timeout=5)
    first = await resolver.resolve(dids + dids[:3])
    assert len(first) == 30
    assert sorted(len(call) for call in appview.profile_calls) == [5, 25]
    await resolver.resolve(dids)
    assert len(appview.profile_calls) == 2  # cached
    clock.advance(3600)
    await resolver.resolve(dids[:2])
    assert len(appview.profile_calls) == 3  # expired: asked again
    small = ProfileResolver(client, appview.url, clock, ttl=3600, max_size=10, timeout=5)
    await small.resolve(dids)
    assert len(small.cache) == 10  # least recently used evicted


async def test_appview_429_posts_keep_the_did_and_are_resent_once_resolved(
    appview: AppView, client: httpx.AsyncClient
) -> None:
    clock = FakeClock()
    source = make_source(["ws://127.0.0.1:9/subscribe"], client, clock, appview.url)
    events = [json.loads(line) for line in fixture_lines()]
    item = RawItem("bsky", post_id(ALICE, "3lfakepost0001"), {"event": events[0]}, "test")
    appview.profile_status = 429
    out = await source.with_authors([item])
    assert [source.normalise(i).author.handle for i in out] == [ALICE]  # emitted, DID only
    assert "asked again in 120s" in (source.resolver.last_error or "")
    later = RawItem("bsky", post_id(BRUNO, "3lfakepost0002"), {"event": events[1]}, "test")
    await source.with_authors([later])
    assert len(appview.profile_calls) == 1  # paused for Retry-After: no call
    appview.profile_status = 200
    clock.advance(121)
    final = await source.with_authors([])
    handles = {source.normalise(i).id: source.normalise(i).author.handle for i in final}
    assert handles == {
        f"bluesky:{post_id(ALICE, '3lfakepost0001')}": "alice.example.com",
        f"bluesky:{post_id(BRUNO, '3lfakepost0002')}": "bruno.example.fr",
    }


# --- backfill ---------------------------------------------------------------------------------


async def test_backfill_pages_through_search_then_streams(
    jetstream: Jetstream, appview: AppView, client: httpx.AsyncClient
) -> None:
    clock = FakeClock()
    source = make_source([jetstream.url], client, clock, appview.url, backfill_queries=["acme"])
    start = str(T0)
    stream = source.stream(None)
    batches = await collect(stream, has_items(7))
    await stream.aclose()  # type: ignore[attr-defined]
    assert [q.get("cursor") for q in appview.search_queries] == [None, ["25"]]
    first = appview.search_queries[0]
    assert (first["q"], first["sort"], first["limit"]) == (["acme"], ["latest"], ["100"])
    assert first["since"] == ["2025-12-31T00:00:00.000000Z"]  # backfill_hours (24) ago
    assert [b.cursor for b in batches[:2]] == [start, start]
    errors = [e for b in batches for e in b.errors]
    assert len(errors) == 1
    assert "not-an-at-uri" in errors[0].error
    assert "page 2 of the Bluesky search for 'acme'" in errors[0].ref
    old = source.normalise(batches[0].items[0])
    assert (old.metrics.likes, old.metrics.reposts, old.author.followers) == (12, 2, 1520)
    assert f"cursor={T0 - 5_000_000}" in jetstream.paths[0]  # from the backfill's start


async def test_backfill_auth_required_is_reported_once_and_the_stream_goes_on(
    jetstream: Jetstream, appview: AppView, client: httpx.AsyncClient
) -> None:
    appview.search_status = 403
    source = make_source(
        [jetstream.url], client, FakeClock(), appview.url, backfill_queries=["acme", "acme.fr"]
    )
    stream = source.stream(str(T0))
    with pytest.raises(SourceError, match=r"HTTP 403.*live stream goes on.*`search_url`"):
        async with asyncio.timeout(10):
            await anext(stream)
    assert len(appview.search_queries) == 1
    assert appview.search_queries[0]["since"] == ["2025-12-31T23:59:55.000000Z"]
    again = source.stream(str(T0))  # what the pipeline does after its backoff
    batches = await collect(again, has_items(4))
    await again.aclose()  # type: ignore[attr-defined]
    assert len(appview.search_queries) == 1  # not asked again
    assert len(set(ids(batches))) == 4


# --- restart ----------------------------------------------------------------------------------


async def test_restart_from_the_stored_cursor_loses_nothing(
    jetstream: Jetstream, client: httpx.AsyncClient
) -> None:
    jetstream.lines = [post_line(n) for n in range(1, 21)]
    stored: dict[str, int] = {}
    cursor: str | None = None
    for run in range(2):
        source = make_source(
            [jetstream.url], client, FakeClock(), "http://127.0.0.1:9", resolve_authors=False
        )
        stream = source.stream(cursor)
        seen = 0
        async with asyncio.timeout(10):
            async for batch in stream:
                for item in batch.items:  # the idempotent store: one row per id
                    stored[item.native_id] = stored.get(item.native_id, 0) + 1
                cursor = batch.cursor  # committed with the batch
                seen += len(batch.items)
                if (run == 0 and seen >= 8) or len(stored) == 20:
                    break
        await stream.aclose()  # type: ignore[attr-defined]
    assert len(stored) == 20  # nothing lost
    assert cursor == str(T0 + 20_000_000)
    resumed = parse_qs(urlsplit(jetstream.paths[1]).query)["cursor"][0]
    twice = [i for i, n in stored.items() if n > 1]
    assert all(int(json.loads(post_line(int(i[-5:])))["time_us"]) >= int(resumed) for i in twice)
    assert len(twice) <= 6  # only the rewind window (5 s at one post a second, inclusive)


# --- options, registration --------------------------------------------------------------------


def test_options_name_what_is_wrong() -> None:
    with pytest.raises(ValidationError, match="not a ws:// or wss:// URL"):
        BlueskyOptions(instances=["https://jetstream.example/subscribe"])
    with pytest.raises(ValidationError, match="batch_size"):
        BlueskyOptions(batch_size=0)
    with pytest.raises(ValidationError, match="extra"):
        BlueskyOptions.model_validate({"instance": "wss://x"})
    assert BlueskyOptions(backfill_queries=[" acme ", ""]).backfill_queries == ["acme"]
    assert len(BlueskyOptions().instances) == 4


def test_subscribe_url_asks_for_posts_only() -> None:
    url = subscribe_url("wss://jetstream2.us-east.bsky.network/subscribe", 42, 1_000_000)
    assert url == (
        "wss://jetstream2.us-east.bsky.network/subscribe?wantedCollections=app.bsky.feed.post"
        "&maxMessageSizeBytes=1000000&cursor=42"
    )


def test_hookimpl_registers_the_source() -> None:
    assert bluesky.tocsin_sources() == [BlueskySource]
    assert BlueskySource.name == "bluesky"


async def test_refresh_reads_current_counts_through_get_posts(
    appview: AppView, client: httpx.AsyncClient
) -> None:
    page = json.loads((FIXTURES / "search_page1.json").read_text(encoding="utf-8"))
    asked: list[list[str]] = []

    def get_posts(handler: BaseHTTPRequestHandler) -> None:
        uris = parse_qs(urlsplit(handler.path).query).get("uris", [])
        asked.append(uris)
        posts = [p for p in page["posts"] if p["uri"] in uris]
        appview.server.reply(handler, 200, json.dumps({"posts": posts}).encode())

    appview.server.route("/xrpc/app.bsky.feed.getPosts", get_posts)
    source = make_source(["ws://127.0.0.1:9/subscribe"], client, FakeClock(), appview.url)
    assert source.can_refresh
    wanted = [p["uri"] for p in page["posts"][:2]]
    items = await source.refresh(wanted)
    assert asked == [wanted]
    refreshed = [source.normalise(item) for item in items]
    assert [m.id for m in refreshed] == [f"bluesky:{uri}" for uri in wanted]
    assert refreshed[0].metrics.likes == page["posts"][0]["likeCount"]


# --- authors of matched posts ---------------------------------------------------------------


async def test_authors_of_matched_posts_are_resolved_after_matching(
    jetstream: Jetstream, appview: AppView, client: httpx.AsyncClient
) -> None:
    source = make_source([jetstream.url], client, FakeClock(), appview.url, resolve_authors=False)
    stream = source.stream(None)
    batches = await collect(stream, lambda b: b[-1].cursor == str(T0 + 5_000_000))
    await stream.aclose()  # type: ignore[attr-defined]
    assert appview.profile_calls == []  # the stream itself asks nothing
    mentions = [source.normalise(i) for b in batches for i in b.items]
    assert all(m.author.handle.startswith("did:") for m in mentions)
    completed = await source.complete(mentions)
    assert [m.id for m in completed] == [m.id for m in mentions]
    by_did = {m.author.url.rsplit("/", 1)[1]: m.author for m in completed}
    assert (by_did[BRUNO].handle, by_did[BRUNO].followers) == ("bruno.example.fr", 48)
    assert (by_did[ALICE].name, by_did[ALICE].verified) == ("Alice Martin", True)
    assert by_did[CHLOE].handle == CHLOE  # unknown to the AppView: the DID stays
    assert len(appview.profile_calls) == 1  # one batched call
    await source.complete(mentions)
    assert len(appview.profile_calls) == 1  # then from the cache


async def test_a_failing_appview_leaves_matched_posts_as_they_are(
    jetstream: Jetstream, appview: AppView, client: httpx.AsyncClient
) -> None:
    appview.profile_status = 503
    source = make_source([jetstream.url], client, FakeClock(), appview.url, resolve_authors=False)
    stream = source.stream(None)
    batches = await collect(stream, lambda b: b[-1].cursor == str(T0 + 5_000_000))
    await stream.aclose()  # type: ignore[attr-defined]
    mentions = [source.normalise(i) for b in batches for i in b.items]
    assert await source.complete(mentions) == mentions
