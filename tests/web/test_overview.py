"""The Overview: charts and tables from the rollups, ranges, share of voice, hostile text."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html import unescape
from html.parser import HTMLParser
from itertools import pairwise
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from tocsin.clock import FakeClock
from tocsin.config import Settings
from tocsin.mention import Author, Mention, Sentiment
from tocsin.sources.base import SourceHealth
from tocsin.store import Store
from tocsin.store.rollups import Bucket
from tocsin.web import create_app, overview_data
from tocsin.web.auth import User
from tocsin.web.routes import live, overview

T0 = datetime(2026, 11, 25, 12, 0, 30, tzinfo=UTC)
VIEWER = User(id=1, email="v@example.org", name="Vi", role="viewer")
HOSTILE_URL = "javascript:alert(1)"
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


def settings(language: str = "en") -> Settings:
    return Settings.model_validate(
        {
            "organisation": {"name": "Acme", "languages": [language]},
            "watches": [
                {"name": "acme", "query": "acme", "tags": ["brand"]},
                {"name": "rival", "query": "rival", "tags": ["competitor"]},
                {"name": "ceo", "query": "ceo"},
            ],
        }
    )


def build_app(store: Store, user: User | None = VIEWER, language: str = "en") -> FastAPI:
    app = create_app(settings(language), store, secret="s", clock=FakeClock(T0))
    paths = {getattr(r, "path", None) for r in app.routes}
    if "/overview" not in paths:  # until create_app includes them
        app.include_router(overview.router)
        app.include_router(live.router)
    app.add_middleware(AsUser, user=user)
    return app


def mention(native: str, *, minutes: float, watches: tuple[str, ...], **kw: Any) -> Mention:
    at = T0 - timedelta(minutes=minutes)
    values: dict[str, Any] = {
        "id": f"rss:{native}",
        "source": "rss",
        "url": f"https://news.example.org/{native}",
        "text": f"text {native}",
        "published_at": at,
        "seen_at": at,
        "author": Author(handle=f"h{native}", name=f"Author {native}", followers=100),
        "watches": watches,
        "reach": 100,
        "sentiment": Sentiment("neutral", 0.0),
    }
    values.update(kw)
    return Mention(**values)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    db = Store.open(database_url)
    db.upgrade()
    yield db
    db.close()


@pytest.fixture
def client(store: Store) -> TestClient:
    return TestClient(build_app(store))


def charts(html: str) -> dict[str, dict[str, Any]]:
    """``{watch: chart JSON}`` from the page's ``data-chart`` attributes, in page order."""
    specs = [json.loads(a["data-chart"]) for _, a in Tags.of(html).tags if "data-chart" in a]
    return dict(zip(("acme", "rival", "ceo"), specs, strict=True))


class Tags(HTMLParser):
    """Every start tag of a page with its attributes (as a browser's parser sees them)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    @classmethod
    def of(cls, html: str) -> Tags:
        parser = cls()
        parser.feed(html)
        return parser


def assert_inert(html: str) -> None:
    """No script but our own files, no event handler, no inline style, links http(s) or ours."""
    for tag, attrs in Tags.of(html).tags:
        if tag == "script":
            assert attrs.get("src", "").startswith("/static/"), attrs
        assert tag not in ("img", "svg", "iframe", "object", "embed", "style"), tag
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert "style" not in attrs, (tag, attrs)
        for name in ("href", "src", "action"):
            if name in attrs:
                value = attrs[name].strip().lower()
                assert value.startswith(("https://", "http://", "/")), (tag, attrs)
        if tag == "a" and attrs.get("href", "").startswith("http"):
            assert attrs.get("rel") == "noopener noreferrer nofollow", attrs


def test_overview_renders_volume_sentiment_and_share_of_voice_from_rollups(
    client: TestClient, store: Store
) -> None:
    negative = Sentiment("negative", -0.8)
    batch = [
        mention("1", minutes=5, watches=("acme",), sentiment=negative, reach=1000),
        mention("2", minutes=6, watches=("acme",), sentiment=Sentiment("positive", 0.5)),
        mention("3", minutes=50, watches=("acme", "ceo")),
        mention("4", minutes=7, watches=("rival",), reach=3000),
        mention("5", minutes=90, watches=("rival",)),  # outside the last hour
    ]
    store.save_batch("rss", batch, now=T0)
    page = client.get("/overview?range=1h")
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert_inert(page.text)
    series = charts(page.text)
    acme = {s["key"]: s["values"] for s in series["acme"]["series"]}
    assert (sum(acme["mentions"]), sum(acme["negative"]), sum(acme["positive"])) == (3, 1, 1)
    assert sum(acme["neutral"]) == 1
    assert sum(next(s for s in series["rival"]["series"])["values"]) == 1
    text = unescape(page.text)
    # share of voice between brand (acme: 3) and competitor (rival: 1); ceo is untagged
    assert "75.0 %" in text
    assert "25.0 %" in text
    assert '<meter min="0" max="100" value="75.0">' in page.text
    # the same numbers without JavaScript: a table per watch
    assert "<table>" in page.text
    assert "Share of voice" in text
    # 24 h includes the mention of 90 minutes ago
    day = charts(client.get("/overview?range=24h").text)
    assert sum(next(s for s in day["rival"]["series"])["values"]) == 2


@pytest.mark.parametrize(
    ("name", "points", "step"),
    [("1h", 60, 60), ("24h", 96, 900), ("7d", 168, 3600), ("30d", 120, 21600)],
)
def test_each_range_has_its_bucket_size(
    client: TestClient, name: str, points: int, step: int
) -> None:
    page = client.get(f"/overview?range={name}")
    assert page.status_code == 200
    x = charts(page.text)["acme"]["x"]
    assert len(x) == points
    assert {b - a for a, b in pairwise(x)} == {step}
    assert x[-1] <= T0.timestamp() < x[-1] + step  # the last bucket holds now


def test_root_is_the_overview_and_an_unknown_range_says_so(client: TestClient) -> None:
    root = client.get("/")
    assert root.status_code == 200
    assert len(charts(root.text)["acme"]["x"]) == 96  # 24 h by default
    odd = client.get("/overview?range=<b>2y</b>")
    assert odd.status_code == 200
    assert "Unknown period" in unescape(odd.text)
    assert "<b>2y" not in odd.text
    assert len(charts(odd.text)["acme"]["x"]) == 96


def test_overview_needs_a_signed_in_viewer(store: Store) -> None:
    anonymous = TestClient(build_app(store, user=None), follow_redirects=False)
    assert anonymous.get("/overview").headers["location"] == "/login?next=/overview"
    assert anonymous.get("/").headers["location"] == "/login?next=/"


def test_overview_in_french(store: Store) -> None:
    page = TestClient(build_app(store, language="fr")).get("/overview?range=7d")
    assert page.status_code == 200
    assert "Part de voix" in unescape(page.text)
    assert 'lang="fr"' in page.text


def test_hostile_stories_authors_and_crisis_reasons_render_inert(
    client: TestClient, store: Store
) -> None:
    evil = Author(handle='"><svg onload=alert(1)>', name=HOSTILE, followers=10**6, url=HOSTILE_URL)
    first = mention(
        "9",
        minutes=3,
        watches=("acme",),
        author=evil,
        url=HOSTILE_URL,
        title='<a href="javascript:alert(2)">x</a>',
        text=HOSTILE + " broken \ud800 unicode",
        story_id="rss:9",
    )
    second = replace(first, id="rss:10", story_id="rss:9")
    store.save_batch("rss", [first, second], now=T0)
    store.save_crisis_level("acme", 3, since=T0, reasons=[HOSTILE], now=T0)
    store.record_health("<script>src</script>", "rss", ok=False, error=HOSTILE, at=T0)
    page = client.get("/overview?range=1h")
    assert page.status_code == 200
    assert_inert(page.text)
    assert "&lt;script&gt;alert(" in page.text  # shown as text: stories, authors, reasons
    assert page.text.count("&lt;script&gt;alert(") >= 3
    assert (
        "javascript:" not in "".join(a.get("href", "") for _, a in Tags.of(page.text).tags).lower()
    )
    assert "3 · crisis" in page.text


def test_source_health_and_crisis_level_are_shown(client: TestClient, store: Store) -> None:
    store.record_health("lemonde", "rss", ok=True, items=30, at=T0 - timedelta(minutes=1))
    for _ in range(3):
        store.record_health("bsky", "jetstream", ok=False, error="HTTP 503", at=T0)
    store.save_crisis_level("rival", 2, since=T0, reasons=["negative share 40%"], now=T0)
    text = unescape(client.get("/overview").text)
    assert "lemonde" in text
    assert "3 failures in a row: HTTP 503" in text
    assert "2 · concern" in text
    assert "negative share 40%" in text


class AuthorRows(HTMLParser):
    """The cells' text of each body row of the page's ``table.authors``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.inside = self.body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.inside = ("class", "authors") in attrs
        self.body = self.body or (self.inside and tag == "tbody")
        if self.body and tag == "tr":
            self.rows.append([])
        elif self.body and tag in ("th", "td"):
            self.rows[-1].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = self.body = False

    def handle_data(self, data: str) -> None:
        if self.body and self.rows and self.rows[-1]:
            self.rows[-1][-1] += data

    @classmethod
    def of(cls, html: str) -> list[list[str]]:
        parser = cls()
        parser.feed(html)
        return [[" ".join(cell.split()) for cell in row] for row in parser.rows]


def test_top_authors_rank_by_reach_then_mentions(client: TestClient, store: Store) -> None:
    loud = Author(handle="loud", name="Loud", followers=50_000, verified=True)
    quiet = Author(handle="quiet", followers=10)
    batch = [
        mention("1", minutes=1, watches=("acme",), author=quiet, reach=None),
        mention("2", minutes=2, watches=("acme",), author=quiet, reach=None),
        mention("3", minutes=3, watches=("rival",), author=loud, reach=70_000),
        mention("4", minutes=4, watches=("acme",), author=loud, reach=None),
        mention("5", minutes=5, watches=(), author=Author(handle="unmatched", followers=10**9)),
    ]
    store.save_batch("rss", batch, now=T0)
    assert AuthorRows.of(client.get("/overview?range=1h").text) == [
        ["Loud @loud ✓", "rss", "70,000", "2", "acme, rival"],
        ["quiet", "rss", "10", "2", "acme"],
    ]


def test_top_authors_count_every_mention_of_the_period(client: TestClient, store: Store) -> None:
    """Exact over the whole period, not the latest 500 mentions: an author seen early in the
    week with a large audience ranks first, and counts include older mentions."""
    old = Author(handle="early", name="Early", followers=900_000)
    chatty = Author(handle="chatty", name="Chatty", followers=5)
    store.save_batch(
        "rss", [mention("old", minutes=6 * 24 * 60, watches=("acme",), author=old)], now=T0
    )
    batch = [
        mention(f"c{i}", minutes=i % 600, watches=("rival",), author=chatty) for i in range(700)
    ]
    store.save_batch("rss", batch, now=T0)
    week = AuthorRows.of(client.get("/overview?range=7d").text)
    assert [row[:4] for row in week] == [
        ["Early @early", "rss", "900,000", "1"],
        ["Chatty @chatty", "rss", "100", "700"],
    ]
    assert [row[0] for row in AuthorRows.of(client.get("/overview?range=24h").text)] == [
        "Chatty @chatty"
    ]


# -- the pure functions --------------------------------------------------------------------


def test_window_is_aligned_on_whole_steps() -> None:
    r = overview_data.RANGES["24h"]
    start, end = overview_data.window(r, datetime(2026, 1, 1, 10, 7, 12, tzinfo=UTC))
    assert end == datetime(2026, 1, 1, 10, 15, tzinfo=UTC)
    assert end - start == timedelta(hours=24)
    start, end = overview_data.window(
        overview_data.RANGES["30d"], datetime(2026, 1, 1, 13, 0, tzinfo=UTC)
    )
    assert end == datetime(2026, 1, 1, 18, 0, tzinfo=UTC)


def _summary(watch: str, tags: tuple[str, ...], mentions: int, reach: int = 0) -> Any:
    return overview_data.WatchSummary(watch, tags, mentions, 0, mentions, 0, reach)


def test_share_of_voice_counts_brand_and_competitor_watches_only() -> None:
    shares = overview_data.share_of_voice(
        [
            _summary("other", (), 1000),
            _summary("rival-b", ("competitor",), 20, reach=100),
            _summary("acme", ("brand",), 60, reach=300),
            _summary("rival-a", ("competitor",), 20, reach=0),
        ]
    )
    assert [(s.watch, s.tag, round(s.share, 1)) for s in shares] == [
        ("acme", "brand", 60.0),
        ("rival-a", "competitor", 20.0),
        ("rival-b", "competitor", 20.0),
    ]
    assert [s.reach_share for s in shares] == [75.0, 0.0, 25.0]
    assert overview_data.share_of_voice([_summary("x", (), 5)]) == []
    empty = overview_data.share_of_voice([_summary("acme", ("brand",), 0)])
    assert [s.share for s in empty] == [0.0]


def test_summaries_total_the_buckets_and_keep_configured_order() -> None:
    b = Bucket(T0, mentions=4, negative=1, neutral=1, positive=2, reach=50)
    summaries = overview_data.summarise({"zed": [b], "acme": [b, b]}, {"acme": ("brand",)})
    assert [(s.watch, s.mentions, s.reach) for s in summaries] == [
        ("acme", 8, 100),
        ("zed", 4, 50),
    ]
    assert summaries[0].negative_share == 25.0
    assert summaries[0].net_sentiment == 25.0


def test_health_rows_list_configured_sources_never_polled_as_waiting() -> None:
    recorded = SourceHealth(
        source="lemonde", platform="rss", last_success_at=T0, items_per_minute=2.0
    )
    rows = overview_data.health_rows(
        [recorded], {"lemonde": 300.0, "newone": None}, now=T0 + timedelta(minutes=1)
    )
    assert [(r.source, r.state) for r in rows] == [("newone", "waiting"), ("lemonde", "ok")]
