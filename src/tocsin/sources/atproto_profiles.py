"""Bluesky profiles by DID, from a public AppView, batched and cached.

Jetstream events carry only the author's DID. `ProfileResolver.resolve` looks the handle,
display name, follower count and verification up with ``app.bsky.actor.getProfiles`` (at most
25 actors per call, a few calls at once), keeps them in a bounded LRU cache that expires on the
injected clock, and never raises: when the AppView is down, slow or rate-limited, the DIDs it
could not resolve are simply absent from the answer (and asked again on a later call), so the
posts go on with the DID as their author.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx

from tocsin.clock import Clock
from tocsin.normalise import clean_text
from tocsin.sources.base import SourceError
from tocsin.sources.http import fetch as http_fetch

__all__ = ["MAX_ACTORS_PER_CALL", "Profile", "ProfileCache", "ProfileResolver"]

log = logging.getLogger("tocsin.sources.bluesky")

MAX_ACTORS_PER_CALL = 25  # the limit of app.bsky.actor.getProfiles
_PARALLEL_CALLS = 4
_DEFAULT_PAUSE = 60.0  # seconds without AppView calls after a 429/5xx with no Retry-After


@dataclass(frozen=True, slots=True)
class Profile:
    """What the AppView says about an account; `found` is False for unknown or removed DIDs."""

    did: str
    handle: str = ""
    name: str = ""
    followers: int | None = None
    verified: bool = False
    found: bool = True


def profile_from_view(view: Mapping[str, Any]) -> Profile | None:
    """A `Profile` from an ``app.bsky.actor.defs#profileView*`` object; None if it has no DID."""
    did = view.get("did")
    if not isinstance(did, str) or not did.startswith("did:"):
        return None
    handle = view.get("handle")
    followers = view.get("followersCount")
    verification = view.get("verification")
    verified = False
    if isinstance(verification, Mapping):
        verified = "valid" in (
            verification.get("verifiedStatus"),
            verification.get("trustedVerifierStatus"),
        )
    name = view.get("displayName")
    return Profile(
        did=did,
        handle=handle if isinstance(handle, str) and handle != "handle.invalid" else "",
        name=clean_text(name) if isinstance(name, str) else "",
        followers=followers if isinstance(followers, int) and followers >= 0 else None,
        verified=verified,
    )


class ProfileCache:
    """An LRU map DID → `Profile` with a time to live on the injected clock."""

    def __init__(self, clock: Clock, ttl: float, max_size: int) -> None:
        self._clock = clock
        self._ttl = timedelta(seconds=ttl)
        self._max_size = max(1, max_size)
        self._entries: OrderedDict[str, tuple[datetime, Profile]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, did: str) -> Profile | None:
        """The cached profile if it has not expired (and mark it recently used)."""
        entry = self._entries.get(did)
        if entry is None:
            return None
        stored_at, profile = entry
        if self._clock.now() - stored_at >= self._ttl:
            del self._entries[did]
            return None
        self._entries.move_to_end(did)
        return profile

    def put(self, profile: Profile) -> None:
        """Store `profile`, evicting the least recently used entries beyond `max_size`."""
        self._entries[profile.did] = (self._clock.now(), profile)
        self._entries.move_to_end(profile.did)
        while len(self._entries) > self._max_size:
            self._entries.popitem(last=False)


class ProfileResolver:
    """Resolves DIDs to profiles through ``app.bsky.actor.getProfiles``; see the module doc."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        appview_url: str,
        clock: Clock,
        *,
        ttl: float,
        max_size: int,
        timeout: float,
    ) -> None:
        self._client = client
        self._endpoint = appview_url.rstrip("/") + "/xrpc/app.bsky.actor.getProfiles"
        self._clock = clock
        self._timeout = timeout
        self.cache = ProfileCache(clock, ttl, max_size)
        self._paused_until: datetime | None = None
        self.calls = 0
        self.last_error: str | None = None

    async def resolve(self, dids: Iterable[str]) -> dict[str, Profile]:
        """Profiles of `dids` that are known (cached or fetched now); never raises."""
        found: dict[str, Profile] = {}
        missing: list[str] = []
        for did in dict.fromkeys(dids):
            cached = self.cache.get(did)
            if cached is not None:
                found[did] = cached
            else:
                missing.append(did)
        if missing and not self._paused():
            chunks = [
                missing[i : i + MAX_ACTORS_PER_CALL]
                for i in range(0, len(missing), MAX_ACTORS_PER_CALL)
            ]
            for start in range(0, len(chunks), _PARALLEL_CALLS):
                group = chunks[start : start + _PARALLEL_CALLS]
                results = await asyncio.gather(*(self._fetch(chunk) for chunk in group))
                for profiles in results:
                    found.update(profiles)
                if self._paused():
                    break
        return {did: p for did, p in found.items() if p.found}

    def known(self, did: str) -> bool:
        """Whether the AppView has answered for `did` lately (found or not)."""
        return self.cache.get(did) is not None

    def pause(self, reason: str, seconds: float | None = None) -> None:
        """Make no AppView call for `seconds` (default 60); the posts go on with DIDs."""
        wait = seconds or _DEFAULT_PAUSE
        self._paused_until = self._clock.now() + timedelta(seconds=wait)
        self.last_error = (
            f"author profiles could not be fetched from {self._endpoint} ({reason}); "
            f"posts keep their author's DID, profiles are asked again in {wait:g}s"
        )
        log.warning("%s", self.last_error)

    def _paused(self) -> bool:
        return self._paused_until is not None and self._clock.now() < self._paused_until

    async def _fetch(self, dids: list[str]) -> dict[str, Profile]:
        """One getProfiles call; DIDs the AppView does not know are cached as not found."""
        url = f"{self._endpoint}?{urlencode([('actors', did) for did in dids])}"
        self.calls += 1
        try:
            response = await http_fetch(
                self._client, url, max_bytes=5_000_000, timeout=self._timeout, clock=self._clock
            )
            views = json.loads(response.body).get("profiles")
            if not isinstance(views, list):
                raise ValueError("the answer has no 'profiles' list")
        except (SourceError, ValueError, AttributeError) as exc:
            self._failed(url, exc)
            return {}
        self.last_error = None
        profiles: dict[str, Profile] = {}
        for view in views:
            profile = profile_from_view(view) if isinstance(view, Mapping) else None
            if profile is not None and profile.did in dids:
                profiles[profile.did] = profile
        for did in dids:
            profiles.setdefault(did, Profile(did=did, found=False))
        for profile in profiles.values():
            self.cache.put(profile)
        return profiles

    def _failed(self, url: str, exc: Exception) -> None:
        """Pause the AppView calls for a while (the server's Retry-After, else a minute)."""
        self.pause(str(exc), getattr(exc, "retry_after", None))
