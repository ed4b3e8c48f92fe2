"""Mastodon statuses as mentions, status ids and the source's cursor: pure functions.

Kept apart from `tocsin.sources.mastodon` (the network side) so each stays small.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from tocsin.mention import Author, Mention, Metrics, make_id
from tocsin.normalise import canonical_url, clean_text, html_to_text, to_utc
from tocsin.sources.http import HttpStatusError

__all__ = [
    "PLATFORM",
    "explained",
    "id_key",
    "newest_id",
    "read_cursor",
    "status_mention",
    "write_cursor",
]

log = logging.getLogger("tocsin.sources.mastodon")

PLATFORM = "mastodon"


def id_key(status_id: str) -> tuple[int, str]:
    """Sort key of Mastodon ids: numeric strings of any length, compared by length then value."""
    return (len(status_id), status_id)


def newest_id(a: str | None, b: str | None) -> str | None:
    """The newer of two ids, either of which may be None."""
    if a is None or b is None:
        return a or b
    return max(a, b, key=id_key)


def status_mention(
    status: Mapping[str, Any],
    uri: str,
    instance: str,
    parent_uri: str | None,
    now: datetime,
) -> Mention:
    """The mention of one (already unwrapped) status read from `instance`.

    Raises `ValueError` naming what is missing when the status cannot be a mention.
    """
    account = status.get("account")
    if not isinstance(account, dict):
        raise ValueError("status has no 'account' object, so it has no author")
    if not status.get("created_at"):
        raise ValueError("status has no 'created_at' time")
    return Mention(
        id=make_id(PLATFORM, uri),
        source=PLATFORM,
        url=_web_url(status.get("url")) or _web_url(uri),
        text=html_to_text(_str(status.get("content"))),
        title=clean_text(_str(status.get("spoiler_text"))),
        author=_author(account, instance),
        published_at=to_utc(status["created_at"]),
        seen_at=now,
        lang=_lang(status.get("language")),
        metrics=Metrics(
            likes=_count(status.get("favourites_count")),
            reposts=_count(status.get("reblogs_count")),
            replies=_count(status.get("replies_count")),
            quotes=_count(status.get("quotes_count")),
        ),
        parent_id=_parent_id(status.get("in_reply_to_id"), parent_uri, instance),
        raw=dict(status),
    )


def explained(exc: HttpStatusError, where: str, instance: str) -> HttpStatusError:
    """The same error, saying which timeline (`where`) failed and what to change."""
    hints = {
        401: "the instance wants an access token here: set `access_token` (made on "
        f"{instance}) or drop this timeline",
        403: "the access token lacks the scope (read, or read:search) or the instance forbids it",
        404: "this instance has no such endpoint; is it a Mastodon-compatible server?",
        422: "the instance allows this timeline to signed-in users only: set `access_token`",
    }
    hint = hints.get(exc.status)
    if hint is None:
        return exc
    return HttpStatusError(
        f"{exc} ({where}): {hint}", status=exc.status, retry_after=exc.retry_after
    )


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _lang(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().replace("_", "-").split("-")[0].lower() or None


def _web_url(value: object) -> str:
    """`value` as a canonical http(s) URL, or ``""``."""
    try:
        return canonical_url(value) if isinstance(value, str) and value else ""
    except ValueError:
        return ""


def _host(instance: str) -> str:
    return urlsplit(instance).hostname or instance


def _author(account: Mapping[str, Any], instance: str) -> Author:
    """``@user@domain`` (local accounts get the instance's domain); verified = a verified link."""
    acct = _str(account.get("acct")) or _str(account.get("username"))
    acct = acct.strip().lstrip("@")
    if not acct:
        raise ValueError("status account has no 'acct' nor 'username'")
    if "@" not in acct:
        acct = f"{acct}@{_host(instance)}"
    followers = account.get("followers_count")
    fields = account.get("fields")
    verified = isinstance(fields, list) and any(
        isinstance(f, dict) and f.get("verified_at") for f in fields
    )
    return Author(
        handle=f"@{acct}",
        name=clean_text(_str(account.get("display_name")))
        or clean_text(_str(account.get("username"))),
        followers=_count(followers) if followers is not None else None,
        verified=verified,
        url=_web_url(account.get("url")),
    )


def _parent_id(reply_to: object, parent_uri: object, instance: str) -> str | None:
    """The parent's mention id when its uri is known, else ``mastodon:<instance host>/<id>``."""
    if not isinstance(reply_to, str) or not reply_to:
        return None
    if isinstance(parent_uri, str) and parent_uri:
        return make_id(PLATFORM, parent_uri)
    return make_id(PLATFORM, f"{_host(instance)}/{reply_to}")


def read_cursor(cursor: str | None) -> dict[tuple[str, str], str]:
    """Newest id per (instance, timeline) from the cursor; an unreadable one means 'none'."""
    if not cursor:
        return {}
    try:
        data = json.loads(cursor)
    except ValueError:
        log.warning("mastodon cursor %r is not JSON; starting from the latest posts", cursor[:80])
        return {}
    newest = data.get("newest") if isinstance(data, dict) else None
    state: dict[tuple[str, str], str] = {}
    for instance, timelines in (newest or {}).items() if isinstance(newest, dict) else ():
        for timeline, status_id in timelines.items() if isinstance(timelines, dict) else ():
            if isinstance(status_id, str) and status_id:
                state[(instance, timeline)] = status_id
    return state


def write_cursor(state: Mapping[tuple[str, str], str]) -> str:
    """``{"v": 1, "newest": {instance: {timeline: id}}}`` with sorted keys."""
    nested: dict[str, dict[str, str]] = {}
    for (instance, timeline), status_id in state.items():
        nested.setdefault(instance, {})[timeline] = status_id
    return json.dumps({"v": 1, "newest": nested}, sort_keys=True)
