"""Reddit posts and comments from the public JSON listings, keyless and politely rate-limited.

Each poll reads, newest first, up to three listings (*endpoints*): the site-wide search for
`query` (``/search.json?sort=new``), the new posts of `subreddits` (``/r/a+b/new.json``) and,
with `include_comments`, their new comments (``/r/a+b/comments.json``). The cursor keeps, per
endpoint, the newest ``created_utc`` seen and the fullnames seen at that second, so the next
poll reads down to it and no further: no gap, no duplicate.

Unauthenticated clients get about 10 requests a minute: requests go through a limiter on the
injected clock (`max_requests_per_minute`), which also obeys Reddit's ``x-ratelimit-*``
headers; a 429 becomes a `SourceError` with ``retry_after``. With `client_id` and
`client_secret` the same listings are read through OAuth with asyncpraw (`reddit_oauth`).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar
from urllib.parse import urlencode

import httpx
from pydantic import Field, SecretStr, field_validator, model_validator

from tocsin import __version__
from tocsin.clock import Clock
from tocsin.hookspecs import hookimpl
from tocsin.mention import Author, Mention, Metrics, make_id
from tocsin.normalise import clean_text, to_utc
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
from tocsin.sources.http import HttpStatusError
from tocsin.sources.http import fetch as http_fetch
from tocsin.sources.reddit_oauth import OAUTH_URL, RedditOAuth, asyncpraw_module
from tocsin.sources.reddit_ratelimit import RateLimiter

__all__ = ["RateLimiter", "RedditOptions", "RedditSource"]

PLATFORM = "reddit"
WEB = "https://www.reddit.com"
USER_AGENT = f"tocsin/{__version__} (self-hosted social listening)"
GONE = frozenset({"[deleted]", "[removed]"})
_SUBREDDIT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]{1,20}")


class RedditOptions(SourceOptions):
    """Options of a Reddit (public JSON) source."""

    query: str | None = Field(None, description="words to search site-wide, newest first")
    subreddits: list[str] = Field(default_factory=list, description="subreddits to read whole")
    include_comments: bool = Field(True, description="also read the subreddits' new comments")
    interval: float = Field(300.0, ge=60, description="seconds between polls (at least 60)")
    user_agent: str = Field(USER_AGENT, min_length=1, description="User-Agent sent to Reddit")
    base_url: ApiRoot = Field(WEB, description="the site root")
    timeout: float = Field(20.0, gt=0, description="seconds to connect and for each read")
    max_bytes: int = Field(10_000_000, gt=0, description="largest response accepted, decoded")
    limit: int = Field(100, ge=1, le=100, description="items asked per request")
    max_pages: int = Field(3, ge=1, le=10, description="pages read per endpoint and poll")
    backfill_hours: float = Field(24.0, ge=0, description="hours read back on the first poll")
    max_requests_per_minute: int = Field(8, ge=1, le=600, description="request budget")
    client_id: str | None = Field(None, description="OAuth app id: read through asyncpraw")
    client_secret: SecretStr | None = Field(None, description="OAuth app secret")
    username: str | None = Field(None, description="account of a script app (with password)")
    password: SecretStr | None = Field(None, description="password of that account")
    oauth_url: ApiRoot = Field(OAUTH_URL, description="the OAuth API root")

    ENV_OPTIONS: ClassVar[frozenset[str]] = frozenset({"client_id", "username"})

    @field_validator("subreddits")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        names = []
        for raw in value:
            name = raw.strip().removeprefix("/").removeprefix("r/").strip("/")
            if not _SUBREDDIT.fullmatch(name):
                raise ValueError(
                    f"{raw!r} is not a subreddit name; write it as in r/<name>, e.g. 'france'"
                )
            names.append(name)
        return names

    @model_validator(mode="after")
    def _something_to_read(self) -> RedditOptions:
        if self.query is not None and not self.query.strip():
            raise ValueError("query is blank; give the words to search, e.g. query = 'Acme'")
        if not self.query and not self.subreddits:
            raise ValueError("nothing to read: set `query` (site-wide search) and/or `subreddits`")
        if (self.client_id is None) != (self.client_secret is None):
            raise ValueError("Reddit OAuth needs both `client_id` and `client_secret` (or neither)")
        if (self.username is None) != (self.password is None) or (
            self.username and not self.client_id
        ):
            raise ValueError(
                "`username` and `password` go together, with `client_id` and `client_secret` "
                "of a script app"
            )
        if self.client_id:
            try:
                asyncpraw_module()
            except ImportError as exc:
                raise ValueError(str(exc)) from None
        return self


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One listing read each poll: its cursor key, path and query parameters."""

    key: str
    path: str
    params: tuple[tuple[str, str], ...] = ()

    def url(self, base: str, limit: int, after: str | None) -> str:
        params = [*self.params, ("limit", str(limit)), ("raw_json", "1")]
        if after:
            params.append(("after", after))
        return f"{base}{self.path}?{urlencode(params)}"


@dataclass(frozen=True, slots=True)
class Mark:
    """Everything created before `at` is read, and the fullnames `names` created at `at`."""

    at: float
    names: frozenset[str] = frozenset()

    def is_new(self, at: float, name: str) -> bool:
        return at > self.at or (at == self.at and name not in self.names)

    def after(self, seen: list[tuple[float, str]]) -> Mark:
        """This mark moved up to the newest of `seen`."""
        at = max([self.at, *(t for t, _ in seen)])
        names = {n for t, n in seen if t == at} | (set(self.names) if at == self.at else set())
        return Mark(at, frozenset(names))


class RedditSource(PollingSource):
    """Polls Reddit's public listings; see `description`."""

    name = "reddit"
    description = """\
**Reddit** posts and comments through the public JSON listings (no key, no account): a
site-wide search for `query`, and/or everything new in `subreddits` (posts, and comments with
`include_comments`). At most `max_requests_per_minute` requests (Reddit allows about 10 a
minute without OAuth); Reddit's rate-limit headers and 429 `Retry-After` are obeyed.

- One mention per post or comment: `reddit:t3_<id>` / `reddit:t1_<id>`.
- Deleted and removed items are skipped.
- With `client_id` and `client_secret`, read through OAuth with asyncpraw (about 100 requests
  a minute; `pip install 'tocsin[reddit-oauth]'`).
"""
    Options = RedditOptions
    options: RedditOptions

    def __init__(
        self,
        key: str,
        options: SourceOptions,
        *,
        client: httpx.AsyncClient | None,
        clock: Clock,
    ) -> None:
        super().__init__(key, options, client=client, clock=clock)
        self.limiter = RateLimiter(clock, self.options.max_requests_per_minute)
        self.oauth = RedditOAuth(self.options) if self.options.client_id else None

    def _session(self) -> contextlib.AbstractAsyncContextManager[None]:
        """The OAuth session of one poll or refresh; nothing on the public JSON path."""
        return self.oauth.session() if self.oauth else contextlib.nullcontext()

    @classmethod
    def zero_config(cls, terms: Sequence[str]) -> list[tuple[str, SourceOptions]]:
        """One Reddit search for all the terms (Reddit's search understands OR)."""
        if not terms:
            return []
        query = " OR ".join(f'"{t}"' if " " in t else t for t in terms)
        return [("reddit", RedditOptions(query=query))]

    async def refresh(self, native_ids: Sequence[str]) -> list[RawItem]:
        """Current score and comment counts of up to 100 posts/comments via /api/info.json."""
        names = [n for n in native_ids if _FULLNAME.fullmatch(n)][: self.refresh_batch]
        if not names:
            return []
        url = f"{self.options.base_url}/api/info.json?id={','.join(names)}&raw_json=1"
        async with self._session():
            children, _ = await self._listing(url)
        items: list[RawItem] = []
        for n, child in enumerate(children, 1):
            try:
                kind, data, name, _created = _identify(child)
            except ValueError:
                continue  # a refresh that cannot be read changes nothing
            if kind is not None and not _is_gone(kind, data):
                items.append(
                    RawItem(self.key, name, {"kind": kind, "data": data}, f"item {n} of {url}")
                )
        return items

    def describe(self) -> str:
        """The search words and subreddits."""
        return ", ".join(e.key for e in self.endpoints())

    def poll_interval(self) -> float:
        """`interval` seconds."""
        return self.options.interval

    def endpoints(self) -> list[Endpoint]:
        """The listings this source reads each poll."""
        opts = self.options
        found = []
        if opts.query:
            params = (("q", opts.query), ("sort", "new"), ("type", "link"))
            found.append(Endpoint(f"search {opts.query}", "/search.json", params))
        if opts.subreddits:
            subs = "+".join(opts.subreddits)
            found.append(Endpoint(f"r/{subs}/new", f"/r/{subs}/new.json"))
            if opts.include_comments:
                found.append(Endpoint(f"r/{subs}/comments", f"/r/{subs}/comments.json"))
        return found

    async def fetch(self, cursor: str | None) -> Batch:
        """Read every endpoint down to its mark in `cursor`."""
        since = self.clock.now() - timedelta(hours=self.options.backfill_hours)
        marks = _read_cursor(cursor)
        items: list[RawItem] = []
        errors: list[IngestError] = []
        new_marks: dict[str, Mark] = {}
        seen: set[str] = set()
        async with self._session():
            for endpoint in self.endpoints():
                mark = marks.get(endpoint.key) or Mark(since.timestamp())
                found, problems, new_marks[endpoint.key] = await self._read(endpoint, mark)
                items += [item for item in found if item.native_id not in seen]
                seen.update(item.native_id for item in found)
                errors += problems
        return Batch(tuple(items), _write_cursor(new_marks), tuple(errors))

    async def _read(
        self, endpoint: Endpoint, mark: Mark
    ) -> tuple[list[RawItem], list[IngestError], Mark]:
        """New items of one endpoint, its errors, and its next mark."""
        entries, truncated = await self._pages(endpoint, mark)
        items: list[RawItem] = []
        errors: list[IngestError] = []
        placed: list[tuple[float, str]] = []
        for ref, child in entries:
            try:
                kind, data, name, created = _identify(child)
            except ValueError as exc:
                errors.append(self._error(ref, str(exc), child))
                continue
            if kind is None:
                continue  # "more" stubs and other kinds are not posts
            placed.append((created, name))
            if not mark.is_new(created, name) or _is_gone(kind, data):
                continue
            try:
                item = RawItem(self.key, name, {"kind": kind, "data": data}, ref)
                self.normalise(item)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                errors.append(self._error(ref, str(exc), child))
                continue
            items.append(item)
        if truncated:
            problem = (
                f"more than {self.options.max_pages} pages of new items since the last poll; "
                "older ones were not read: lower `interval` or raise `max_pages`"
            )
            errors.append(self._error(endpoint.key, problem, None))
        return items, errors, mark.after(placed)

    async def _pages(self, endpoint: Endpoint, mark: Mark) -> tuple[list[tuple[str, Any]], bool]:
        """Listing children, newest first, until the mark is passed; True if pages were left."""
        entries: list[tuple[str, Any]] = []
        after: str | None = None
        for _ in range(self.options.max_pages):
            url = endpoint.url(self.options.base_url, self.options.limit, after)
            children, after = await self._listing(url)
            entries += [(f"item {n} of {url}", c) for n, c in enumerate(children, 1)]
            passed = any(t is not None and t < mark.at for t in map(_created, children))
            if passed or not after or not children:
                return entries, False
        return entries, True

    async def _listing(self, url: str) -> tuple[list[Any], str | None]:
        """GET one listing page: its children and the ``after`` fullname of the next page."""
        opts = self.options
        await self.limiter.wait()
        if self.oauth is not None:
            try:
                return _listing_of(await self.oauth.get(url), url)
            except HttpStatusError as exc:
                raise self._rate_limited(exc) or exc from None
        try:
            response = await http_fetch(
                self.client,
                url,
                max_bytes=opts.max_bytes,
                timeout=opts.timeout,
                headers={"User-Agent": opts.user_agent, "Accept": "application/json"},
                clock=self.clock,
            )
        except HttpStatusError as exc:
            explained = self._rate_limited(exc)
            if explained is None:
                raise
            raise explained from exc
        self.limiter.observe(response.headers)
        return _parse_listing(response.body, url)

    def _rate_limited(self, exc: HttpStatusError) -> HttpStatusError | None:
        """For a 429, block the limiter; without ``Retry-After`` wait the last reset heard (60s)."""
        if exc.status != 429:
            return None
        if exc.retry_after is not None:
            self.limiter.block(exc.retry_after)
            return None
        wait = self.limiter.reset_hint or 60.0
        self.limiter.block(wait)
        return HttpStatusError(
            f"{exc}; waiting {wait:g}s (Reddit's rate-limit window). Lower "
            "`max_requests_per_minute` if this recurs",
            status=429,
            retry_after=wait,
        )

    def _error(self, ref: str, error: str, raw: object) -> IngestError:
        text = json.dumps(raw, ensure_ascii=False, default=str) if raw is not None else ""
        return IngestError(self.key, ref, error, text, self.clock.now())

    def normalise(self, item: RawItem) -> Mention:
        """Build the mention from a ``t3`` (post) or ``t1`` (comment) listing child."""
        kind, data = item.payload["kind"], item.payload["data"]
        name = item.native_id
        post = kind == "t3"
        text = clean_text(_str(data.get("selftext" if post else "body")))
        title = clean_text(_str(data.get("title"))) if post else ""
        if not (text or title):
            raise ValueError(f"Reddit {name} has no text and no title")
        author = _str(data.get("author"))
        author = "" if author in GONE else author
        return Mention(
            id=make_id(PLATFORM, name),
            source=PLATFORM,
            url=_permalink(data, name),
            text=text or title,
            title=title,
            author=Author(
                handle=f"u/{author}" if author else "",
                url=f"{WEB}/user/{author}" if author else "",
            ),
            metrics=Metrics(likes=_int(data.get("score")), replies=_int(data.get("num_comments"))),
            parent_id=_fullname(data.get("parent_id")) if not post else None,
            thread_id=make_id(PLATFORM, name) if post else _fullname(data.get("link_id")),
            published_at=to_utc(data["created_utc"]),
            seen_at=self.clock.now(),
            lang=None,
            raw=dict(data),
        )


def _parse_listing(body: bytes, url: str) -> tuple[list[Any], str | None]:
    """The children and ``after`` of a Listing; `SourceError` naming `url` otherwise."""
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise SourceError(
            f"GET {url} did not return valid JSON ({exc}); Reddit may be down or answering "
            "with a login or error page; check the subreddit names and `base_url`"
        ) from exc
    return _listing_of(doc, url)


def _listing_of(doc: Any, url: str) -> tuple[list[Any], str | None]:
    """The children and ``after`` of a parsed Listing document."""
    data = doc.get("data") if isinstance(doc, dict) else None
    children = data.get("children") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(children, list):
        raise SourceError(
            f"GET {url} returned JSON that is not a Reddit Listing (no data.children list); "
            "check `base_url`"
        )
    after = data.get("after")
    return children, after if isinstance(after, str) and after else None


def _identify(child: object) -> tuple[str | None, dict[str, Any], str, float]:
    """Kind, data, fullname and creation time of a child; kind None for other kinds."""
    if not isinstance(child, dict) or not isinstance(child.get("data"), dict):
        raise ValueError("listing child is not a {kind, data} object")
    kind, data = child.get("kind"), child["data"]
    if kind not in ("t1", "t3"):
        return None, data, "", 0.0
    name = _str(data.get("name")) or (f"{kind}_{data['id']}" if _str(data.get("id")) else "")
    if not name.startswith(f"{kind}_") or len(name) <= 3:
        raise ValueError(f"Reddit {kind} item has no usable name/id ({name!r}); cannot identify it")
    created = _created(child)
    if created is None:
        raise ValueError(f"Reddit {name} has no numeric created_utc; cannot place it in time")
    return kind, data, name, created


def _created(child: object) -> float | None:
    data = child.get("data") if isinstance(child, dict) else None
    value = data.get("created_utc") if isinstance(data, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


_FULLNAME = re.compile(r"t[13]_[a-z0-9]+")


def _is_gone(kind: str, data: Mapping[str, Any]) -> bool:
    """A deleted or removed post or comment (skipped, not an error)."""
    return _str(data.get("body" if kind == "t1" else "selftext")).strip() in GONE


def _permalink(data: Mapping[str, Any], name: str) -> str:
    """The public URL; old comment listings have no permalink, so it is built from link_id."""
    link = _str(data.get("permalink"))
    if not link:
        post = _str(data.get("link_id")).removeprefix("t3_")
        sub = _str(data.get("subreddit"))
        if not (post and sub):
            raise ValueError(f"Reddit {name} has no permalink, nor subreddit and link_id")
        link = f"/r/{sub}/comments/{post}/_/{name.removeprefix('t1_')}/"
    if not link.startswith("/"):
        raise ValueError(f"Reddit {name} has a permalink that is not a path: {link[:80]!r}")
    return f"{WEB}{link}"


def _fullname(value: object) -> str | None:
    text = _str(value)
    return make_id(PLATFORM, text) if text else None


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _read_cursor(cursor: str | None) -> dict[str, Mark]:
    """Marks per endpoint key; an unreadable cursor (or entry) means 'start over'."""
    try:
        data = json.loads(cursor) if cursor else {}
    except json.JSONDecodeError:
        return {}
    endpoints = data.get("endpoints") if isinstance(data, dict) else None
    marks: dict[str, Mark] = {}
    for key, value in (endpoints or {}).items() if isinstance(endpoints, dict) else ():
        at = value.get("created_utc") if isinstance(value, dict) else None
        names = value.get("names") if isinstance(value, dict) else None
        if isinstance(at, int | float) and not isinstance(at, bool) and isinstance(names, list):
            marks[str(key)] = Mark(float(at), frozenset(str(n) for n in names))
    return marks


def _write_cursor(marks: Mapping[str, Mark]) -> str:
    data = {k: {"created_utc": m.at, "names": sorted(m.names)} for k, m in marks.items()}
    return json.dumps({"endpoints": data}, sort_keys=True)


@hookimpl
def tocsin_sources() -> list[type[Source]]:
    """The built-in Reddit source."""
    return [RedditSource]
