"""Source verdicts from recorded health."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tocsin.events import SOURCE_DOWN, SOURCE_UP, Event
from tocsin.health import health_events, source_status
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


def _events(health: SourceHealth | None, last: Event | None) -> list[Event]:
    return health_events(
        {"feed": 900.0},
        {} if health is None else {"feed": health},
        {"feed": last},
        now=NOW,
    )


def test_a_source_going_down_raises_one_source_down_event() -> None:
    [event] = _events(_health(60, 3, "HTTP 503"), None)
    assert (event.kind, event.subject, event.at) == (SOURCE_DOWN, "feed", NOW)
    assert "3 failures in a row: HTTP 503" in event.message
    assert event.details["platform"] == "rss"
    assert _events(_health(60, 4, "HTTP 503"), event) == []  # already said


def test_a_silent_source_is_down_too_and_its_return_is_told() -> None:
    [silent] = _events(_health(3 * 900 + 1), None)
    assert (silent.kind, silent.details["state"]) == (SOURCE_DOWN, "silent")
    [back] = _events(_health(10), silent)
    assert back.kind == SOURCE_UP
    assert _events(_health(10), back) == []


def test_waiting_failing_and_healthy_sources_raise_nothing() -> None:
    assert _events(None, None) == []
    assert _events(_health(60, 1, "timeout"), None) == []
    assert _events(_health(60), None) == []
