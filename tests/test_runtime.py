"""Wiring a workspace into a running tocsin: sources, matcher, retention."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tocsin.clock import FakeClock
from tocsin.config import Retention, load_settings
from tocsin.events import SOURCE_DOWN
from tocsin.mention import Mention
from tocsin.query import Document
from tocsin.runtime import (
    build_matcher,
    build_sources,
    enforce_retention,
    monitor_sources,
    open_store,
)
from tocsin.sources.rss import RssSource
from tocsin.store import Store
from tocsin.workspace import init_workspace

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _mention(n: int, age_days: int) -> Mention:
    at = NOW - timedelta(days=age_days)
    return Mention(
        id=f"rss:{n}",
        source="rss",
        url=f"https://x.example/{n}",
        text="Acme",
        published_at=at,
        seen_at=at,
    )


async def test_the_default_workspace_builds_sources_and_watches(tmp_path: Path) -> None:
    init_workspace(tmp_path, organisation="Acme Bank")
    settings = load_settings(tmp_path, env={})
    async with httpx.AsyncClient() as client:
        sources = build_sources(settings, client=client, clock=FakeClock(NOW))
    assert sources
    assert all(isinstance(s, RssSource) for s in sources)
    assert any("Acme%20Bank" in s.describe() or "Acme+Bank" in s.describe() for s in sources)
    matcher = build_matcher(settings)
    assert "brand" in matcher.match(Document.from_text("J'adore Acme Bank"))
    assert "crisis" in matcher.match(Document.from_text("Acme Bank : énorme panne ce matin"))
    store = open_store(settings, tmp_path)
    assert store.count() == 0
    store.close()


class _StopAtSleep(FakeClock):
    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self.slept = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.slept.set()
        await asyncio.Event().wait()  # parked until cancelled


async def test_retention_purges_old_mentions(database_url: str) -> None:
    store = Store.open(database_url)
    store.upgrade()
    store.save_batch("rss", [_mention(1, 400), _mention(2, 10)], now=NOW)
    clock = _StopAtSleep(NOW)
    task = asyncio.create_task(enforce_retention(store, Retention(mentions_days=365), clock))
    await asyncio.wait_for(clock.slept.wait(), timeout=30)
    task.cancel()
    assert store.get("rss:1") is None
    assert store.get("rss:2") is not None
    assert clock.sleeps == [3600.0]
    store.close()


def test_watch_changes_lists_added_changed_and_removed_watches(tmp_path: Path) -> None:
    from tocsin.query import Matcher, parse
    from tocsin.runtime import watch_changes

    init_workspace(tmp_path, organisation="Acme")
    settings = load_settings(tmp_path, env={})
    current = Matcher({"brand": parse('"Acme" OR #acme OR @acme'), "old": parse("x")})
    changes = watch_changes(current, settings)
    assert changes["old"] is None
    assert "brand" not in changes  # unchanged: not recompiled
    assert changes["crisis"] is not None


async def test_edited_watches_and_sources_reach_the_running_pipeline(tmp_path: Path) -> None:
    from tocsin.pipeline import Pipeline
    from tocsin.runtime import follow_settings, pipeline_listener

    init_workspace(tmp_path, organisation="Acme")
    settings = load_settings(tmp_path, env={})
    store = open_store(settings, tmp_path)
    config = tmp_path / "tocsin.toml"
    seen: list[list[str]] = []

    async with httpx.AsyncClient() as client:
        sources = build_sources(settings, client=client, clock=FakeClock(NOW))
        pipeline = Pipeline(store, sources, matcher=build_matcher(settings), clock=FakeClock(NOW))
        bbc = next(s for s in sources if s.key == "bbc-news")

        class EditingClock(FakeClock):
            """Edits tocsin.toml during the first wait, breaks it during the second."""

            async def sleep(self, seconds: float) -> None:
                await super().sleep(seconds)
                if len(self.sleeps) == 1:
                    text = config.read_text().replace(
                        "query = 'Globex OR #globex'", "query = 'Initech'"
                    )
                    text = text.replace('name = "le-monde"', 'name = "le-monde"\nenabled = false')
                    text = text.replace(
                        "https://www.francetvinfo.fr/titres.rss",
                        "https://www.francetvinfo.fr/monde.rss",
                    )
                    config.write_text(text)
                elif len(self.sleeps) == 2:
                    assert pipeline.matcher.match(Document.from_text("Initech recrute")) == (
                        "competitor",
                    )
                    config.write_text(
                        config.read_text() + "\n[[watches]]\nname = 'bad'\nquery = '(('\n"
                    )
                elif len(self.sleeps) == 3:
                    raise asyncio.CancelledError

        listeners = [
            pipeline_listener(pipeline, settings, client=client, clock=FakeClock(NOW)),
            lambda new: seen.append([w.name for w in new.watches]),
        ]
        before = pipeline.matcher
        with contextlib.suppress(asyncio.CancelledError):
            await follow_settings(tmp_path, EditingClock(NOW), listeners, every=5)
    assert pipeline.matcher is not before
    assert pipeline.matcher.match(Document.from_text("Initech recrute")) == ("competitor",)
    assert "bad" not in pipeline.matcher.names  # a broken file changes nothing
    assert len(seen) == 1
    keys = [s.key for s in pipeline.sources]
    assert "le-monde" not in keys  # disabled: stopped
    assert next(s for s in pipeline.sources if s.key == "bbc-news") is bbc  # untouched
    franceinfo = next(s for s in pipeline.sources if s.key == "franceinfo")
    assert str(franceinfo.options.url).endswith("/monde.rss")  # rebuilt with its new options
    store.close()


async def test_a_failing_source_is_recorded_as_down_once(database_url: str) -> None:
    store = Store.open(database_url)
    store.upgrade()
    for _ in range(3):
        store.record_health("feed", "rss", ok=False, error="HTTP 503", at=NOW)
    source = RssSource(
        "feed", RssSource.Options(url="https://x.example/feed"), client=None, clock=FakeClock()
    )

    class ThreeChecks(FakeClock):
        async def sleep(self, seconds: float) -> None:
            if len(self.sleeps) == 3:
                raise asyncio.CancelledError
            await super().sleep(seconds)

    with contextlib.suppress(asyncio.CancelledError):
        await monitor_sources(store, [source], ThreeChecks(NOW), every=60)
    [event] = store.events()
    assert (event.kind, event.subject) == (SOURCE_DOWN, "feed")
    assert "HTTP 503" in event.message
    store.close()
