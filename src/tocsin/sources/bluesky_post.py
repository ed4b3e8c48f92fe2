"""A Bluesky post record → `Mention`, from a Jetstream event or a searchPosts post view.

The id is ``bluesky:at://<did>/app.bsky.feed.post/<rkey>`` whichever way the post came, so
the stream, the backfill and a replay after a restart all land on the same mention.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from tocsin.mention import Author, Mention, Metrics, make_id
from tocsin.normalise import clean_text, to_utc

__all__ = [
    "PLATFORM",
    "POST_COLLECTION",
    "check_did_rkey",
    "event_mention",
    "post_uri",
    "post_view_mention",
    "uri_did_rkey",
]

PLATFORM = "bluesky"
POST_COLLECTION = "app.bsky.feed.post"
_FUTURE_SLACK = timedelta(minutes=10)  # a createdAt later than time_us + this is not believed


def event_mention(event: Mapping[str, Any], profile: Any, now: datetime) -> Mention:
    """The mention of a Jetstream commit event (create/update of a post)."""
    commit = event["commit"]
    did, rkey = check_did_rkey(event.get("did"), commit.get("rkey"))
    time_us = event["time_us"]
    fallback = datetime.fromtimestamp(time_us / 1_000_000, tz=UTC)
    record = commit.get("record")
    return _mention(did, rkey, record, fallback, author_of(did, profile), Metrics(), event, now)


def post_view_mention(post: Mapping[str, Any], profile: Any, now: datetime) -> Mention:
    """The mention of an ``app.bsky.feed.defs#postView`` (searchPosts), with its counters."""
    did, rkey = uri_did_rkey(post.get("uri"))
    view = post.get("author")
    view = view if isinstance(view, Mapping) else {}
    base = {"handle": view.get("handle"), "displayName": view.get("displayName")}
    author = author_of(did, profile or base)
    indexed = post.get("indexedAt")
    fallback = to_utc(indexed) if isinstance(indexed, str) else now
    metrics = Metrics(
        likes=_count(post.get("likeCount")),
        reposts=_count(post.get("repostCount")),
        replies=_count(post.get("replyCount")),
        quotes=_count(post.get("quoteCount")),
    )
    return _mention(did, rkey, post.get("record"), fallback, author, metrics, post, now)


def _mention(
    did: str,
    rkey: str,
    record: Any,
    fallback: datetime,
    author: Author,
    metrics: Metrics,
    raw: Mapping[str, Any],
    now: datetime,
) -> Mention:
    """The mention of the post record `did`/`rkey`; ValueError if the record is unusable."""
    if not isinstance(record, Mapping):
        raise ValueError(f"post {post_uri(did, rkey)} has no record object")
    text = record.get("text", "")
    if not isinstance(text, str):
        raise ValueError(f"post {post_uri(did, rkey)}: record.text is not a string")
    langs = record.get("langs")
    lang = langs[0] if isinstance(langs, list) and langs else None
    reply = record.get("reply")
    reply = reply if isinstance(reply, Mapping) else {}
    return Mention(
        id=make_id(PLATFORM, post_uri(did, rkey)),
        source=PLATFORM,
        url=f"https://bsky.app/profile/{did}/post/{rkey}",
        text=clean_text(text),
        published_at=_created_at(record.get("createdAt"), fallback),
        seen_at=now,
        author=author,
        lang=_short_lang(lang),
        metrics=metrics,
        parent_id=_ref_id(reply.get("parent")),
        thread_id=_ref_id(reply.get("root")),
        raw=dict(raw),
    )


def check_did_rkey(did: Any, rkey: Any) -> tuple[str, str]:
    """Check a DID and record key; ValueError naming what is wrong."""
    if not isinstance(did, str) or not did.startswith("did:") or "/" in did:
        raise ValueError(f"the event's did {did!r} is not a DID (did:plc:… or did:web:…)")
    if not isinstance(rkey, str) or not rkey or "/" in rkey:
        raise ValueError(f"the event's record key {rkey!r} is empty or not a record key")
    return did, rkey


def uri_did_rkey(uri: Any) -> tuple[str, str]:
    """DID and record key of ``at://<did>/app.bsky.feed.post/<rkey>``; ValueError otherwise."""
    parts = uri.split("/") if isinstance(uri, str) else []
    if len(parts) != 5 or parts[:2] != ["at:", ""] or parts[3] != POST_COLLECTION:
        raise ValueError(f"post uri {uri!r} is not at://<did>/{POST_COLLECTION}/<rkey>")
    return check_did_rkey(parts[2], parts[4])


def post_uri(did: str, rkey: str) -> str:
    """The AT URI of a post."""
    return f"at://{did}/{POST_COLLECTION}/{rkey}"


def author_of(did: str, profile: Any) -> Author:
    """The author from a resolved profile (dict form), else the DID alone."""
    url = f"https://bsky.app/profile/{did}"
    if not isinstance(profile, Mapping):
        return Author(handle=did, url=url)
    handle = profile.get("handle")
    name = profile.get("name", profile.get("displayName"))
    followers = profile.get("followers")
    return Author(
        handle=handle if isinstance(handle, str) and handle and handle != "handle.invalid" else did,
        name=clean_text(name) if isinstance(name, str) else "",
        followers=followers if isinstance(followers, int) and followers >= 0 else None,
        verified=profile.get("verified") is True,
        url=url,
    )


def _created_at(value: Any, fallback: datetime) -> datetime:
    """``createdAt``, unless absent, unreadable or far in the future: then `fallback`."""
    if not isinstance(value, str):
        return fallback
    try:
        created = to_utc(value)
    except ValueError:
        return fallback
    return fallback if created > fallback + _FUTURE_SLACK else created


def _ref_id(ref: Any) -> str | None:
    """``bluesky:<at uri>`` of a reply's parent or root strong ref."""
    uri = ref.get("uri") if isinstance(ref, Mapping) else None
    if isinstance(uri, str) and uri.startswith("at://"):
        return make_id(PLATFORM, uri)
    return None


def _short_lang(value: object) -> str | None:
    """``'en-US'`` → ``'en'``; nothing usable → None."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().replace("_", "-").split("-")[0].lower() or None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
