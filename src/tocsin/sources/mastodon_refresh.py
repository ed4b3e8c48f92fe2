"""Engagement refresh of Mastodon statuses: each is re-read on the instance it came from.

A mention's native id is the status's ActivityPub URI. Mastodon writes it
``https://<instance>/users/<name>/statuses/<local id>``, so the status is read again with
``GET /api/v1/statuses/<local id>`` on that instance, where its favourites, reblogs and replies
are counted. URIs of other servers (Pleroma ``/objects/…``, Misskey ``/notes/…``) carry no
Mastodon id and are not refreshed. Only ``https`` origins on a public host name are contacted
(``http`` and IP or ``localhost`` origins only when they are one of the configured
`instances`); the access token goes to the first instance only, as everywhere else.

A 404 or 410 means the status was deleted, a 401/403 that it is no longer public: neither is
an error, the status is just not returned. When no status could be read at all because of a
429, a 5xx or a network failure, `refresh` raises the first `SourceError` (with the longest
``retry_after``); otherwise failures are skipped and caught up at the next refresh step.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from tocsin.clock import Clock
from tocsin.normalise import canonical_url
from tocsin.sources.base import RawItem, SourceError
from tocsin.sources.http import HttpStatusError
from tocsin.sources.http import fetch as http_fetch

if TYPE_CHECKING:
    from tocsin.sources.mastodon import MastodonSource

__all__ = ["BATCH", "StatusRefresher", "origin_of"]

BATCH = 40
"""Statuses per refresh call (one request each, at most `_PARALLEL` at a time)."""
_PARALLEL = 4
_GONE = frozenset({401, 403, 404, 410})
_MASTODON_URI = re.compile(r"(https?://[^/?#]+)/users/[A-Za-z0-9_.-]+/statuses/(\d{1,30})")


def origin_of(uri: str, instances: Sequence[str]) -> tuple[str, str] | None:
    """``(instance base URL, local status id)`` of a Mastodon status URI, or None when the URI
    is not Mastodon's or its host may not be contacted (see the module docstring)."""
    match = _MASTODON_URI.fullmatch(uri.strip())
    if match is None:
        return None
    try:
        base = canonical_url(match.group(1)).rstrip("/")
    except ValueError:
        return None
    if base in instances:
        return base, match.group(2)
    host = base.split("://", 1)[1].split(":")[0].strip("[]")
    if not base.startswith("https://") or host == "localhost" or "." not in host:
        return None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return base, match.group(2)
    return None  # an IP literal that is not a configured instance


@dataclass(slots=True)
class _Outcome:
    items: list[RawItem] = field(default_factory=list)
    answered: int = 0
    failures: list[SourceError] = field(default_factory=list)


class StatusRefresher:
    """Reads statuses again on their origin instances (see the module docstring)."""

    def __init__(self, source: MastodonSource, known_uris: Mapping[tuple[str, str], str]) -> None:
        opts = source.options
        self.client: httpx.AsyncClient = source.client
        self.key = source.key
        self.instances = list(opts.instances)
        self.token = opts.access_token.get_secret_value() if opts.access_token else None
        self.timeout = opts.timeout
        self.max_bytes = opts.max_bytes
        self.clock: Clock = source.clock
        self.known_uris = known_uris
        self.check: Callable[[RawItem], object] = source.normalise

    async def refresh(self, uris: Sequence[str]) -> list[RawItem]:
        """The current version of each status that can still be read."""
        targets = [(uri, origin_of(uri, self.instances)) for uri in dict.fromkeys(uris)]
        gate = asyncio.Semaphore(_PARALLEL)
        outcome = _Outcome()

        async def one(uri: str, base: str, local: str) -> None:
            async with gate:
                try:
                    item = await self._status_item(uri, base, local)
                except SourceError as exc:
                    outcome.failures.append(exc)
                    return
            outcome.answered += 1
            if item is not None:
                outcome.items.append(item)

        await asyncio.gather(*(one(uri, *o) for uri, o in targets[:BATCH] if o is not None))
        if outcome.failures and not outcome.answered:
            waits = [e.retry_after for e in outcome.failures if e.retry_after is not None]
            first = outcome.failures[0]
            raise SourceError(str(first), retry_after=max(waits, default=None)) from first
        order = {uri: n for n, (uri, _) in enumerate(targets)}
        return sorted(outcome.items, key=lambda item: order[item.native_id])

    async def _status_item(self, uri: str, base: str, local: str) -> RawItem | None:
        """The refreshed item; None when deleted, private, or no longer readable."""
        url = f"{base}/api/v1/statuses/{local}"
        status = await self._get_status(base, url)
        if status is None or status.get("uri") != uri:
            return None
        reply_to = status.get("in_reply_to_id")
        parent = await self._parent_uri(base, reply_to) if isinstance(reply_to, str) else None
        item = RawItem(
            self.key, uri, {"status": status, "instance": base, "parent_uri": parent}, url
        )
        try:
            self.check(item)
        except (ValueError, TypeError, KeyError, AttributeError):
            return None  # a refresh that cannot be read changes nothing
        return item

    async def _parent_uri(self, base: str, reply_to: str) -> str | None:
        """The parent's URI (known, or read from the same instance), so ``parent_id`` stays
        the one the mention was stored with; None when it cannot be had."""
        known = self.known_uris.get((base, reply_to))
        if known is not None:
            return known
        try:
            parent = await self._get_status(base, f"{base}/api/v1/statuses/{reply_to}")
        except SourceError:
            return None
        uri = parent.get("uri") if parent is not None else None
        return uri if isinstance(uri, str) and uri else None

    async def _get_status(self, base: str, url: str) -> dict[str, Any] | None:
        """One status object; None when the instance says it is gone or not public."""
        headers = {"Accept": "application/json"}
        if self.token and base == self.instances[0]:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = await http_fetch(
                self.client,
                url,
                max_bytes=self.max_bytes,
                timeout=self.timeout,
                max_redirects=0,
                headers=headers,
                clock=self.clock,
            )
        except HttpStatusError as exc:
            if exc.status in _GONE:
                return None
            raise
        try:
            doc = json.loads(response.body)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise SourceError(f"GET {url} did not return JSON ({exc})") from exc
        return doc if isinstance(doc, dict) else None
