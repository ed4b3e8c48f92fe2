"""RSS, Atom and JSON Feed: any web feed, polled with conditional GET.

XML feeds are parsed by feedparser from bytes (never from a string it could take for a path or
URL), after a check of the prolog that refuses entity declarations that could expand (billion
laughs) or reach outside (external entities). JSON Feed is read with `json`. Each entry becomes
a `RawItem` carrying the original entry (JSON-safe) and the few fields a `Mention` needs.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote_plus

import feedparser
from pydantic import Field

from tocsin.hookspecs import hookimpl
from tocsin.mention import Author, Mention, make_id
from tocsin.normalise import canonical_url, clean_text, html_to_text, to_utc
from tocsin.sources.base import (
    Batch,
    IngestError,
    PollingSource,
    RawItem,
    Source,
    SourceError,
    SourceOptions,
    WebUrl,
)
from tocsin.sources.http import conditional_headers
from tocsin.sources.http import fetch as http_fetch

__all__ = ["FeedError", "RssOptions", "RssSource", "google_news_url", "parse_feed"]

PLATFORM = "rss"
_PROLOG_END = re.compile(rb"<[A-Za-z_]")
_ENTITY_DECL = re.compile(rb"<!ENTITY[^>]*>?")
_ENTITY_VALUE = re.compile(rb"<!ENTITY\s+(?:%\s*)?[\w.:-]+\s+(\"[^\"]*\"|'[^']*')")
_ENTITY_REF = re.compile(rb"[&%][A-Za-z_:]")
_SIMPLE_ENTITY = re.compile(rb"<!ENTITY\s+[\w.:-]+\s+(\"[^\"]*\"|'[^']*')\s*>")
_DOCTYPE = re.compile(rb"<!DOCTYPE[^\[>]*(\[.*?\]\s*)?>", re.DOTALL)

# Problems feedparser reports that do not make a feed unreadable.
_SOFT_BOZO = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)


class FeedError(SourceError):
    """The whole document could not be read as a feed (not one entry was usable)."""


class RssOptions(SourceOptions):
    """Options of an RSS/Atom/JSON Feed source."""

    url: WebUrl
    interval: float = Field(900.0, ge=60, description="seconds between polls (at least 60)")
    max_bytes: int = Field(10_000_000, gt=0, description="largest body accepted, decoded")
    timeout: float = Field(20.0, gt=0, description="seconds to connect and for each read")
    max_redirects: int = Field(5, ge=0, le=20)
    lang: str | None = Field(None, description="language of the feed, if its own is wrong")


def google_news_url(query: str, lang: str = "fr", country: str = "FR") -> str:
    """The Google News RSS search URL for `query` (e.g. ``'"Acme" OR acme.fr'``)."""
    return (
        f"https://news.google.com/rss/search?q={quote_plus(query)}"
        f"&hl={quote_plus(lang)}&gl={quote_plus(country)}&ceid={quote_plus(f'{country}:{lang}')}"
    )


class RssSource(PollingSource):
    """Polls one web feed; see `description`."""

    name = "rss"
    description = """\
Any web feed: **RSS** 0.9x/1.0/2.0, **Atom** and **JSON Feed**, polled every `interval` seconds
with conditional GET (ETag / Last-Modified), so an unchanged feed costs one 304.

- The same article in two feeds is one mention (`rss:<canonical link>`).
- Bad entries are reported one by one; the rest of the feed is kept.
- **Google News**: `tocsin.sources.rss.google_news_url("acme", lang="fr", country="FR")`.
- **Google Alerts**: create an alert with *Deliver to: RSS feed*; its URL is a plain Atom feed.
"""
    Options = RssOptions
    options: RssOptions

    @classmethod
    def zero_config(cls, terms: Sequence[str]) -> list[tuple[str, SourceOptions]]:
        """Google News searches for `terms`, in French and in English, polled every 5 min."""
        if not terms:
            return []
        query = " OR ".join(f'"{t}"' if " " in t else t for t in terms)
        return [
            (
                f"google-news-{lang}",
                RssOptions(url=google_news_url(query, lang, country), interval=300),
            )
            for lang, country in (("fr", "FR"), ("en", "US"))
        ]

    def describe(self) -> str:
        """The feed URL."""
        return self.options.url

    def poll_interval(self) -> float:
        """`interval` seconds."""
        return self.options.interval

    async def fetch(self, cursor: str | None) -> Batch:
        """GET the feed (conditionally) and return its entries; 304 keeps `cursor`."""
        state = _read_cursor(cursor)
        headers = conditional_headers(state.get("etag"), state.get("last_modified"))
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
        new_cursor = _write_cursor(
            response.headers.get("etag"), response.headers.get("last-modified")
        )
        feed = parse_feed(response.body, response.headers.get("content-type", ""), opts.url)
        items, errors = self._items(feed)
        return Batch(tuple(items), new_cursor, tuple(errors))

    def _items(self, feed: ParsedFeed) -> tuple[list[RawItem], list[IngestError]]:
        """Turn parsed entries into checked raw items, deduplicated; bad ones become errors."""
        items: list[RawItem] = []
        errors: list[IngestError] = []
        seen: set[str] = set()
        lang = self.options.lang or feed.lang
        for number, entry in enumerate(feed.entries, 1):
            ref = f"entry {number} of {self.options.url}"
            try:
                fields = _entry_fields(entry, lang)
                key = fields.pop("dedupe_key")
                if key in seen or fields["native_id"] in seen:
                    continue
                payload = {"fields": fields, "entry": json_safe(entry), "feed": feed.meta}
                item = RawItem(self.key, fields["native_id"], payload, ref)
                self.normalise(item)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                raw = json.dumps(json_safe(entry), ensure_ascii=False, default=str)
                errors.append(IngestError(self.key, ref, str(exc), raw, self.clock.now()))
                continue
            seen.update((key, item.native_id))
            items.append(item)
        return items, errors

    def normalise(self, item: RawItem) -> Mention:
        """Build the mention from the fields extracted at fetch time."""
        fields = item.payload["fields"]
        published = fields.get("published")
        now = self.clock.now()
        return Mention(
            id=make_id(PLATFORM, item.native_id),
            source=PLATFORM,
            url=fields.get("url") or "",
            text=fields.get("text") or "",
            title=fields.get("title") or "",
            author=Author(name=fields.get("author") or "", url=fields.get("author_url") or ""),
            published_at=to_utc(published) if published else now,
            seen_at=now,
            lang=fields.get("lang"),
            raw=dict(item.payload.get("entry", {})),
        )


class ParsedFeed:
    """Entries of a feed (dicts in feedparser's vocabulary), its language and metadata."""

    def __init__(self, entries: list[Mapping[str, Any]], lang: str | None, meta: dict[str, Any]):
        self.entries = entries
        self.lang = lang
        self.meta = meta


def parse_feed(body: bytes, content_type: str, url: str) -> ParsedFeed:
    """Parse an RSS/Atom/JSON Feed document; raise `FeedError` if it holds no feed at all."""
    head = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if "json" in content_type.lower() or head.startswith(b"{"):
        return _parse_json_feed(body, url)
    body = _defuse_doctype(body, url)
    result = feedparser.parse(
        io.BytesIO(body),  # bytes, never a str: feedparser would open a path or URL
        response_headers={
            "content-type": content_type or "application/xml",
            "content-location": url,
        },
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    soft = isinstance(result.get("bozo_exception"), _SOFT_BOZO)
    if not result.entries and (not result.version or (result.bozo and not soft)):
        problem = result.get("bozo_exception") or "no RSS, Atom or JSON Feed document found"
        raise FeedError(f"{url} is not a readable feed: {problem}; check the URL in a browser")
    feed = result.feed
    meta = {"title": clean_text(str(feed.get("title", ""))), "link": feed.get("link", "")}
    meta["version"] = result.version or ""
    lang = feed.get("language") or _header_lang(result)
    return ParsedFeed(list(result.entries), _short_lang(lang), meta)


def _header_lang(result: Mapping[str, Any]) -> str | None:
    headers = result.get("headers") or {}
    value = headers.get("content-language")
    return str(value) if value else None


def _short_lang(value: object) -> str | None:
    """``'fr-FR'`` → ``'fr'``; nothing usable → None."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().replace("_", "-").split("-")[0].lower() or None


def _defuse_doctype(body: bytes, url: str) -> bytes:
    """Make the DOCTYPE harmless before any XML parser sees it.

    - An entity whose value refers to other entities (``<!ENTITY b "&a;&a;">``: the
      billion-laughs pattern) is refused with a `FeedError`.
    - External or parameter entities (``SYSTEM``/``PUBLIC``, ``%``: XXE, or the common
      XHTML Latin-1 entity set) get the whole DOCTYPE removed; the feed is then read without them.
    - Plain text entities are left to feedparser, which keeps only those.
    """
    text = _as_ascii_compatible(body)
    match = _PROLOG_END.search(text)
    prolog = text[: match.start()] if match else text
    declarations = _ENTITY_DECL.findall(prolog)
    if not declarations:
        return body
    values = [v for v in _ENTITY_VALUE.findall(prolog) if _ENTITY_REF.search(v)]
    if values:
        raise FeedError(
            f"{url} declares XML entities that expand other entities (<!ENTITY ...>), which "
            "tocsin refuses to expand (entity-expansion attack, 'billion laughs'); "
            "ask the publisher to remove the DOCTYPE"
        )
    if all(_SIMPLE_ENTITY.fullmatch(d) for d in declarations):
        return body
    stripped = _DOCTYPE.sub(b"", prolog, count=1)
    if text is not body or _ENTITY_DECL.search(stripped):
        raise FeedError(
            f"{url} declares external XML entities in a DOCTYPE tocsin cannot remove safely; "
            "ask the publisher to remove the DOCTYPE"
        )
    return stripped + body[len(prolog) :]


_WIDE_ENCODINGS = (
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\xfe\xff", "utf-16"),
    (b"\xff\xfe", "utf-16"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
)


def _as_ascii_compatible(body: bytes) -> bytes:
    """`body` re-encoded as UTF-8 when it is UTF-16/32, so the entity check cannot be dodged."""
    for prefix, codec in _WIDE_ENCODINGS:
        if body.startswith(prefix):
            return body.decode(codec, "replace").encode("utf-8", "replace")
    return body


def _parse_json_feed(body: bytes, url: str) -> ParsedFeed:
    """Read a JSON Feed (version 1 or 1.1) into feedparser-like entry dicts."""
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise FeedError(f"{url} is not valid JSON: {exc!r}; JSON Feed must be UTF-8 JSON") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        raise FeedError(f"{url} is JSON but not a JSON Feed (no 'items' list)")
    feed_author = _json_author(doc)
    entries: list[Mapping[str, Any]] = []
    for item in doc["items"]:
        entry: dict[str, Any] = dict(item) if isinstance(item, dict) else {"_invalid": item}
        if isinstance(item, dict):
            entry.setdefault("link", item.get("url") or item.get("external_url"))
            entry["author"] = _json_author(item) or feed_author
            html = item.get("content_html")
            entry["summary"] = html if html else item.get("content_text") or item.get("summary")
            entry["published"] = item.get("date_published")
            entry["updated"] = item.get("date_modified")
        entries.append(entry)
    meta = {"title": clean_text(str(doc.get("title", ""))), "link": doc.get("home_page_url", "")}
    meta["version"] = str(doc.get("version", "json"))
    return ParsedFeed(entries, _short_lang(doc.get("language")), meta)


def _json_author(obj: Mapping[str, Any]) -> str:
    authors = obj.get("authors") or ([obj["author"]] if obj.get("author") else [])
    names = [a.get("name", "") for a in authors if isinstance(a, dict)]
    return ", ".join(n for n in names if isinstance(n, str) and n)


def _entry_fields(entry: Mapping[str, Any], lang: str | None) -> dict[str, Any]:
    """The mention fields of one entry plus its dedupe key; ValueError if it has no identity."""
    if "_invalid" in entry:
        raise ValueError(f"entry is a JSON {type(entry['_invalid']).__name__}, not an object")
    guid = _text(entry.get("id"))
    link = _link(entry)
    title = clean_text(html_to_text(_text(entry.get("title"))))
    published = _entry_time(entry)
    if not (guid or link or title):
        raise ValueError("entry has no link, no guid and no title; nothing identifies it")
    digest = hashlib.sha256(f"{title}\x00{published or ''}".encode()).hexdigest()[:24]
    native = link or guid or f"sha256:{digest}"
    return {
        "native_id": native,
        "dedupe_key": guid or link or digest,
        "url": link or (guid if _is_url(guid) else ""),
        "title": title,
        "text": html_to_text(_content_html(entry)),
        "author": clean_text(_text(entry.get("author"))),
        "author_url": _text((entry.get("author_detail") or {}).get("href")),
        "published": published,
        "lang": _short_lang(entry.get("language")) or lang,
        "guid": guid,
    }


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _is_url(value: str) -> bool:
    try:
        canonical_url(value)
    except ValueError:
        return False
    return True


def _link(entry: Mapping[str, Any]) -> str:
    """The canonical http(s) link of an entry, or ``""`` (``javascript:`` links are dropped)."""
    candidates = [_text(entry.get("link"))]
    links = entry.get("links")
    if isinstance(links, list):
        candidates += [_text(x.get("href")) for x in links if isinstance(x, dict)]
    for candidate in candidates:
        if candidate and _is_url(candidate):
            return canonical_url(candidate)
    return ""


def _content_html(entry: Mapping[str, Any]) -> str:
    """The richest body: ``content`` (Atom/content:encoded) before ``summary``."""
    content = entry.get("content")
    if isinstance(content, list):
        values = [_text(c.get("value")) for c in content if isinstance(c, dict)]
        best = max(values, key=len, default="")
        if best:
            return best
    return _text(entry.get("summary")) or _text(entry.get("description"))


def _entry_time(entry: Mapping[str, Any]) -> str | None:
    """Published (else updated) time as ISO 8601 UTC, or None when absent or unreadable."""
    for key in ("published_parsed", "updated_parsed", "published", "updated"):
        value = entry.get(key)
        if value is None or value == "":
            continue
        try:
            return to_utc(value).isoformat()
        except ValueError:
            continue
    return None


def json_safe(value: Any, _depth: int = 0) -> Any:
    """A JSON-serialisable copy: struct_time → ISO string, tuples → lists, odd types → str."""
    if _depth > 50:
        return None
    if isinstance(value, time.struct_time):
        return to_utc(value).isoformat()
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, _depth + 1) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _read_cursor(cursor: str | None) -> dict[str, str]:
    """The ETag / Last-Modified kept in the cursor; a cursor we cannot read means 'none'."""
    if not cursor:
        return {}
    try:
        data = json.loads(cursor)
    except json.JSONDecodeError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if k in ("etag", "last_modified") and isinstance(v, str)}


def _write_cursor(etag: str | None, last_modified: str | None) -> str:
    """The new cursor; ``{}`` when the server sends no validators (forgets stale ones)."""
    state = {k: v for k, v in (("etag", etag), ("last_modified", last_modified)) if v}
    return json.dumps(state, sort_keys=True)


@hookimpl
def tocsin_sources() -> list[type[Source]]:
    """The built-in web feed source."""
    return [RssSource]
