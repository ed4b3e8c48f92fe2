"""The pipeline: stages in order, cursors after storage, backoff, isolation, shutdown."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest

from tocsin.clock import FakeClock
from tocsin.mention import Author, Mention, make_id
from tocsin.pipeline import Backoff, BatchReport, Pipeline, match_mentions, normalise_batch
from tocsin.query import Matcher, parse
from tocsin.sources.base import Batch, RawItem, Source, SourceError
from tocsin.store import Store

NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


class ListSource(Source):
    """Yields the given batches, then ends; `fail_first` errors are raised before that."""

    name: ClassVar[str] = "fake"
    description: ClassVar[str] = "A list of batches, for tests."

    def __init__(
        self,
        key: str,
        batches: Sequence[Batch],
        *,
        clock: FakeClock,
        fail: Sequence[Exception] = (),
    ) -> None:
        super().__init__(key, Source.Options(), client=None, clock=clock)
        self.batches = list(batches)
        self.fail = list(fail)
        self.started_with: list[str | None] = []

    async def stream(self, cursor: str | None) -> AsyncIterator[Batch]:
        self.started_with.append(cursor)
        if self.fail:
            raise self.fail.pop(0)
        start = int(cursor) if cursor else 0
        for batch in self.batches[start:]:
            yield batch

    def normalise(self, item: RawItem) -> Mention:
        text = item.payload.get("text")
        if not isinstance(text, str):
            raise ValueError("item has no text")
        return Mention(
            id=make_id("fake", item.native_id),
            source="fake",
            url=f"https://example.org/{item.native_id}",
            text=text,
            published_at=NOW,
            seen_at=NOW,
        )


def _batch(n: int, texts: Sequence[Any]) -> Batch:
    items = tuple(
        RawItem("src", f"{n}-{i}", {"text": text}, ref=f"batch {n} item {i}")
        for i, text in enumerate(texts)
    )
    return Batch(items=items, cursor=str(n + 1))


@pytest.fixture
def store(database_url: str) -> Any:
    store = Store.open(database_url)
    store.upgrade()
    yield store
    store.close()


def _pipeline(store: Store, sources: Sequence[Source], clock: FakeClock, **kw: Any) -> Pipeline:
    matcher = Matcher({"brand": parse("acme"), "crisis": parse("acme AND panne")})
    return Pipeline(
        store, sources, matcher=matcher, clock=clock, backoff=Backoff(rng=random.Random(1)), **kw
    )


def test_stages_are_plain_functions() -> None:
    clock = FakeClock(NOW)
    source = ListSource("src", [], clock=clock)
    items = _batch(0, ["Acme en panne", None, "rien à voir"]).items
    mentions, errors = normalise_batch(source, items, NOW)
    assert [m.text for m in mentions] == ["Acme en panne", "rien à voir"]
    assert errors[0].ref == "batch 0 item 1"
    assert "no text" in errors[0].error
    matcher = Matcher({"brand": parse("acme"), "crisis": parse("acme AND panne")})
    matched = match_mentions(matcher, mentions, keep_unmatched=False)
    assert [m.watches for m in matched] == [("brand", "crisis")]


async def test_batches_are_stored_with_their_cursor_and_errors(store: Store) -> None:
    clock = FakeClock(NOW)
    source = ListSource(
        "src", [_batch(0, ["Acme ok", "other"]), _batch(1, ["ACME en panne", 42])], clock=clock
    )
    reports: list[BatchReport] = []
    await _pipeline(store, [source], clock, on_batch=reports.append).run()
    assert [(r.items, r.matched, r.errors) for r in reports] == [(2, 1, 0), (2, 1, 1)]
    assert store.get_cursor("src") == "2"
    assert store.count() == 2
    stored = store.get("fake:1-0")
    assert stored is not None
    assert stored.watches == ("brand", "crisis")
    assert [e.ref for e in store.errors(source="src")] == ["batch 1 item 1"]
    health = {h.source: h for h in store.health(now=clock.now())}
    assert health["src"].items_total == 4
    assert health["src"].last_success_at == NOW


async def test_restart_resumes_from_committed_cursor_without_duplicates(store: Store) -> None:
    clock = FakeClock(NOW)
    batches = [_batch(0, ["Acme a"]), _batch(1, ["Acme b"]), _batch(2, ["Acme c"])]
    await _pipeline(store, [ListSource("src", batches[:2], clock=clock)], clock).run()
    again = ListSource("src", batches, clock=clock)
    await _pipeline(store, [again], clock).run()
    assert again.started_with == ["2"]
    assert store.count() == 3


async def test_failing_source_backs_off_honours_retry_after_and_spares_others(
    store: Store,
) -> None:
    clock = FakeClock(NOW)
    flaky = ListSource(
        "flaky",
        [_batch(5, ["Acme from flaky"])],
        clock=clock,
        fail=[SourceError("HTTP 429", retry_after=120), SourceError("timeout")],
    )
    steady = ListSource("steady", [_batch(0, ["Acme steady"])], clock=clock)
    await _pipeline(store, [flaky, steady], clock).run()
    assert store.count() == 2
    assert flaky.started_with == [None, None, None]
    assert clock.sleeps[0] >= 120  # Retry-After wins over the shorter backoff
    assert 2.5 <= clock.sleeps[1] <= 10  # second failure: base 5 * 2^1, jittered into [5, 10]
    health = {h.source: h for h in store.health(now=clock.now())}
    assert health["flaky"].last_error == "timeout"
    assert health["flaky"].last_success_at is not None


def test_backoff_grows_and_caps() -> None:
    backoff = Backoff(base=1, cap=60, rng=random.Random(0))
    delays = [backoff.delay(n) for n in range(1, 12)]
    assert all(
        0.5 * min(60, 2 ** (n - 1)) <= d <= min(60, 2 ** (n - 1)) for n, d in enumerate(delays, 1)
    )
    assert backoff.delay(1, retry_after=30) >= 30


class EndlessSource(ListSource):
    """Yields one batch per poll forever, sleeping on the injected clock between polls."""

    async def stream(self, cursor: str | None) -> AsyncIterator[Batch]:
        self.started_with.append(cursor)
        n = int(cursor) if cursor else 0
        while True:
            yield _batch(n, [f"Acme {n}"])
            n += 1
            await asyncio.sleep(0)


async def test_stop_drains_in_flight_batches_and_commits_their_cursors(store: Store) -> None:
    clock = FakeClock(NOW)
    stop = asyncio.Event()
    seen: list[BatchReport] = []

    def on_batch(report: BatchReport) -> None:
        seen.append(report)
        if len(seen) == 5:
            stop.set()

    pipeline = _pipeline(
        store, [EndlessSource("src", [], clock=clock)], clock, on_batch=on_batch, queue_size=3
    )
    await pipeline.run(stop)
    stored = store.count()
    assert stored == len(seen) >= 5
    assert store.get_cursor("src") == str(stored)


class RefreshingSource(ListSource):
    """One batch, then silence; `refresh` returns the items with their text edited."""

    async def stream(self, cursor: str | None) -> AsyncIterator[Batch]:
        for batch in self.batches:
            yield batch
        await asyncio.Event().wait()  # a live source that has nothing more to say

    async def refresh(self, native_ids: Sequence[str]) -> list[RawItem]:
        self.refreshed_ids = list(native_ids)
        return [RawItem("src", n, {"text": "plus rien à voir"}) for n in native_ids]


async def test_recent_mentions_are_refreshed_and_kept_even_if_they_no_longer_match(
    store: Store,
) -> None:
    clock = FakeClock(NOW)
    source = RefreshingSource("src", [_batch(0, ["Acme a"])], clock=clock)
    stop = asyncio.Event()
    reports: list[BatchReport] = []

    def on_batch(report: BatchReport) -> None:
        reports.append(report)
        if any(m.text == "plus rien à voir" for m in report.mentions):
            stop.set()

    await _pipeline(store, [source], clock, on_batch=on_batch).run(stop)
    assert source.refreshed_ids == ["0-0"]
    assert clock.now() >= NOW + timedelta(minutes=5)  # the first step of the schedule
    stored = store.get("fake:0-0")
    assert stored is not None
    assert stored.text == "plus rien à voir"
    assert stored.watches == ("brand",)  # the watch that matched first is kept
    assert store.due_for_refresh("fake", now=NOW + timedelta(minutes=6)) == []


class RateLimitedRefresh(RefreshingSource):
    """The platform answers the first refresh with a 429 asking for 10 minutes."""

    calls = 0

    async def refresh(self, native_ids: Sequence[str]) -> list[RawItem]:
        self.calls += 1
        if self.calls == 1:
            raise SourceError("HTTP 429 Too Many Requests", retry_after=600)
        return await super().refresh(native_ids)


async def test_a_rate_limited_refresh_waits_as_long_as_the_platform_asks(store: Store) -> None:
    clock = FakeClock(NOW)
    source = RateLimitedRefresh("src", [_batch(0, ["Acme a"])], clock=clock)
    stop = asyncio.Event()

    def on_batch(report: BatchReport) -> None:
        if any(m.text == "plus rien à voir" for m in report.mentions):
            stop.set()

    await _pipeline(store, [source], clock, on_batch=on_batch).run(stop)
    assert source.calls == 2
    assert 600.0 in clock.sleeps


async def test_stories_survive_a_restart(store: Store) -> None:
    from tocsin.enrich.stories import StoriesEnricher

    complaint = "Acme a débité deux fois ma carte et personne ne répond au service client"
    first = ListSource("src", [_batch(0, [complaint])], clock=FakeClock(NOW))
    await _pipeline(store, [first], FakeClock(NOW), enrichers=[StoriesEnricher()]).run()
    # A new process: a new, empty index, refilled from the store at start.
    retelling = ListSource("src2", [_batch(1, [f"RT {complaint} !!"])], clock=FakeClock(NOW))
    await _pipeline(store, [retelling], FakeClock(NOW), enrichers=[StoriesEnricher()]).run()
    again = store.get("fake:1-0")
    assert again is not None
    assert again.story_id == "fake:0-0"


class CompletingSource(ListSource):
    """Completes matched mentions: names the author, or fails when told to."""

    failing = False

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.completed: list[list[str]] = []

    async def complete(self, mentions: Sequence[Mention]) -> list[Mention]:
        if self.failing:
            raise RuntimeError("AppView down")
        self.completed.append([m.id for m in mentions])
        return [replace(m, author=Author(handle="named")) for m in mentions]


async def test_only_matched_mentions_are_completed_and_a_failure_keeps_them(
    store: Store,
) -> None:
    clock = FakeClock(NOW)
    source = CompletingSource("src", [_batch(0, ["Acme a", "nothing"])], clock=clock)
    await _pipeline(store, [source], clock).run()
    assert source.completed == [["fake:0-0"]]
    stored = store.get("fake:0-0")
    assert stored is not None
    assert stored.author.handle == "named"
    failing = CompletingSource("src2", [_batch(1, ["Acme b"])], clock=clock)
    failing.failing = True
    await _pipeline(store, [failing], clock).run()
    kept = store.get("fake:1-0")
    assert kept is not None
    assert kept.author.handle == ""


async def test_sources_replaced_while_running_stop_and_start_without_a_restart(
    store: Store,
) -> None:
    clock = FakeClock(NOW)
    stop = asyncio.Event()
    old = EndlessSource("old", [], clock=clock)
    kept = EndlessSource("kept", [], clock=clock)
    added = ListSource("added", [_batch(0, ["Acme added"])], clock=clock)
    pipeline = _pipeline(store, [old, kept], clock, forever=True)
    watched = pipeline.sources
    seen: list[str] = []

    def on_batch(report: BatchReport) -> None:
        seen.append(report.source)
        if len(seen) == 4:
            pipeline.replace_sources([kept, added])
        if "added" in seen and seen.count("kept") > 10:
            stop.set()

    pipeline._on_batch = on_batch
    await pipeline.run(stop)
    assert watched is pipeline.sources == [kept, added]  # updated in place
    cut = seen.index("added")
    assert "old" not in seen[cut + 3 :]  # at most what was already queued
    assert kept.started_with == [None]  # never restarted
    assert store.get("fake:0-0") is not None
    assert store.get_cursor("added") == "1"


async def test_a_pipeline_run_forever_waits_for_stop_even_with_no_source(store: Store) -> None:
    clock = FakeClock(NOW)
    stop = asyncio.Event()
    pipeline = _pipeline(store, [], clock, forever=True)
    task = asyncio.create_task(pipeline.run(stop))
    await asyncio.sleep(0.01)
    assert not task.done()
    pipeline.replace_sources([ListSource("late", [_batch(0, ["Acme late"])], clock=clock)])
    for _ in range(50):
        if store.get_cursor("late") == "1":
            break
        await asyncio.sleep(0.01)
    stop.set()
    await task
    assert store.get("fake:0-0") is not None
