"""`ImportSource` and `ReplaySource`: local files, broken lines, resumable cursors, pacing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tocsin.clock import FakeClock
from tocsin.mention import Author, Mention
from tocsin.plugins import source_classes
from tocsin.sources.base import Batch
from tocsin.sources.file import ImportOptions, ImportSource, ReplayOptions, ReplaySource

NOW = datetime(2026, 3, 1, tzinfo=UTC)
T0 = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


def mention(n: int, minutes: float = 0) -> Mention:
    return Mention(
        id=f"bluesky:post-{n}",
        source="bluesky",
        url=f"https://social.example/p/{n}",
        text=f"post number {n}",
        published_at=T0 + timedelta(minutes=minutes),
        seen_at=T0 + timedelta(minutes=minutes, seconds=5),
        author=Author(handle=f"user{n}.social.example"),
    )


def importer(
    client: httpx.AsyncClient, path: Path, clock: FakeClock | None = None, **options: Any
) -> ImportSource:
    opts = ImportOptions(path=str(path), **options)
    return ImportSource("imp", opts, client=client, clock=clock or FakeClock(NOW))


async def collect(source: Any, cursor: str | None = None) -> list[Batch]:
    return [batch async for batch in source.stream(cursor)]


def mentions_of(source: Any, batches: list[Batch]) -> list[Mention]:
    return [source.normalise(item) for batch in batches for item in batch.items]


async def test_import_jsonl_of_mention_dicts(tmp_path: Path, client: httpx.AsyncClient) -> None:
    path = tmp_path / "export.jsonl"
    path.write_text("".join(json.dumps(mention(n).to_dict()) + "\n" for n in range(3)))
    source = importer(client, path)
    batches = await collect(source)
    assert mentions_of(source, batches) == [mention(n) for n in range(3)]
    assert batches[-1].cursor == "3"
    assert batches[0].items[1].ref == f"{path} line 2"


async def test_import_mapping_with_dotted_keys(tmp_path: Path, client: httpx.AsyncClient) -> None:
    record = {
        "tweet_id": "991",
        "body": "  Les  Cafés Lunaires\u0000 ont brûlé le café ",
        "link": "https://social.example/t/991",
        "created": "2025-12-24T10:00:00Z",
        "user": {"screen_name": "odile", "followers": "1520", "verified": "true"},
        "stats": {"likes": 12},
    }
    path = tmp_path / "tweets.jsonl"
    path.write_text(json.dumps(record) + "\n")
    mapping = {
        "text": "body",
        "url": "link",
        "published_at": "created",
        "author.handle": "user.screen_name",
        "author.followers": "user.followers",
        "author.verified": "user.verified",
        "metrics.likes": "stats.likes",
    }
    source = importer(client, path, mapping=mapping, source_name="x", id_field="tweet_id")
    (m,) = mentions_of(source, await collect(source))
    assert m.id == "x:991"
    assert m.text == "Les Cafés Lunaires ont brûlé le café"
    assert m.published_at == datetime(2025, 12, 24, 10, tzinfo=UTC)
    assert m.seen_at == NOW
    assert (m.author.handle, m.author.followers, m.author.verified) == ("odile", 1520, True)
    assert m.metrics.likes == 12
    assert m.raw["tweet_id"] == "991"


async def test_import_csv_with_hash_ids_and_errors(
    tmp_path: Path, client: httpx.AsyncClient
) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text(
        "date,review,page,stars\n"
        '2026-01-02,"Great coffee, ""best"" in town",https://reviews.example/1,5\n'
        "2026-01-03,,https://reviews.example/2,1\n"
        "2026-01-04,too,many,columns,here\n"
        '2026-01-05,"multi\nline review",https://reviews.example/3,4\n'
        "1767225600,epoch date,https://reviews.example/4,3\n",
        encoding="utf-8",
    )
    mapping = {"text": "review", "url": "page", "published_at": "date"}
    source = importer(client, path, mapping=mapping, source_name="reviews")
    batches = await collect(source)
    mentions = mentions_of(source, batches)
    assert [m.text for m in mentions] == [
        'Great coffee, "best" in town',
        "multi\nline review",
        "epoch date",
    ]
    assert mentions[0].source == "reviews"
    assert len(mentions[0].native_id) == 24  # hash of url + text
    assert mentions[2].published_at == datetime(2026, 1, 1, tzinfo=UTC)
    errors = [e for b in batches for e in b.errors]
    assert [e.ref for e in errors] == [f"{path} line 3", f"{path} line 4"]
    assert "no text (looked for key 'review')" in errors[0].error
    assert "5 columns but the header has 4" in errors[1].error
    assert batches[-1].cursor == "7"


async def test_broken_lines_are_reported_and_the_rest_imported(
    tmp_path: Path, client: httpx.AsyncClient
) -> None:
    good = [json.dumps(mention(n).to_dict()) for n in range(2)]
    lines = [good[0], "{broken json", "[1, 2]", "", '{"text": "no date"}', good[1]]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    source = importer(client, path)
    batches = await collect(source)
    assert [m.id for m in mentions_of(source, batches)] == ["bluesky:post-0", "bluesky:post-1"]
    errors = {e.ref: e for b in batches for e in b.errors}
    assert set(errors) == {f"{path} line {n}" for n in (2, 3, 5)}
    assert "not valid JSON" in errors[f"{path} line 2"].error
    assert errors[f"{path} line 2"].raw == "{broken json"
    assert "not an object" in errors[f"{path} line 3"].error
    assert "no published_at" in errors[f"{path} line 5"].error
    assert "mapping" in errors[f"{path} line 5"].error


async def test_non_utf8_lines_are_errors_not_crashes(
    tmp_path: Path, client: httpx.AsyncClient
) -> None:
    path = tmp_path / "latin.jsonl"
    good = json.dumps(mention(1).to_dict()).encode()
    path.write_bytes(good + b'\n{"text": "caf\xe9", "published_at": "2026-01-01"}\n' + good + b"\n")
    source = importer(client, path)
    batches = await collect(source)
    assert len(mentions_of(source, batches)) == 2
    (error,) = [e for b in batches for e in b.errors]
    assert error.ref == f"{path} line 2"
    assert "not valid utf-8 (byte 0xe9" in error.error
    assert "encoding" in error.error
    latin = importer(client, path, encoding="latin-1")
    (m,) = [m for m in mentions_of(latin, await collect(latin)) if m.source == "import"]
    assert m.text == "café"


async def test_batches_of_batch_size_and_resume_from_cursor(
    tmp_path: Path, client: httpx.AsyncClient
) -> None:
    path = tmp_path / "many.jsonl"
    path.write_text("".join(json.dumps(mention(n).to_dict()) + "\n" for n in range(1205)))
    source = importer(client, path)
    batches = await collect(source)
    assert [len(b.items) for b in batches] == [500, 500, 205]
    assert [b.cursor for b in batches] == ["500", "1000", "1205"]
    assert source.total_lines() == 1205
    assert source.bytes_read == source.total_bytes() == path.stat().st_size
    resumed = await collect(importer(client, path), "1000")
    assert mentions_of(source, resumed)[0].id == "bluesky:post-1000"
    assert await collect(importer(client, path), "1205") == []


async def test_progress_callback(tmp_path: Path, client: httpx.AsyncClient) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(mention(n).to_dict()) + "\n" for n in range(3)))
    source = importer(client, path)
    seen: list[tuple[int, int]] = []
    source.on_progress = lambda done, total: seen.append((done, total))
    await collect(source)
    assert len(seen) == 3
    assert seen[-1] == (path.stat().st_size, path.stat().st_size)


async def test_format_option_overrides_extension(tmp_path: Path, client: httpx.AsyncClient) -> None:
    path = tmp_path / "data.txt"
    path.write_text("text,published_at\nhello,2026-01-01T00:00:00Z\n")
    source = importer(client, path, format="csv")
    (m,) = mentions_of(source, await collect(source))
    assert (m.text, m.source) == ("hello", "import")


def recording(tmp_path: Path, minutes: list[float]) -> Path:
    path = tmp_path / "crisis.jsonl"
    lines = [json.dumps(mention(n, m).to_dict()) for n, m in enumerate(minutes)]
    path.write_text("\n".join(lines) + "\n")
    return path


def replayer(client: httpx.AsyncClient, path: Path, clock: FakeClock, speed: float) -> ReplaySource:
    opts = ReplayOptions(path=str(path), speed=speed)
    return ReplaySource("rep", opts, client=client, clock=clock)


async def test_replay_at_original_speed(tmp_path: Path, client: httpx.AsyncClient) -> None:
    path = recording(tmp_path, [0, 0, 1, 3, 2.5])
    clock = FakeClock(NOW)
    source = replayer(client, path, clock, speed=1)
    batches = await collect(source)
    assert clock.sleeps == [60.0, 120.0]  # out-of-order item: no negative wait
    assert [len(b.items) for b in batches] == [2, 1, 2]
    assert [b.cursor for b in batches] == ["2", "3", "5"]
    assert mentions_of(source, batches)[3] == mention(3, 3)


async def test_replay_faster_and_unpaced(tmp_path: Path, client: httpx.AsyncClient) -> None:
    path = recording(tmp_path, [0, 1, 2])
    clock = FakeClock(NOW)
    await collect(replayer(client, path, clock, speed=10))
    assert clock.sleeps == [6.0, 6.0]
    clock = FakeClock(NOW)
    batches = await collect(replayer(client, path, clock, speed=0))
    assert clock.sleeps == []
    assert [len(b.items) for b in batches] == [3]


async def test_replay_resumes_and_reports_bad_lines(
    tmp_path: Path, client: httpx.AsyncClient
) -> None:
    path = recording(tmp_path, [0, 1, 2])
    path.write_text(path.read_text() + '{"id": "oops"}\n')
    clock = FakeClock(NOW)
    batches = await collect(replayer(client, path, clock, speed=0), "1")
    assert [item.native_id for b in batches for item in b.items] == ["post-1", "post-2"]
    (error,) = [e for b in batches for e in b.errors]
    assert error.ref == f"{path} line 4"
    assert "Mention.to_dict()" in error.error
    assert batches[-1].cursor == "4"


def test_registered_and_described(tmp_path: Path) -> None:
    classes = source_classes()
    assert classes["import"] is ImportSource
    assert classes["replay"] is ReplaySource
    with pytest.raises(ValueError, match="pattern"):
        ImportOptions(path="x", source_name="bad:name")
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        ReplayOptions(path="x", speed=-1)


async def test_bad_cursor_is_a_clear_error(tmp_path: Path, client: httpx.AsyncClient) -> None:
    path = recording(tmp_path, [0])
    with pytest.raises(ValueError, match="is not a line number"):
        await collect(importer(client, path), "abc")
