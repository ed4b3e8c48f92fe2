"""Reddit through OAuth with asyncpraw, when `client_id` and `client_secret` are given.

The listings are the same as on the public JSON path (``/search``, ``/r/a+b/new``,
``/r/a+b/comments``, ``/api/info``), read on ``oauth.reddit.com`` with an app token: a
*script* app with `username`/`password` (the account's view), else application-only
("read-only") OAuth. asyncpraw's ``Reddit.request`` returns Reddit's own JSON, so both paths
hand the same Listing documents to the same parser and yield the same items.

One asyncpraw ``Reddit`` is opened per poll (`session`) and closed after it, so no aiohttp
session outlives a poll; its token is fetched once per poll. asyncpraw is an optional
dependency: ``pip install 'tocsin[reddit-oauth]'``.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from tocsin.sources.base import SourceError
from tocsin.sources.http import HttpStatusError

if TYPE_CHECKING:
    from tocsin.sources.reddit import RedditOptions

__all__ = ["INSTALL_HINT", "OAUTH_URL", "RedditOAuth", "asyncpraw_module"]

OAUTH_URL = "https://oauth.reddit.com"
INSTALL_HINT = "pip install 'tocsin[reddit-oauth]'"


def asyncpraw_module() -> ModuleType:
    """The asyncpraw module; `ImportError` saying how to install it when it is missing."""
    try:
        return importlib.import_module("asyncpraw")
    except ImportError as exc:
        raise ImportError(
            f"Reddit OAuth (`client_id` / `client_secret`) needs asyncpraw: {INSTALL_HINT}, "
            "or remove `client_id` and `client_secret` to use the public JSON listings"
        ) from exc


class RedditOAuth:
    """Gets Reddit JSON documents through asyncpraw (see the module docstring)."""

    def __init__(self, options: RedditOptions) -> None:
        self.options = options
        self._reddit: Any = None

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        """One authenticated asyncpraw ``Reddit`` for the requests made inside."""
        if self._reddit is not None:  # nested (a refresh during a poll): reuse it
            yield
            return
        self._reddit = self._open()
        try:
            yield
        finally:
            reddit, self._reddit = self._reddit, None
            await reddit.close()

    def _open(self) -> Any:
        opts = self.options
        if opts.client_id is None or opts.client_secret is None:
            raise SourceError("Reddit OAuth needs `client_id` and `client_secret`")
        settings: dict[str, Any] = {
            "client_id": opts.client_id,
            "client_secret": opts.client_secret.get_secret_value(),
            "user_agent": opts.user_agent,
            "oauth_url": opts.oauth_url,
            "reddit_url": opts.base_url,
            "check_for_updates": False,
            "timeout": int(opts.timeout),
        }
        if opts.username and opts.password is not None:
            settings |= {"username": opts.username, "password": opts.password.get_secret_value()}
        return asyncpraw_module().Reddit(**settings)

    async def get(self, url: str) -> Any:
        """The JSON document at `url` (a public-JSON URL on `base_url`), read through OAuth."""
        parts = urlsplit(url)
        path = parts.path.removesuffix(".json") or "/"
        params = dict(parse_qsl(parts.query))
        async with self.session():
            try:
                return await self._reddit.request(method="GET", path=path, params=params)
            except Exception as exc:
                if not type(exc).__module__.startswith(("asyncprawcore", "asyncpraw")):
                    raise
                raise self._explained(exc, path) from None

    def _explained(self, exc: Exception, path: str) -> SourceError:
        """A `SourceError` that says what failed and what to change, never a secret."""
        response = getattr(exc, "response", None)
        status = getattr(response, "status", None)
        where = f"Reddit OAuth GET {path}"
        if status == 429:
            headers = getattr(response, "headers", {})
            wait = _seconds(headers.get("retry-after")) or _seconds(
                headers.get("x-ratelimit-reset")
            )
            return HttpStatusError(
                f"{where} returned HTTP 429 (rate limited); waiting {wait or 60:g}s. Lower "
                "`max_requests_per_minute` if this recurs",
                status=429,
                retry_after=wait or 60.0,
            )
        if type(exc).__name__ in ("OAuthException", "InvalidToken") or status == 401:
            return SourceError(
                f"{where}: Reddit refused the credentials ({type(exc).__name__}); check "
                "`client_id` and `client_secret` (reddit.com/prefs/apps) and, for a script "
                "app, `username` and `password`"
            )
        if status == 403:
            return SourceError(f"{where} returned HTTP 403: private or banned subreddit?")
        if status is not None:
            return HttpStatusError(f"{where} returned HTTP {status}", status=int(status))
        original = getattr(exc, "original_exception", None)
        cause = type(original).__name__ if original is not None else type(exc).__name__
        return SourceError(f"{where} failed ({cause}); is this machine offline?")


def _seconds(value: object) -> float | None:
    try:
        return float(value) if isinstance(value, str) and value else None
    except ValueError:
        return None
