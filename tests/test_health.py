"""Source verdicts from recorded health."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tocsin.health import source_status
from tocsin.sources.base import SourceHealth

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _health(ok_ago: float | None, failures: int = 0, error: str | None = None) -> SourceHealth:
    return SourceHealth(
        source="feed",
        platform="rss",
        last_success_at=None if ok_ago is None else NOW - timedelta(seconds=ok_ago),
        last_error_at=NOW if failures else None,
        last_error=error,
        consecutive_failures=failures,
    )


def test_verdicts() -> None:
    assert source_status(None, interval=900, now=NOW).state == "waiting"
    assert source_status(_health(60), interval=900, now=NOW).state == "ok"
    failing = source_status(_health(60, 1, "HTTP 503"), interval=900, now=NOW)
    assert failing.state == "failing"
    assert "HTTP 503" in failing.reason
    assert not failing.is_down
    down = source_status(_health(60, 3, "timeout"), interval=900, now=NOW)
    assert down.state == "down"
    assert down.is_down
    assert "3 failures in a row: timeout" in down.reason


def test_a_source_that_stopped_delivering_is_silent() -> None:
    quiet_feed = source_status(_health(1800), interval=900, now=NOW)  # one missed poll: fine
    assert quiet_feed.state == "ok"
    dead = source_status(_health(3 * 900 + 1), interval=900, now=NOW)
    assert dead.state == "silent"
    assert dead.is_down
    stream = source_status(_health(1000), interval=None, now=NOW)  # streams: 15 min at most
    assert stream.state == "silent"
