"""X (Twitter) posts through API v2: recent search polling, and the filtered stream where allowed.

The X queries are `rules` (X syntax, verbatim) plus `query` translated from tocsin syntax when
it uses only words, phrases, ``AND``/``OR``/``NOT``/``-`` and parentheses. Polling runs recent
search (``/2/tweets/search/recent``) for each, newest first, paging with ``next_token``, from
``since_id`` = the newest post id in the cursor (``{"newest_id": "<id>"}``), so no post is read
twice and none between two polls is missed. With ``stream = true`` the rules are synced to the
app's filtered-stream rule set (tagged ``tocsin:<source key>``) and the stream is read live;
on every (re)connection a recent search since the newest id fills the gap first.

The bearer token is a `SecretStr`, sent only in the ``Authorization`` header: never in a URL,
a log line or an error.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from pydantic import Field, SecretStr, field_validator, model_validator

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
)
from tocsin.sources.http import USER_AGENT
from tocsin.sources.x_stream import (
    Backoff,
    StreamCut,
    error_detail,
    parse_line,
    rate_limit_reset,
    read_lines,
    sync_rules,
    x_query,
)

__all__ = ["XOptions", "XSource", "x_query"]

log = logging.getLogger(__name__)

PLATFORM = "x"
API = "https://api.x.com"
WEB = "https://x.com"
FIELDS = {
    "tweet.fields": "created_at,public_metrics,lang,author_id,conversation_id,referenced_tweets",
    "expansions": "author_id",
    "user.fields": "username,name,public_metrics,verified",
}


class XHttpError(SourceError):
    """X answered an error status (kept in `status`)."""

    def __init__(self, message: str, *, status: int, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.status = status


class XOptions(SourceOptions):
    """Options of an X source."""

    bearer_token: SecretStr = Field(description="the X app's Bearer Token (app-only auth)")
    query: str | None = Field(None, description="tocsin words/phrases/AND/OR/NOT, translated")
    rules: list[str] = Field(default_factory=list, description="X search syntax, verbatim")
    stream: bool = Field(False, description="filtered stream in real time (paid access levels)")
    interval: float = Field(300.0, ge=10, description="seconds between recent-search polls")
    max_pages: int = Field(5, ge=1, le=50, description="pages of 100 per query and poll")
    backfill_hours: float = Field(24.0, ge=0, le=167, description="first poll reads this far back")
    max_rule_length: int = Field(512, ge=1, le=4096, description="X's limit for your access level")
    base_url: ApiRoot = Field(API, description="the API root (a test server or proxy)")
    timeout: float = Field(20.0, gt=0, description="seconds to connect and for each read")
    stream_timeout: float = Field(30.0, gt=0, description="silence before a stream reconnects")
    max_bytes: int = Field(5_000_000, gt=0, description="largest response accepted")

    @field_validator("rules")
    @classmethod
    def _rules(cls, values: list[str]) -> list[str]:
        rules = [v.strip() for v in values]
        if any(not r for r in rules):
            raise ValueError("`rules` holds a blank rule; remove it")
        return list(dict.fromkeys(rules))

    @model_validator(mode="after")
    def _queries(self) -> XOptions:
        if self.query is not None:
            if not self.query.strip():
                raise ValueError("query is blank; give the words to search, e.g. query = 'Acme'")
            x_query(self.query)
        if not self.query and not self.rules:
            raise ValueError("nothing to search: set `query` (tocsin syntax) or `rules` (X syntax)")
        for rule in self.x_queries():
            if len(rule) > self.max_rule_length:
                raise ValueError(
                    f"X query {rule[:60]!r}... is {len(rule)} characters, over "
                    f"`max_rule_length` = {self.max_rule_length}; split it into several `rules`"
                )
        return self

    def x_queries(self) -> list[str]:
        """Every X query: the translated `query`, then `rules`."""
        translated = [x_query(self.query)] if self.query else []
        return list(dict.fromkeys([*translated, *self.rules]))


class XSource(PollingSource):
    """Searches X (and streams where allowed); see `description`."""

    name = "x"
    description = """\
**X** (Twitter) posts through API v2 with an app `bearer_token`: recent search (last 7 days)
for `query` (tocsin words, phrases, AND/OR/NOT) and/or `rules` (X search syntax), polled every
`interval`; with `stream = true` (paid access levels) the filtered stream in real time, the
rules kept in sync, and every reconnection caught up by search so nothing is lost.

- One mention per post: `x:<id>`, with author, followers, likes, reposts, replies, quotes, views.
"""
    Options = XOptions
    options: XOptions

    @property
    def tag(self) -> str:
        """The tag of this source's stream rules."""
        return f"tocsin:{self.key}"

    def describe(self) -> str:
        """The X queries."""
        return " | ".join(self.options.x_queries())

    def poll_interval(self) -> float:
        """`interval` seconds."""
        return self.options.interval

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.options.bearer_token.get_secret_value()}"}

    # -- recent search -----------------------------------------------------------------------

    async def fetch(self, cursor: str | None) -> Batch:
        """Recent search for every query since the cursor's newest id."""
        since = _newest_id(cursor)
        items: dict[str, RawItem] = {}
        errors: list[IngestError] = []
        newest = since
        for query in self.options.x_queries():
            found, problems, top = await self._search(query, since)
            for item in found:
                items.setdefault(item.native_id, item)
            errors += problems
            newest = _max_id(newest, top)
        return Batch(tuple(items.values()), _cursor(newest) if newest else cursor, tuple(errors))

    def _search_url(self, query: str, since: str | None, page: str | None) -> str:
        params = {"query": query, "max_results": "100", **FIELDS}
        if since:
            params["since_id"] = since
        else:
            start = self.clock.now() - timedelta(hours=self.options.backfill_hours)
            params["start_time"] = start.strftime("%Y-%m-%dT%H:%M:%SZ")
        if page:
            params["next_token"] = page
        return f"{self.options.base_url}/2/tweets/search/recent?{urlencode(params)}"

    async def _search(
        self, query: str, since: str | None
    ) -> tuple[list[RawItem], list[IngestError], str | None]:
        """Pages of one query, newest first; items, errors and the newest id."""
        items: list[RawItem] = []
        errors: list[IngestError] = []
        newest: str | None = None
        page: str | None = None
        for _ in range(self.options.max_pages):
            url = self._search_url(query, since, page)
            doc = await self._get(url)
            found, problems, top = self._read(doc, url)
            items += found
            errors += problems
            meta = _dict(doc.get("meta"))
            newest = _max_id(_max_id(newest, top), meta.get("newest_id"))
            page = meta.get("next_token") if isinstance(meta.get("next_token"), str) else None
            if not page:
                return items, errors, newest
        problem = (
            f"more than {self.options.max_pages} pages of new posts for {query!r} since the last "
            "poll; older ones were not read: lower `interval` or raise `max_pages`"
        )
        errors.append(self._error(f"search {query!r}", problem, None))
        return items, errors, newest

    async def refresh(self, native_ids: Sequence[str]) -> list[RawItem]:
        """Current metrics of up to 100 posts: ``GET /2/tweets?ids=`` with the search fields.

        Deleted, suspended or protected posts come back as partial ``errors`` and are skipped.
        """
        ids = [i for i in dict.fromkeys(native_ids) if i.isdigit()][: self.refresh_batch]
        if not ids:
            return []
        params = {"ids": ",".join(ids), **FIELDS}
        url = f"{self.options.base_url}/2/tweets?{urlencode(params)}"
        doc = await self._get(url, "a posts lookup (a JSON object)")
        items, _errors, _newest = self._read(doc, url)  # an unreadable post changes nothing
        return items

    async def _get(
        self, url: str, what: str = "a recent search page (a JSON object)"
    ) -> dict[str, Any]:
        opts = self.options
        response = await send(
            self.client,
            "GET",
            url,
            headers=self._headers(),
            timeout=opts.timeout,
            max_bytes=opts.max_bytes,
        )
        if response.status >= 400:
            raise self._http_error(response, "GET")
        return response.json_object(what)

    def _http_error(self, response: ApiResponse, method: str) -> XHttpError:
        """A clear error for an X error status; 429 waits until ``x-rate-limit-reset``."""
        status, detail = response.status, error_detail(response)
        where = f"{method} {response.url} returned HTTP {status}{detail}"
        if status == 429:
            wait = rate_limit_reset(response.headers, self.clock.now()) or 60.0
            return XHttpError(
                f"{where}: rate limited; waiting {wait:.0f}s (x-rate-limit-reset). Raise "
                "`interval` if this recurs",
                status=status,
                retry_after=wait,
            )
        if status == 401:
            fix = "set `bearer_token` to your X app's Bearer Token (developer portal > Keys)"
        elif status == 403:
            fix = "your X access level lacks this endpoint (for the stream, set `stream = false`)"
        elif status == 400:
            fix = "X refused the query: check `rules` (X syntax) and `query`"
        else:
            fix = "X failed; retrying later"
        return XHttpError(f"{where}; {fix}", status=status)

    # -- items -------------------------------------------------------------------------------

    def _read(
        self, doc: Mapping[str, Any], where: str
    ) -> tuple[list[RawItem], list[IngestError], str | None]:
        """Items of one page or stream message; a bad post is an `IngestError`."""
        data = doc.get("data", [])
        posts = [data] if isinstance(data, dict) else data
        if not isinstance(posts, list):
            raise SourceError(f"{where}: `data` is not a list of posts; is `base_url` X's API?")
        includes = _dict(doc.get("includes"))
        users = {
            u["id"]: u
            for u in includes.get("users") or []
            if isinstance(u, dict) and isinstance(u.get("id"), str)
        }
        for problem in doc.get("errors") or []:  # deleted or withheld referenced posts/users
            log.debug("%s: %s: partial error %s", self.key, where, problem)
        items: list[RawItem] = []
        errors: list[IngestError] = []
        newest: str | None = None
        for number, post in enumerate(posts, 1):
            ref = f"post {number} of {where}" if len(posts) > 1 else where
            try:
                item = self._item(post, users, ref)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                errors.append(self._error(ref, str(exc), post))
                continue
            items.append(item)
            newest = _max_id(newest, item.native_id)
        return items, errors, newest

    def _item(self, post: object, users: Mapping[str, Any], ref: str) -> RawItem:
        if not isinstance(post, dict):
            raise ValueError(f"is a JSON {type(post).__name__}, not a post object")
        post_id = post.get("id")
        if not isinstance(post_id, str) or not post_id.isdigit():
            raise ValueError(f"post has no numeric string id ({post_id!r}); cannot store it")
        author = users.get(post.get("author_id") or "")
        item = RawItem(self.key, post_id, {"post": post, "author": author}, ref)
        self.normalise(item)
        return item

    def _error(self, ref: str, error: str, raw: object) -> IngestError:
        text = json.dumps(raw, ensure_ascii=False, default=str) if raw is not None else ""
        return IngestError(self.key, ref, error, text, self.clock.now())

    def normalise(self, item: RawItem) -> Mention:
        """Build the mention from a post and its expanded author (None if withheld/unknown)."""
        post, user = item.payload["post"], item.payload.get("author") or {}
        post_id = item.native_id
        text = clean_text(html.unescape(_str(post.get("text"))))
        if not text:
            raise ValueError(f"X post {post_id} has no text")
        username = _str(user.get("username"))
        metrics = post.get("public_metrics") or {}
        followers = (user.get("public_metrics") or {}).get("followers_count")
        replied = [
            r.get("id")
            for r in post.get("referenced_tweets") or []
            if isinstance(r, dict) and r.get("type") == "replied_to"
        ]
        conversation = _str(post.get("conversation_id"))
        lang = _str(post.get("lang"))
        return Mention(
            id=make_id(PLATFORM, post_id),
            source=PLATFORM,
            url=f"{WEB}/{username}/status/{post_id}"
            if username
            else f"{WEB}/i/web/status/{post_id}",
            text=text,
            lang=lang if lang and lang not in ("und", "zxx", "qme", "qht") else None,
            author=Author(
                handle=f"@{username}" if username else "",
                name=_str(user.get("name")),
                followers=followers if isinstance(followers, int) else None,
                verified=user.get("verified") is True,
                url=f"{WEB}/{username}" if username else "",
            ),
            metrics=Metrics(
                likes=_int(metrics.get("like_count")),
                reposts=_int(metrics.get("retweet_count")),
                replies=_int(metrics.get("reply_count")),
                quotes=_int(metrics.get("quote_count")),
                views=_int(metrics["impression_count"]) if "impression_count" in metrics else None,
            ),
            parent_id=make_id(PLATFORM, replied[0]) if replied and replied[0] else None,
            thread_id=make_id(PLATFORM, conversation) if conversation else None,
            published_at=to_utc(post["created_at"]),
            seen_at=self.clock.now(),
            raw=dict(post),
        )

    # -- filtered stream ---------------------------------------------------------------------

    async def stream(self, cursor: str | None) -> AsyncIterator[Batch]:
        """Poll (``stream = false``), or sync the rules and read the filtered stream for ever."""
        if not self.options.stream:
            async for batch in super().stream(cursor):
                yield batch
            return
        opts = self.options
        await sync_rules(
            self.client,
            opts.base_url,
            wanted=opts.x_queries(),
            tag=self.tag,
            headers=self._headers(),
            timeout=opts.timeout,
        )
        backoff = Backoff()
        while True:
            try:
                async for batch in self._connection(cursor, backoff):
                    cursor = batch.cursor or cursor
                    yield batch
            except SourceError as exc:
                status = exc.status if isinstance(exc, XHttpError) else None
                if status in (400, 401, 403, 404):
                    raise
                reset = exc.retry_after if status == 429 else None
                delay = backoff.delay(exc, status, reset)
                log.warning("%s: %s (reconnecting in %.2fs)", self.key, exc, delay)
                await self.clock.sleep(delay)

    async def _connection(self, cursor: str | None, backoff: Backoff) -> AsyncIterator[Batch]:
        """One connection: catch up by search since `cursor`, then yield streamed posts."""
        opts = self.options
        url = f"{opts.base_url}/2/tweets/search/stream?{urlencode(FIELDS)}"
        headers = {"User-Agent": USER_AGENT, **self._headers()}
        request = self.client.build_request(
            "GET", url, headers=headers, timeout=opts.stream_timeout
        )
        try:
            response = await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise StreamCut(f"stream {url}: cannot connect ({type(exc).__name__})") from exc
        try:
            if response.status_code >= 400:
                body = await response.aread()
                raise self._http_error(
                    ApiResponse(response.status_code, response.headers, body, url), "GET"
                )
            backoff.reset()
            gap = await self.fetch(cursor)
            cursor = gap.cursor or cursor
            yield gap
            async for line in read_lines(response, url):
                batch = self._on_line(line, url, cursor)
                if batch is not None:
                    cursor = batch.cursor or cursor
                    yield batch
        finally:
            await response.aclose()

    def _on_line(self, line: str, url: str, cursor: str | None) -> Batch | None:
        """A post of ours becomes a batch; an in-stream error message ends the connection."""
        ref = f"line of stream {url}"
        try:
            doc = parse_line(line)
            if not isinstance(doc, dict):
                raise ValueError("stream line is not a JSON object")
        except ValueError as exc:
            return Batch((), cursor, (self._error(ref, str(exc), line),))
        if "data" not in doc:
            raise StreamCut(f"stream {url} sent an error{error_text(doc)}; reconnecting")
        tags = {r.get("tag") for r in doc.get("matching_rules") or [] if isinstance(r, dict)}
        if tags and self.tag not in tags:
            return None  # a rule of another source or tool on the same app
        items, errors, newest = self._read(doc, ref)
        next_cursor = _cursor(_max_id(_newest_id(cursor), newest) or "") if newest else cursor
        return Batch(tuple(items), next_cursor, tuple(errors))


def error_text(doc: Mapping[str, Any]) -> str:
    """`` (title: detail)`` of an in-stream error message."""
    for error in doc.get("errors") or []:
        if isinstance(error, dict):
            return f" ({error.get('title', '')}: {str(error.get('detail', ''))[:200]})"
    return ""


def _max_id(a: str | None, b: object) -> str | None:
    """The larger of two post ids (snowflakes compare as integers)."""
    if not isinstance(b, str) or not b.isdigit():
        return a
    return b if a is None or int(b) > int(a) else a


def _newest_id(cursor: str | None) -> str | None:
    try:
        data = json.loads(cursor) if cursor else {}
    except json.JSONDecodeError:
        return None
    value = data.get("newest_id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value.isdigit() else None


def _cursor(newest: str) -> str:
    return json.dumps({"newest_id": newest})


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@hookimpl
def tocsin_sources() -> list[type[Source]]:
    """The built-in X source."""
    return [XSource]
