"""The one way through: source -> normalise -> match -> enrich -> store.

Each source runs in its own collector task and puts its batches on one bounded queue (a slow
store slows the collectors down instead of filling memory). One writer task takes batches in
order, runs the stages, and stores each batch *with its cursor* in one transaction: a cursor
is never committed before the mentions it covers, so a crash at any point loses nothing, and
the idempotent upsert absorbs what a restart fetches twice.

A failing source is retried with exponential backoff and jitter (honouring `Retry-After`)
while the others go on; its health is recorded after every attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tocsin.clock import Clock
from tocsin.enrich.base import Enricher, Remembers
from tocsin.enrich.reach import measured_velocity
from tocsin.mention import Mention, split_id
from tocsin.query import Matcher
from tocsin.sources.base import Batch, IngestError, RawItem, Source, SourceError
from tocsin.store import Store

__all__ = [
    "Backoff",
    "BatchReport",
    "Pipeline",
    "enrich_mentions",
    "match_mentions",
    "normalise_batch",
]

log = logging.getLogger("tocsin.pipeline")


# --- the stages: data in, data out ---------------------------------------------------------


def _raw_text(payload: Any) -> str:
    try:
        return json.dumps(payload, ensure_ascii=False, default=str, sort_keys=True)
    except (TypeError, ValueError):
        return repr(payload)


def normalise_batch(
    source: Source, items: Sequence[RawItem], now: datetime
) -> tuple[list[Mention], list[IngestError]]:
    """Turn raw items into mentions; an item that cannot be read becomes an `IngestError`."""
    mentions: list[Mention] = []
    errors: list[IngestError] = []
    for item in items:
        try:
            mentions.append(source.normalise(item))
        except (ValueError, TypeError, KeyError) as exc:
            ref = item.ref or f"{source.key} item {item.native_id}"
            errors.append(IngestError(source.key, ref, str(exc), _raw_text(item.payload), now))
    return mentions, errors


def match_mentions(
    matcher: Matcher, mentions: Sequence[Mention], *, keep_unmatched: bool
) -> list[Mention]:
    """Attach the names of the watches each mention matches; drop the unmatched unless kept."""
    matched: list[Mention] = []
    for mention in mentions:
        watches = matcher.match_mention(mention)
        if watches or keep_unmatched:
            matched.append(dataclasses.replace(mention, watches=watches))
    return matched


def enrich_mentions(enrichers: Sequence[Enricher], mentions: list[Mention]) -> list[Mention]:
    """Run every enricher in order; each returns one mention per mention given."""
    for enricher in enrichers:
        enriched = enricher.enrich(mentions)
        if len(enriched) != len(mentions):
            raise RuntimeError(
                f"enricher {enricher.name!r} returned {len(enriched)} mentions for "
                f"{len(mentions)}; an enricher must return one mention per mention"
            )
        mentions = enriched
    return mentions


# --- runtime -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatchReport:
    """What happened to one stored batch, for logs and progress bars."""

    source: str
    items: int
    matched: int
    inserted: int
    updated: int
    errors: int
    cursor: str | None
    mentions: tuple[Mention, ...] = ()


@dataclass
class Backoff:
    """Exponential backoff with jitter: base * 2^(n-1), capped, drawn in [d/2, d]."""

    base: float = 5.0
    cap: float = 900.0
    rng: random.Random = dataclasses.field(default_factory=random.Random)

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        ceiling = min(self.cap, self.base * 2 ** max(0, failures - 1))
        wait = self.rng.uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.cap * 4))
        return wait


_DONE = object()

#: Seconds between two looks at the refresh schedule when nothing is due.
REFRESH_POLL = 60.0


class Pipeline:
    """Runs sources into the store until stopped or until every source is exhausted."""

    def __init__(
        self,
        store: Store,
        sources: Sequence[Source],
        *,
        matcher: Matcher,
        clock: Clock,
        enrichers: Sequence[Enricher] = (),
        queue_size: int = 1000,
        shutdown_timeout: float = 30.0,
        backoff: Backoff | None = None,
        keep_unmatched: Callable[[Source], bool] | None = None,
        on_batch: Callable[[BatchReport], None] | None = None,
        forever: bool = False,
    ) -> None:
        self.store = store
        self.forever = forever  # run until stopped, even with no source left (tocsin run)
        self.sources = list(sources)
        self.matcher = matcher
        self.clock = clock
        self.enrichers = list(enrichers)
        self.shutdown_timeout = shutdown_timeout
        self.backoff = backoff or Backoff()
        self._keep_unmatched = keep_unmatched or (lambda source: False)
        self._on_batch = on_batch
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=max(1, queue_size))
        self._stop: asyncio.Event | None = None
        self._collectors: dict[str, asyncio.Task[None]] = {}
        self._refreshers: list[asyncio.Task[None]] = []

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Collect and store until `stop` is set (then drain in-flight batches) or all end."""
        stop = self._stop = stop or asyncio.Event()
        await self._recall()
        writer = asyncio.create_task(self._write(), name="tocsin-writer")
        for source in self.sources:
            self._start(source)
        self._restart_refreshers()
        stopper: asyncio.Future[Any] = asyncio.create_task(stop.wait(), name="tocsin-stop")
        try:
            # Sources may be replaced while this runs: wait on the collectors of the moment.
            while not stopper.done():
                pending = {t for t in self._collectors.values() if not t.done()}
                if not pending and not self.forever:
                    break
                await asyncio.wait({stopper, *pending}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            collectors = list(self._collectors.values())
            for task in [*collectors, *self._refreshers]:
                task.cancel()
            await asyncio.gather(*self._refreshers, return_exceptions=True)
            await asyncio.gather(*collectors, return_exceptions=True)
            self._collectors.clear()
            stopper.cancel()
            await self._queue.put(_DONE)
            try:
                await asyncio.wait_for(asyncio.shield(writer), self.shutdown_timeout)
            except TimeoutError:
                log.warning(
                    "shutdown: in-flight batches not stored within %.0fs; their cursors were "
                    "not committed, so they will be fetched again on restart",
                    self.shutdown_timeout,
                )
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writer
        if writer.done() and not writer.cancelled() and writer.exception() is not None:
            raise writer.exception()  # type: ignore[misc]

    def replace_sources(self, sources: Sequence[Source]) -> None:
        """Collect from `sources` from now on (an edited tocsin.toml, without a restart).

        A source kept as the same object goes on undisturbed; the collectors of the others
        stop (batches already queued are still stored: cursors advance only after storing)
        and new ones start from their stored cursor. `sources` is updated in place, so
        whoever holds it (the health monitor) sees the change.
        """
        wanted = {id(s) for s in sources}
        for source in self.sources:
            if id(source) not in wanted:
                task = self._collectors.pop(source.key, None)
                if task is not None:
                    task.cancel()
        running = {id(s) for s in self.sources}
        self.sources[:] = list(sources)
        if self._stop is None:  # not running yet: run() starts them
            return
        for source in self.sources:
            if id(source) not in running:
                self._start(source)
        self._restart_refreshers()

    def _start(self, source: Source) -> None:
        assert self._stop is not None
        self._collectors[source.key] = asyncio.create_task(
            self._collect(source, self._stop), name=f"collect-{source.key}"
        )

    def _restart_refreshers(self) -> None:
        for task in self._refreshers:
            task.cancel()
        self._refreshers = [
            asyncio.create_task(self._refresh(source), name=f"refresh-{source.key}")
            for source in self._refreshing_sources()
        ]

    async def _collect(self, source: Source, stop: asyncio.Event) -> None:
        """Stream one source into the queue, retrying with backoff when it fails."""
        cursor = await asyncio.to_thread(self.store.get_cursor, source.key)
        failures = 0
        while not stop.is_set():
            try:
                async for batch in source.stream(cursor):
                    await self._queue.put((source, batch))
                    if batch.cursor is not None:
                        cursor = batch.cursor
                    failures = 0
                return  # the source is exhausted (a file, a one-shot import)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                retry_after = exc.retry_after if isinstance(exc, SourceError) else None
                delay = self.backoff.delay(failures, retry_after)
                await self._failed(source, exc, failures, delay)
                await self.clock.sleep(delay)

    @staticmethod
    async def _complete(source: Source, mentions: list[Mention]) -> list[Mention]:
        """`Source.complete` on the matched mentions; on failure they are stored as they are."""
        if not mentions:
            return mentions
        try:
            completed = await source.complete(mentions)
        except Exception as exc:
            log.warning("%s: completing matched mentions failed: %s", source.key, exc)
            return mentions
        if len(completed) != len(mentions):
            log.warning("%s: complete() returned a wrong number of mentions", source.key)
            return mentions
        return completed

    async def _recall(self) -> None:
        """Give enrichers with a memory (stories) the recent mentions the store holds."""
        for enricher in self.enrichers:
            if isinstance(enricher, Remembers):
                since = self.clock.now() - enricher.history
                items = await asyncio.to_thread(self.store.story_seeds, since=since)
                count = await asyncio.to_thread(enricher.remember, items)
                log.debug("%s: remembered %d recent mention(s)", enricher.name, count)

    def _refreshing_sources(self) -> list[Source]:
        """One source per platform that can re-poll engagement (the first configured)."""
        chosen: dict[str, Source] = {}
        for source in self.sources:
            if source.can_refresh:
                chosen.setdefault(source.name, source)
        return list(chosen.values())

    async def _refresh(self, source: Source) -> None:
        """Re-poll the metrics of `source`'s recent mentions as they fall due, forever.

        A refresh is marked done once its items are fetched: a crash before they are stored
        skips one refresh step of those mentions (their metrics catch up at the next one).
        """
        while True:
            now = self.clock.now()
            wait = REFRESH_POLL
            try:
                ids = await asyncio.to_thread(
                    self.store.due_for_refresh, source.name, now=now, limit=source.refresh_batch
                )
                if ids:
                    items = await source.refresh([split_id(i)[1] for i in ids]) or []
                    await asyncio.to_thread(self.store.refreshed, ids, now=now)
                    await self._queue.put((source, Batch(items=tuple(items), refreshed=True)))
                    continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                retry_after = getattr(exc, "retry_after", None)
                if isinstance(retry_after, int | float):  # a 429: wait as long as asked
                    wait = max(wait, min(float(retry_after), self.backoff.cap * 4))
                log.warning(
                    "%s: engagement refresh failed: %s; next try in %.0fs", source.key, exc, wait
                )
            await self.clock.sleep(wait)

    async def _failed(self, source: Source, exc: Exception, failures: int, delay: float) -> None:
        message = str(exc) or type(exc).__name__
        if isinstance(exc, SourceError):
            log.warning(
                "%s: %s (attempt %d; retrying in %.0fs)", source.key, message, failures, delay
            )
        else:
            log.exception(
                "%s: unexpected error (attempt %d; retrying in %.0fs)", source.key, failures, delay
            )
        try:
            await asyncio.to_thread(
                self.store.record_health,
                source.key,
                source.name,
                ok=False,
                error=message,
                at=self.clock.now(),
            )
        except Exception as store_exc:  # the database is down too: the log line must do
            log.error("%s: could not record health: %s", source.key, store_exc)

    async def _write(self) -> None:
        """Take batches in order and store each with its cursor; retry the store if it fails."""
        while True:
            entry = await self._queue.get()
            if entry is _DONE:
                return
            source, batch = entry
            failures = 0
            while True:
                try:
                    report = await self._store_batch(source, batch)
                    break
                except Exception as exc:  # the database is down or locked: keep the batch
                    failures += 1
                    delay = self.backoff.delay(failures)
                    log.error(
                        "storing a batch of %s failed: %s; retrying in %.0fs",
                        source.key,
                        exc,
                        delay,
                    )
                    await self.clock.sleep(delay)
            if self._on_batch is not None:
                self._on_batch(report)

    async def _store_batch(self, source: Source, batch: Batch) -> BatchReport:
        now = self.clock.now()
        mentions, errors = normalise_batch(source, batch.items, now)
        keep = batch.refreshed or self._keep_unmatched(source)
        matched = match_mentions(self.matcher, mentions, keep_unmatched=keep)
        matched = await self._complete(source, matched)
        if matched and self.enrichers:
            previous = await asyncio.to_thread(self.store.engagement, [m.id for m in matched])
            matched = [
                dataclasses.replace(m, velocity=measured_velocity(m, previous.get(m.id), now))
                for m in matched
            ]
            matched = await asyncio.to_thread(enrich_mentions, self.enrichers, matched)
        all_errors = [*batch.errors, *errors]
        result = await asyncio.to_thread(
            self.store.save_batch,
            source.key,
            matched,
            errors=all_errors,
            cursor=batch.cursor,
            now=now,
        )
        await asyncio.to_thread(
            self.store.record_health,
            source.key,
            source.name,
            ok=True,
            items=len(batch.items),
            at=now,
        )
        return BatchReport(
            source=source.key,
            items=len(batch.items),
            matched=len(matched),
            inserted=result.inserted,
            updated=result.updated,
            errors=len(all_errors),
            cursor=batch.cursor,
            mentions=tuple(matched),
        )
