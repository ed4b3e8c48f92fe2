"""Quiet hours: ranges wrapping midnight, time zones, and which severities still page."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from tocsin.confignotify import AlertRule
from tocsin.notify.quiet import in_quiet_hours, in_time_range, should_page

PARIS = ZoneInfo("Europe/Paris")


def paris(hour: int, minute: int = 0, day: int = 13) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=PARIS)


@pytest.mark.parametrize(
    ("at", "quiet"),
    [
        (paris(21, 59), False),
        (paris(22, 0), True),
        (paris(23, 59), True),
        (paris(0, 0), True),
        (paris(3, 0), True),
        (paris(6, 59), True),
        (paris(7, 0), False),
        (paris(12, 0), False),
    ],
)
def test_quiet_hours_wrap_midnight(at: datetime, quiet: bool) -> None:
    assert in_quiet_hours("22:00-07:00", at, "Europe/Paris") is quiet


def test_quiet_hours_are_read_in_the_given_zone() -> None:
    at = datetime(2026, 1, 13, 21, 30, tzinfo=UTC)  # 22:30 in Paris, 16:30 in New York
    assert in_quiet_hours("22:00-07:00", at, "Europe/Paris")
    assert not in_quiet_hours("22:00-07:00", at, "America/New_York")
    assert in_quiet_hours("22:00-07:00", at, PARIS)


def test_quiet_hours_across_the_autumn_switch() -> None:
    # 2026-10-25: 06:59 CET is 05:59 UTC; 07:00 CET is 06:00 UTC.
    assert in_quiet_hours("22:00-07:00", datetime(2026, 10, 25, 5, 59, tzinfo=UTC), "Europe/Paris")
    assert not in_quiet_hours(
        "22:00-07:00", datetime(2026, 10, 25, 6, 0, tzinfo=UTC), "Europe/Paris"
    )


def test_plain_ranges_none_and_whole_days() -> None:
    assert in_quiet_hours("12:00-14:00", paris(13), "Europe/Paris")
    assert not in_quiet_hours("12:00-14:00", paris(14), "Europe/Paris")
    assert not in_quiet_hours(None, paris(3), "Europe/Paris")
    assert in_quiet_hours("00:00-24:00", paris(15), "Europe/Paris")
    assert in_quiet_hours("20:00-24:00", paris(23, 59), "Europe/Paris")
    assert not in_quiet_hours("20:00-24:00", paris(0, 1), "Europe/Paris")
    assert in_time_range(time(5), time(8), time(8))  # equal ends: the whole day


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        in_quiet_hours("22:00-07:00", datetime(2026, 1, 13, 23), "Europe/Paris")


def test_quiet_hours_hold_back_all_but_the_most_severe() -> None:
    rule = AlertRule(
        name="negative", when="negative_mention", quiet_hours="22:00-07:00", quiet_min_severity=3
    )
    night, day = paris(23), paris(15)
    assert not should_page(rule, 2, night, "Europe/Paris")
    assert should_page(rule, 3, night, "Europe/Paris")
    assert should_page(rule, 4, night, "Europe/Paris")
    assert should_page(rule, 1, day, "Europe/Paris")
    always = AlertRule(name="spike", when="spike")
    assert should_page(always, 1, night, "Europe/Paris")
