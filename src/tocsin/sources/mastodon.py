"""Mastodon and compatible servers: hashtags, the public timeline and search, live where allowed.

Each (instance, timeline) pair is a *lane*. REST polling is the base: the lane's cursor is the
newest status id seen (ids sort by length, then value), the next request asks for ``min_id`` so
a burst larger than one page is read page by page, never skipped. With ``stream = true`` a lane
also opens the instance's server-sent-events stream; right after connecting it catches up by
REST from its cursor, then takes events live. A stream that is refused (401/403/404) leaves
that lane on polling; a stream that is cut is reopened with backoff on the injected clock and
again caught up from the last complete event, so nothing between the two connections is lost.

One post seen through several instances is one mention: ``mastodon:<uri>`` (its ActivityPub
id). The access token is sent only to the first instance listed (the one it was made on).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from pydantic import Field, SecretStr, field_validator, model_validator

from tocsin.hookspecs import hookimpl
from tocsin.mention import Mention
from tocsin.normalise import canonical_url
from tocsin.sources.base import (
    Batch,
    IngestError,
    PollingSource,
    RawItem,
    Source,
    SourceError,
    SourceOptions,
)
from tocsin.sources.http import HttpStatusError
from tocsin.sources.http import fetch as http_fetch
from tocsin.sources.mastodon_refresh import BATCH as REFRESH_BATCH
from tocsin.sources.mastodon_refresh import StatusRefresher
from tocsin.sources.mastodon_status import (
    explained,
    id_key,
    newest_id,
    read_cursor,
    status_mention,
    write_cursor,
)
from tocsin.sources.sse import NotAStream, SseEvent, connect_sse

__all__ = ["Lane", "MastodonOptions", "MastodonSource", "id_key", "lanes_of"]

log = logging.getLogger(__name__)

PAGE_LIMIT = 40
MAX_PAGES = 10
_REMEMBERED = 20_000
_NO_STREAM = frozenset({401, 403, 404, 405, 410, 422, 501})
_STREAM_EVENTS = frozenset({"update", "status.update"})


class MastodonOptions(SourceOptions):
    """Options of a Mastodon source."""

    instances: list[str] = Field(default_factory=lambda: ["https://mastodon.social"], min_length=1)
    hashtags: list[str] = Field(default_factory=list)
    query: str | None = Field(None, description="full-text search; needs `access_token`")
    public: bool = Field(False, description="the whole public timeline, filtered by watches")
    access_token: SecretStr | None = Field(None, description="sent to the first instance only")
    stream: bool = Field(True, description="real time over server-sent events where allowed")
    interval: float = Field(120.0, ge=30, description="seconds between REST polls (at least 30)")
    timeout: float = Field(30.0, gt=0, description="seconds to connect and for each read")
    max_bytes: int = Field(5_000_000, gt=0, description="largest response or event accepted")

    @field_validator("instances")
    @classmethod
    def _instances(cls, values: list[str]) -> list[str]:
        out: list[str] = []
        for value in values:
            base = canonical_url(value).split("?")[0].rstrip("/")
            if base not in out:
                out.append(base)
        return out

    @field_validator("hashtags")
    @classmethod
    def _hashtags(cls, values: list[str]) -> list[str]:
        out: list[str] = []
        for value in values:
            tag = value.strip().lstrip("#")
            if not tag or not all(c.isalnum() or c == "_" for c in tag):
                raise ValueError(
                    f"hashtag {value!r} is not a hashtag: use letters, digits and _ only, "
                    "without spaces (e.g. 'acme' or '#acme')"
                )
            if tag.lower() not in (t.lower() for t in out):
                out.append(tag)
        return out

    @field_validator("query")
    @classmethod
    def _query(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @model_validator(mode="after")
    def _something_to_read(self) -> MastodonOptions:
        """At least one timeline; search only with a token."""
        if not (self.hashtags or self.public or self.query):
            raise ValueError(
                "a mastodon source needs something to listen to: set `hashtags`, "
                "`public = true` or `query`"
            )
        if self.query and self.access_token is None:
            raise ValueError(
                "`query` (full-text search) needs `access_token`: create one on your instance "
                "(Preferences > Development > New application, scope read:search)"
            )
        return self


@dataclass(frozen=True, slots=True)
class Lane:
    """One timeline on one instance: where to poll, where to stream, whether to authenticate."""

    instance: str
    timeline: str
    rest_path: str
    stream_path: str | None
    auth: bool

    @property
    def key(self) -> tuple[str, str]:
        """The lane's place in the cursor."""
        return (self.instance, self.timeline)

    def __str__(self) -> str:
        return f"{self.timeline} on {self.instance}"


@dataclass(slots=True)
class _LaneOut:
    """What a lane read: items, per-item errors and its newest id after them."""

    key: tuple[str, str]
    items: list[RawItem]
    errors: list[IngestError]
    newest: str | None


@dataclass(slots=True)
class _LaneState:
    lane: Lane
    newest: str | None
    streaming: bool
    failures: int = 0


class _StreamRefused(SourceError):
    """The instance will not stream this timeline to us (auth needed, disabled, not Mastodon)."""


class _Crash:
    """A lane failed with an unexpected error; the stream re-raises it."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def lanes_of(options: MastodonOptions) -> list[Lane]:
    """Every (instance, timeline) the options ask for; the token goes to the first instance."""
    lanes: list[Lane] = []
    token = options.access_token is not None
    for number, instance in enumerate(options.instances):
        auth = token and number == 0
        for tag in options.hashtags:
            rest = f"/api/v1/timelines/tag/{quote(tag, safe='')}"
            sse = f"/api/v1/streaming/hashtag?{urlencode({'tag': tag})}"
            lanes.append(Lane(instance, f"tag:{tag.lower()}", rest, sse, auth))
        if options.public:
            rest, sse = "/api/v1/timelines/public", "/api/v1/streaming/public"
            lanes.append(Lane(instance, "public", rest, sse, auth))
    if options.query:
        rest = f"/api/v2/search?{urlencode({'q': options.query, 'type': 'statuses'})}"
        lanes.append(Lane(options.instances[0], f"search:{options.query}", rest, None, True))
    return lanes


class MastodonSource(PollingSource):
    """Listens to Mastodon instances; see `description`."""

    name = "mastodon"
    description = """\
**Mastodon** and compatible servers: `hashtags`, the `public` timeline (filtered by your
watches) and full-text `query` search (needs an `access_token`), on one or more `instances`.

- Real time over server-sent events where the instance allows it; REST polling otherwise, and
  to catch up after any cut, so nothing is lost.
- The same post seen through several instances is one mention (`mastodon:<uri>`).
- Reblogs count as the original post; deleted posts are skipped; edits update the mention.
"""
    Options = MastodonOptions
    options: MastodonOptions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lanes = lanes_of(self.options)
        self._uris: OrderedDict[tuple[str, str], str] = OrderedDict()

    @classmethod
    def zero_config(cls, terms: Sequence[str]) -> list[tuple[str, SourceOptions]]:
        """The terms that can be hashtags, followed live on mastodon.social (no token needed;
        full-text search would need one)."""
        tags = [t for t in terms if t.replace("_", "").isalnum()][:5]
        return [("mastodon", MastodonOptions(hashtags=tags))] if tags else []

    refresh_batch = REFRESH_BATCH

    async def refresh(self, native_ids: Sequence[str]) -> list[RawItem]:
        """Current counts of statuses, each read on its own instance (`mastodon_refresh`)."""
        return await StatusRefresher(self, self._uris).refresh(native_ids)

    def describe(self) -> str:
        """The timelines and instances listened to."""
        return ", ".join(str(lane) for lane in self.lanes)

    def poll_interval(self) -> float:
        """`interval` seconds."""
        return self.options.interval

    # -- polling -----------------------------------------------------------------------------

    async def fetch(self, cursor: str | None) -> Batch:
        """One REST round over every lane from `cursor`; a lane that fails keeps its place.

        Raises `SourceError` only when every lane failed (with the longest ``retry_after``).
        """
        state = read_cursor(cursor)
        results = await asyncio.gather(
            *(self._catch_up(lane, state.get(lane.key)) for lane in self.lanes),
            return_exceptions=True,
        )
        outs: list[_LaneOut] = []
        failed: list[SourceError] = []
        for lane, result in zip(self.lanes, results, strict=True):
            if isinstance(result, SourceError):
                log.warning("%s: %s: %s", self.key, lane, result)
                failed.append(result)
            elif isinstance(result, BaseException):
                raise result
            else:
                outs.append(result)
        if failed and not outs:
            waits = [e.retry_after for e in failed if e.retry_after is not None]
            more = f" (and {len(failed) - 1} more lane(s) failed)" if len(failed) > 1 else ""
            raise SourceError(f"{failed[0]}{more}", retry_after=max(waits, default=None))
        return self._merge(state, outs)

    def _merge(self, state: dict[tuple[str, str], str], outs: Sequence[_LaneOut]) -> Batch:
        """One batch from lane outputs, one item per post (the last version wins)."""
        items: dict[str, RawItem] = {}
        errors: list[IngestError] = []
        for out in outs:
            for item in out.items:
                items.pop(item.native_id, None)
                items[item.native_id] = item
            errors.extend(out.errors)
            if out.newest is not None:
                state[out.key] = out.newest
        return Batch(tuple(items.values()), write_cursor(state), tuple(errors))

    async def _catch_up(self, lane: Lane, newest: str | None) -> _LaneOut:
        """Read `lane` by REST from `newest` on (first run: its latest page only)."""
        out = _LaneOut(lane.key, [], [], newest)
        for _page in range(MAX_PAGES):
            url = self._page_url(lane, out.newest)
            entries = await self._get_json_list(lane, url)
            items, errors, page_newest = self._read(lane, entries, url)
            out.items += items
            out.errors += errors
            first_run = out.newest is None
            out.newest = newest_id(out.newest, page_newest)
            if first_run or len(entries) < PAGE_LIMIT or page_newest is None:
                break
        return out

    def _page_url(self, lane: Lane, min_id: str | None) -> str:
        params = {"limit": str(PAGE_LIMIT)} | ({"min_id": min_id} if min_id else {})
        sep = "&" if "?" in lane.rest_path else "?"
        return f"{lane.instance}{lane.rest_path}{sep}{urlencode(params)}"

    def _headers(self, lane: Lane) -> dict[str, str]:
        token = self.options.access_token
        if lane.auth and token is not None:
            return {"Authorization": f"Bearer {token.get_secret_value()}"}
        return {}

    async def _get_json_list(self, lane: Lane, url: str) -> list[Any]:
        """GET a page of statuses (a list, or ``statuses`` of a search result)."""
        opts = self.options
        try:
            response = await http_fetch(
                self.client,
                url,
                max_bytes=opts.max_bytes,
                timeout=opts.timeout,
                headers={"Accept": "application/json", **self._headers(lane)},
                clock=self.clock,
            )
        except HttpStatusError as exc:
            raise explained(exc, str(lane), lane.instance) from exc
        try:
            doc = json.loads(response.body)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise SourceError(
                f"GET {url} did not return JSON ({exc}); is it a Mastodon server?"
            ) from exc
        if isinstance(doc, dict) and lane.timeline.startswith("search:"):
            doc = doc.get("statuses")
        if not isinstance(doc, list):
            raise SourceError(f"GET {url} did not return a list of statuses; is it Mastodon?")
        return doc

    # -- statuses ----------------------------------------------------------------------------

    def _read(
        self, lane: Lane, entries: Sequence[Any], where: str
    ) -> tuple[list[RawItem], list[IngestError], str | None]:
        """Raw items from timeline entries; a bad entry becomes an `IngestError`."""
        for entry in entries:  # first, so a reply can name a parent found in the same page
            for status in (entry, entry.get("reblog")) if isinstance(entry, dict) else ():
                self._remember(lane.instance, status)
        items: list[RawItem] = []
        errors: list[IngestError] = []
        newest: str | None = None
        for number, entry in enumerate(entries, 1):
            ref = f"status {number} of {where}" if len(entries) > 1 else where
            try:
                items.append(self._item(lane, entry, ref))
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                raw = json.dumps(entry, ensure_ascii=False, default=str)
                errors.append(IngestError(self.key, ref, str(exc), raw, self.clock.now()))
            if isinstance(entry, dict) and isinstance(entry.get("id"), str) and entry["id"]:
                newest = newest_id(newest, entry["id"])
        return items, errors, newest

    def _remember(self, instance: str, status: object) -> None:
        """Keep (instance, local id) → uri for recent statuses, to resolve ``in_reply_to_id``."""
        if isinstance(status, dict):
            sid, uri = status.get("id"), status.get("uri")
            if isinstance(sid, str) and isinstance(uri, str) and sid and uri:
                self._uris[(instance, sid)] = uri
                self._uris.move_to_end((instance, sid))
                while len(self._uris) > _REMEMBERED:
                    self._uris.popitem(last=False)

    def _item(self, lane: Lane, entry: object, ref: str) -> RawItem:
        """One checked raw item; reblogs are unwrapped to the original post."""
        if not isinstance(entry, dict):
            raise ValueError(f"is a JSON {type(entry).__name__}, not a status object")
        status = entry["reblog"] if isinstance(entry.get("reblog"), dict) else entry
        uri = status.get("uri")
        if not isinstance(uri, str) or not uri.strip():
            raise ValueError("status has no 'uri' (its ActivityPub id), so it cannot be stored")
        reply_to = status.get("in_reply_to_id")
        parent = self._uris.get((lane.instance, reply_to)) if isinstance(reply_to, str) else None
        payload = {"status": status, "instance": lane.instance, "parent_uri": parent}
        item = RawItem(self.key, uri.strip(), payload, ref)
        self.normalise(item)
        return item

    def normalise(self, item: RawItem) -> Mention:
        """Build the mention from the (unwrapped) status kept in the payload."""
        payload = item.payload
        return status_mention(
            payload["status"],
            item.native_id,
            payload["instance"],
            payload.get("parent_uri"),
            self.clock.now(),
        )

    # -- streaming ---------------------------------------------------------------------------

    async def stream(self, cursor: str | None) -> AsyncIterator[Batch]:
        """Poll (``stream = false``) or run every lane live, merging what they read."""
        if not self.options.stream:
            async for batch in super().stream(cursor):
                yield batch
            return
        state = read_cursor(cursor)
        queue: asyncio.Queue[_LaneOut | _Crash] = asyncio.Queue(maxsize=64)
        tasks = [
            asyncio.create_task(
                self._lane_task(
                    _LaneState(lane, state.get(lane.key), bool(lane.stream_path)), queue
                ),
                name=f"{self.key}:{lane}",
            )
            for lane in self.lanes
        ]
        try:
            while True:
                outs = [await queue.get()]
                while not queue.empty():
                    outs.append(queue.get_nowait())
                for out in outs:
                    if isinstance(out, _Crash):
                        raise out.exc
                yield self._merge(state, [o for o in outs if isinstance(o, _LaneOut)])
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _lane_task(self, st: _LaneState, queue: asyncio.Queue[_LaneOut | _Crash]) -> None:
        """Run one lane forever; an unexpected error is handed to the stream to raise."""
        try:
            await self._run_lane(st, queue)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await queue.put(_Crash(exc))

    async def _run_lane(self, st: _LaneState, queue: asyncio.Queue[_LaneOut | _Crash]) -> None:
        """Stream (catching up by REST on each connection) or poll; back off on failures."""
        while True:
            try:
                if st.streaming:
                    await self._stream_lane(st, queue)
                else:
                    await self._poll_lane(st, queue)
                    await self.clock.sleep(self.options.interval)
            except _StreamRefused as exc:
                log.warning(
                    "%s: %s; polling every %gs instead", self.key, exc, self.poll_interval()
                )
                st.streaming = False
            except SourceError as exc:
                await self._back_off(st, exc)

    async def _back_off(self, st: _LaneState, exc: SourceError) -> None:
        """Wait 2 s doubling up to 5 min, or longer if the server said so (``Retry-After``)."""
        st.failures += 1
        delay = min(300.0, 2.0 * 2 ** (st.failures - 1))
        delay = max(delay, min(exc.retry_after or 0.0, 3600.0))
        log.warning("%s: %s: %s (retrying in %.0fs)", self.key, st.lane, exc, delay)
        await self.clock.sleep(delay)

    async def _poll_lane(self, st: _LaneState, queue: asyncio.Queue[_LaneOut | _Crash]) -> None:
        """Catch the lane up by REST; hand on what changed."""
        out = await self._catch_up(st.lane, st.newest)
        st.failures = 0
        if out.items or out.errors or out.newest != st.newest:
            st.newest = out.newest
            await queue.put(out)

    async def _stream_lane(self, st: _LaneState, queue: asyncio.Queue[_LaneOut | _Crash]) -> None:
        """Connect, catch up by REST from the cursor, then read events until the stream ends."""
        lane, connected = st.lane, False
        url = f"{lane.instance}{lane.stream_path}"
        opts = self.options
        headers = self._headers(lane)
        try:
            async with connect_sse(
                self.client,
                url,
                timeout=opts.timeout,
                max_event_bytes=opts.max_bytes,
                headers=headers,
                clock=self.clock,
            ) as events:
                connected = True
                await self._poll_lane(st, queue)
                async for event in events:
                    st.failures = 0
                    out = self._on_event(st, event, url)
                    if out is not None:
                        await queue.put(out)
        except (HttpStatusError, NotAStream) as exc:
            refused = isinstance(exc, NotAStream) or exc.status in _NO_STREAM
            if connected or not refused:
                raise
            raise _StreamRefused(str(exc)) from exc
        raise SourceError(f"stream {url} ended; catching up and reconnecting")

    def _on_event(self, st: _LaneState, event: SseEvent, url: str) -> _LaneOut | None:
        """An `update` or `status.update` becomes an item; `delete` and others are skipped."""
        if event.event not in _STREAM_EVENTS:
            return None
        ref = f"{event.event} event on {url}"
        try:
            entry = json.loads(event.data)
        except (ValueError, RecursionError) as exc:
            error = f"event data is not JSON ({exc}); the event was skipped"
            return _LaneOut(
                st.lane.key,
                [],
                [IngestError(self.key, ref, error, event.data, self.clock.now())],
                st.newest,
            )
        items, errors, newest = self._read(st.lane, [entry], ref)
        if event.event == "update":
            st.newest = newest_id(st.newest, newest)
        return _LaneOut(st.lane.key, items, errors, st.newest)


@hookimpl
def tocsin_sources() -> list[type[Source]]:
    """The built-in Mastodon source."""
    return [MastodonSource]
