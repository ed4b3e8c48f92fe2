"""`Mention` <-> row dicts, the text the full-text index holds, and ids in ``IN (...)``-sized
chunks.

Text is cleaned on the way in so one bad item never fails its batch: NUL characters (refused
by PostgreSQL) are dropped and lone surrogates (refused by UTF-8) are replaced. ``raw`` is kept
as ASCII-escaped JSON text; values JSON cannot express are stored as their ``str()``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from tocsin.mention import Author, Mention, Metrics, Sentiment
from tocsin.store.fts import index_text

__all__ = ["chunks", "clean", "error_row", "fts_body", "mention_row", "row_mention", "site_of"]

_CHUNK = 500  # ids per IN (...) list


def chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    """`items` in slices short enough for one ``IN (...)`` list each."""
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def clean(value: str) -> str:
    """`value` without NUL characters and with lone surrogates replaced."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def _int(value: int | None) -> int | None:
    """`value` clamped to a 64-bit column (a bogus huge count must not fail its batch)."""
    return None if value is None else min(max(int(value), _INT_MIN), _INT_MAX)


def _clean_opt(value: str | None) -> str | None:
    return None if value is None else clean(value)


def site_of(url: str) -> str:
    """The host of `url`, lower case, without a leading ``www.`` (for ``site:`` filters)."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


def fts_body(mention: Mention) -> str:
    """What the full-text index holds for a mention: its folded words (`fts.index_text`)."""
    return clean(index_text(mention.title, mention.text))


def mention_row(m: Mention, now: datetime) -> dict[str, Any]:
    """The `mentions` row for `m` (``pk`` left to the database; ``updated_at`` = `now`)."""
    author, metrics, sentiment = m.author, m.metrics, m.sentiment
    return {
        "id": clean(m.id),
        "source": clean(m.source),
        "url": clean(m.url),
        "site": clean(site_of(m.url)),
        "title": clean(m.title),
        "text": clean(m.text),
        "lang": _clean_opt(m.lang),
        "lang_confidence": m.lang_confidence,
        "author_handle": clean(author.handle),
        "author_name": clean(author.name),
        "author_followers": _int(author.followers),
        "author_verified": bool(author.verified),
        "author_url": clean(author.url),
        "likes": _int(metrics.likes),
        "reposts": _int(metrics.reposts),
        "replies": _int(metrics.replies),
        "quotes": _int(metrics.quotes),
        "views": _int(metrics.views),
        "sentiment_label": None if sentiment is None else clean(sentiment.label),
        "sentiment_score": None if sentiment is None else sentiment.score,
        "demand": _clean_opt(m.demand),
        "complaint": bool(m.complaint),
        "urgent": clean(",".join(m.urgent)),
        "reach": _int(m.reach),
        "velocity": m.velocity,
        "priority": m.priority,
        "priority_factors": json.dumps(dict(m.priority_factors), ensure_ascii=True),
        "story_id": _clean_opt(m.story_id),
        "parent_id": _clean_opt(m.parent_id),
        "thread_id": _clean_opt(m.thread_id),
        "published_at": m.published_at,
        "seen_at": m.seen_at,
        "updated_at": now,
        "raw": json.dumps(dict(m.raw), default=str, ensure_ascii=True),
    }


def _raw(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {"_unreadable": text}
    return value if isinstance(value, dict) else {"_value": value}


def _factors(text: str) -> dict[str, float]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): float(v) for k, v in value.items() if isinstance(v, int | float)}


def row_mention(row: Mapping[Any, Any], watches: tuple[str, ...] = ()) -> Mention:
    """The `Mention` a `mentions` row holds, with `watches`."""
    label, score = row["sentiment_label"], row["sentiment_score"]
    return Mention(
        id=row["id"],
        source=row["source"],
        url=row["url"],
        text=row["text"],
        published_at=row["published_at"],
        seen_at=row["seen_at"],
        author=Author(
            handle=row["author_handle"],
            name=row["author_name"],
            followers=row["author_followers"],
            verified=bool(row["author_verified"]),
            url=row["author_url"],
        ),
        title=row["title"],
        lang=row["lang"],
        lang_confidence=row["lang_confidence"],
        metrics=Metrics(
            likes=row["likes"],
            reposts=row["reposts"],
            replies=row["replies"],
            quotes=row["quotes"],
            views=row["views"],
        ),
        parent_id=row["parent_id"],
        thread_id=row["thread_id"],
        raw=_raw(row["raw"]),
        watches=watches,
        sentiment=None if label is None else Sentiment(label=label, score=float(score or 0.0)),
        demand=row["demand"],
        complaint=bool(row["complaint"]),
        urgent=tuple(r for r in row["urgent"].split(",") if r),
        reach=row["reach"],
        velocity=row["velocity"],
        priority=row["priority"],
        priority_factors=_factors(row["priority_factors"]),
        story_id=row["story_id"],
    )


def error_row(source: str, ref: str, error: str, raw: str, at: datetime) -> dict[str, Any]:
    """An `ingest_errors` row, cleaned like mention text."""
    return {
        "source": clean(source),
        "ref": clean(ref),
        "error": clean(error),
        "raw": clean(raw),
        "at": at,
    }
