"""Server-sent events (``text/event-stream``) over httpx: an incremental parser and a reader.

`SseParser` follows the WHATWG rules: lines end with CRLF, LF or CR; ``:`` starts a comment (a
heartbeat such as Mastodon's ``:thump``); ``data:`` lines accumulate, joined by newlines; a blank
line dispatches the event. An event still incomplete when the stream ends is discarded, never
half-delivered. `connect_sse` opens a stream and checks its status before anything is read;
failures are `SourceError`s naming the URL (never the request headers, which may hold a token).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from tocsin.clock import Clock
from tocsin.sources.base import SourceError
from tocsin.sources.http import USER_AGENT, HttpStatusError, parse_retry_after

__all__ = ["NotAStream", "SseEvent", "SseParser", "SseStream", "StreamCut", "connect_sse"]

_EOL = re.compile(r"\r\n|\r|\n")
_ERROR_BODY = 4096


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One dispatched event: its type (``message`` when unnamed), data and last event id."""

    event: str
    data: str
    id: str | None = None


class StreamCut(SourceError):
    """The stream stopped before the server meant it to (connection lost, silence, bad size)."""


class NotAStream(SourceError):
    """The server answered, but not with ``text/event-stream`` (it does not stream there)."""


class SseParser:
    """Turns text chunks into `SseEvent`s; keeps the unfinished line and event between chunks."""

    def __init__(self, max_event_chars: int = 1_000_000) -> None:
        self.max_event_chars = max_event_chars
        self._buffer = ""
        self._data: list[str] = []
        self._size = 0
        self._event = ""
        self._last_id: str | None = None
        self.comments = 0

    def feed(self, text: str) -> list[SseEvent]:
        """Parse `text`; return the events it completes. Raises `ValueError` if one is too big."""
        buffer = self._buffer + text
        events: list[SseEvent] = []
        start = 0
        for match in _EOL.finditer(buffer):
            if match.group() == "\r" and match.end() == len(buffer):
                break  # may be the first half of a CRLF split across chunks
            event = self._line(buffer[start : match.start()])
            if event is not None:
                events.append(event)
            start = match.end()
        self._buffer = buffer[start:]
        if self._size + len(self._buffer) > self.max_event_chars:
            raise ValueError(f"an event is larger than {self.max_event_chars} characters")
        return events

    def _line(self, line: str) -> SseEvent | None:
        """Apply one line; return the event a blank line dispatches."""
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            self.comments += 1
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._size += len(value) + 1
            if self._size > self.max_event_chars:
                raise ValueError(f"an event is larger than {self.max_event_chars} characters")
        elif name == "event":
            self._event = value
        elif name == "id" and "\x00" not in value:
            self._last_id = value
        return None

    def _dispatch(self) -> SseEvent | None:
        data, event = "\n".join(self._data), self._event or "message"
        had_data = bool(self._data)
        self._data, self._size, self._event = [], 0, ""
        return SseEvent(event, data, self._last_id) if had_data else None


class SseStream:
    """An open event stream; ``async for event in stream`` until the server ends it.

    A clean end of the body simply stops the iteration (the incomplete event is dropped); a
    broken connection or a silence longer than the read timeout raises `StreamCut`.
    """

    def __init__(self, response: httpx.Response, url: str, max_event_bytes: int) -> None:
        self.url = url
        self._chunks = response.aiter_text()
        self._parser = SseParser(max_event_bytes)
        self._pending: list[SseEvent] = []

    def __aiter__(self) -> SseStream:
        return self

    async def __anext__(self) -> SseEvent:
        while not self._pending:
            try:
                chunk = await anext(self._chunks)
            except httpx.TimeoutException as exc:
                raise StreamCut(
                    f"stream {self.url} was silent longer than the read timeout; reconnecting "
                    "(raise `timeout` if this server sends heartbeats rarely)"
                ) from exc
            except httpx.HTTPError as exc:
                raise StreamCut(f"stream {self.url} was cut: {type(exc).__name__}") from exc
            try:
                self._pending.extend(self._parser.feed(chunk))
            except ValueError as exc:
                raise StreamCut(f"stream {self.url}: {exc}; raise `max_bytes`") from exc
        return self._pending.pop(0)

    @property
    def heartbeats(self) -> int:
        """Comment lines seen so far (heartbeats)."""
        return self._parser.comments


@asynccontextmanager
async def connect_sse(
    client: httpx.AsyncClient,
    url: str,
    *,
    timeout: float,
    max_event_bytes: int = 1_000_000,
    headers: Mapping[str, str] | None = None,
    clock: Clock | None = None,
) -> AsyncIterator[SseStream]:
    """Open `url` as an event stream; the response is closed when the block ends.

    `timeout` bounds connecting and each read (so a stream must show life, heartbeats count,
    that often). An HTTP error status raises `HttpStatusError` (with ``retry_after`` from
    ``Retry-After``) whose message quotes the server's short error text; a body that is not
    ``text/event-stream`` raises `SourceError`. Redirects are followed by httpx, which drops
    ``Authorization`` when one leads to another host.
    """
    request_headers = {"User-Agent": USER_AGENT, "Accept": "text/event-stream"}
    request_headers["Cache-Control"] = "no-cache"
    request_headers.update(headers or {})
    request = client.build_request("GET", url, headers=request_headers, timeout=timeout)
    try:
        response = await client.send(request, stream=True, follow_redirects=True)
    except httpx.TimeoutException as exc:
        raise SourceError(f"stream {url}: no answer within {timeout:g}s; retrying later") from exc
    except httpx.HTTPError as exc:
        raise SourceError(f"stream {url} failed: {type(exc).__name__}: {exc}") from exc
    try:
        await _check(response, url, clock)
        yield SseStream(response, url, max_event_bytes)
    finally:
        await response.aclose()


async def _check(response: httpx.Response, url: str, clock: Clock | None) -> None:
    """Raise for an error status or a body that is not an event stream."""
    status = response.status_code
    if status >= 400:
        detail = await _error_text(response)
        now = clock.now() if clock else datetime.now(UTC)
        retry = parse_retry_after(response.headers.get("retry-after"), now)
        wait = f"; the server asks to wait {retry:g}s" if retry is not None else ""
        raise HttpStatusError(
            f"stream {url} returned HTTP {status}{detail}{wait}", status=status, retry_after=retry
        )
    kind = response.headers.get("content-type", "")
    if "text/event-stream" not in kind.lower():
        raise NotAStream(
            f"stream {url} answered {kind or 'no content type'!r}, not text/event-stream; "
            "this server does not stream here"
        )


async def _error_text(response: httpx.Response) -> str:
    """`` ("the server's error")`` from a small JSON ``{"error": ...}`` body, else ``""``."""
    body = b""
    try:
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > _ERROR_BODY:
                return ""
        doc = json.loads(body)
    except (httpx.HTTPError, ValueError):
        return ""
    error = doc.get("error") if isinstance(doc, dict) else None
    return f" ({error[:200]!r})" if isinstance(error, str) and error else ""
