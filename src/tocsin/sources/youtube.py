"""YouTube videos and their comments through the YouTube Data API v3, within its daily quota.

Each poll runs ``search.list`` (``type=video``, ``order=date``, newest first) for `query` from
the newest ``publishedAt`` seen minus `overlap_minutes` (search indexes videos late), skipping
the video ids already seen in that window; then ``commentThreads.list`` (``order=time``) on the
`comment_videos` most recent matching videos, down to the newest comment already read.

A project gets 10,000 quota units a day by default, reset at midnight Pacific time: a search
page costs 100 units, a comment page 1. A counter on the injected clock (kept in the cursor, so
a restart keeps counting) refuses any call that would pass `daily_quota_units` with a
`SourceError` whose ``retry_after`` is the time to the reset; a ``403 quotaExceeded`` does the
same. The key is sent in the ``X-goog-api-key`` header, so no URL, log or error ever holds it.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from pydantic import Field, SecretStr

from tocsin.hookspecs import hookimpl
from tocsin.mention import Author, Mention, Metrics, make_id
from tocsin.normalise import clean_text, to_utc
from tocsin.sources.api_request import ApiResponse, send
from tocsin.sources.base import (
    ApiRoot,
    Batch,
    IngestError,
    PollingSource,
    RawItem,
    Source,
    SourceError,
    SourceOptions,
    Words,
)
from tocsin.sources.http import parse_retry_after
from tocsin.sources.youtube_state import (
    QuotaCounter,
    YouTubeCursor,
    mark_after,
    quota_state,
    read_cursor,
    write_cursor,
)

__all__ = ["QuotaCounter", "YouTubeOptions", "YouTubeSource"]

log = logging.getLogger(__name__)

PLATFORM = "youtube"
API = "https://www.googleapis.com/youtube/v3"
WATCH = "https://www.youtube.com/watch?v="
SEARCH_COST = 100
COMMENTS_COST = 1
LOOKUP_COST = 1
_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
GONE_TITLES = frozenset({"Deleted video", "Private video"})
_QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded", "rateLimitExceeded"})
_KEY_REASONS = frozenset({"keyInvalid", "keyExpired", "API_KEY_INVALID", "API_KEY_EXPIRED"})
_VIDEO_GONE = frozenset({"commentsDisabled", "videoNotFound", "forbidden"})


class YouTubeOptions(SourceOptions):
    """Options of a YouTube source."""

    api_key: SecretStr = Field(description="YouTube Data API v3 key (Google Cloud console)")
    query: Words = Field(min_length=1, description="search.list `q`: words, `|` for OR, `-` NOT")
    interval: float = Field(1800.0, ge=60, description="seconds between polls (at least 60)")
    daily_quota_units: int = Field(10_000, ge=SEARCH_COST, description="units a day to spend")
    max_pages: int = Field(2, ge=1, le=10, description="search pages (50 videos) per poll")
    comment_videos: int = Field(
        10, ge=0, le=50, description="recent videos whose comments are read"
    )
    comment_pages: int = Field(1, ge=1, le=10, description="comment pages (100) per video and poll")
    overlap_minutes: float = Field(60.0, ge=0, description="search re-reads this far back")
    backfill_hours: float = Field(24.0, ge=0, description="hours read back on the first poll")
    region_code: str | None = Field(None, description="search.list `regionCode`, e.g. FR")
    relevance_language: str | None = Field(None, description="search.list `relevanceLanguage`")
    base_url: ApiRoot = Field(API, description="the API root (a test server or proxy)")
    timeout: float = Field(20.0, gt=0, description="seconds to connect and for each read")
    max_bytes: int = Field(5_000_000, gt=0, description="largest response accepted")


class _VideoGone(SourceError):
    """This video's comments cannot be read (disabled, deleted, private): drop it from the list."""


class YouTubeSource(PollingSource):
    """Searches YouTube and reads recent comments; see `description`."""

    name = "youtube"
    description = """\
**YouTube** videos matching `query` (YouTube Data API v3 `search.list`, newest first) and the
comments on the most recent of them (`commentThreads.list`). Needs an `api_key`.

- The daily quota (10,000 units by default; a search page costs 100, a comment page 1) is
  counted; polling stops before `daily_quota_units` and resumes at midnight Pacific time.
- One mention per video (`youtube:<videoId>`) and per top-level comment
  (`youtube:comment:<id>`, its parent the video).
"""
    Options = YouTubeOptions
    options: YouTubeOptions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.quota = QuotaCounter(self.clock, self.options.daily_quota_units)

    def describe(self) -> str:
        """The search words."""
        return f"search {self.options.query!r}"

    refresh_batch = 50  # videos.list and commentThreads.list take at most 50 ids

    async def refresh(self, native_ids: Sequence[str]) -> list[RawItem]:
        """Current statistics of videos (``videos.list``) and comments (``commentThreads.list``
        by id), one request of at most 50 ids each (1 quota unit each). Deleted or private
        videos and deleted comments are simply not returned."""
        wanted = list(dict.fromkeys(native_ids))[: self.refresh_batch]
        videos = [i for i in wanted if _ID.fullmatch(i)]
        comments = [i.removeprefix("comment:") for i in wanted if i.startswith("comment:")]
        comments = [c for c in comments if _ID.fullmatch(c)]
        items: list[RawItem] = []
        base = self.options.base_url
        if videos:
            params = {"part": "snippet,statistics", "id": ",".join(videos)}
            url = f"{base}/videos?{urlencode(params)}"
            for ref, entry in await self._lookup(url, "a videos.list lookup"):
                if entry.get("id") in videos:
                    items += self._checked(entry["id"], "video", entry, ref)
        if comments:
            params = {"part": "snippet", "id": ",".join(comments), "textFormat": "plainText"}
            url = f"{base}/commentThreads?{urlencode(params)}"
            for ref, entry in await self._lookup(url, "a commentThreads.list lookup"):
                if entry.get("id") in comments:
                    items += self._checked(f"comment:{entry['id']}", "comment", entry, ref)
        return items

    async def _lookup(self, url: str, what: str) -> list[tuple[str, dict[str, Any]]]:
        """The ``items`` of a lookup by id (1 unit), with their refs; [] if gone."""
        try:
            doc = await self._get(url, LOOKUP_COST, what)
        except _VideoGone:
            return []
        entries = doc.get("items")
        entries = entries if isinstance(entries, list) else []
        return [(f"item {n} of {url}", e) for n, e in enumerate(entries, 1) if isinstance(e, dict)]

    def _checked(self, native_id: str, kind: str, entry: dict[str, Any], ref: str) -> list[RawItem]:
        """``[item]`` when it normalises, else ``[]`` (a refresh that cannot be read changes
        nothing)."""
        item = RawItem(self.key, native_id, {"kind": kind, "item": entry}, ref)
        try:
            self.normalise(item)
        except (ValueError, TypeError, KeyError, AttributeError):
            return []
        return [item]

    def poll_interval(self) -> float:
        """`interval` seconds."""
        return self.options.interval

    async def fetch(self, cursor: str | None) -> Batch:
        """Search new videos, then read new comments on the recent ones."""
        state = read_cursor(cursor)
        self.quota.load(quota_state(cursor))
        items, errors = await self._search(state)
        for video_id, _at in list(state.videos):
            try:
                found, problems = await self._comments(video_id, state)
            except _VideoGone as exc:
                log.info("%s: %s", self.key, exc)
                state.videos = [v for v in state.videos if v[0] != video_id]
                state.comments.pop(video_id, None)
                continue
            items += found
            errors += problems
        return Batch(tuple(items), write_cursor(state, self.quota), tuple(errors))

    # -- videos ------------------------------------------------------------------------------

    def _search_url(self, after: float, page: str | None) -> str:
        opts = self.options
        params = {
            "part": "snippet",
            "type": "video",
            "order": "date",
            "q": opts.query,
            "publishedAfter": _rfc3339(after),
            "maxResults": "50",
        }
        if opts.region_code:
            params["regionCode"] = opts.region_code
        if opts.relevance_language:
            params["relevanceLanguage"] = opts.relevance_language
        if page:
            params["pageToken"] = page
        return f"{opts.base_url}/search?{urlencode(params)}"

    async def _search(self, state: YouTubeCursor) -> tuple[list[RawItem], list[IngestError]]:
        """New videos since the cursor (pages until the end or `max_pages`)."""
        opts = self.options
        floor = (self.clock.now() - timedelta(hours=opts.backfill_hours)).timestamp()
        after = floor if state.newest is None else state.newest - opts.overlap_minutes * 60
        items: list[RawItem] = []
        errors: list[IngestError] = []
        page: str | None = None
        for number in range(opts.max_pages):
            url = self._search_url(after, page)
            doc = await self._get(url, SEARCH_COST, "a search.list page")
            found, problems = self._videos(doc, url, state)
            items += found
            errors += problems
            page = doc.get("nextPageToken") if isinstance(doc.get("nextPageToken"), str) else None
            if not page:
                break
            if number == opts.max_pages - 1:
                problem = (
                    f"more than {opts.max_pages} search pages of new videos; older ones were not "
                    "read: lower `interval` or raise `max_pages` (100 quota units a page)"
                )
                errors.append(self._error(f"search {opts.query!r}", problem, None))
        self._prune(state)
        return items, errors

    def _videos(
        self, doc: Mapping[str, Any], url: str, state: YouTubeCursor
    ) -> tuple[list[RawItem], list[IngestError]]:
        """Raw items for the new videos of one search page."""
        entries = doc.get("items")
        if not isinstance(entries, list):
            raise SourceError(f"{url} returned no `items` list; is `base_url` the YouTube API?")
        items: list[RawItem] = []
        errors: list[IngestError] = []
        for number, entry in enumerate(entries, 1):
            ref = f"video {number} of {url}"
            try:
                video_id, at = _video_key(entry)
                if video_id in state.seen or _gone(entry):
                    continue
                item = RawItem(self.key, video_id, {"kind": "video", "item": entry}, ref)
                self.normalise(item)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                errors.append(self._error(ref, str(exc), entry))
                continue
            state.seen[video_id] = at
            state.newest = max(at, state.newest or at)
            state.videos.append((video_id, at))
            items.append(item)
        return items, errors

    def _prune(self, state: YouTubeCursor) -> None:
        """Keep ids seen within the overlap window and the `comment_videos` newest videos."""
        if state.newest is not None:
            edge = state.newest - self.options.overlap_minutes * 60
            state.seen = {k: v for k, v in state.seen.items() if v >= edge}
        unique = dict(sorted(state.videos, key=lambda v: v[1]))
        newest = sorted(unique.items(), key=lambda v: -v[1])[: self.options.comment_videos]
        state.videos = newest
        keep = {v for v, _ in newest}
        state.comments = {k: v for k, v in state.comments.items() if k in keep}

    # -- comments ----------------------------------------------------------------------------

    async def _comments(
        self, video_id: str, state: YouTubeCursor
    ) -> tuple[list[RawItem], list[IngestError]]:
        """New top-level comments of one video, newest first, down to its mark."""
        opts = self.options
        mark = state.comments.get(video_id, (0.0, frozenset()))
        items: list[RawItem] = []
        errors: list[IngestError] = []
        placed: list[tuple[float, str]] = []
        page: str | None = None
        for _ in range(opts.comment_pages):
            params = {
                "part": "snippet",
                "videoId": video_id,
                "order": "time",
                "maxResults": "100",
                "textFormat": "plainText",
            } | ({"pageToken": page} if page else {})
            url = f"{opts.base_url}/commentThreads?{urlencode(params)}"
            doc = await self._get(url, COMMENTS_COST, f"comments of video {video_id}")
            entries = doc.get("items")
            passed = self._comment_page(
                entries if isinstance(entries, list) else [], url, mark, (items, errors, placed)
            )
            page = doc.get("nextPageToken") if isinstance(doc.get("nextPageToken"), str) else None
            if passed or not page:
                break
        state.comments[video_id] = mark_after(*mark, placed)
        return items, errors

    def _comment_page(
        self,
        entries: list[Any],
        url: str,
        mark: tuple[float, frozenset[str]],
        out: tuple[list[RawItem], list[IngestError], list[tuple[float, str]]],
    ) -> bool:
        """Add one page's new comments to `out`; True once the page reached the mark."""
        items, errors, placed = out
        passed = False
        for number, entry in enumerate(entries, 1):
            ref = f"comment {number} of {url}"
            try:
                comment_id, at = _comment_key(entry)
            except ValueError as exc:
                errors.append(self._error(ref, str(exc), entry))
                continue
            placed.append((at, comment_id))
            passed = passed or at < mark[0]
            if at < mark[0] or (at == mark[0] and comment_id in mark[1]):
                continue
            try:
                item = RawItem(
                    self.key, f"comment:{comment_id}", {"kind": "comment", "item": entry}, ref
                )
                self.normalise(item)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                errors.append(self._error(ref, str(exc), entry))
                continue
            items.append(item)
        return passed

    # -- requests ----------------------------------------------------------------------------

    async def _get(self, url: str, cost: int, what: str) -> dict[str, Any]:
        """GET one API page after counting its quota cost; explain API errors."""
        opts = self.options
        self.quota.spend(cost, what)
        response = await send(
            self.client,
            "GET",
            url,
            headers={"X-goog-api-key": opts.api_key.get_secret_value()},
            timeout=opts.timeout,
            max_bytes=opts.max_bytes,
        )
        if response.status >= 400:
            raise self._api_error(response, what)
        return response.json_object(f"{what} (a JSON object)")

    def _api_error(self, response: ApiResponse, what: str) -> SourceError:
        """A `SourceError` that says what YouTube refused and what to change."""
        status, url = response.status, response.url
        reasons, message = _error_reasons(response.doc)
        said = f" ({message[:200]!r})" if message else ""
        if reasons & _QUOTA_REASONS or (status == 403 and "quota" in message.lower()):
            self.quota.exhaust()
            wait = self.quota.seconds_to_reset()
            return SourceError(
                f"YouTube refused {what}: the project's daily quota is spent "
                f"({', '.join(sorted(reasons)) or 'quotaExceeded'}){said}; retrying at midnight "
                f"Pacific time (in {wait:.0f}s). Lower `daily_quota_units` to what the project "
                "really has, or raise `interval`",
                retry_after=wait,
            )
        if reasons & _KEY_REASONS or (status == 400 and "api key" in message.lower()):
            return SourceError(
                f"YouTube refused the key (HTTP {status}, keyInvalid){said}: set `api_key` to a "
                "valid YouTube Data API v3 key (Google Cloud console > APIs & Services > "
                "Credentials), e.g. from an environment variable"
            )
        if reasons & _VIDEO_GONE or status == 404:
            return _VideoGone(f"{what}: not readable ({', '.join(sorted(reasons))}); skipped")
        if status == 403:
            return SourceError(
                f"YouTube refused {what} (HTTP 403{said}); enable the YouTube Data API v3 for "
                "the project of `api_key` and check the key's API restrictions"
            )
        retry = parse_retry_after(response.headers.get("retry-after"), self.clock.now())
        asks = f"; the server asks to wait {retry:g}s" if retry is not None else ""
        return SourceError(f"GET {url} returned HTTP {status}{said}{asks}", retry_after=retry)

    def _error(self, ref: str, error: str, raw: object) -> IngestError:
        text = json.dumps(raw, ensure_ascii=False, default=str) if raw is not None else ""
        return IngestError(self.key, ref, error, text, self.clock.now())

    def normalise(self, item: RawItem) -> Mention:
        """A video (search result) or a top-level comment (comment thread)."""
        if item.payload["kind"] == "comment":
            return self._comment_mention(item)
        entry = item.payload["item"]
        snippet = entry["snippet"]
        video_id = item.native_id
        title = clean_text(html.unescape(_str(snippet.get("title"))))
        text = clean_text(html.unescape(_str(snippet.get("description"))))
        if not (title or text):
            raise ValueError(f"YouTube video {video_id} has no title and no description")
        channel_id = _str(snippet.get("channelId"))
        channel = clean_text(html.unescape(_str(snippet.get("channelTitle"))))
        mention_id = make_id(PLATFORM, video_id)
        return Mention(
            id=mention_id,
            source=PLATFORM,
            url=f"{WATCH}{video_id}",
            text=text or title,
            title=title,
            author=Author(
                handle=channel,
                name=channel,
                url=f"https://www.youtube.com/channel/{channel_id}" if channel_id else "",
            ),
            metrics=_video_metrics(entry.get("statistics")),
            thread_id=mention_id,
            published_at=to_utc(snippet["publishedAt"]),
            seen_at=self.clock.now(),
            raw=dict(entry),
        )

    def _comment_mention(self, item: RawItem) -> Mention:
        entry = item.payload["item"]
        thread = entry["snippet"]
        top = thread["topLevelComment"]
        snippet = top["snippet"]
        comment_id = _str(top.get("id"))
        video_id = _str(snippet.get("videoId")) or _str(thread.get("videoId"))
        if not video_id:
            raise ValueError(f"YouTube comment {comment_id} names no videoId")
        text = clean_text(_str(snippet.get("textDisplay")) or _str(snippet.get("textOriginal")))
        if not text:
            raise ValueError(f"YouTube comment {comment_id} has no text")
        name = _str(snippet.get("authorDisplayName"))
        video = make_id(PLATFORM, video_id)
        return Mention(
            id=make_id(PLATFORM, item.native_id),
            source=PLATFORM,
            url=f"{WATCH}{video_id}&lc={comment_id}",
            text=text,
            author=Author(
                handle=name, name=name.lstrip("@"), url=_str(snippet.get("authorChannelUrl"))
            ),
            metrics=Metrics(
                likes=_int(snippet.get("likeCount")), replies=_int(thread.get("totalReplyCount"))
            ),
            parent_id=video,
            thread_id=video,
            published_at=to_utc(snippet["publishedAt"]),
            seen_at=self.clock.now(),
            raw=dict(entry),
        )


def _video_key(entry: object) -> tuple[str, float]:
    """Video id and publication time of a search result."""
    if not isinstance(entry, dict) or not isinstance(entry.get("snippet"), dict):
        raise ValueError("search result is not an object with a snippet")
    ident = entry.get("id")
    video_id = ident.get("videoId") if isinstance(ident, dict) else None
    if not isinstance(video_id, str) or not video_id:
        raise ValueError("search result has no id.videoId; cannot identify the video")
    return video_id, to_utc(entry["snippet"].get("publishedAt")).timestamp()


def _comment_key(entry: object) -> tuple[str, float]:
    """Top-level comment id and publication time of a comment thread."""
    try:
        top = entry["snippet"]["topLevelComment"]  # type: ignore[index]
        comment_id, at = top["id"], top["snippet"]["publishedAt"]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"comment thread lacks snippet.topLevelComment {exc}") from exc
    if not isinstance(comment_id, str) or not comment_id:
        raise ValueError("comment thread has no topLevelComment.id")
    return comment_id, to_utc(at).timestamp()


def _gone(entry: Mapping[str, Any]) -> bool:
    """A deleted or private video still listed (skipped, not an error)."""
    return _str(entry["snippet"].get("title")) in GONE_TITLES


def _error_reasons(doc: object) -> tuple[set[str], str]:
    """The ``reason``s and message of a Google API error body."""
    error = doc.get("error") if isinstance(doc, dict) else None
    if not isinstance(error, dict):
        return set(), ""
    reasons: set[str] = set()
    for key in ("errors", "details"):
        for part in error.get(key) or []:
            if isinstance(part, dict) and isinstance(part.get("reason"), str):
                reasons.add(part["reason"])
    return reasons, _str(error.get("message"))


def _video_metrics(statistics: object) -> Metrics:
    """Likes, comments and views of ``videos.list`` statistics (counts are decimal strings);
    search results have none."""
    if not isinstance(statistics, dict):
        return Metrics()
    views = _count(statistics.get("viewCount"))
    return Metrics(
        likes=_count(statistics.get("likeCount")) or 0,
        replies=_count(statistics.get("commentCount")) or 0,
        views=views,
    )


def _count(value: object) -> int | None:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _rfc3339(timestamp: float) -> str:
    return to_utc(int(timestamp)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@hookimpl
def tocsin_sources() -> list[type[Source]]:
    """The built-in YouTube source."""
    return [YouTubeSource]
