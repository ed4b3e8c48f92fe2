"""The request budget of the Reddit source: a sliding minute, and Reddit's own rate headers.

Unauthenticated clients get about 10 requests a minute, OAuth clients about 100: requests go
through a limiter on the injected clock (`max_requests_per_minute`), which also obeys Reddit's
``x-ratelimit-remaining`` / ``x-ratelimit-reset`` headers.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

import httpx

from tocsin.clock import Clock
from tocsin.sources.base import SourceError

__all__ = ["RateLimiter"]

_LONGEST_SLEEP = 60.0  # a longer wait is handed to the pipeline's backoff as retry_after


class RateLimiter:
    """At most `per_minute` requests in any 60 s, and none while Reddit says the quota is spent."""

    def __init__(self, clock: Clock, per_minute: int) -> None:
        self.clock = clock
        self.per_minute = per_minute
        self.reset_hint: float | None = None  # seconds until the window resets, last heard
        self._sent: deque[datetime] = deque()
        self._blocked_until: datetime | None = None

    async def wait(self) -> None:
        """Wait (on the clock) until one more request is allowed, then count it."""
        now = self.clock.now()
        pause = (self._blocked_until - now).total_seconds() if self._blocked_until else 0.0
        while self._sent and (now - self._sent[0]).total_seconds() >= 60:
            self._sent.popleft()
        if len(self._sent) >= self.per_minute:
            pause = max(pause, 60 - (now - self._sent[0]).total_seconds())
        if pause > _LONGEST_SLEEP:
            raise SourceError(
                f"Reddit's request budget is spent for {pause:g}s more; tocsin will retry then "
                "(lower `max_requests_per_minute` or raise `interval` if this recurs)",
                retry_after=pause,
            )
        if pause > 0:
            await self.clock.sleep(pause)
        self._sent.append(self.clock.now())

    def observe(self, headers: httpx.Headers) -> None:
        """Read ``x-ratelimit-remaining`` / ``x-ratelimit-reset``; block when nothing remains."""
        remaining = _number(headers.get("x-ratelimit-remaining"))
        reset = _number(headers.get("x-ratelimit-reset"))
        if reset is not None:
            self.reset_hint = reset
        if remaining is not None and remaining < 1 and reset:
            self.block(reset)

    def block(self, seconds: float) -> None:
        """Send nothing for `seconds`."""
        self._blocked_until = self.clock.now() + timedelta(seconds=seconds)


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
