"""The server-sent events parser and reader, against text and a local 127.0.0.1 server."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tocsin.clock import FakeClock
from tocsin.sources.base import SourceError
from tocsin.sources.http import HttpStatusError
from tocsin.sources.sse import NotAStream, SseEvent, SseParser, StreamCut, connect_sse


def test_events_comments_and_defaults() -> None:
    parser = SseParser()
    events = parser.feed(':thump\n\nevent: update\ndata: {"a": 1}\n\ndata:plain\nid: 7\n\n')
    assert events == [SseEvent("update", '{"a": 1}'), SseEvent("message", "plain", "7")]
    assert parser.comments == 1


def test_multi_line_data_and_line_endings() -> None:
    text = 'event: update\r\ndata: {\r\ndata:  "a": 1\rdata: }\n\r\n'
    assert SseParser().feed(text) == [SseEvent("update", '{\n "a": 1\n}')]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7])
def test_any_chunking_gives_the_same_events(size: int) -> None:
    text = "event: update\r\ndata: one\r\ndata: two\r\n\r\n:hb\r\nevent: delete\r\ndata: 9\r\n\r\n"
    parser = SseParser()
    events = [e for i in range(0, len(text), size) for e in parser.feed(text[i : i + size])]
    assert events == [SseEvent("update", "one\ntwo"), SseEvent("delete", "9")]


def test_event_without_data_is_not_dispatched_and_type_resets() -> None:
    parser = SseParser()
    assert parser.feed("event: update\n\ndata: x\n\n") == [SseEvent("message", "x")]


def test_incomplete_event_is_held_then_too_big_refused() -> None:
    parser = SseParser(max_event_chars=20)
    assert parser.feed("event: update\ndata: 12345") == []
    with pytest.raises(ValueError, match="larger than 20"):
        parser.feed("data: 12345678901234567890\n")


def _stream(server: Any, path: str, payload: bytes, content_type: str = "text/event-stream") -> str:
    def handler(h: Any) -> None:
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        h.end_headers()
        h.wfile.write(payload)

    return server.route(path, handler)


async def test_reads_until_clean_end_dropping_the_partial_event(
    server: Any, client: httpx.AsyncClient
) -> None:
    url = _stream(server, "/s", b':thump\n\nevent: update\ndata: 1\n\nevent: update\ndata: {"par')
    async with connect_sse(client, url, timeout=5) as events:
        got = [event async for event in events]
        assert events.heartbeats == 1
    assert got == [SseEvent("update", "1")]
    _path, headers = server.requests[0]
    assert headers["Accept"] == "text/event-stream"


async def test_error_status_with_retry_after(server: Any, client: httpx.AsyncClient) -> None:
    url = server.static("/s", b'{"error":"Too many requests"}', 429, Retry_After="30")
    with pytest.raises(HttpStatusError, match="HTTP 429 \\('Too many requests'\\)") as info:
        async with connect_sse(client, url, timeout=5, clock=FakeClock()):
            pass
    assert (info.value.status, info.value.retry_after) == (429, 30)


async def test_not_an_event_stream(server: Any, client: httpx.AsyncClient) -> None:
    url = _stream(server, "/s", b"<html></html>", "text/html")
    with pytest.raises(NotAStream, match="not text/event-stream"):
        async with connect_sse(client, url, timeout=5):
            pass


async def test_silence_longer_than_timeout_is_a_cut(server: Any, client: httpx.AsyncClient) -> None:
    def handler(h: Any) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.end_headers()
        h.wfile.write(b"event: update\ndata: 1\n\n")
        server.release.wait(10)

    url = server.route("/s", handler)
    async with connect_sse(client, url, timeout=0.3) as events:
        assert await anext(events) == SseEvent("update", "1")
        with pytest.raises(StreamCut, match="silent"):
            await anext(events)


async def test_event_too_large_is_a_cut(server: Any, client: httpx.AsyncClient) -> None:
    url = _stream(server, "/s", b"data: " + b"x" * 5000 + b"\n\n")
    async with connect_sse(client, url, timeout=5, max_event_bytes=1000) as events:
        with pytest.raises(StreamCut, match="larger than 1000"):
            await anext(events)


async def test_unreachable(client: httpx.AsyncClient) -> None:
    with pytest.raises(SourceError, match="failed"):
        async with connect_sse(client, "http://127.0.0.1:1/s", timeout=1):
            pass
