"""Shared helpers that sources use to turn platform data into clean `Mention` fields.

Everything here is pure and total on hostile input: times become aware UTC, URLs become one
canonical http(s) form (other schemes are refused), HTML becomes plain text without ever being
executed, and text loses control characters and runs of whitespace.
"""

from __future__ import annotations

import re
import time
import unicodedata
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

__all__ = ["canonical_url", "clean_text", "html_to_text", "site_of", "to_utc"]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_TRACKING_PARAMS = frozenset({"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid"})
_DROPPED_TAGS = ("script", "style", "iframe", "object", "embed", "noscript", "template")
_BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "details",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "td",
        "th",
        "tr",
        "ul",
    ]
)
# C0/C1 controls except tab and newline, bidi overrides/isolates, BOM, lone surrogates.
_CONTROL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]"
)
_HSPACE = re.compile(r"[^\S\n]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def to_utc(value: object) -> datetime:
    """Return `value` as an aware UTC datetime.

    Accepts a `datetime` (naive is taken as UTC), a `time.struct_time` (as feedparser gives,
    always UTC), an epoch number in seconds, or a string in ISO 8601 or RFC 2822 form.
    Raises `ValueError` naming the value when it is none of these.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    if isinstance(value, time.struct_time):
        return datetime(*value[:6], tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"epoch time {value!r} is out of range") from exc
    if isinstance(value, str):
        return _parse_time_string(value)
    raise ValueError(f"cannot read a time from {type(value).__name__} {value!r}")


def _parse_time_string(text: str) -> datetime:
    """Parse ISO 8601 (``Z`` suffix allowed) or RFC 2822 into aware UTC."""
    stripped = text.strip()
    if not stripped:
        raise ValueError("empty time string")
    iso = stripped[:-1] + "+00:00" if stripped[-1:] in ("Z", "z") else stripped
    try:
        return to_utc(datetime.fromisoformat(iso))
    except ValueError:
        pass
    try:
        return to_utc(parsedate_to_datetime(stripped))
    except (TypeError, ValueError, IndexError):
        pass
    raise ValueError(f"time {text[:80]!r} is neither ISO 8601 nor RFC 2822")


def canonical_url(url: str) -> str:
    """One canonical form of an http(s) URL, so one page seen twice is one key.

    Lower-cases scheme and host, drops the default port, credentials, fragment and tracking
    parameters (``utm_*``, ``fbclid``, ``gclid``, ...); an empty path becomes ``/``.
    Raises `ValueError` for any other scheme (``javascript:``, ``data:``, ``file:``, ...) and
    for URLs without a host.
    """
    text = url.strip() if isinstance(url, str) else ""
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"URL {text[:100]!r} is not http or https; only web links are accepted")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValueError(f"URL {text[:100]!r} has no host")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"URL {text[:100]!r} has an invalid port") from exc
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)]
    )
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def _is_tracking(param: str) -> bool:
    lowered = param.lower()
    return lowered.startswith("utm_") or lowered in _TRACKING_PARAMS


def site_of(url: str) -> str:
    """The host of `url`, lower-case and without a leading ``www.``; ``""`` when it has none."""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""
    host = host.rstrip(".")
    return host[4:] if host.startswith("www.") else host


def html_to_text(html: str) -> str:
    """Plain text from an HTML fragment: no scripts, styles or embeds, entities unescaped.

    Block elements (paragraphs, list items, line breaks, ...) become single line breaks; the
    result is passed through `clean_text`. Parsing is done by lexbor, which never runs anything.
    """
    if not html or not html.strip():
        return ""
    tree = LexborHTMLParser(html)
    root = tree.body or tree.root
    if root is None:
        return ""
    for node in root.css(", ".join(_DROPPED_TAGS)):
        node.decompose()
    parts: list[str] = []
    stack: list[tuple[LexborNode, bool]] = [(root, False)]
    while stack:  # iterative, so thousands of nested tags cannot exhaust the call stack
        node, leaving = stack.pop()
        if node.is_text_node:
            parts.append(node.text_content or "")
            continue
        if node.tag in _BLOCK_TAGS and not (leaving and node.tag in ("br", "hr")):
            parts.append("\n")
        if not leaving and node.is_element_node:
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(list(node.iter(include_text=True))))
    return clean_text("".join(parts)).replace("\n\n", "\n")


def clean_text(text: str) -> str:
    """NFC-normalise, strip control characters, collapse runs of spaces and blank lines.

    Line breaks are kept (at most one blank line in a row); every line is stripped.
    """
    if not text:
        return ""
    normal = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    normal = _CONTROL.sub("", normal.replace("\t", " ").replace("\u00a0", " "))
    lines = [_HSPACE.sub(" ", line).strip() for line in normal.split("\n")]
    return _MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip()
