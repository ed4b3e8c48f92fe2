"""The Bluesky backfill: ``app.bsky.feed.searchPosts`` for each query, newest first, paged.

Run once per start of a `BlueskySource` (before it follows Jetstream), from its cursor's time
or `backfill_hours` ago. Failures never stop the live stream: they are collected in
`problems`, which the source reports once (as its health's error text) before it streams.
Some AppViews require authentication for search: a 401/403 stops the backfill with a message
saying so and how to change it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from tocsin.sources.base import IngestError, RawItem, SourceError
from tocsin.sources.http import HttpStatusError
from tocsin.sources.http import fetch as http_fetch

if TYPE_CHECKING:
    from tocsin.sources.bluesky import BlueskySource

__all__ = ["PAGE_SIZE", "backfill_batches", "search_url"]

PAGE_SIZE = 100  # the largest `limit` searchPosts accepts
_MAX_BODY = 20_000_000


def search_url(base: str, query: str, since: datetime, cursor: str | None) -> str:
    """The searchPosts URL for one page of `query`, newest first, after `since`."""
    params = [
        ("q", query),
        ("sort", "latest"),
        ("since", since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")),
        ("limit", str(PAGE_SIZE)),
    ]
    if cursor:
        params.append(("cursor", cursor))
    return f"{base.rstrip('/')}/xrpc/app.bsky.feed.searchPosts?{urlencode(params)}"


async def backfill_batches(
    source: BlueskySource, since: datetime, problems: list[str]
) -> AsyncGenerator[tuple[list[RawItem], list[IngestError]], None]:
    """Yield one ``(items, errors)`` per page of every backfill query; add failures to
    `problems` (one line each) instead of raising."""
    opts = source.options
    base = opts.search_url or opts.appview_url
    for query in opts.backfill_queries:
        page_cursor: str | None = None
        for page in range(1, opts.backfill_max_pages + 1):
            url = search_url(base, query, since, page_cursor)
            try:
                posts, page_cursor = await fetch_posts(source, url)
            except HttpStatusError as exc:
                if exc.status in (401, 403):
                    problems.append(_auth_message(base, exc.status))
                    return  # the same answer awaits every other query
                problems.append(f"Bluesky backfill of {query!r} stopped at page {page}: {exc}")
                break
            except SourceError as exc:
                problems.append(f"Bluesky backfill of {query!r} stopped at page {page}: {exc}")
                break
            yield _page_items(source, posts, query, page)
            if not page_cursor or not posts:
                break


def _auth_message(base: str, status: int) -> str:
    return (
        f"Bluesky backfill skipped: the AppView at {base} answers HTTP {status} to "
        "app.bsky.feed.searchPosts (it requires authentication there); the live stream goes "
        "on. Set `search_url` to an AppView that allows public search, or remove "
        "`backfill_queries`"
    )


async def fetch_posts(source: BlueskySource, url: str) -> tuple[list[Any], str | None]:
    """One searchPosts answer: its posts and the cursor of the next page (None: last)."""
    response = await http_fetch(
        source.client, url, max_bytes=_MAX_BODY, timeout=source.options.timeout, clock=source.clock
    )
    try:
        doc = json.loads(response.body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SourceError(f"GET {url} did not return JSON ({exc})") from exc
    posts = doc.get("posts") if isinstance(doc, dict) else None
    if not isinstance(posts, list):
        raise SourceError(f"GET {url} returned no 'posts' list; is this an AppView?")
    cursor = doc.get("cursor")
    return posts, cursor if isinstance(cursor, str) and cursor else None


def _page_items(
    source: BlueskySource, posts: list[Any], query: str, page: int
) -> tuple[list[RawItem], list[IngestError]]:
    """Checked raw items of one page; a post that cannot be read becomes an `IngestError`."""
    items: list[RawItem] = []
    errors: list[IngestError] = []
    for number, post in enumerate(posts, 1):
        ref = f"result {number} of page {page} of the Bluesky search for {query!r}"
        try:
            if not isinstance(post, Mapping):
                raise ValueError(f"the result is a JSON {type(post).__name__}, not a post view")
            item = RawItem(source.key, str(post.get("uri")), {"post": post}, ref)
            source.normalise(item)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raw = json.dumps(post, ensure_ascii=False, default=str)
            errors.append(IngestError(source.key, ref, str(exc), raw, source.clock.now()))
            continue
        items.append(item)
    return items, errors
