"""Web pages: a watched URL (a forum thread, a review page) whose *new* text becomes mentions.

The page is fetched with `tocsin.sources.http.fetch` (conditional GET, size and time limits) and
its main content and comments are extracted by trafilatura from the fetched bytes; trafilatura
never fetches anything itself. The extracted document is cut into **blocks**: each outermost
paragraph, list item, quote, heading, code block or table row of the main content or of the
comments. A block is identified by a hash of its folded text (case-folded, spaces collapsed), so
a block that moves on the page, or is re-rendered with other markup, is the same block.

The cursor remembers the fingerprints seen (at most `SEEN_LIMIT`, the current page's always
kept) with the ETag / Last-Modified; each poll only blocks never seen become mentions. On the
first poll every current block is a mention, dated with the page's date when it has one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import trafilatura
from pydantic import Field
from selectolax.lexbor import LexborHTMLParser

from tocsin.hookspecs import hookimpl
from tocsin.mention import Author, Mention, make_id
from tocsin.normalise import canonical_url, clean_text, to_utc
from tocsin.sources.base import (
    Batch,
    PollingSource,
    RawItem,
    Source,
    SourceError,
    SourceOptions,
    WebUrl,
)
from tocsin.sources.http import conditional_headers
from tocsin.sources.http import fetch as http_fetch

__all__ = ["Block", "WebPageOptions", "WebPageSource", "extract_blocks", "fingerprint"]

PLATFORM = "webpage"
SEEN_LIMIT = 5000
"""Fingerprints kept in the cursor at most (beyond those of the page as last seen)."""

_BLOCK_TAGS = frozenset({"p", "item", "quote", "head", "code", "row"})
_SPACES = re.compile(r"\s+")
_HTML_TYPES = ("html", "xml", "text/plain")


class WebPageOptions(SourceOptions):
    """Options of a watched web page."""

    url: WebUrl
    interval: float = Field(3600.0, ge=300, description="seconds between polls (at least 300)")
    max_bytes: int = Field(5_000_000, gt=0, description="largest page accepted, decoded")
    timeout: float = Field(20.0, gt=0, description="seconds to connect and for each read")
    max_redirects: int = Field(5, ge=0, le=20)
    min_block_chars: int = Field(20, ge=1, description="shorter blocks ('Reply', '+1') skipped")
    lang: str | None = Field(None, description="language of the page, if its own is wrong")


@dataclass(frozen=True, slots=True)
class Block:
    """One unit of extracted text: where it was (``main`` or ``comments``) and its text."""

    part: str
    text: str

    @property
    def hash(self) -> str:
        """The block's fingerprint."""
        return fingerprint(self.text)


@dataclass(frozen=True, slots=True)
class Page:
    """What trafilatura found on a page."""

    title: str
    author: str
    date: str | None
    lang: str | None
    blocks: tuple[Block, ...]


def fingerprint(text: str) -> str:
    """SHA-256 (hex) of the folded text: case-folded, whitespace collapsed."""
    folded = _SPACES.sub(" ", text.casefold()).strip()
    return hashlib.sha256(folded.encode("utf-8")).hexdigest()


class WebPageSource(PollingSource):
    """Polls one web page and reports its new blocks of text; see `description`."""

    name = "webpage"
    description = """\
A **web page** watched for new text: a forum thread, a review page, a comment section. The page
is fetched every `interval` seconds with conditional GET, its main content and comments are
extracted (trafilatura), and each paragraph, comment or list item never seen before becomes a
mention (`webpage:<url>#<block hash>`). No key needed.

- The first poll reports every block of the page; later polls only the new ones.
- Blocks shorter than `min_block_chars` ("Reply", "+1") are skipped.
- Pages built by JavaScript in the browser cannot be read: use their feed or API instead.
"""
    Options = WebPageOptions
    options: WebPageOptions

    def describe(self) -> str:
        """The page URL."""
        return self.options.url

    def poll_interval(self) -> float:
        """`interval` seconds."""
        return self.options.interval

    async def fetch(self, cursor: str | None) -> Batch:
        """GET the page (conditionally) and return its blocks not seen yet; 304 keeps `cursor`."""
        state = _read_cursor(cursor)
        headers = conditional_headers(state.etag, state.last_modified)
        opts = self.options
        response = await http_fetch(
            self.client,
            opts.url,
            max_bytes=opts.max_bytes,
            timeout=opts.timeout,
            max_redirects=opts.max_redirects,
            headers=headers,
            clock=self.clock,
        )
        if response.status == 304:
            return Batch((), cursor)
        _check_type(response.headers.get("content-type", ""), opts.url)
        page = await asyncio.to_thread(extract_blocks, response.body, opts.url)
        items, hashes = self._new_items(page, state)
        seen = _bounded(hashes, state.seen)
        etag, modified = response.headers.get("etag"), response.headers.get("last-modified")
        return Batch(tuple(items), _write_cursor(etag, modified, seen))

    def _new_items(self, page: Page, state: _State) -> tuple[list[RawItem], list[str]]:
        """Raw items for the page's unseen blocks, and every current block's short hash."""
        canonical = canonical_url(self.options.url)
        first = state.first_run
        published = page.date if first else None
        items: list[RawItem] = []
        hashes: list[str] = []
        for number, block in enumerate(page.blocks, 1):
            if len(block.text) < self.options.min_block_chars:
                continue
            short = block.hash[:16]
            if short in hashes:
                continue  # the same text twice on one page is one block
            hashes.append(short)
            if short in state.seen:
                continue
            payload = {
                "url": canonical,
                "text": block.text,
                "part": block.part,
                "title": page.title,
                "author": page.author if block.part == "main" else "",
                "published": published,
                "lang": self.options.lang or page.lang,
            }
            items.append(RawItem(self.key, f"{canonical}#{short}", payload, _ref(number, block)))
        return items, hashes

    def normalise(self, item: RawItem) -> Mention:
        """Build the mention of one block."""
        data = item.payload
        now = self.clock.now()
        published = data.get("published")
        return Mention(
            id=make_id(PLATFORM, item.native_id),
            source=PLATFORM,
            url=data["url"],
            text=data["text"],
            title=data.get("title") or "",
            author=Author(name=data.get("author") or ""),
            published_at=to_utc(published) if published else now,
            seen_at=now,
            lang=data.get("lang"),
            raw=dict(data),
        )


def _ref(number: int, block: Block) -> str:
    where = "comment" if block.part == "comments" else "block"
    return f"{where} {number} ({block.text[:40]!r})"


def _check_type(content_type: str, url: str) -> None:
    """Refuse bodies that are plainly not web pages (PDF, images, JSON)."""
    kind = content_type.split(";")[0].strip().lower()
    if kind and not any(t in kind for t in _HTML_TYPES):
        raise SourceError(
            f"{url} is {kind}, not an HTML page; watch an HTML page (for a feed use the "
            "`rss` source)"
        )


def extract_blocks(body: bytes, url: str) -> Page:
    """Extract the main content and comments of an HTML page into blocks.

    Raises `SourceError` naming `url` when trafilatura finds no main content.
    """
    doc = trafilatura.bare_extraction(
        body,
        url=url,
        include_comments=True,
        include_tables=True,
        with_metadata=True,
        deduplicate=False,
    )
    blocks: list[Block] = []
    if doc is not None and not isinstance(doc, dict):
        for part, root in (("main", doc.body), ("comments", doc.commentsbody)):
            blocks += [Block(part, t) for t in _texts(root)]
    if doc is None or isinstance(doc, dict) or not blocks:
        raise SourceError(
            f"no main content could be extracted from {url}; open it in a browser with "
            "JavaScript off: if the text is missing, the page is built by scripts (use its "
            "feed or API); if it asks to log in or accept cookies, tocsin cannot pass that"
        )
    return Page(
        title=clean_text(doc.title or ""),
        author=clean_text(doc.author or ""),
        date=_date(doc.date),
        lang=_page_lang(body),
        blocks=tuple(blocks),
    )


def _texts(root: Any) -> list[str]:
    """The text of each outermost block element under `root` (an lxml element or None)."""
    if root is None:
        return []
    texts: list[str] = []
    stack = list(reversed(root))
    while stack:
        node = stack.pop()
        if not isinstance(node.tag, str):
            continue
        if node.tag in _BLOCK_TAGS:
            text = _element_text(node)
            if text:
                texts.append(text)
        else:
            stack.extend(reversed(node))
    return texts


def _element_text(node: Any) -> str:
    """Text of one block: ``<lb/>`` becomes a line break, table cells are separated.

    The element is trafilatura's own output tree, so marking it up in place is harmless.
    """
    for piece in node.iter("lb", "cell"):
        if piece.tag == "lb":
            piece.tail = "\n" + (piece.tail or "")
        else:
            piece.text = " " + (piece.text or "")
    return clean_text("".join(node.itertext()))


def _date(value: object) -> str | None:
    """trafilatura's ``YYYY-MM-DD`` as ISO 8601 UTC midnight; None when absent or odd."""
    if not isinstance(value, str):
        return None
    try:
        day = datetime.strptime(value.strip()[:10], "%Y-%m-%d")
    except ValueError:
        return None
    return day.replace(tzinfo=UTC).isoformat()


def _page_lang(body: bytes) -> str | None:
    """``<html lang="fr-FR">`` → ``fr``; None when absent."""
    node = LexborHTMLParser(body.decode("utf-8", "replace")).css_first("html")
    lang = node.attributes.get("lang") if node is not None else None
    short = (lang or "").strip().replace("_", "-").split("-")[0].lower()
    return short or None


@dataclass(frozen=True, slots=True)
class _State:
    etag: str | None
    last_modified: str | None
    seen: tuple[str, ...]
    first_run: bool


def _read_cursor(cursor: str | None) -> _State:
    """ETag, Last-Modified and fingerprints from the cursor; unreadable means a first run."""
    try:
        data = json.loads(cursor) if cursor else None
    except json.JSONDecodeError:
        data = None
    seen = data.get("seen") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(seen, list):
        return _State(None, None, (), True)
    etag, modified = data.get("etag"), data.get("last_modified")
    return _State(
        etag if isinstance(etag, str) else None,
        modified if isinstance(modified, str) else None,
        tuple(str(h) for h in seen if isinstance(h, str)),
        False,
    )


def _bounded(current: list[str], previous: tuple[str, ...]) -> list[str]:
    """Fingerprints to keep: older ones first, the current page's last (all of them kept)."""
    keep = set(current)
    older = [h for h in previous if h not in keep]
    room = max(SEEN_LIMIT - len(current), 0)
    return (older[-room:] if room else []) + current


def _write_cursor(etag: str | None, last_modified: str | None, seen: list[str]) -> str:
    data = {"etag": etag, "last_modified": last_modified, "seen": seen}
    return json.dumps(data, separators=(",", ":"))


@hookimpl
def tocsin_sources() -> list[type[Source]]:
    """The built-in web page source."""
    return [WebPageSource]
