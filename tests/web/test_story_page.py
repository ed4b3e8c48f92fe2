"""The Story page: a story's mentions, growth and sources, escaped, for viewers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

from fastapi.testclient import TestClient
from test_overview import AsUser, settings  # the Overview tests' stand-in for sessions

from tocsin.clock import FakeClock
from tocsin.mention import Author, Mention, Sentiment
from tocsin.store import Store
from tocsin.web import create_app
from tocsin.web.auth import User
from tocsin.web.story_data import story_view

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
VIEWER = User(id=1, email="v@example.org", name="Vi", role="viewer")


def _mention(n: int, minutes: int, source: str = "bsky", **kw: object) -> Mention:
    at = T0 + timedelta(minutes=minutes)
    values: dict[str, object] = {
        "id": f"{source}:{n}",
        "source": source,
        "url": f"https://example.org/{n}",
        "text": "Acme a perdu mon colis",
        "published_at": at,
        "seen_at": at,
        "watches": ("acme",),
        "story_id": "bsky:0",
        "sentiment": Sentiment("negative", -0.7),
        "reach": 100,
    }
    values.update(kw)
    return Mention(**values)  # type: ignore[arg-type]


def _client(tmp_path: Path, user: User | None = VIEWER) -> tuple[TestClient, Store]:
    store = Store.open(f"sqlite:///{tmp_path / 'tocsin.db'}")
    store.upgrade()
    app = create_app(settings(), store, secret="s", clock=FakeClock(T0))
    app.add_middleware(AsUser, user=user)
    return TestClient(app, follow_redirects=False), store


def test_a_story_shows_its_growth_sources_and_mentions(tmp_path: Path) -> None:
    client, store = _client(tmp_path)
    hostile = Author(handle="x", name='<img src=x onerror="alert(1)">')
    batch = [
        _mention(0, 0),
        *(_mention(i, 10 * i) for i in range(1, 5)),
        _mention(9, 30, source="mastodon", author=hostile, url="javascript:alert(1)"),
    ]
    store.save_batch("mixed", batch, now=T0)
    page = client.get("/stories/bsky:0")
    assert page.status_code == 200
    text = unescape(page.text)
    assert "Story: 6 mentions" in text
    assert "100% negative" in text
    assert "<li>bsky <meter" in page.text
    assert 'onerror="alert(1)"' not in page.text
    assert "javascript:alert" not in page.text
    assert client.get("/stories/nope:1").status_code == 404
    store.close()


def test_the_story_page_needs_sign_in(tmp_path: Path) -> None:
    client, store = _client(tmp_path, user=None)
    assert client.get("/stories/bsky:0").headers["location"].startswith("/login")
    store.close()


def test_growth_steps_adapt_to_the_story_span() -> None:
    view = story_view([_mention(i, 60 * i) for i in range(10)], 10)
    assert view.step == timedelta(minutes=15)
    assert [g[2] for g in view.growth][-1] == 10
    assert view.sources == (("bsky", 10),)
    assert story_view([], 0).growth == ()
