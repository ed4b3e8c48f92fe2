"""The Live page and its Server-Sent Events stream: rendered cards, escaping, heartbeats,
drop notices and cleanup when the client goes (driven directly, no real-time waits)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from tocsin.clock import FakeClock
from tocsin.config import Settings
from tocsin.mention import Author, Mention, Sentiment
from tocsin.store import Store
from tocsin.web import create_app
from tocsin.web.auth import User
from tocsin.web.broadcast import Broadcaster, broadcaster_of
from tocsin.web.routes import live, overview

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
VIEWER = User(id=1, email="v@example.org", name="Vi", role="viewer")
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


class AsUser:
    """A tiny ASGI middleware putting a user on ``request.state`` (sessions stand-in)."""

    def __init__(self, app: ASGIApp, user: User | None) -> None:
        self.app = app
        self.user = user

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.user is not None:
            scope.setdefault("state", {})["user"] = self.user
        await self.app(scope, receive, send)


def build_app(store: Store, user: User | None = VIEWER) -> FastAPI:
    settings = Settings.model_validate(
        {
            "organisation": {"name": "Acme", "languages": ["en"]},
            "watches": [{"name": "acme", "query": "acme"}, {"name": "rival", "query": "rival"}],
        }
    )
    app = create_app(settings, store, secret="s", clock=FakeClock(T0))
    if "/live" not in {getattr(r, "path", None) for r in app.routes}:
        app.include_router(overview.router)
        app.include_router(live.router)
    app.add_middleware(AsUser, user=user)
    return app


def mention(native: str, *watches: str, **kw: Any) -> Mention:
    values: dict[str, Any] = {
        "id": f"bsky:{native}",
        "source": "bsky",
        "url": f"https://bsky.app/p/{native}",
        "text": f"post {native}",
        "published_at": T0 - timedelta(minutes=1),
        "seen_at": T0,
        "author": Author(handle="alice.bsky.social", name="Alice", followers=1200),
        "watches": watches,
        "sentiment": Sentiment("negative", -0.6),
        "priority": 64.0,
        "priority_factors": {"negative": 30.0, "reach": 34.0},
    }
    values.update(kw)
    return Mention(**values)


def hostile(native: str = "666") -> Mention:
    return mention(
        native,
        "acme",
        text=HOSTILE + "\n\nevent: mention\ndata: <b>forged</b>",
        url="JavaScript:alert(1)",
        title="<iframe src=//evil>",
        author=Author(handle="<b>h</b>", name=HOSTILE, url="javascript:alert(2)"),
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    db = Store.open(f"sqlite:///{tmp_path / 'tocsin.db'}")
    db.upgrade()
    yield db
    db.close()


@pytest.fixture
def app(store: Store) -> FastAPI:
    return build_app(store)


def request_for(app: FastAPI, query: bytes = b"") -> Request:
    scope = {
        "type": "http",
        "app": app,
        "method": "GET",
        "path": "/live/stream",
        "headers": [],
        "query_string": query,
        "state": {"user": VIEWER},
    }
    return Request(scope)


def renderer(app: FastAPI) -> Any:
    return live._card_renderer(request_for(app))


def test_live_page_shows_the_latest_matching_mentions_inertly(app: FastAPI, store: Store) -> None:
    store.save_batch("bsky", [mention("1", "acme"), hostile(), mention("2")], now=T0)
    page = TestClient(app).get("/live")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert 'data-id="bsky:1"' in page.text
    assert 'data-id="bsky:2"' not in page.text  # matched no watch
    assert "&lt;script&gt;alert(" in page.text
    assert "<script>alert" not in page.text
    assert "<iframe" not in page.text
    assert "javascript:" not in page.text.lower()
    assert 'id="pause"' in page.text
    assert '<script src="/static/live.js" defer></script>' in page.text
    text = unescape(page.text)
    assert "<li>reach +34.0</li><li>negative +30.0</li>" in text  # largest factor first


def test_live_page_filters_by_watch_and_streams_the_same_watch(app: FastAPI, store: Store) -> None:
    store.save_batch("bsky", [mention("1", "acme"), mention("2", "rival")], now=T0)
    client = TestClient(app)
    page = client.get("/live?watch=rival")
    assert 'data-id="bsky:2"' in page.text
    assert 'data-id="bsky:1"' not in page.text
    assert 'data-stream="/live/stream?watch=rival"' in page.text
    assert '<option value="rival" selected>' in page.text
    unknown = client.get("/live?watch=<nope>")
    assert 'data-stream="/live/stream"' in unknown.text


def test_live_needs_a_signed_in_viewer(store: Store) -> None:
    client = TestClient(build_app(store, user=None), follow_redirects=False)
    assert client.get("/live").headers["location"] == "/login?next=/live"
    assert client.get("/live/stream").status_code == 303


def test_frames_keep_every_line_of_the_data_inside_one_event() -> None:
    frame = live.frame("mention", "a\n\nevent: forged\r\ndata: x\rb \ud800")
    assert frame == (
        b"event: mention\ndata: a\ndata: \ndata: event: forged\ndata: data: x\ndata: b ?\n\n"
    )


async def test_the_stream_sends_a_published_mention_as_an_escaped_card(app: FastAPI) -> None:
    hub = Broadcaster()
    sub = hub.subscribe()
    stream = live.events(sub, renderer(app), heartbeat=0)
    assert (await anext(stream)).startswith(b"retry: 5000\n")
    hub.publish([hostile()])
    chunk = (await anext(stream)).decode()
    assert chunk.startswith('event: mention\ndata: <article class="mention sentiment-negative"')
    assert chunk.endswith("\n\n")
    body = chunk.removesuffix("\n\n")
    assert all(line.startswith(("event: ", "data: ")) for line in body.split("\n"))
    assert "\n\n" not in body  # the hostile blank lines cannot end the event early
    assert "&lt;script&gt;alert(" in chunk
    assert "<script" not in chunk
    assert "<iframe" not in chunk
    assert 'href="javascript' not in chunk.lower()
    assert "JavaScript:alert" not in chunk
    await stream.aclose()
    assert sub.closed
    assert hub.subscribers == 0


async def test_an_idle_stream_sends_heartbeats_and_reports_drops(app: FastAPI) -> None:
    hub = Broadcaster(queue_size=2)
    sub = hub.subscribe(["acme"])
    stream = live.events(sub, renderer(app), heartbeat=0)
    await anext(stream)
    assert await anext(stream) == b": heartbeat\n\n"
    hub.publish([mention(str(n), "acme") for n in range(5)])
    assert await anext(stream) == b"event: dropped\ndata: 3\n\n"
    cards = [(await anext(stream)).decode() for _ in range(2)]
    assert ['data-id="bsky:3"' in cards[0], 'data-id="bsky:4"' in cards[1]] == [True, True]
    assert await anext(stream) == b": heartbeat\n\n"
    await stream.aclose()


async def test_the_stream_ends_and_unsubscribes_when_the_client_is_gone(app: FastAPI) -> None:
    hub = Broadcaster()
    sub = hub.subscribe()
    gone = False

    async def is_disconnected() -> bool:
        return gone

    stream = live.events(sub, renderer(app), heartbeat=0, is_disconnected=is_disconnected)
    await anext(stream)
    assert await anext(stream) == b": heartbeat\n\n"
    gone = True
    assert [chunk async for chunk in stream] == []
    assert hub.subscribers == 0


async def test_the_stream_route_subscribes_to_the_apps_broadcaster(app: FastAPI) -> None:
    hub = broadcaster_of(app)
    response = await live.live_stream(request_for(app, b"watch=acme"), VIEWER, watch="acme")
    assert response.media_type == "text/event-stream"
    assert response.headers["cache-control"] == "no-store"
    body = cast(AsyncGenerator[bytes, None], response.body_iterator)
    assert hub.subscribers == 0  # nothing is held until the response streams
    await anext(body)
    assert hub.subscribers == 1
    hub.publish([mention("1", "rival"), mention("2", "acme")])
    chunk = await anext(body)
    assert b'data-id="bsky:2"' in chunk
    await body.aclose()
    assert hub.subscribers == 0
