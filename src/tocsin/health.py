"""Is a source up? A verdict from its recorded health, for `tocsin sources` and alerting.

- ``waiting``: never polled yet;
- ``ok``: its last attempt succeeded, recently enough;
- ``failing``: its last attempts failed, fewer than `down_after` in a row;
- ``down``: `down_after` failures in a row;
- ``silent``: no successful attempt for much longer than its interval (a stream that died
  quietly, a collector that is not running) — the failure mode that hides best.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from tocsin.events import SOURCE_DOWN, SOURCE_UP, Event
from tocsin.sources.base import SourceHealth

__all__ = ["SourceStatus", "health_events", "source_status"]

#: Expected gap between successes for sources without an `interval` option (streams batch
#: at least every few seconds while alive).
DEFAULT_EXPECTED = 300.0


@dataclass(frozen=True, slots=True)
class SourceStatus:
    state: str
    reason: str

    @property
    def is_down(self) -> bool:
        """`down` and `silent` both mean: nothing is being heard from this source."""
        return self.state in ("down", "silent")


def source_status(
    health: SourceHealth | None,
    *,
    interval: float | None,
    now: datetime,
    down_after: int = 3,
) -> SourceStatus:
    """The verdict for one source; `interval` is its polling interval in seconds, if any."""
    if health is None or (health.last_success_at is None and health.last_error_at is None):
        return SourceStatus("waiting", "not polled yet")
    if health.consecutive_failures >= down_after:
        return SourceStatus(
            "down", f"{health.consecutive_failures} failures in a row: {health.last_error}"
        )
    expected = max(3 * (interval or DEFAULT_EXPECTED), 600.0)
    since = health.last_success_at or health.last_error_at
    if since is not None and now - since > timedelta(seconds=expected):
        gap = int((now - since).total_seconds() // 60)
        return SourceStatus(
            "silent", f"nothing heard for {gap} min (expected every {expected / 3:.0f}s or so)"
        )
    if health.consecutive_failures:
        return SourceStatus("failing", f"last attempt failed: {health.last_error}")
    return SourceStatus("ok", "")


def health_events(
    intervals: Mapping[str, float | None],
    health: Mapping[str, SourceHealth],
    last: Mapping[str, Event | None],
    *,
    now: datetime,
) -> list[Event]:
    """The `source_down` / `source_up` events to record now.

    `intervals` maps each running source key to its polling interval; `last` gives the
    newest down/up event already recorded for it. A source going down raises one
    `source_down` (not one per check), and one `source_up` when it delivers again.
    """
    found: list[Event] = []
    for key, interval in intervals.items():
        h = health.get(key)
        status = source_status(h, interval=interval, now=now)
        previous = last.get(key)
        was_down = previous is not None and previous.kind == SOURCE_DOWN
        details = {"state": status.state, "reason": status.reason}
        if h is not None:
            details["platform"] = h.platform
        if status.is_down and not was_down:
            message = f"source {key} is {status.state}: {status.reason}"
            found.append(Event(SOURCE_DOWN, key, message, now, details))
        elif was_down and status.state == "ok":
            found.append(Event(SOURCE_UP, key, f"source {key} delivers again", now, details))
    return found
