"""Jetstream with ``compress = true``: zstd frames made with Jetstream's dictionary, over a real
WebSocket on 127.0.0.1; the shipped dictionary, another one by `zstd_dictionary`, bad frames."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pydantic
import pytest
import zstandard
from websockets.asyncio.server import Server, ServerConnection, serve

from tocsin.clock import FakeClock
from tocsin.sources.base import Batch
from tocsin.sources.bluesky import BlueskyOptions, BlueskySource, subscribe_url
from tocsin.sources.jetstream_zstd import SHIPPED_DICTIONARY, EventDecompressor, load_dictionary

ALICE = "did:plc:alice0000000000000000000"
T0 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in microseconds


def post_event(n: int) -> bytes:
    event = {
        "did": ALICE,
        "time_us": T0 + n * 1_000_000,
        "kind": "commit",
        "commit": {
            "rev": f"3lrev{n:05d}",
            "operation": "create",
            "collection": "app.bsky.feed.post",
            "rkey": f"3lpost{n:05d}",
            "record": {"$type": "app.bsky.feed.post", "text": f"acme post {n}", "langs": ["en"]},
            "cid": f"bafyfictional{n}",
        },
    }
    return json.dumps(event).encode()


class CompressingJetstream:
    """Sends each event as one zstd frame (a binary message), as Jetstream does on compress."""

    def __init__(self, frames: list[bytes]) -> None:
        self.frames = frames
        self.paths: list[str] = []
        self.release = asyncio.Event()
        self.server: Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/subscribe"

    async def handler(self, ws: ServerConnection) -> None:
        self.paths.append(ws.request.path if ws.request else "")
        for frame in self.frames:
            await ws.send(frame)
        await self.release.wait()


@pytest.fixture
async def jetstream() -> AsyncIterator[CompressingJetstream]:
    js = CompressingJetstream([])
    js.server = await serve(js.handler, "127.0.0.1", 0)
    yield js
    js.release.set()
    js.server.close()
    await js.server.wait_closed()


async def read_until(source: BlueskySource, items: int) -> list[Batch]:
    batches: list[Batch] = []
    stream = source.stream(None)
    async with asyncio.timeout(10):
        async for batch in stream:
            batches.append(batch)
            if sum(len(b.items) for b in batches) >= items:
                break
    await stream.aclose()  # type: ignore[attr-defined]
    return batches


def test_the_shipped_dictionary_is_jetstreams() -> None:
    data = SHIPPED_DICTIONARY.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    assert digest == "b8d77b46933aceecbdd5275a01241efc985c970c78162b8150cf67a26522f70c"
    assert load_dictionary(SHIPPED_DICTIONARY).dict_id() == 1612007021
    assert (SHIPPED_DICTIONARY.parent / "README.md").read_text().count("MIT") >= 2


async def test_compressed_stream_with_the_shipped_dictionary(
    jetstream: CompressingJetstream, client: httpx.AsyncClient
) -> None:
    dictionary = load_dictionary(SHIPPED_DICTIONARY)
    with_size = zstandard.ZstdCompressor(dict_data=dictionary)
    without_size = zstandard.ZstdCompressor(dict_data=dictionary, write_content_size=False)
    jetstream.frames = [
        with_size.compress(post_event(1)),
        b"\x28\xb5\x2f\xfd garbage",  # a zstd magic number, then nonsense
        without_size.compress(post_event(2)),
        b"not zstd at all",
        with_size.compress(post_event(3)),
    ]
    options = BlueskyOptions(instances=[jetstream.url], compress=True)
    source = BlueskySource("bsky", options, client=client, clock=FakeClock())
    batches = await read_until(source, 3)
    mentions = [source.normalise(item) for b in batches for item in b.items]
    assert [m.text for m in mentions] == ["acme post 1", "acme post 2", "acme post 3"]
    errors = [e for b in batches for e in b.errors]
    assert len(errors) == 2  # the bad frames are reported, the stream goes on
    assert "cannot be decompressed" in errors[0].error
    assert "not a zstd frame" in errors[1].error
    assert "compress=true" in jetstream.paths[0]
    assert batches[-1].cursor == str(T0 + 3_000_000)


async def test_another_dictionary_by_path(
    jetstream: CompressingJetstream, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    samples: list[bytes | bytearray | memoryview] = [post_event(n) for n in range(400)]
    trained = zstandard.train_dictionary(4096, samples)
    path = tmp_path / "zstd_dictionary"
    path.write_bytes(trained.as_bytes())
    jetstream.frames = [zstandard.ZstdCompressor(dict_data=trained).compress(post_event(7))]
    options = BlueskyOptions(instances=[jetstream.url], compress=True, zstd_dictionary=str(path))
    source = BlueskySource("bsky", options, client=client, clock=FakeClock())
    (batch,) = await read_until(source, 1)
    assert source.normalise(batch.items[0]).text == "acme post 7"


def test_decompression_is_bounded() -> None:
    dictionary = load_dictionary(SHIPPED_DICTIONARY)
    big = b'{"pad": "' + b"a" * 50_000 + b'"}'
    decompressor = EventDecompressor(dictionary, limit=10_000)
    for compressor in (
        zstandard.ZstdCompressor(dict_data=dictionary),
        zstandard.ZstdCompressor(dict_data=dictionary, write_content_size=False),
    ):
        with pytest.raises(ValueError, match=r"over 10000|cannot be decompressed"):
            decompressor.decompress(compressor.compress(big))


def test_unreadable_dictionary_is_a_clear_option_error(tmp_path: Path) -> None:
    with pytest.raises(
        pydantic.ValidationError, match=r"cannot read the Jetstream zstd dictionary"
    ):
        BlueskyOptions(compress=True, zstd_dictionary=str(tmp_path / "missing"))
    not_a_dictionary = tmp_path / "notes.txt"
    not_a_dictionary.write_bytes(b"hello")
    with pytest.raises(pydantic.ValidationError, match="not a zstd dictionary"):
        BlueskyOptions(compress=True, zstd_dictionary=str(not_a_dictionary))


def test_subscribe_url_asks_for_compression_only_when_told() -> None:
    plain = subscribe_url("wss://js.example/subscribe?compress=true", None, 1000)
    assert "compress" not in plain
    assert "compress=true" in subscribe_url("wss://js.example/subscribe", None, 1000, compress=True)
