"""Search (``GET /search``) and its CSV export (``GET /search.csv``), for viewers and up.

The query language (`tocsin.query`) with filters: watch, source, language, sentiment,
demand and a date range. A query that does not parse is answered 400 with the parser's
message and a caret under the problem, never a 500.

Results are read newest first through `Store.search` in bounded chunks: the sentiment and
demand filters (not yet store filters) are applied to each chunk, and a page scans at most
`SCAN_LIMIT` stored matches before it says so. Pages go on with a cursor (the publication
time of the last result shown and how many results at that instant were already read), so
page 40 costs what page 1 costs.

Matched words are highlighted safely: the text is cut into pieces at the matched words, each
piece is HTML-escaped, and only then are ``<mark>`` tags put around the escaped matches
(matching on the escaped text itself could match inside ``&amp;``).

With htmx (``HX-Request``), a change of the filters is answered with the results part only
(and ``HX-Push-Url``: the page's shareable address), and "older results" with the next
results and pager, appended (see docs/web.md, "Partial updates (HTMX)").
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup, escape

from tocsin.mention import Mention
from tocsin.query import Field, Near, Node, Not, Phrase, QueryError, Term, Wildcard, parse
from tocsin.query.evaluate import field_text_node, spans
from tocsin.query.text import raw_words, tokenize
from tocsin.store import Store
from tocsin.web.auth import User, require
from tocsin.web.i18n import words
from tocsin.web.pages import render, wants_fragment

__all__ = [
    "DEMANDS",
    "PAGE_SIZE",
    "SCAN_LIMIT",
    "SENTIMENTS",
    "WORDS",
    "SearchError",
    "SearchRequest",
    "csv_cell",
    "highlight",
    "router",
    "run_search",
]

router = APIRouter()

_VIEWER = Depends(require("viewer"))

PAGE_SIZE = 50
SCAN_LIMIT = 5000
"""At most this many stored matches are read for one page (sentiment/demand filtering)."""
EXPORT_LIMIT = 5000
EXPORT_SCAN_LIMIT = 50_000
SENTIMENTS = ("negative", "neutral", "positive")
DEMANDS = ("apology", "explanation", "fix", "compensation", "information", "none")
_CHUNK = 200
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

WORDS: Mapping[str, Mapping[str, str]] = words("search")


# -- highlighting -----------------------------------------------------------------------------


def _positive(node: Node | None) -> Iterator[tuple[str, Node]]:
    """``(where, node)`` for the word nodes of `node` a match must show: ``text`` for the
    default ones, ``title`` for ``title:`` values; nothing under NOT."""
    if node is None or isinstance(node, Not):
        return
    if isinstance(node, Term | Wildcard | Phrase | Near):
        yield "text", node
    elif isinstance(node, Field):
        if node.name.lower() == "title":
            yield "title", field_text_node(node.value)
    else:
        for child in node.children:
            yield from _positive(child)


def _word_offsets(text: str) -> list[tuple[int, int]]:
    """Character ``(start, end)`` of each word of `text`, aligned with its tokens."""
    offsets: list[tuple[int, int]] = []
    cursor = 0
    for word in raw_words(text):
        start = text.find(word, cursor)
        if start < 0:  # pragma: no cover - raw words are substrings of the text
            break
        offsets.append((start, start + len(word)))
        cursor = start + len(word)
    return offsets


def highlight(text: str, node: Node | None, *, title: bool = False) -> Markup:
    """`text` HTML-escaped, with the words `node` matches wrapped in ``<mark>``."""
    nodes = [n for where, n in _positive(node) if where == "text" or (title and where == "title")]
    if not nodes or not text:
        return Markup(escape(text))  # noqa: S704 - escaped
    toks = tokenize(text)
    marked: set[int] = set()
    for n in nodes:
        try:
            found = spans(n, toks)
        except (TypeError, ValueError):
            continue
        for start, length in found:
            marked.update(range(start, start + length))
    offsets = _word_offsets(text)
    out: list[str] = []
    cursor = 0
    for index in sorted(i for i in marked if i < len(offsets)):
        start, end = offsets[index]
        out.append(str(escape(text[cursor:start])))
        out.append(f"<mark>{escape(text[start:end])}</mark>")
        cursor = end
    out.append(str(escape(text[cursor:])))
    return Markup("".join(out).replace("</mark><mark>", "</mark> <mark>"))  # noqa: S704


# -- searching --------------------------------------------------------------------------------


class SearchError(ValueError):
    """A query or filter that cannot be used: `message` says what and how to fix it."""

    def __init__(self, message: str, *, query_error: QueryError | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.query_error = query_error


def _when(name: str, value: str | None, *, end: bool = False) -> datetime | None:
    """A date (``YYYY-MM-DD``; for `end`, the end of that day) or ISO 8601 time (UTC when
    naive)."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise SearchError(
            f"{name}: {text!r} is not a date; write YYYY-MM-DD or YYYY-MM-DDTHH:MM"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _choice(name: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise SearchError(f"{name}: {value!r} is not one of {', '.join(allowed)}")
    return value


def _text(value: str | None) -> str | None:
    return value.strip() or None if value else None


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """A search as asked: the query and the filters (empty values mean "any"), and where to
    continue (`before`: only results published at or before it, skipping the first `skip`
    stored matches published exactly then)."""

    q: str = ""
    watch: str | None = None
    source: str | None = None
    lang: str | None = None
    sentiment: str | None = None
    demand: str | None = None
    since: str | None = None
    until: str | None = None
    before: str | None = None
    skip: int = 0

    def params(self, **changes: object) -> dict[str, str]:
        """The query-string parameters of this search (for links), with `changes`."""
        values: dict[str, object] = {
            "q": self.q,
            "watch": self.watch,
            "source": self.source,
            "lang": self.lang,
            "sentiment": self.sentiment,
            "demand": self.demand,
            "since": self.since,
            "until": self.until,
        } | changes
        return {k: str(v) for k, v in values.items() if v not in (None, "")}


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of results: `next` is the cursor ``(before, skip)`` of the following page
    (None at the end); `scan_limited` when the scan stopped at its limit."""

    mentions: list[Mention]
    node: Node | None
    next: tuple[str, int] | None
    scan_limited: bool


def _parse(search: SearchRequest) -> tuple[Node | None, dict[str, Any], bool]:
    try:
        node = parse(search.q) if search.q.strip() else None
    except QueryError as exc:
        raise SearchError(str(exc), query_error=exc) from None
    upper = _when("before", search.before)
    until = _when("until", search.until, end=True)
    resumed = False
    if upper is not None:
        upper += timedelta(microseconds=1)  # `before` is inclusive, the store's until is not
        resumed = until is None or upper <= until
        until = upper if resumed else until
    filters = {
        "watch": _text(search.watch),
        "source": _text(search.source),
        "lang": _text(search.lang),
        "since": _when("since", search.since),
        "until": until,
    }
    _choice("sentiment", search.sentiment, SENTIMENTS)
    _choice("demand", search.demand, DEMANDS)
    return node, filters, resumed


def _keep(m: Mention, search: SearchRequest) -> bool:
    if search.sentiment and (m.sentiment is None or m.sentiment.label != search.sentiment):
        return False
    return not search.demand or (m.demand or "none") == search.demand


def run_search(
    store: Store, search: SearchRequest, *, size: int = PAGE_SIZE, scan_limit: int = SCAN_LIMIT
) -> SearchPage:
    """Up to `size` results of `search` from its cursor on, newest first (sync: call through
    `asyncio.to_thread`); `SearchError` for a bad query or filter."""
    node, filters, resumed = _parse(search)
    found: list[Mention] = []
    group: tuple[datetime | None, int] = (None, 0)
    skip = 0
    if resumed:  # go on after the `skip` results published exactly at `before`
        skip = max(search.skip, 0)
        group = (filters["until"] - timedelta(microseconds=1), skip)
    scanned = 0
    cursor: tuple[datetime | None, int] = group
    while True:
        chunk = min(_CHUNK, scan_limit) if search.sentiment or search.demand else size + 1
        rows = store.search(node, limit=skip + chunk, **filters)
        fresh = rows[skip:]
        for m in fresh:
            at, seen = group
            group = (m.published_at, seen + 1 if at == m.published_at else 1)
            scanned += 1
            if _keep(m, search):
                if len(found) == size:  # one more exists: the page ends before it
                    return SearchPage(found, node, _cursor(cursor), False)
                found.append(m)
                cursor = group
        if len(rows) < skip + chunk:
            return SearchPage(found, node, None, False)
        if scanned >= scan_limit:
            return SearchPage(found, node, _cursor(group), True)
        at, seen = group
        assert at is not None
        filters["until"] = at + timedelta(microseconds=1)
        skip = seen


def _cursor(group: tuple[datetime | None, int]) -> tuple[str, int] | None:
    at, seen = group
    return None if at is None else (at.isoformat(), seen)


def _request(
    q: str = "",
    watch: str | None = None,
    source: str | None = None,
    lang: str | None = None,
    sentiment: str | None = None,
    demand: str | None = None,
    since: str | None = None,
    until: str | None = None,
    before: str | None = None,
    skip: int = 0,
) -> SearchRequest:
    """The search of a query string (a FastAPI dependency)."""
    return SearchRequest(q, watch, source, lang, sentiment, demand, since, until, before, skip)


def _watches(request: Request) -> list[str]:
    settings = request.app.state.settings
    return [w.name for w in settings.watches]


def _sources(request: Request) -> list[str]:
    settings = request.app.state.settings
    return sorted({s.name for s in settings.sources})


_SEARCH = Depends(_request)


@router.get("/search", response_class=HTMLResponse)
async def search_page(
    request: Request,
    search: SearchRequest = _SEARCH,
    user: User = _VIEWER,
) -> HTMLResponse:
    """The search page: the form, and a page of results when something is asked."""
    context: dict[str, Any] = {
        "search": search,
        "watches": _watches(request),
        "sources": _sources(request),
        "sentiments": SENTIMENTS,
        "demands": DEMANDS,
        "page": None,
        "error": None,
        "highlight": highlight,
    }
    template, status = "search.html", 200
    if wants_fragment(request):  # the results part, or the next results to append
        template = "_triage_more.html" if search.before else "_triage_results.html"
    context["appended"] = template == "_triage_more.html"
    if any(search.params().values()):
        try:
            page = await asyncio.to_thread(run_search, request.app.state.store, search)
        except SearchError as exc:
            error = exc.query_error or exc
            kind = "bad_query" if exc.query_error else "bad_filter"
            context |= {"error": error, "error_kind": kind}
            status = 400
        else:
            context |= {"page": page, "scan_limit": SCAN_LIMIT}
    response = render(request, template, context, WORDS, status=status)
    if template == "_triage_results.html":
        query = urlencode(search.params())
        response.headers["HX-Push-Url"] = "/search" + (f"?{query}" if query else "")
        response.headers["HX-Reswap"] = "innerHTML"  # also for a 400: it shows the error
    return response


def csv_cell(value: object) -> str:
    """`value` as a CSV cell that a spreadsheet will not run: text starting with ``=``,
    ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


_CSV_COLUMNS = (
    "id",
    "published_at",
    "source",
    "author_handle",
    "author_name",
    "url",
    "title",
    "text",
    "lang",
    "sentiment",
    "sentiment_score",
    "demand",
    "priority",
    "watches",
)


def _csv_row(m: Mention) -> list[str]:
    score = "" if m.sentiment is None else f"{m.sentiment.score:.3f}"
    priority = "" if m.priority is None else f"{m.priority:.1f}"
    text_cells = [
        m.id,
        m.published_at.isoformat(),
        m.source,
        m.author.handle,
        m.author.name,
        m.url,
        m.title,
        m.text,
        m.lang or "",
        m.sentiment.label if m.sentiment else "",
    ]
    return [
        *(csv_cell(v) for v in text_cells),
        score,  # numbers we format ourselves: never a formula
        csv_cell(m.demand or ""),
        priority,
        csv_cell(" ".join(m.watches)),
    ]


@router.get("/search.csv")
async def search_csv(
    request: Request,
    search: SearchRequest = _SEARCH,
    user: User = _VIEWER,
) -> Response:
    """The results of a search as CSV (up to `EXPORT_LIMIT` rows, newest first)."""
    store = request.app.state.store
    try:
        page = await asyncio.to_thread(
            run_search, store, search, size=EXPORT_LIMIT, scan_limit=EXPORT_SCAN_LIMIT
        )
    except SearchError as exc:
        return Response(exc.message + "\n", status_code=400, media_type="text/plain")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(_CSV_COLUMNS)
    writer.writerows(_csv_row(m) for m in page.mentions)
    headers = {
        "Content-Disposition": 'attachment; filename="tocsin-search.csv"',
        "Cache-Control": "no-store",
    }
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)
