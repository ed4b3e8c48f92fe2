"""Bluesky in real time, without a key: the Jetstream firehose of posts, plus a search backfill.

`BlueskySource.stream` connects to a public Jetstream instance over WebSocket, asking for
``app.bsky.feed.post`` records only, and groups the events into batches (`batch_size` posts or
`batch_seconds` on the injected clock, whichever comes first). The cursor is the Jetstream
``time_us`` (microseconds since the epoch) of the newest event read, as a decimal string;
every (re)connection asks for `rewind_seconds` before it, so nothing at the edge is lost and
the duplicates land on the same mention ids. Instances fail over in turn with exponential
backoff. Authors are resolved per batch through the AppView (`atproto_profiles`); a failing
AppView never holds posts back. `backfill_queries` are searched once per start with
``app.bsky.feed.searchPosts``. The search code lives in `bluesky_search`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from pydantic import Field, field_validator
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from tocsin.hookspecs import hookimpl
from tocsin.mention import Mention
from tocsin.sources.atproto_profiles import Profile, ProfileResolver
from tocsin.sources.base import (
    ApiRoot,
    Batch,
    IngestError,
    RawItem,
    Source,
    SourceError,
    SourceOptions,
)
from tocsin.sources.bluesky_post import (
    PLATFORM,
    POST_COLLECTION,
    author_of,
    check_did_rkey,
    event_mention,
    post_uri,
    post_view_mention,
    uri_did_rkey,
)
from tocsin.sources.bluesky_search import backfill_batches, fetch_posts
from tocsin.sources.http import USER_AGENT
from tocsin.sources.jetstream_zstd import SHIPPED_DICTIONARY, EventDecompressor, load_dictionary

__all__ = ["DEFAULT_INSTANCES", "BlueskyOptions", "BlueskySource", "subscribe_url"]

log = logging.getLogger("tocsin.sources.bluesky")

DEFAULT_INSTANCES = (
    "wss://jetstream2.us-east.bsky.network/subscribe",
    "wss://jetstream1.us-east.bsky.network/subscribe",
    "wss://jetstream1.us-west.bsky.network/subscribe",
    "wss://jetstream2.us-west.bsky.network/subscribe",
)
_MAX_RAW = 100_000
_MAX_UNRESOLVED = 5_000  # posts kept to re-send once their author's profile is known


class BlueskyOptions(SourceOptions):
    """Options of the Bluesky (Jetstream) source."""

    instances: list[str] = Field(
        default_factory=lambda: list(DEFAULT_INSTANCES),
        min_length=1,
        description="Jetstream subscribe URLs (ws:// or wss://), tried in turn",
    )
    batch_size: int = Field(200, ge=1, le=10_000, description="posts per batch at most")
    batch_seconds: float = Field(0.25, gt=0, description="seconds a batch waits at most")
    rewind_seconds: float = Field(5.0, ge=0, le=3600, description="replayed on each connect")
    reconnect_min: float = Field(1.0, gt=0, description="first reconnect delay, seconds")
    reconnect_max: float = Field(60.0, gt=0, description="longest reconnect delay, seconds")
    connect_timeout: float = Field(10.0, gt=0, description="seconds to open a WebSocket")
    max_message_bytes: int = Field(1_000_000, ge=10_000, description="larger events skipped")
    appview_url: ApiRoot = Field("https://public.api.bsky.app", description="AppView for profiles")
    search_url: ApiRoot | None = Field(None, description="AppView for searchPosts (appview_url)")
    resolve_authors: bool = Field(
        False,
        description="look handles and followers up for every streamed post (see the docs)",
    )
    resolve_matched_authors: bool = Field(
        True, description="look handles and followers up for posts that matched a watch"
    )
    profile_ttl: float = Field(6 * 3600.0, ge=0, description="seconds a profile stays cached")
    profile_cache_size: int = Field(50_000, ge=1, description="profiles kept in memory")
    timeout: float = Field(10.0, gt=0, description="seconds for each AppView call")
    backfill_queries: list[str] = Field(default_factory=list, description="searched on start")
    backfill_hours: float = Field(24.0, gt=0, le=24 * 30, description="how far back, no cursor")
    backfill_max_pages: int = Field(10, ge=1, le=1000, description="pages of 100 per query")
    compress: bool = Field(False, description="zstd-compressed events (about 3x less traffic)")
    zstd_dictionary: str | None = Field(None, description="Jetstream's dictionary (shipped)")

    @field_validator("instances")
    @classmethod
    def _ws_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            parts = urlsplit(url.strip())
            if parts.scheme not in ("ws", "wss") or not parts.hostname:
                raise ValueError(
                    f"Jetstream instance {url!r} is not a ws:// or wss:// URL; "
                    "write e.g. 'wss://jetstream2.us-east.bsky.network/subscribe'"
                )
        return [url.strip() for url in value]

    @field_validator("zstd_dictionary")
    @classmethod
    def _dictionary(cls, value: str | None) -> str | None:
        if value is not None:
            load_dictionary(Path(value).expanduser())  # ValueError naming the file
        return value

    @field_validator("backfill_queries")
    @classmethod
    def _queries(cls, value: list[str]) -> list[str]:
        return [q.strip() for q in value if q.strip()]


def subscribe_url(
    instance: str, cursor_us: int | None, max_bytes: int, *, compress: bool = False
) -> str:
    """The Jetstream subscribe URL for posts only, from `cursor_us` when given."""
    parts = urlsplit(instance)
    drop = ("cursor", "wantedCollections", "compress")
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in drop]
    query += [("wantedCollections", POST_COLLECTION), ("maxMessageSizeBytes", str(max_bytes))]
    if compress:
        query.append(("compress", "true"))
    if cursor_us is not None:
        query.append(("cursor", str(max(0, cursor_us))))
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query), ""))


def _read_cursor(cursor: str | None, key: str) -> int | None:
    """The ``time_us`` kept in the cursor; an unreadable cursor means 'start live'."""
    if cursor is None or not cursor.strip():
        return None
    text = cursor.strip()
    if text.isdigit():
        return int(text)
    log.warning("%s: cursor %r is not a Jetstream time_us; starting from now", key, cursor[:80])
    return None


def _to_us(when: datetime) -> int:
    return int(when.timestamp() * 1_000_000)


def _from_us(time_us: int) -> datetime:
    return datetime.fromtimestamp(time_us / 1_000_000, tz=UTC)


@dataclass
class _Buffer:
    """Events read but not yet yielded, and where the stream stands."""

    last_us: int | None
    items: dict[str, RawItem] = field(default_factory=dict)
    errors: list[IngestError] = field(default_factory=list)
    started_at: datetime | None = None
    received: int = 0

    def size(self) -> int:
        return len(self.items) + len(self.errors)


class BlueskySource(Source):
    """Listens to every Bluesky post through Jetstream; see `description`."""

    name = "bluesky"
    description = """\
Every public **Bluesky** post, in real time, through a public **Jetstream** instance
(no account, no key). Creates and edits become mentions; deletions are skipped.

- Batches of `batch_size` posts or `batch_seconds`, whichever first; the watches keep
  what matters (the firehose carries the whole network).
- Resumes from its cursor after a restart (minus `rewind_seconds`); fails over between
  `instances`.
- Authors are resolved (handle, name, followers, verified) through the public AppView.
- `backfill_queries` are searched once per start (`app.bsky.feed.searchPosts`).
- `compress = true`: zstd events with Jetstream's dictionary (shipped), about 3x less traffic.
"""
    Options = BlueskyOptions
    options: BlueskyOptions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._resolver: ProfileResolver | None = None
        self._unresolved: deque[RawItem] = deque(maxlen=_MAX_UNRESOLVED)
        self._backfilled = False
        self._start_us: int | None = None
        self.connections: list[str] = []

    @classmethod
    def zero_config(cls, terms: Sequence[str]) -> list[tuple[str, SourceOptions]]:
        """One instance that streams all posts and backfills `terms` by search."""
        return [(PLATFORM, BlueskyOptions(backfill_queries=list(terms)))]

    refresh_batch = 25  # app.bsky.feed.getPosts takes at most 25 uris

    async def refresh(self, native_ids: Sequence[str]) -> list[RawItem]:
        """Current like, repost, reply and quote counts through app.bsky.feed.getPosts."""
        base = (self.options.search_url or self.options.appview_url).rstrip("/")
        uris = "&".join(f"uris={quote(uri, safe='')}" for uri in native_ids[: self.refresh_batch])
        url = f"{base}/xrpc/app.bsky.feed.getPosts?{uris}"
        posts, _ = await fetch_posts(self, url)
        return [
            RawItem(self.key, str(post.get("uri")), {"post": post}, f"post {n} of {url}")
            for n, post in enumerate(posts, 1)
            if isinstance(post, dict)
        ]

    def describe(self) -> str:
        """The first instance and the backfill queries."""
        extra = f", backfill {', '.join(map(repr, self.options.backfill_queries))}"
        return f"Jetstream {self.options.instances[0]}" + (
            extra if self.options.backfill_queries else ""
        )

    @functools.cached_property
    def decompressor(self) -> EventDecompressor:
        """Decompresses `compress`ed events with Jetstream's (or `zstd_dictionary`'s) dictionary."""
        path = self.options.zstd_dictionary
        dictionary = load_dictionary(Path(path).expanduser() if path else SHIPPED_DICTIONARY)
        return EventDecompressor(dictionary, self.options.max_message_bytes)

    @property
    def resolver(self) -> ProfileResolver:
        """The AppView profile resolver (built on first use, with the shared HTTP client)."""
        if self._resolver is None:
            self._resolver = ProfileResolver(
                self.client,
                self.options.appview_url,
                self.clock,
                ttl=self.options.profile_ttl,
                max_size=self.options.profile_cache_size,
                timeout=self.options.timeout,
            )
        return self._resolver

    async def stream(self, cursor: str | None) -> AsyncIterator[Batch]:
        """Backfill once per start (if asked), then follow Jetstream from `cursor` on."""
        start_us = _read_cursor(cursor, self.key)
        opts = self.options
        if start_us is None and opts.backfill_queries:
            # No cursor yet: follow from the moment the backfill began, so nothing falls between.
            self._start_us = self._start_us or _to_us(self.clock.now())
            start_us = self._start_us
        if opts.backfill_queries and not self._backfilled:
            self._backfilled = True
            since = (
                _from_us(start_us) - timedelta(seconds=opts.rewind_seconds)
                if cursor is not None and start_us is not None
                else self.clock.now() - timedelta(hours=opts.backfill_hours)
            )
            problems: list[str] = []
            keep = str(start_us) if start_us is not None else None
            async with contextlib.aclosing(backfill_batches(self, since, problems)) as pages:
                async for items, errors in pages:
                    yield Batch(tuple(await self.with_authors(items)), keep, tuple(errors))
            if problems:
                raise SourceError("; ".join(problems))
        async with contextlib.aclosing(self._follow(start_us)) as batches:
            async for batch in batches:
                yield batch

    async def _follow(self, start_us: int | None) -> AsyncGenerator[Batch, None]:
        """Connect, read, fail over and back off, forever; raise after every instance failed."""
        opts = self.options
        buffer = _Buffer(last_us=start_us)
        failures: list[str] = []
        index = 0
        while True:
            instance = opts.instances[index % len(opts.instances)]
            before = buffer.received
            try:
                async with contextlib.aclosing(self._connection(instance, buffer)) as batches:
                    async for batch in batches:
                        failures.clear()
                        yield batch
                problem = "the server closed the stream"
            except (OSError, TimeoutError, WebSocketException) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if buffer.received == before:
                index += 1  # nothing came from this instance: try the next one
            failures.append(f"{instance}: {problem}")
            log.warning("%s: Jetstream %s; reconnecting", self.key, failures[-1])
            if len(failures) >= 2 * len(opts.instances):
                last = "; ".join(failures[-len(opts.instances) :])
                raise SourceError(
                    f"no Jetstream instance answers ({last}); "
                    "check the network or the `instances` option"
                )
            delay = min(opts.reconnect_max, opts.reconnect_min * 2 ** (len(failures) - 1))
            await self.clock.sleep(delay)

    async def _connection(self, instance: str, buffer: _Buffer) -> AsyncGenerator[Batch, None]:
        """One WebSocket connection from the buffer's cursor minus the rewind."""
        opts = self.options
        cursor_us = buffer.last_us
        if cursor_us is not None:
            cursor_us -= int(opts.rewind_seconds * 1_000_000)
        url = subscribe_url(instance, cursor_us, opts.max_message_bytes, compress=opts.compress)
        ws = await connect(
            url,
            open_timeout=opts.connect_timeout,
            max_size=opts.max_message_bytes * 2,
            user_agent_header=USER_AGENT,
        )
        self.connections.append(url)
        log.info("%s: connected to %s", self.key, url)
        try:
            async with contextlib.aclosing(self._read(ws, instance, buffer)) as batches:
                async for batch in batches:
                    yield batch
        finally:
            # No close handshake: it would queue behind the messages we will not read, and
            # Jetstream needs none (the next connection names its cursor).
            ws.transport.abort()
            with contextlib.suppress(Exception):
                await ws.wait_closed()

    async def _read(
        self, ws: ClientConnection, instance: str, buffer: _Buffer
    ) -> AsyncGenerator[Batch, None]:
        """Read events into `buffer`; yield it when full or when `batch_seconds` have passed."""
        opts = self.options
        recv: asyncio.Future[Any] | None = None
        timer: asyncio.Task[None] | None = None
        try:
            while True:
                if recv is None:
                    recv = asyncio.ensure_future(ws.recv())
                if timer is None and buffer.started_at is not None:
                    waited = (self.clock.now() - buffer.started_at).total_seconds()
                    timer = asyncio.create_task(self.clock.sleep(opts.batch_seconds - waited))
                pending = {recv} if timer is None else {recv, timer}
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if timer is not None and timer in done:
                    timer = None
                    yield await self._flush(buffer)
                    continue
                message, recv = recv.result(), None
                self._take(message, instance, buffer)
                if buffer.size() >= opts.batch_size:
                    if timer is not None:
                        timer.cancel()
                        timer = None
                    yield await self._flush(buffer)
        finally:
            for task in (recv, timer):
                if task is not None:
                    task.cancel()  # never awaited here: our own cancellation must go on

    def _take(self, message: str | bytes, instance: str, buffer: _Buffer) -> None:
        """Read one event into the buffer; a bad one becomes an `IngestError` with its ref."""
        buffer.received += 1
        ref = f"message {buffer.received} from {instance} (after time_us {buffer.last_us})"
        try:
            item = self._event_item(message, ref, buffer)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raw = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
            error = f"{exc}; the event was skipped, the stream goes on"
            buffer.errors.append(
                IngestError(self.key, ref, error, raw[:_MAX_RAW], self.clock.now())
            )
            buffer.started_at = buffer.started_at or self.clock.now()
            return
        if item is not None:
            buffer.items[item.native_id] = item  # a replayed event replaces its first copy
            buffer.started_at = buffer.started_at or self.clock.now()

    def _event_item(self, message: str | bytes, ref: str, buffer: _Buffer) -> RawItem | None:
        """The raw item of a post create/update event; None for anything else."""
        if isinstance(message, bytes) and self.options.compress:
            message = self.decompressor.decompress(message)
        try:
            event = json.loads(message)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise ValueError(f"the event is not valid JSON ({exc})") from exc
        if not isinstance(event, dict):
            raise ValueError(f"the event is a JSON {type(event).__name__}, not an object")
        time_us = event.get("time_us")
        if not isinstance(time_us, int) or isinstance(time_us, bool) or time_us <= 0:
            raise ValueError(f"the event has no valid time_us ({time_us!r})")
        buffer.last_us = max(buffer.last_us or 0, time_us)
        commit = event.get("commit")
        if event.get("kind") != "commit" or not isinstance(commit, dict):
            return None  # identity and account events say nothing of posts
        if commit.get("collection") != POST_COLLECTION:
            return None
        if commit.get("operation") not in ("create", "update"):
            return None  # deletions are skipped, not errors
        did, rkey = check_did_rkey(event.get("did"), commit.get("rkey"))
        item = RawItem(self.key, post_uri(did, rkey), {"event": event}, ref)
        self.normalise(item)
        return item

    async def _flush(self, buffer: _Buffer) -> Batch:
        """The buffered posts (authors resolved as far as the AppView allows) as one batch."""
        items = list(buffer.items.values())
        errors = tuple(buffer.errors)
        buffer.items, buffer.errors, buffer.started_at = {}, [], None
        cursor = str(buffer.last_us) if buffer.last_us is not None else None
        return Batch(tuple(await self.with_authors(items)), cursor, errors)

    async def with_authors(self, items: Sequence[RawItem]) -> list[RawItem]:
        """`items` with their author's profile added where known; earlier posts whose profile
        could not be fetched then are added again once it is (same ids: an update)."""
        if not self.options.resolve_authors or (not items and not self._unresolved):
            return list(items)
        retry = list(self._unresolved)
        self._unresolved.clear()
        dids = [_item_did(item) for item in [*items, *retry]]
        try:
            async with asyncio.timeout(self.options.timeout):
                profiles = await self.resolver.resolve(dids)
        except TimeoutError:
            self.resolver.pause(f"took longer than {self.options.timeout:g}s")
            profiles = {}
        out: list[RawItem] = []
        for item in items:
            did = _item_did(item)
            if did in profiles:
                out.append(_with_profile(item, profiles[did]))
            else:
                out.append(item)
                if not self.resolver.known(did):
                    self._unresolved.append(item)
        for item in retry:
            did = _item_did(item)
            if did in profiles:
                out.append(_with_profile(item, profiles[did]))
            elif not self.resolver.known(did):
                self._unresolved.append(item)
        return out

    async def complete(self, mentions: Sequence[Mention]) -> list[Mention]:
        """Matched posts that arrived with their author's DID only get the author's handle,
        name, followers and verification from the AppView (batched, cached), so their reach
        can be estimated. On failure they are kept as they are."""
        pending = {m.author.handle for m in mentions if m.author.handle.startswith("did:")}
        if not self.options.resolve_matched_authors or not pending:
            return list(mentions)
        try:
            async with asyncio.timeout(self.options.timeout):
                profiles = await self.resolver.resolve(sorted(pending))
        except TimeoutError:
            self.resolver.pause(f"took longer than {self.options.timeout:g}s")
            return list(mentions)
        out: list[Mention] = []
        for m in mentions:
            profile = profiles.get(m.author.handle)
            if profile is not None and profile.found:
                m = dataclasses.replace(m, author=author_of(profile.did, asdict(profile)))
            out.append(m)
        return out

    def normalise(self, item: RawItem) -> Mention:
        """A Jetstream post event or a searchPosts post view → `Mention`."""
        payload = item.payload
        now = self.clock.now()
        if "post" in payload:
            return post_view_mention(payload["post"], payload.get("author"), now)
        return event_mention(payload["event"], payload.get("author"), now)


def _item_did(item: RawItem) -> str:
    """The author DID of a raw item (stream event or post view)."""
    payload = item.payload
    if "post" in payload:
        return uri_did_rkey(payload["post"].get("uri"))[0]
    return str(payload["event"]["did"])


def _with_profile(item: RawItem, profile: Profile) -> RawItem:
    payload = {**item.payload, "author": asdict(profile)}
    return RawItem(item.source, item.native_id, payload, item.ref)


@hookimpl
def tocsin_sources() -> list[type[Source]]:
    """The built-in Bluesky source."""
    return [BlueskySource]
