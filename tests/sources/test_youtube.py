"""`YouTubeSource` against a fake YouTube Data API v3 on 127.0.0.1: format, paging, quota."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pydantic
import pytest

from tocsin.clock import FakeClock
from tocsin.mention import Mention
from tocsin.sources import youtube
from tocsin.sources.base import Batch, SourceError
from tocsin.sources.youtube import YouTubeOptions, YouTubeSource

FIXTURES = Path(__file__).parent.parent / "fixtures" / "youtube"
NOW = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)  # 01:00 in Los Angeles (PST)
TO_PACIFIC_MIDNIGHT = 23 * 3600.0
KEY = "AIzaSy-test-key-do-not-log-0123456789"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def params(path: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}


def make_source(
    client: httpx.AsyncClient, server: Any, clock: FakeClock | None = None, **options: Any
) -> YouTubeSource:
    opts = YouTubeOptions(base_url=server.url("/youtube/v3"), api_key=KEY, query="Acme", **options)
    return YouTubeSource("yt", opts, client=client, clock=clock or FakeClock(NOW))


async def read(source: YouTubeSource, cursor: str | None = None) -> tuple[Batch, list[Mention]]:
    batch = await source.fetch(cursor)
    return batch, [source.normalise(item) for item in batch.items]


def paths(server: Any) -> list[str]:
    return [urlsplit(p).path.rsplit("/", 1)[-1] for p, _ in server.requests]


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeYouTube:
    """search.list honouring publishedAfter (inclusive), and commentThreads per video."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.videos: list[tuple[str, datetime]] = []
        self.comments: dict[str, list[tuple[str, datetime]]] = {}
        server.route("/youtube/v3/search", self.search)
        server.route("/youtube/v3/commentThreads", self.threads)

    def search(self, h: Any) -> None:
        after = datetime.fromisoformat(params(h.path)["publishedAfter"])
        found = sorted((v for v in self.videos if v[1] >= after), key=lambda v: v[1], reverse=True)
        items = [
            {
                "kind": "youtube#searchResult",
                "id": {"kind": "youtube#video", "videoId": vid},
                "snippet": {"publishedAt": iso(at), "title": f"Video {vid}", "channelTitle": "C"},
            }
            for vid, at in found
        ]
        self.server.reply(h, 200, json.dumps({"items": items}).encode())

    def threads(self, h: Any) -> None:
        video = params(h.path)["videoId"]
        found = sorted(self.comments.get(video, []), key=lambda c: c[1], reverse=True)
        items = [
            {
                "kind": "youtube#commentThread",
                "id": cid,
                "snippet": {
                    "videoId": video,
                    "topLevelComment": {
                        "id": cid,
                        "snippet": {"textDisplay": f"comment {cid}", "publishedAt": iso(at)},
                    },
                },
            }
            for cid, at in found
        ]
        self.server.reply(h, 200, json.dumps({"items": items}).encode())


async def test_videos_and_comments(server: Any, client: httpx.AsyncClient) -> None:
    def search(h: Any) -> None:
        page = params(h.path).get("pageToken")
        server.reply(
            h, 200, fixture("search_page2.json" if page == "CAIQAA" else "search_page1.json")
        )

    def threads(h: Any) -> None:
        if params(h.path)["videoId"] == "Ac3Anv1l001":
            server.reply(h, 200, fixture("comment_threads.json"))
        else:
            server.reply(h, 403, fixture("error_comments_disabled.json"))

    server.route("/youtube/v3/search", search)
    server.route("/youtube/v3/commentThreads", threads)
    source = make_source(client, server, region_code="FR")
    batch, mentions = await read(source)
    assert [m.id for m in mentions] == [
        "youtube:Ac3Anv1l001",
        "youtube:Ac3Lyon0002",  # the private video is skipped
        "youtube:comment:UgzThread001",
        "youtube:comment:UgzThread003",
    ]
    video, lyon, comment, fair = mentions
    assert video.url == "https://www.youtube.com/watch?v=Ac3Anv1l001"
    assert video.title == "Acme Anvil 3000 review: it's cracked & I'm done"
    assert video.text == 'Two days in, the base cracked. Acme support says "wait 6 weeks".'
    assert video.author.name == video.author.handle == "Wile E. Reviews"
    assert video.author.url == "https://www.youtube.com/channel/UCcoyote0000000000000001"
    assert video.published_at == datetime(2026, 2, 1, 8, 30, tzinfo=UTC)
    assert video.thread_id == video.id
    assert video.raw["aiSummaryV9"] == {"note": "a field YouTube might add one day"}
    assert lyon.text == lyon.title == "Acme opens a repair centre in Lyon"
    assert comment.url == "https://www.youtube.com/watch?v=Ac3Anv1l001&lc=UgzThread001"
    assert comment.text == "Same here, mine cracked too. Acme never answered."
    assert comment.parent_id == comment.thread_id == "youtube:Ac3Anv1l001"
    assert (comment.author.handle, comment.author.name) == ("@roadrunner", "roadrunner")
    assert (comment.metrics.likes, comment.metrics.replies) == (42, 3)
    assert fair.published_at == datetime(2026, 2, 1, 8, 40, tzinfo=UTC)
    bad_video, bad_comment = batch.errors
    assert bad_video.ref.startswith("video 2 of http://127.0.0.1:")
    assert "no id.videoId" in bad_video.error
    assert bad_comment.ref.startswith("comment 2 of ")
    assert "publishedAt" in bad_comment.error
    assert paths(server) == ["search", "search", "commentThreads", "commentThreads"]
    first, headers = server.requests[0]
    assert params(first) == {
        "part": "snippet",
        "type": "video",
        "order": "date",
        "q": "Acme",
        "publishedAfter": "2026-01-31T09:00:00Z",
        "maxResults": "50",
        "regionCode": "FR",
    }
    assert headers["X-goog-api-key"] == KEY
    assert all(KEY not in p for p, _ in server.requests)
    assert params(server.requests[2][0]) == {
        "part": "snippet",
        "videoId": "Ac3Anv1l001",
        "order": "time",
        "maxResults": "100",
        "textFormat": "plainText",
    }
    state = json.loads(batch.cursor or "")
    assert [v for v, _ in state["videos"]] == ["Ac3Anv1l001"]  # comments disabled: dropped
    assert state["quota"] == {"day": "2026-02-01", "used": 202}
    assert source.quota.used == 202


async def test_cursor_resumes_with_no_gap_and_no_duplicate(
    server: Any, client: httpx.AsyncClient
) -> None:
    fake = FakeYouTube(server)
    fake.videos += [("v1", NOW - timedelta(minutes=50)), ("v2", NOW - timedelta(minutes=20))]
    fake.comments["v1"] = [("c1", NOW - timedelta(minutes=10))]
    clock = FakeClock(NOW)
    source = make_source(client, server, clock)
    first, mentions = await read(source)
    assert [m.native_id for m in mentions] == ["v2", "v1", "comment:c1"]
    clock.advance(1800)
    # indexed late: published before the newest seen, inside the overlap window
    fake.videos += [("late", NOW - timedelta(minutes=30)), ("v3", NOW + timedelta(minutes=5))]
    fake.comments["v1"] += [("c2", NOW + timedelta(minutes=1)), ("c3", NOW - timedelta(minutes=10))]
    second, mentions = await read(source, first.cursor)
    assert [m.native_id for m in mentions] == ["v3", "late", "comment:c2", "comment:c3"]
    searches = [params(p) for p, _ in server.requests if "/search" in p]
    assert searches[-1]["publishedAfter"] == iso(NOW - timedelta(minutes=80))  # overlap
    third, mentions = await read(source, second.cursor)
    assert mentions == []
    assert json.loads(third.cursor or "")["seen"] == json.loads(second.cursor or "")["seen"]


async def test_quota_counter_stops_before_the_cap_and_resets_at_pacific_midnight(
    server: Any, client: httpx.AsyncClient
) -> None:
    FakeYouTube(server)
    clock = FakeClock(NOW)
    source = make_source(client, server, clock, daily_quota_units=250, comment_videos=0)
    first = await source.fetch(None)
    second = await source.fetch(first.cursor)
    with pytest.raises(SourceError, match=r"`daily_quota_units` = 250") as info:
        await source.fetch(second.cursor)
    assert info.value.retry_after == TO_PACIFIC_MIDNIGHT
    assert len(server.requests) == 2  # refused before asking
    restarted = make_source(client, server, clock, daily_quota_units=250, comment_videos=0)
    with pytest.raises(SourceError, match="200 of"):  # the cursor kept the count
        await restarted.fetch(second.cursor)
    clock.advance(TO_PACIFIC_MIDNIGHT)
    third = await restarted.fetch(second.cursor)
    assert json.loads(third.cursor or "")["quota"] == {"day": "2026-02-02", "used": 100}


async def test_quota_exceeded_waits_until_reset(server: Any, client: httpx.AsyncClient) -> None:
    server.static("/youtube/v3/search", fixture("error_quota.json"), status=403)
    source = make_source(client, server)
    with pytest.raises(SourceError, match=r"daily quota is spent \(quotaExceeded\)") as info:
        await source.fetch(None)
    assert info.value.retry_after == TO_PACIFIC_MIDNIGHT
    with pytest.raises(SourceError, match="`daily_quota_units`"):
        await source.fetch(None)
    assert len(server.requests) == 1


async def test_invalid_key_names_the_option(
    server: Any, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.static("/youtube/v3/search", fixture("error_key_invalid.json"), status=400)
    source = make_source(client, server)
    with pytest.raises(
        SourceError, match=r"set `api_key` to a valid YouTube Data API v3 key"
    ) as info:
        await source.fetch(None)
    assert KEY not in str(info.value)
    assert KEY not in caplog.text
    assert KEY not in repr(source.options)
    assert KEY not in str(source.options.model_dump())


async def test_429_honours_retry_after(server: Any, client: httpx.AsyncClient) -> None:
    server.static("/youtube/v3/search", b'{"error": {"code": 429}}', status=429, Retry_After="30")
    with pytest.raises(SourceError, match=r"HTTP 429.*wait 30s") as info:
        await make_source(client, server).fetch(None)
    assert info.value.retry_after == 30


async def test_5xx_is_a_source_error(server: Any, client: httpx.AsyncClient) -> None:
    server.static("/youtube/v3/search", b"<html>backend error</html>", status=503)
    with pytest.raises(SourceError, match=r"/youtube/v3/search\?.*HTTP 503"):
        await make_source(client, server).fetch(None)


async def test_timeout_is_a_source_error(server: Any, client: httpx.AsyncClient) -> None:
    server.route("/youtube/v3/search", lambda h: server.release.wait(10))
    with pytest.raises(SourceError, match=r"timed out.*raise `timeout`"):
        await make_source(client, server, timeout=0.2).fetch(None)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"items": [', r"/youtube/v3/search\?.*did not return valid JSON"),
        (b"[1, 2]", "not a search.list page"),
        (b'{"kind": "youtube#searchListResponse"}', "no `items` list"),
    ],
)
async def test_malformed_body_names_the_url(
    server: Any, client: httpx.AsyncClient, body: bytes, message: str
) -> None:
    server.static("/youtube/v3/search", body)
    with pytest.raises(SourceError, match=message):
        await make_source(client, server).fetch(None)


async def test_unreadable_cursor_starts_over(server: Any, client: httpx.AsyncClient) -> None:
    fake = FakeYouTube(server)
    fake.videos.append(("v1", NOW - timedelta(hours=1)))
    source = make_source(client, server, comment_videos=0)
    for cursor in ("nope", "[]", '{"seen": 3, "videos": {}, "comments": []}'):
        batch = await source.fetch(cursor)
        assert [i.native_id for i in batch.items] == ["v1"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"query": "Acme"}, "api_key"),
        ({"api_key": KEY, "query": "  "}, "query is blank"),
        ({"api_key": KEY, "query": "a", "daily_quota_units": 50}, "greater than or equal to 100"),
        ({"api_key": KEY, "query": "a", "key": "x"}, "Extra inputs are not permitted"),
        ({"api_key": KEY, "query": "a", "base_url": "ftp://x"}, "http"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message) as info:
        YouTubeOptions(**options)
    assert KEY not in str(info.value)


def test_registered_by_hook() -> None:
    assert youtube.tocsin_sources() == [YouTubeSource]
    assert YouTubeSource.name == "youtube"
    assert YouTubeSource.zero_config(["acme"]) == []
    opts = YouTubeOptions(api_key=KEY, query="Acme")
    assert opts.base_url == "https://www.googleapis.com/youtube/v3"
    assert opts.daily_quota_units == 10_000


# -- engagement refresh --------------------------------------------------------------------


async def test_refresh_looks_videos_and_comments_up_by_id(
    server: Any, client: httpx.AsyncClient
) -> None:
    server.static("/youtube/v3/videos", fixture("videos_list.json"))
    server.static("/youtube/v3/commentThreads", fixture("comment_threads.json"))
    source = make_source(client, server)
    assert source.can_refresh
    items = await source.refresh(
        ["Ac3Anv1l001", "Gone0000001", "comment:UgzThread001", "comment:UgzGone", "bad id!"]
    )
    video, comment = [source.normalise(item) for item in items]  # the gone ones: not returned
    assert video.id == "youtube:Ac3Anv1l001"
    assert video.title == "Acme Anvil 3000 & the cracked base"
    assert (video.metrics.likes, video.metrics.replies, video.metrics.views) == (1204, 311, 48213)
    assert comment.id == "youtube:comment:UgzThread001"
    assert (comment.metrics.likes, comment.metrics.replies) == (42, 3)
    videos, threads = (params(p) for p, _ in server.requests)
    assert videos == {"part": "snippet,statistics", "id": "Ac3Anv1l001,Gone0000001"}
    assert threads["id"] == "UgzThread001,UgzGone"
    assert all(h["X-goog-api-key"] == KEY and KEY not in p for p, h in server.requests)
    assert source.quota.used == 2  # one unit per lookup


async def test_refresh_errors(server: Any, client: httpx.AsyncClient) -> None:
    source = make_source(client, server)
    server.static("/youtube/v3/videos", b"{}", 429, Retry_After="12")
    with pytest.raises(SourceError, match="HTTP 429") as info:
        await source.refresh(["Ac3Anv1l001"])
    assert info.value.retry_after == 12
    server.static("/youtube/v3/videos", b"<html>backend error</html>", 503)
    with pytest.raises(SourceError, match=r"videos\?.*HTTP 503"):
        await source.refresh(["Ac3Anv1l001"])
    server.static("/youtube/v3/videos", fixture("error_quota.json"), 403)
    with pytest.raises(SourceError, match="daily quota is spent") as quota:
        await source.refresh(["Ac3Anv1l001"])
    assert quota.value.retry_after == TO_PACIFIC_MIDNIGHT
    server.static("/youtube/v3/videos", json.dumps({"items": []}).encode())
    with pytest.raises(SourceError, match="quota"):  # nothing more is spent today
        await source.refresh(["Ac3Anv1l001"])
