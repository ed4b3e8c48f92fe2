"""Facebook: comments (and optionally posts) on the organisation's own Facebook page.

Read through the Graph API with a **page access token**: one request lists the page's recent
posts (``/{page-id}/feed``, posts of the last `lookback_days`) with their newest 100 comments
embedded (``filter(stream)``: replies included, newest first); a post with more new comments
than that has its ``/comments`` edge paged further. The token is sent in the ``Authorization``
header only: it is removed from every ``paging.next`` URL before that URL is followed (and
followed on `base_url`'s host only), and it is scrubbed from every error message.

Graph errors are asked for with ``suppress_http_code=1`` (HTTP 200 with the error JSON), so
their code can be explained: 190 (token), 4/17/32/613 (rate limits), 10/200-299 (permissions).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
from pydantic import Field, SecretStr

from tocsin.hookspecs import hookimpl
from tocsin.mention import Author, Mention, Metrics, make_id
from tocsin.normalise import clean_text
from tocsin.sources.base import (
    ApiRoot,
    Batch,
    IngestError,
    PollingSource,
    RawItem,
    Source,
    SourceError,
    SourceOptions,
)
from tocsin.sources.facebook_refresh import BATCH as REFRESH_BATCH
from tocsin.sources.facebook_refresh import refresh_objects
from tocsin.sources.http import HttpStatusError
from tocsin.sources.http import fetch as http_fetch

__all__ = ["FacebookOptions", "FacebookPageSource", "GraphError"]

PLATFORM = "facebook"
WEB = "https://www.facebook.com"
OVERLAP = 600.0
"""Seconds re-read before the newest item seen: Graph shows some comments late."""
SEEN_LIMIT = 5000
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613})
PERMISSION_CODES = frozenset({10, *range(200, 300)})
COMMENT_FIELDS = "id,message,created_time,from,like_count,comment_count,permalink_url,parent"
POST_FIELDS = "id,message,created_time,permalink_url,from"
_TOKEN_PARAM = re.compile(r"(access_token=)[^&\s\"']+", re.IGNORECASE)


class GraphError(SourceError):
    """The Graph API answered with an error object; `code` and `subcode` are Facebook's."""

    def __init__(
        self, message: str, *, code: int | None, subcode: int | None, retry_after: float | None
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.code = code
        self.subcode = subcode


class FacebookOptions(SourceOptions):
    """Options of a Facebook page source."""

    page_id: str = Field(pattern=r"^[A-Za-z0-9.]+$", description="the page's id (or username)")
    page_token: SecretStr = Field(description="a page access token of that page")
    api_version: str = Field("v21.0", pattern=r"^v\d+\.\d+$")
    include_posts: bool = Field(False, description="also report the page's own posts")
    interval: float = Field(300.0, ge=60, description="seconds between polls (at least 60)")
    base_url: ApiRoot = "https://graph.facebook.com"
    timeout: float = Field(20.0, gt=0, description="seconds to connect and for each read")
    max_bytes: int = Field(10_000_000, gt=0, description="largest response accepted")
    lookback_days: float = Field(14.0, gt=0, description="comments read on posts this recent")
    backfill_hours: float = Field(24.0, ge=0, description="how far back the first poll goes")
    max_pages: int = Field(10, ge=1, le=100, description="pages per listing and poll")


@dataclass(slots=True)
class _Seen:
    """The cursor: the newest creation time seen and the ids seen since `mark - OVERLAP`.

    `floor` is fixed when the cursor is read: items created since then (and not seen) are new,
    whatever order this poll meets them in.
    """

    mark: float
    ids: dict[str, float]
    floor: float = 0.0

    def __post_init__(self) -> None:
        self.floor = self.mark - OVERLAP

    def is_new(self, item_id: str, created: float) -> bool:
        return created >= self.floor and item_id not in self.ids

    def add(self, item_id: str, created: float) -> None:
        self.ids[item_id] = created
        self.mark = max(self.mark, created)

    def dump(self) -> str:
        keep_from = self.mark - OVERLAP
        kept = sorted(((t, i) for i, t in self.ids.items() if t >= keep_from), reverse=True)
        ids = {i: t for t, i in kept[:SEEN_LIMIT]}
        return json.dumps({"mark": self.mark, "seen": ids}, sort_keys=True)


class FacebookPageSource(PollingSource):
    """Polls a Facebook page's comments through the Graph API; see `description`."""

    name = "facebook"
    description = """\
Comments on the organisation's own **Facebook page** (and, with `include_posts`, its posts)
through the Graph API, with a page access token (`page_token`) having `pages_read_engagement`
and `pages_read_user_content`. Polled every `interval` seconds.

- One mention per comment or reply: `facebook:<comment id>`; posts: `facebook:<post id>`.
- Comments on posts older than `lookback_days` are not read.
- Deleted comments and comments without text (a sticker, a photo) are skipped.
"""
    Options = FacebookOptions
    options: FacebookOptions
    numeric_page_id: str | None = None
    """The page's numeric id, when `page_id` is a username and it was looked up."""
    refresh_batch = REFRESH_BATCH

    async def refresh(self, native_ids: Sequence[str]) -> list[RawItem]:
        """Current reactions, shares and comment counts (`facebook_refresh`)."""
        return await refresh_objects(
            self, native_ids, post_fields=POST_FIELDS, comment_fields=COMMENT_FIELDS
        )

    def describe(self) -> str:
        """The page id."""
        return f"facebook page {self.options.page_id}"

    def poll_interval(self) -> float:
        """`interval` seconds."""
        return self.options.interval

    async def fetch(self, cursor: str | None) -> Batch:
        """Read the recent posts and their comments newer than the cursor."""
        seen = self._read_cursor(cursor)
        items: list[RawItem] = []
        errors: list[IngestError] = []
        async for ref, kind, entry, post in self._entries(seen, errors):
            item = self._item(ref, kind, entry, post, seen, errors)
            if item is not None:
                items.append(item)
        return Batch(tuple(items), seen.dump(), tuple(errors))

    async def _entries(
        self, seen: _Seen, errors: list[IngestError]
    ) -> AsyncIterator[tuple[str, str, Any, Mapping[str, Any]]]:
        """Every post (when asked) and comment read this poll, as (ref, kind, entry, post)."""
        url: str | None = self._feed_url()
        pages = 0
        while url is not None:
            if pages == self.options.max_pages:
                errors.append(self._error("feed", self._truncated("posts"), None))
                return
            pages += 1
            posts, url = await self._page(url)
            for number, post in enumerate(posts, 1):
                ref = f"post {number} of the feed page {pages}"
                if not isinstance(post, dict):
                    errors.append(self._error(ref, "feed entry is not a JSON object", post))
                    continue
                if self.options.include_posts:
                    yield ref, "post", post, post
                async for comment_ref, comment in self._comments(post, seen, errors):
                    yield comment_ref, "comment", comment, post

    async def _comments(
        self, post: Mapping[str, Any], seen: _Seen, errors: list[IngestError]
    ) -> AsyncIterator[tuple[str, Any]]:
        """The post's comments, newest first, paged until older than the cursor."""
        box = post.get("comments")
        box = box if isinstance(box, dict) else {}
        data, url = box.get("data"), _next(box, self.options.base_url)
        pages = 1
        while True:
            data = data if isinstance(data, list) else []
            for number, comment in enumerate(data, 1):
                yield f"comment {number} of page {pages} on post {post.get('id')}", comment
            if url is None or not data or _oldest(data) < seen.floor:
                return
            if pages == self.options.max_pages:
                errors.append(self._error(str(post.get("id")), self._truncated("comments"), None))
                return
            pages += 1
            data, url = await self._page(url)

    def _item(
        self,
        ref: str,
        kind: str,
        entry: Any,
        post: Mapping[str, Any],
        seen: _Seen,
        errors: list[IngestError],
    ) -> RawItem | None:
        """A raw item for a new entry; None when already seen, too old or without text."""
        try:
            item_id, created = _identify(entry)
        except ValueError as exc:
            errors.append(self._error(ref, str(exc), entry))
            return None
        if not seen.is_new(item_id, created):
            return None
        seen.add(item_id, created)
        if not clean_text(_str(entry.get("message"))):
            return None  # deleted, or a sticker / photo without text
        context = {"id": _str(post.get("id")), "permalink_url": _str(post.get("permalink_url"))}
        item = RawItem(self.key, item_id, {"kind": kind, "data": entry, "post": context}, ref)
        try:
            self.normalise(item)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            errors.append(self._error(ref, str(exc), entry))
            return None
        return item

    def _feed_url(self) -> str:
        """The first feed page: recent posts with their newest comments embedded."""
        opts = self.options
        since = self.clock.now() - timedelta(days=opts.lookback_days)
        comments = (
            "comments.filter(stream).order(reverse_chronological).limit(100).summary(true)"
            f"{{{COMMENT_FIELDS}}}"
        )
        params = {
            "fields": f"{POST_FIELDS},{comments}",
            "since": str(int(since.timestamp())),
            "limit": "25",
        }
        return f"{opts.base_url}/{opts.api_version}/{opts.page_id}/feed?{urlencode(params)}"

    def _truncated(self, what: str) -> str:
        return (
            f"more than {self.options.max_pages} pages of {what} since the last poll; older ones "
            "were not read: lower `interval` or raise `max_pages`"
        )

    async def _page(self, url: str) -> tuple[list[Any], str | None]:
        """GET one Graph list page: its ``data`` and the (token-free) next page URL."""
        doc = await self._get(url)
        data = doc.get("data")
        if not isinstance(data, list):
            raise SourceError(
                f"GET {self.redact(url)} returned JSON without a 'data' list; "
                "check `page_id` and `base_url`"
            )
        return data, _next(doc, self.options.base_url)

    async def get_json(self, url: str) -> dict[str, Any]:
        """GET a Graph document with the page token; errors explained, the token redacted."""
        return await self._get(url)

    async def _get(self, url: str) -> dict[str, Any]:
        """GET `url` with the token in the header; Graph errors become `GraphError`."""
        url = _with_params(url, {"suppress_http_code": "1"})
        token = self.options.page_token.get_secret_value()
        try:
            response = await http_fetch(
                self.client,
                url,
                max_bytes=self.options.max_bytes,
                timeout=self.options.timeout,
                max_redirects=0,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                clock=self.clock,
            )
        except HttpStatusError as exc:
            hint = "; Facebook is failing, tocsin will retry" if exc.status >= 500 else ""
            raise HttpStatusError(
                self.redact(str(exc)) + hint, status=exc.status, retry_after=exc.retry_after
            ) from None
        except SourceError as exc:
            raise SourceError(self.redact(str(exc)), retry_after=exc.retry_after) from None
        try:
            doc = json.loads(response.body.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise SourceError(
                f"GET {self.redact(url)} did not return valid JSON ({exc}); the Graph API may be "
                "down or `base_url` is wrong"
            ) from None
        if not isinstance(doc, dict):
            raise SourceError(f"GET {self.redact(url)} returned JSON that is not an object")
        if "error" in doc:
            raise self._graph_error(doc["error"], response.headers)
        return doc

    def _graph_error(self, error: object, headers: httpx.Headers) -> GraphError:
        """Explain a Graph error object: what went wrong for this page and what to do."""
        error = error if isinstance(error, dict) else {}
        code, subcode = _opt_int(error.get("code")), _opt_int(error.get("error_subcode"))
        said = self.redact(clean_text(_str(error.get("message"))) or "no message")
        what = f"Facebook page {self.options.page_id}: Graph API error {code}"
        what += f"/{subcode}" if subcode is not None else ""
        what += f" ({said})"
        retry: float | None = None
        if code == 190:
            fix = (
                "the page token is expired or invalid: renew it (get a long-lived user token "
                "with your app, call GET /me/accounts with it and copy this page's "
                "access_token, which does not expire, into `page_token`)"
            )
        elif code in RATE_LIMIT_CODES or (code is not None and 80000 <= code <= 80014):
            retry = _regain_seconds(headers)
            fix = (
                f"rate limited by Facebook; tocsin waits {retry:g}s (raise `interval` if frequent)"
            )
        elif code in PERMISSION_CODES:
            fix = (
                "a permission is missing: the page token needs pages_read_engagement (posts and "
                "comments) and pages_read_user_content (visitors' comments and names); grant "
                "them to your app, then generate a new page token"
            )
        elif code == 100:
            fix = "check `page_id` (the page's numeric id) and `api_version`"
        else:
            fix = "see the message above; tocsin will retry"
        return GraphError(f"{what}: {fix}", code=code, subcode=subcode, retry_after=retry)

    def redact(self, text: str) -> str:
        """`text` without the page token, nor any ``access_token=`` value."""
        token = self.options.page_token.get_secret_value()
        if token:
            text = text.replace(token, "[page_token]")
        return _TOKEN_PARAM.sub(r"\1[redacted]", text)

    def _read_cursor(self, cursor: str | None) -> _Seen:
        """The cursor's mark and ids; none or unreadable: start `backfill_hours` ago."""
        start = (self.clock.now() - timedelta(hours=self.options.backfill_hours)).timestamp()
        try:
            data = json.loads(cursor) if cursor else None
        except json.JSONDecodeError:
            data = None
        mark = data.get("mark") if isinstance(data, dict) else None
        ids = data.get("seen") if isinstance(data, dict) else None
        if not isinstance(mark, int | float) or isinstance(mark, bool) or not isinstance(ids, dict):
            return _Seen(start, {})
        valid = {str(k): float(v) for k, v in ids.items() if isinstance(v, int | float)}
        return _Seen(float(mark), valid)

    def _error(self, ref: str, error: str, raw: object) -> IngestError:
        text = json.dumps(raw, ensure_ascii=False, default=str) if raw is not None else ""
        return IngestError(self.key, ref, error, self.redact(text), self.clock.now())

    def normalise(self, item: RawItem) -> Mention:
        """Build the mention of a comment or a post."""
        data, post = item.payload["data"], item.payload["post"]
        is_post = item.payload["kind"] == "post"
        parent = data.get("parent")
        parent_id = _str(parent.get("id")) if isinstance(parent, dict) else ""
        author = data.get("from")
        author = author if isinstance(author, dict) else {}
        return Mention(
            id=make_id(PLATFORM, item.native_id),
            source=PLATFORM,
            url=_permalink(data, post, item.native_id),
            text=clean_text(_str(data.get("message"))),
            author=Author(name=clean_text(_str(author.get("name")))),
            metrics=_metrics(data, is_post),
            parent_id=None if is_post else make_id(PLATFORM, parent_id or post["id"]),
            thread_id=make_id(PLATFORM, post["id"] or item.native_id),
            published_at=_created(data.get("created_time")),
            seen_at=self.clock.now(),
            raw=dict(data),
        )


def _identify(entry: object) -> tuple[str, float]:
    """The id and creation time (unix seconds) of a post or comment."""
    if not isinstance(entry, dict):
        raise ValueError("entry is not a JSON object")
    item_id = _str(entry.get("id"))
    if not item_id:
        raise ValueError("entry has no id; cannot identify it")
    return item_id, _created(entry.get("created_time")).timestamp()


def _created(value: object) -> datetime:
    """Graph's ``2026-11-24T08:00:00+0000`` as an aware datetime."""
    try:
        when = datetime.strptime(_str(value), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        raise ValueError(f"created_time {value!r} is not a Graph API time") from None
    return when


def _metrics(data: Mapping[str, Any], is_post: bool) -> Metrics:
    if is_post:  # reactions and shares are asked for by the engagement refresh only
        shares = data.get("shares")
        return Metrics(
            likes=_summary_total(data.get("reactions")),
            reposts=_int(shares.get("count")) if isinstance(shares, dict) else 0,
            replies=_summary_total(data.get("comments")),
        )
    return Metrics(likes=_int(data.get("like_count")), replies=_int(data.get("comment_count")))


def _summary_total(box: object) -> int:
    """``total_count`` of an edge asked with ``.summary(true)``."""
    summary = box.get("summary") if isinstance(box, dict) else None
    return _int(summary.get("total_count")) if isinstance(summary, dict) else 0


def _permalink(data: Mapping[str, Any], post: Mapping[str, str], item_id: str) -> str:
    """The item's permalink; else the post's with ``comment_id``; else a plain Facebook URL."""
    link = _str(data.get("permalink_url"))
    if link.startswith(("https://", "http://")):
        return link
    base = post.get("permalink_url") or ""
    if base.startswith(("https://", "http://")) and item_id != post.get("id"):
        return _with_params(base, {"comment_id": item_id.rsplit("_", 1)[-1]})
    return f"{WEB}/{item_id}"


def _regain_seconds(headers: httpx.Headers) -> float:
    """``estimated_time_to_regain_access`` (minutes) in the usage headers, in seconds; or 300."""
    minutes = 0.0
    for name in ("x-business-use-case-usage", "x-app-usage", "x-page-usage"):
        try:
            value = json.loads(headers.get(name) or "null")
        except json.JSONDecodeError:
            continue
        minutes = max([minutes, *_regain_values(value)])
    return minutes * 60 if minutes > 0 else 300.0


def _regain_values(value: object, depth: int = 0) -> Iterator[float]:
    if depth > 5:
        return
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "estimated_time_to_regain_access" and isinstance(inner, int | float):
                yield float(inner)
            else:
                yield from _regain_values(inner, depth + 1)
    elif isinstance(value, list):
        for inner in value:
            yield from _regain_values(inner, depth + 1)


def _next(doc: Mapping[str, Any], base_url: str) -> str | None:
    """``paging.next`` without its ``access_token``, on `base_url`'s host when given."""
    paging = doc.get("paging")
    link = paging.get("next") if isinstance(paging, dict) else None
    if not isinstance(link, str) or not link:
        return None
    parts = urlsplit(link)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "access_token"]
    return f"{base_url}{parts.path}?{urlencode(query)}"


def _oldest(data: list[Any]) -> float:
    """The oldest creation time in a page of comments (those without one are ignored)."""
    times = []
    for entry in data:
        try:
            times.append(_identify(entry)[1])
        except ValueError:
            continue
    return min(times, default=float("inf"))


def _with_params(url: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += list(params.items())
    return parts._replace(query=urlencode(query)).geturl()


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@hookimpl
def tocsin_sources() -> list[type[Source]]:
    """The built-in Facebook page source."""
    return [FacebookPageSource]
