"""Hacker News stories and comments, found through the public Algolia HN Search API (no key).

Each poll asks ``search_by_date`` for hits newer than the cursor, newest first, page by page up
to `max_pages`. The cursor is a *mark*: the highest ``created_at_i`` seen and the ids seen at
that very second, so the next poll asks ``created_at_i>=mark`` and drops those ids: nothing
published in the same second is lost, nothing is read twice. When a poll stops at the page cap
with hits left below, the range not read yet is kept in the cursor as a *gap* and read first
by the next polls, so a burst delays mentions but never drops them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeGuard
from urllib.parse import urlencode

from pydantic import Field

from tocsin.hookspecs import hookimpl
from tocsin.mention import Author, Mention, Metrics, make_id
from tocsin.normalise import clean_text, html_to_text, to_utc
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
from tocsin.sources.http import fetch as http_fetch

__all__ = ["HackerNewsOptions", "HackerNewsSource"]

PLATFORM = "hackernews"
ITEM_URL = "https://news.ycombinator.com/item?id="
USER_URL = "https://news.ycombinator.com/user?id="


class HackerNewsOptions(SourceOptions):
    """Options of a Hacker News (Algolia search) source."""

    query: Words = Field(min_length=1, description="words to search, e.g. the organisation name")
    tags: str = Field("(story,comment)", description="Algolia tags filter")
    interval: float = Field(300.0, ge=60, description="seconds between polls (at least 60)")
    hits_per_page: int = Field(100, ge=1, le=1000, description="hits asked per request")
    max_pages: int = Field(10, ge=1, le=100, description="pages read per poll at most")
    backfill_hours: float = Field(24.0, ge=0, description="hours read back on the first poll")
    base_url: ApiRoot = Field("https://hn.algolia.com/api/v1", description="the API root")
    timeout: float = Field(20.0, gt=0, description="seconds to connect and for each read")
    max_bytes: int = Field(20_000_000, gt=0, description="largest response accepted, decoded")


@dataclass(frozen=True, slots=True)
class Mark:
    """Everything before second `at` is read, and the hits `ids` at second `at`."""

    at: int
    ids: frozenset[str] = frozenset()

    def to_json(self) -> dict[str, Any]:
        return {"created_at_i": self.at, "ids": sorted(self.ids)}

    @classmethod
    def from_json(cls, data: object) -> Mark | None:
        """A mark from its JSON form; None when it is not one."""
        if not isinstance(data, dict):
            return None
        at, ids = data.get("created_at_i"), data.get("ids", [])
        if not _is_int(at) or not isinstance(ids, list):
            return None
        return cls(at, frozenset(str(i) for i in ids))


@dataclass(frozen=True, slots=True)
class Cursor:
    """The top mark, and the range still to read (between `gap` and `gap_end`) after a burst."""

    top: Mark
    gap: Mark | None = None
    gap_end: Mark | None = None

    def dumps(self) -> str:
        data = self.top.to_json()
        if self.gap is not None and self.gap_end is not None:
            data["gap"] = {"from": self.gap.to_json(), "to": self.gap_end.to_json()}
        return json.dumps(data, sort_keys=True)

    @classmethod
    def loads(cls, text: str | None, default: Mark) -> Cursor:
        """Read a cursor; an absent or unreadable one starts over from `default`."""
        try:
            data = json.loads(text) if text else None
        except json.JSONDecodeError:
            data = None
        top = Mark.from_json(data)
        if top is None or not isinstance(data, dict):
            return cls(default)
        gap = data.get("gap")
        if not isinstance(gap, dict):
            return cls(top)
        start, end = Mark.from_json(gap.get("from")), Mark.from_json(gap.get("to"))
        if start is None or end is None:
            return cls(top)
        return cls(top, start, end)


@dataclass(slots=True)
class _Search:
    """What one windowed search returned: hits (newest first) and whether pages were left."""

    hits: list[tuple[str, Mapping[str, Any]]] = field(default_factory=list)
    truncated: bool = False


class HackerNewsSource(PollingSource):
    """Polls the HN Search API for `query`; see `description`."""

    name = "hackernews"
    description = """\
**Hacker News** stories and comments matching `query`, through the public Algolia HN Search
API (no key, no account). Polled every `interval` seconds, incrementally by creation time;
the first poll reads back `backfill_hours`.

- One mention per item: `hackernews:<id>`, linking to `news.ycombinator.com/item?id=<id>`.
- Comments point to their parent and story (`parent_id`, `thread_id`).
"""
    Options = HackerNewsOptions
    options: HackerNewsOptions

    @classmethod
    def zero_config(cls, terms: Sequence[str]) -> list[tuple[str, SourceOptions]]:
        """One Algolia search per term (Algolia ANDs the words of one query), at most 3."""
        return [
            (f"hackernews-{n}", HackerNewsOptions(query=term, backfill_hours=24))
            for n, term in enumerate(terms[:3], 1)
        ]

    def describe(self) -> str:
        """The search words."""
        return f"HN search {self.options.query!r}"

    async def refresh(self, native_ids: Sequence[str]) -> list[RawItem]:
        """Current points and comment counts of up to 100 stories, in one Algolia search.

        ``tags=story,(story_1,story_2,...)`` returns exactly those stories (a story carries its
        own ``story_<id>`` tag). Comments have no public score on HN (Algolia gives them no
        points nor comment count), so they are not asked for; deleted stories are not returned.
        """
        ids = [i for i in dict.fromkeys(native_ids) if i.isdigit()][: self.refresh_batch]
        if not ids:
            return []
        params = {
            "tags": f"story,({','.join(f'story_{i}' for i in ids)})",
            "hitsPerPage": len(ids),
        }
        url = f"{self.options.base_url}/search?{urlencode(params)}"
        data = await self._get_json(url)
        wanted = set(ids)
        hits = [
            (f"hit {n} of {url}", hit)
            for n, hit in enumerate(data["hits"], 1)
            if isinstance(hit, dict) and str(hit.get("objectID")) in wanted
        ]
        items, _errors = self._items(hits)  # a refresh that cannot be read changes nothing
        return items

    def poll_interval(self) -> float:
        """`interval` seconds."""
        return self.options.interval

    async def fetch(self, cursor: str | None) -> Batch:
        """Read what is new since `cursor` (or the gap a burst left), newest first."""
        since = self.clock.now() - timedelta(hours=self.options.backfill_hours)
        state = Cursor.loads(cursor, Mark(int(since.timestamp())))
        if state.gap is not None and state.gap_end is not None:
            low, high = state.gap, state.gap_end
        else:
            low, high = state.top, None
        search = await self._search(low.at, high.at if high else None)
        fresh = [(ref, hit) for ref, hit in search.hits if _inside(hit, low, high)]
        items, errors = self._items(fresh)
        return Batch(tuple(items), _next_cursor(state, search).dumps(), tuple(errors))

    async def _search(self, low: int, high: int | None) -> _Search:
        """All hits with ``low <= created_at_i (<= high)``, page by page up to `max_pages`."""
        opts = self.options
        numeric = f"created_at_i>={low}" + (f",created_at_i<={high}" if high is not None else "")
        result = _Search()
        seen: set[str] = set()
        for page in range(opts.max_pages):
            params = {
                "query": opts.query,
                "tags": opts.tags,
                "numericFilters": numeric,
                "hitsPerPage": opts.hits_per_page,
                "page": page,
            }
            url = f"{opts.base_url}/search_by_date?{urlencode(params)}"
            data = await self._get_json(url)
            hits = data["hits"]
            for number, hit in enumerate(hits, 1):
                key = str(hit.get("objectID")) if isinstance(hit, dict) else ""
                if key and key in seen:
                    continue  # a page shifted by a new hit repeats the previous page's last hits
                seen.add(key)
                result.hits.append((f"hit {number} of {url}", hit))
            pages = data.get("nbPages")
            last_page = not _is_int(pages) or page + 1 >= pages or not hits
            if last_page:
                total = data.get("nbHits")
                capped = _is_int(total) and total > len(seen) and len(hits) == opts.hits_per_page
                result.truncated = bool(capped)  # Algolia stops paging at 1000 hits
                return result
        result.truncated = True
        return result

    async def _get_json(self, url: str) -> dict[str, Any]:
        """GET an Algolia search response and check its shape; `SourceError` naming the URL."""
        opts = self.options
        response = await http_fetch(
            self.client, url, max_bytes=opts.max_bytes, timeout=opts.timeout, clock=self.clock
        )
        try:
            data = json.loads(response.body.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise SourceError(
                f"GET {url} did not return valid JSON ({exc}); the HN Search API may be down, "
                "or `base_url` does not point at it"
            ) from exc
        if not isinstance(data, dict) or not isinstance(data.get("hits"), list):
            raise SourceError(
                f"GET {url} returned JSON without a 'hits' list; `base_url` should be the "
                "Algolia HN Search API root (https://hn.algolia.com/api/v1)"
            )
        return data

    def _items(
        self, hits: Sequence[tuple[str, Mapping[str, Any]]]
    ) -> tuple[list[RawItem], list[IngestError]]:
        """Checked raw items; deleted hits are skipped, unreadable ones become errors."""
        items: list[RawItem] = []
        errors: list[IngestError] = []
        for ref, hit in hits:
            try:
                if _is_deleted(hit):
                    continue
                payload = {k: v for k, v in hit.items() if k != "_highlightResult"}
                item = RawItem(self.key, _object_id(hit), payload, ref)
                self.normalise(item)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                raw = json.dumps(hit, ensure_ascii=False, default=str)
                errors.append(IngestError(self.key, ref, str(exc), raw, self.clock.now()))
                continue
            items.append(item)
        return items, errors

    def normalise(self, item: RawItem) -> Mention:
        """Build the mention from an Algolia hit."""
        hit = item.payload
        native = _object_id(hit)
        created = hit.get("created_at_i")
        if not _is_int(created):
            raise ValueError(
                f"HN hit {native} has no integer created_at_i ({created!r}); "
                "the Algolia response format may have changed"
            )
        is_story = _is_story(hit)
        text = _first_text(hit, "comment_text", "story_text") or _plain(hit.get("title"))
        if not text:
            raise ValueError(f"HN hit {native} has no comment_text, story_text nor title")
        author = _plain(hit.get("author"))
        parent = _native(hit.get("parent_id"))
        story = _native(hit.get("story_id")) or (native if is_story else None)
        return Mention(
            id=make_id(PLATFORM, native),
            source=PLATFORM,
            url=f"{ITEM_URL}{native}",
            text=text,
            title=_plain(hit.get("title")) if is_story else "",
            author=Author(handle=author, url=f"{USER_URL}{author}" if author else ""),
            metrics=Metrics(
                likes=_count(hit.get("points")), replies=_count(hit.get("num_comments"))
            ),
            parent_id=make_id(PLATFORM, parent) if parent else None,
            thread_id=make_id(PLATFORM, story) if story else None,
            published_at=to_utc(created),
            seen_at=self.clock.now(),
            lang=None,
            raw=dict(hit),
        )


def _next_cursor(state: Cursor, search: _Search) -> Cursor:
    """The cursor after a search of the top range, or of the gap when there is one."""
    marks = [(hit["created_at_i"], _object_id(hit)) for _, hit in search.hits if _placed(hit)]
    if state.gap is None or state.gap_end is None:
        top = _highest(marks, state.top)
        if not search.truncated or not marks:
            return Cursor(top)
        return Cursor(top, state.top, _lowest(marks, None))
    if not search.truncated or not marks:
        return Cursor(state.top)
    end = _lowest(marks, state.gap_end)
    if end == state.gap_end:  # no progress possible (a full page cap within one second)
        return Cursor(state.top)
    return Cursor(state.top, state.gap, end)


def _highest(marks: list[tuple[int, str]], old: Mark) -> Mark:
    """The mark after reading `marks` above `old`."""
    at = max([old.at, *(t for t, _ in marks)])
    ids = {i for t, i in marks if t == at}
    return Mark(at, frozenset(ids | (old.ids if at == old.at else set())))


def _lowest(marks: list[tuple[int, str]], old: Mark | None) -> Mark:
    """The lowest second read, with the ids read there (and `old`'s when it is the same)."""
    at = min(t for t, _ in marks)
    ids = {i for t, i in marks if t == at}
    if old is not None and old.at == at:
        ids |= old.ids
    return Mark(at, frozenset(ids))


def _inside(hit: object, low: Mark, high: Mark | None) -> bool:
    """Whether a hit is new for the range ``low..high`` (unplaceable hits go on, as errors)."""
    if not isinstance(hit, Mapping) or not _placed(hit):
        return True
    at, native = hit["created_at_i"], _object_id(hit)
    if at < low.at or (at == low.at and native in low.ids):
        return False
    return high is None or at < high.at or (at == high.at and native not in high.ids)


def _placed(hit: Mapping[str, Any]) -> bool:
    """A hit with a readable id and time, which can move the cursor."""
    return isinstance(hit, Mapping) and _is_int(hit.get("created_at_i")) and _has_id(hit)


def _has_id(hit: Mapping[str, Any]) -> bool:
    try:
        _object_id(hit)
    except ValueError:
        return False
    return True


def _object_id(hit: Mapping[str, Any]) -> str:
    """The hit's ``objectID``; ValueError when missing."""
    if not isinstance(hit, Mapping):
        raise ValueError(f"HN hit is a JSON {type(hit).__name__}, not an object")
    value = hit.get("objectID")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError("HN hit has no objectID; it cannot be identified")
    return value.strip()


def _is_story(hit: Mapping[str, Any]) -> bool:
    tags = hit.get("_tags")
    if isinstance(tags, list) and tags:
        return "comment" not in tags
    return hit.get("comment_text") is None


def _is_deleted(hit: Mapping[str, Any]) -> bool:
    """A deleted or dead item: no author and no text at all (not an error, nothing to keep)."""
    if not isinstance(hit, Mapping) or not _has_id(hit):
        return False
    fields = ("author", "comment_text", "story_text", "title")
    return not any(_plain(hit.get(k)) for k in fields)


def _first_text(hit: Mapping[str, Any], *keys: str) -> str:
    for key in keys:
        value = hit.get(key)
        if isinstance(value, str) and value.strip():
            text = html_to_text(value)
            if text:
                return text
    return ""


def _plain(value: object) -> str:
    return clean_text(value) if isinstance(value, str) else ""


def _native(value: object) -> str | None:
    if _is_int(value) or (isinstance(value, str) and value.strip()):
        return str(value).strip()
    return None


def _count(value: object) -> int:
    return value if _is_int(value) and value > 0 else 0


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


@hookimpl
def tocsin_sources() -> list[type[Source]]:
    """The built-in Hacker News source."""
    return [HackerNewsSource]
