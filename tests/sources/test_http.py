"""`tocsin.sources.http.fetch` against a real local server, hostile servers included."""

from __future__ import annotations

import gzip
import time
import zlib
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pytest

from tocsin import __version__
from tocsin.clock import FakeClock
from tocsin.sources.base import SourceError
from tocsin.sources.http import HttpStatusError, fetch, parse_retry_after

MB = 1024 * 1024


async def get(client: httpx.AsyncClient, url: str, **kw: Any) -> Any:
    options: dict[str, Any] = {"max_bytes": MB, "timeout": 2.0, "max_redirects": 3}
    options.update(kw)
    return await fetch(client, url, **options)


async def test_plain_get_sends_user_agent_and_headers(
    server: Any, client: httpx.AsyncClient
) -> None:
    url = server.static("/feed", b"hello", ETag='"v1"')
    response = await get(client, url, headers={"If-None-Match": '"v0"'})
    assert (response.status, response.body, response.url) == (200, b"hello", url)
    assert response.headers["etag"] == '"v1"'
    sent = server.requests[0][1]
    assert sent["User-Agent"] == f"tocsin/{__version__} (+https://github.com/tocsin)"
    assert sent["If-None-Match"] == '"v0"'


async def test_gzip_body_is_decoded(server: Any, client: httpx.AsyncClient) -> None:
    url = server.static("/gz", gzip.compress(b"x" * 1000), Content_Encoding="gzip")
    assert (await get(client, url)).body == b"x" * 1000


async def test_deflate_zlib_and_raw(server: Any, client: httpx.AsyncClient) -> None:
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw_body = raw.compress(b"raw deflate") + raw.flush()
    a = server.static("/z", zlib.compress(b"zlib deflate"), Content_Encoding="deflate")
    b = server.static("/r", raw_body, Content_Encoding="deflate")
    assert (await get(client, a)).body == b"zlib deflate"
    assert (await get(client, b)).body == b"raw deflate"


async def test_304_is_returned_not_raised(server: Any, client: httpx.AsyncClient) -> None:
    url = server.static("/nm", b"", status=304, ETag='"v1"')
    response = await get(client, url, headers={"If-None-Match": '"v1"'})
    assert response.status == 304
    assert response.body == b""


def _endless(
    handler: BaseHTTPRequestHandler, chunks: Any, sent: dict[str, int], **hdr: str
) -> None:
    """Stream `chunks` without a length until the client hangs up; count what was written."""
    handler.send_response(200)
    for name, value in hdr.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.end_headers()
    sent["bytes"] = 0
    try:
        for chunk in chunks:
            handler.wfile.write(chunk)
            sent["bytes"] += len(chunk)
    except OSError:
        pass


def _gzip_bomb(expanded_gib: int) -> Any:
    """A gzip stream of zeros expanding to `expanded_gib` GiB, compressed on the fly."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    zeros = bytes(MB)
    for _ in range(expanded_gib * 1024):
        yield compressor.compress(zeros)
    yield compressor.flush()


async def test_gzip_bomb_stops_at_max_bytes(server: Any, client: httpx.AsyncClient) -> None:
    sent: dict[str, int] = {}
    url = server.route("/bomb", lambda h: _endless(h, _gzip_bomb(4), sent, Content_Encoding="gzip"))
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"body exceeds 1048576 bytes; raise `max_bytes`"):
        await get(client, url)
    assert time.monotonic() - started < 5
    assert sent["bytes"] < 4 * 1024 * MB // 1000  # far less than the whole compressed bomb


async def test_50_mb_body_stops_at_limit_without_reading_it_all(
    server: Any, client: httpx.AsyncClient
) -> None:
    sent: dict[str, int] = {}
    chunks = (b"a" * MB for _ in range(50))
    url = server.route("/big", lambda h: _endless(h, chunks, sent, Content_Length=str(50 * MB)))
    with pytest.raises(SourceError, match="body exceeds 1048576 bytes"):
        await get(client, url)
    server.close()  # lets the handler notice the hang-up
    assert sent["bytes"] < 50 * MB


async def test_exact_limit_is_accepted(server: Any, client: httpx.AsyncClient) -> None:
    url = server.static("/exact", b"a" * 100)
    assert len((await get(client, url, max_bytes=100)).body) == 100
    with pytest.raises(SourceError, match="exceeds 99 bytes"):
        await get(client, url, max_bytes=99)


async def test_429_with_retry_after_seconds(server: Any, client: httpx.AsyncClient) -> None:
    url = server.static("/busy", b"slow down", status=429, Retry_After="120")
    with pytest.raises(HttpStatusError, match="HTTP 429") as info:
        await get(client, url)
    assert info.value.retry_after == 120
    assert info.value.status == 429


async def test_503_with_retry_after_date(server: Any, client: httpx.AsyncClient) -> None:
    clock = FakeClock(datetime(2026, 1, 1, 12, 0, tzinfo=UTC))
    date = "Thu, 01 Jan 2026 12:05:00 GMT"
    url = server.static("/down", b"", status=503, Retry_After=date)
    with pytest.raises(HttpStatusError) as info:
        await get(client, url, clock=clock)
    assert info.value.retry_after == 300


def test_parse_retry_after_edge_cases() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("Wed, 31 Dec 2025 00:00:00 GMT", now) == 0.0
    assert parse_retry_after(" 7 ", now) == 7.0


async def test_500_names_the_status(server: Any, client: httpx.AsyncClient) -> None:
    url = server.static("/err", b"boom", status=500)
    with pytest.raises(HttpStatusError, match="returned HTTP 500") as info:
        await get(client, url)
    assert info.value.status == 500
    assert info.value.retry_after is None


async def test_redirects_are_followed_and_capped(server: Any, client: httpx.AsyncClient) -> None:
    target = server.static("/final", b"done")
    server.static("/hop", b"", status=302, Location="/final")
    response = await get(client, server.url("/hop"))
    assert (response.body, response.url) == (b"done", target)

    loop = server.static("/loop", b"", status=301, Location="/loop")
    with pytest.raises(SourceError, match="more than 3 redirects"):
        await get(client, loop)


@pytest.mark.parametrize(
    "location", ["file:///etc/passwd", "javascript:alert(1)", "data:text/xml,<rss/>"]
)
async def test_redirect_to_other_schemes_is_refused(
    server: Any, client: httpx.AsyncClient, location: str
) -> None:
    url = server.static("/evil", b"", status=302, Location=location)
    with pytest.raises(
        SourceError, match=r"redirected to .*(not an http\(s\) URL|invalid).*refused"
    ):
        await get(client, url)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "javascript:alert(1)", "ftp://x.example/"])
async def test_non_http_urls_are_refused(client: httpx.AsyncClient, url: str) -> None:
    with pytest.raises(SourceError, match="not an http\\(s\\) URL"):
        await get(client, url)


async def test_server_that_never_answers_times_out(server: Any, client: httpx.AsyncClient) -> None:
    url = server.route("/hang", lambda h: server.release.wait(10))
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"timed out after 0.2s.*raise `timeout`"):
        await get(client, url, timeout=0.2)
    assert time.monotonic() - started < 3


async def test_connection_refused_is_a_source_error(client: httpx.AsyncClient) -> None:
    with pytest.raises(SourceError, match=r"cannot reach 127.0.0.1 .*offline"):
        await get(client, "http://127.0.0.1:9/feed")


async def test_corrupt_gzip_is_a_clear_error(server: Any, client: httpx.AsyncClient) -> None:
    url = server.static("/bad", b"definitely not gzip", Content_Encoding="gzip")
    with pytest.raises(SourceError, match="not valid compressed data"):
        await get(client, url)


async def test_unknown_content_encoding(server: Any, client: httpx.AsyncClient) -> None:
    url = server.static("/br", b"xx", Content_Encoding="br")
    with pytest.raises(SourceError, match="unsupported Content-Encoding 'br'"):
        await get(client, url)
