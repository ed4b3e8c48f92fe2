"""Quiet hours: the part of the day when a rule pages only for its most severe alerts.

An `AlertRule` may set ``quiet_hours = "22:00-07:00"`` (local wall-clock time of the
organisation; a range whose end comes before its start wraps past midnight, and a range whose
end equals its start, such as ``"00:00-24:00"``, is the whole day). During quiet hours an
alert whose severity is below the rule's ``quiet_min_severity`` does not page anyone: it waits
for the digest. Pure functions: the caller passes the time.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time, tzinfo

from tocsin.confignotify import AlertRule, parse_hours

__all__ = ["in_quiet_hours", "in_time_range", "should_page"]


def in_time_range(moment: time, start: time, end: time) -> bool:
    """Whether the wall-clock `moment` lies in ``[start, end)``.

    An `end` before `start` wraps past midnight (``22:00-07:00`` holds 23:30 and 06:59); an
    `end` equal to `start` is the whole day (``00:00-24:00`` parses to 00:00, 00:00).
    """
    if start < end:
        return start <= moment < end
    if start > end:
        return moment >= start or moment < end
    return True


def _zone(tz: str | tzinfo) -> tzinfo:
    return zoneinfo.ZoneInfo(tz) if isinstance(tz, str) else tz


def in_quiet_hours(quiet_hours: str | None, at: datetime, tz: str | tzinfo) -> bool:
    """Whether the aware datetime `at` falls in `quiet_hours` (``"22:00-07:00"``, or None for
    no quiet hours) read in the time zone `tz` (an IANA name or a tzinfo)."""
    if quiet_hours is None:
        return False
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"in_quiet_hours needs an aware datetime, got {at.isoformat()}")
    start, end = parse_hours(quiet_hours)
    local = at.astimezone(_zone(tz))
    return in_time_range(local.time().replace(tzinfo=None), start, end)


def should_page(rule: AlertRule, severity: int, at: datetime, tz: str | tzinfo) -> bool:
    """Whether an alert of `severity` (1-4) made by `rule` at `at` pages now.

    Outside the rule's quiet hours every alert pages; inside them only alerts of severity
    ``rule.quiet_min_severity`` or more do. The others belong to the next digest.
    """
    if not in_quiet_hours(rule.quiet_hours, at, tz):
        return True
    return severity >= rule.quiet_min_severity
