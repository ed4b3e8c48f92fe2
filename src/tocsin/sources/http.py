"""A careful HTTP GET for sources: capped redirects, http(s) only, a hard body limit, clear errors.

`fetch` follows redirects by hand (each hop is checked: only ``http`` and ``https``), streams the
body and decompresses it itself with a bounded output size, so a gzip bomb or an endless body
stops at `max_bytes` after reading little more than that. Every failure is a `SourceError`
whose message names the URL, what went wrong and what to change.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import httpx

from tocsin import __version__
from tocsin.clock import Clock
from tocsin.sources.base import SourceError

__all__ = [
    "USER_AGENT",
    "FetchResponse",
    "HttpStatusError",
    "conditional_headers",
    "fetch",
    "parse_retry_after",
]

USER_AGENT = f"tocsin/{__version__} (+https://github.com/tocsin)"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_RETRY_LATER = frozenset({429, 503})
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class FetchResponse:
    """What `fetch` got: the final status, headers, decoded body and the URL after redirects."""

    status: int
    headers: httpx.Headers
    body: bytes
    url: str


class HttpStatusError(SourceError):
    """The server answered with an error status (kept in `status`)."""

    def __init__(self, message: str, *, status: int, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.status = status


def conditional_headers(etag: str | None, last_modified: str | None) -> dict[str, str]:
    """The headers of a conditional GET from what the last answer said (304 if unchanged)."""
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    max_redirects: int = 5,
    headers: Mapping[str, str] | None = None,
    clock: Clock | None = None,
) -> FetchResponse:
    """GET `url` and return its body (at most `max_bytes` decoded bytes).

    `timeout` bounds connecting and each read; the whole fetch, redirects included, must end
    within four times that, so a server that drips bytes cannot hold a poll forever.
    `headers` are sent as given (e.g. ``If-None-Match``); a 304 is returned, not raised.
    429 and 503 raise `HttpStatusError` with `retry_after` from ``Retry-After``.
    """
    try:
        async with asyncio.timeout(timeout * 4):
            return await _fetch(client, url, max_bytes, timeout, max_redirects, headers, clock)
    except TimeoutError as exc:
        raise SourceError(
            f"GET {url} took longer than {timeout * 4:g}s in all; "
            "raise `timeout` in the source options if this server is just slow"
        ) from exc


async def _fetch(
    client: httpx.AsyncClient,
    url: str,
    max_bytes: int,
    timeout: float,
    max_redirects: int,
    headers: Mapping[str, str] | None,
    clock: Clock | None,
) -> FetchResponse:
    """The redirect loop of `fetch`."""
    request_headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"}
    request_headers.update(headers or {})
    current = _checked_url(url, None)
    for _hop in range(max_redirects + 1):
        request = client.build_request("GET", current, headers=request_headers, timeout=timeout)
        response = await _send(client, request, current, timeout)
        try:
            location = response.headers.get("location")
            if response.status_code in _REDIRECTS and location:
                current = _checked_url(urljoin(current, location.strip()), current)
                continue
            _raise_for_status(response, current, clock)
            body = await _read_body(response, current, max_bytes, timeout)
            return FetchResponse(response.status_code, response.headers, body, current)
        finally:
            await response.aclose()
    raise SourceError(
        f"GET {url} was redirected more than {max_redirects} redirects (last: {current}); "
        "use the final URL or raise `max_redirects` in the source options"
    )


def _checked_url(url: str, referrer: str | None) -> str:
    """Refuse anything but absolute http(s) URLs, naming the redirect that led there."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise SourceError(f"URL {url[:200]!r} is not valid: {exc}") from exc
    if parts.scheme.lower() in ("http", "https") and parts.hostname:
        return url
    if referrer is None:
        raise SourceError(f"URL {url[:200]!r} is not an http(s) URL; tocsin fetches only web URLs")
    raise SourceError(
        f"{referrer} redirected to {url[:200]!r}, which is not an http(s) URL; refused"
    )


async def _send(
    client: httpx.AsyncClient, request: httpx.Request, url: str, timeout: float
) -> httpx.Response:
    """Send one request, streaming, turning transport failures into `SourceError`."""
    try:
        return await client.send(request, stream=True, follow_redirects=False)
    except httpx.TimeoutException as exc:
        raise SourceError(
            f"GET {url} timed out after {timeout:g}s ({type(exc).__name__}); "
            "raise `timeout` in the source options if this server is just slow"
        ) from exc
    except httpx.ConnectError as exc:
        raise SourceError(
            f"cannot reach {request.url.host} ({exc}); is this machine offline?"
        ) from exc
    except httpx.HTTPError as exc:
        raise SourceError(f"GET {url} failed: {type(exc).__name__}: {exc}") from exc
    except httpx.InvalidURL as exc:  # httpx parses a redirect's Location eagerly
        raise SourceError(
            f"GET {url} redirected to an invalid or non-http(s) URL ({exc}); refused"
        ) from exc


def _raise_for_status(response: httpx.Response, url: str, clock: Clock | None) -> None:
    """Raise `HttpStatusError` for 4xx/5xx; 429/503 carry `retry_after`."""
    status = response.status_code
    if status < 400:
        return
    if status in _RETRY_LATER:
        now = clock.now() if clock else datetime.now(UTC)
        retry = parse_retry_after(response.headers.get("retry-after"), now)
        wait = f"; the server asks to wait {retry:g}s" if retry is not None else ""
        raise HttpStatusError(
            f"GET {url} returned HTTP {status} (rate limited or unavailable){wait}",
            status=status,
            retry_after=retry,
        )
    hint = "check the URL" if status in (404, 410) else "the server refused or failed"
    raise HttpStatusError(f"GET {url} returned HTTP {status}; {hint}", status=status)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or HTTP-date); None if unreadable."""
    if not value or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


async def _read_body(response: httpx.Response, url: str, max_bytes: int, timeout: float) -> bytes:
    """Read and decode the body, stopping as soon as the decoded size passes `max_bytes`."""
    decoder = _Decoder(response.headers.get("content-encoding", ""), url)
    out = bytearray()
    try:
        async for chunk in response.aiter_raw(_CHUNK):
            out += decoder.decode(chunk, max_bytes + 1 - len(out))
            if len(out) > max_bytes:
                raise SourceError(
                    f"GET {url}: body exceeds {max_bytes} bytes; raise `max_bytes` in the "
                    "source options if this feed is legitimate"
                )
        out += decoder.flush(max_bytes + 1 - len(out))
    except httpx.TimeoutException as exc:
        raise SourceError(
            f"GET {url} timed out after {timeout:g}s while reading the body; "
            "raise `timeout` in the source options if this server is just slow"
        ) from exc
    except httpx.HTTPError as exc:
        raise SourceError(f"GET {url}: reading the body failed: {exc}") from exc
    if len(out) > max_bytes:
        raise SourceError(
            f"GET {url}: body exceeds {max_bytes} bytes; raise `max_bytes` in the source "
            "options if this feed is legitimate"
        )
    return bytes(out)


class _Decoder:
    """Undo ``Content-Encoding`` (identity, gzip, deflate) with a bounded output per call."""

    def __init__(self, encoding: str, url: str) -> None:
        codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise SourceError(f"GET {url}: unsupported Content-Encoding {encoding!r}")
        self._gzip = bool(codings) and codings[0] != "deflate"
        self._zlib = self._new() if codings else None
        self._url = url
        self._first = True

    def _new(self) -> zlib._Decompress:
        return zlib.decompressobj(zlib.MAX_WBITS | 16 if self._gzip else zlib.MAX_WBITS)

    def decode(self, data: bytes, limit: int) -> bytes:
        """Decode `data`, returning at most `limit` bytes (the caller stops past its limit)."""
        if self._zlib is None:
            return data[: max(limit, 0)]
        if self._first and not self._gzip and data[:1] and (data[0] & 0x0F) != 8:
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as some servers send
        self._first = False
        try:
            out = self._zlib.decompress(data, max(limit, 1))
            if self._zlib.eof and self._zlib.unused_data and len(out) < limit:
                rest, self._zlib = self._zlib.unused_data, self._new()  # next gzip member
                out += self.decode(rest, limit - len(out))
        except zlib.error as exc:
            raise SourceError(f"GET {self._url}: body is not valid compressed data: {exc}") from exc
        return out

    def flush(self, limit: int) -> bytes:
        """Whatever the decompressor still holds, at most `limit` bytes."""
        if self._zlib is None:
            return b""
        try:
            return self._zlib.decompress(self._zlib.unconsumed_tail, max(limit, 1))
        except zlib.error as exc:
            raise SourceError(f"GET {self._url}: body is not valid compressed data: {exc}") from exc
