"""Who is on call: business hours, an out-of-hours rota, overrides, in local time.

A ``[[oncall]]`` schedule (`tocsin.confignotify.OnCall`) is read in its own ``timezone``, else
the organisation's. At an instant `at`:

1. an **override** covering `at` (``start <= at < end``; naive datetimes are local to the
   schedule) puts its person on call, alone. When several cover `at`, the one that started
   last wins (a one-day override inside a one-week override), then the one listed last;
2. during **business hours** (``"mon-fri 09:00-18:00"``: days and wall-clock hours; a range
   ending before it starts, ``"fri 22:00-06:00"``, runs past midnight into the next day)
   everyone in ``business`` is on call; an empty ``business`` list falls through to the rota;
3. otherwise the one person of ``rota`` whose **turn** it is. Turns last ``rota_days`` days
   and hand over at ``handover`` (wall-clock time): ``rota[0]``'s first turn starts at
   ``handover`` on the local date of ``rota_start``, then ``rota[1]``, and round again. An
   empty rota means nobody is on call out of hours.

Everything is wall-clock arithmetic in the schedule's zone (`zoneinfo`), so the handover stays
at 09:00 and business hours at 09:00-18:00 across daylight-saving changes. Pure functions:
the caller passes the time (an aware datetime).
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal

from tocsin.confignotify import OnCall, Override, parse_hours, parse_week_hours

__all__ = [
    "Shift",
    "describe",
    "in_business_hours",
    "next_change",
    "on_call",
    "schedule_zone",
    "shift",
]

ShiftKind = Literal["business", "rota", "override"]

_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "business": "business hours",
        "rota": "on-call rota",
        "override": "override",
        "nobody": "nobody",
        "until": "until",
        "tomorrow": "tomorrow",
    },
    "fr": {
        "business": "heures ouvrées",
        "rota": "astreinte",
        "override": "remplacement",
        "nobody": "personne",
        "until": "jusqu'à",
        "tomorrow": "demain",
    },
}
_WEEKDAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
}
_ONE_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Shift:
    """Who is on call at an instant and why: ``business`` hours, the out-of-hours ``rota``,
    or an ``override``. `people` is empty when nobody is (an empty rota, out of hours)."""

    people: tuple[str, ...]
    kind: ShiftKind


def schedule_zone(schedule: OnCall, default_tz: str) -> tzinfo:
    """The time zone `schedule` is read in: its own, else `default_tz` (the organisation's)."""
    return zoneinfo.ZoneInfo(schedule.timezone or default_tz)


def _check_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"on-call times must be timezone-aware, got {at.isoformat()}")


def _localise(value: datetime, tz: tzinfo) -> datetime:
    """`value` as an aware datetime: naive values are wall-clock times in `tz`."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=tz)
    return value


def _handover(schedule: OnCall) -> time:
    return parse_hours(f"{schedule.handover}-{schedule.handover}")[0]


def _in_week_hours(local: datetime, week_hours: str) -> bool:
    days, start, end = parse_week_hours(week_hours)
    moment = local.time().replace(tzinfo=None)
    weekday = local.weekday()
    if start < end:
        return weekday in days and start <= moment < end
    # The range runs past midnight: it belongs to the day it starts on.
    if weekday in days and moment >= start:
        return True
    return (weekday - 1) % 7 in days and moment < end


def in_business_hours(schedule: OnCall, at: datetime, *, default_tz: str) -> bool:
    """Whether the aware datetime `at` falls in `schedule`'s business hours (local time)."""
    _check_aware(at)
    return _in_week_hours(
        at.astimezone(schedule_zone(schedule, default_tz)), schedule.business_hours
    )


def _rota_person(schedule: OnCall, local: datetime) -> str | None:
    if not schedule.rota:
        return None
    tz = local.tzinfo
    assert tz is not None
    first: date = _localise(schedule.rota_start, tz).astimezone(tz).date()
    day = local.date()
    if local.time().replace(tzinfo=None) < _handover(schedule):
        day -= timedelta(days=1)  # before today's handover: still yesterday's turn
    turn = (day - first).days // schedule.rota_days
    return schedule.rota[turn % len(schedule.rota)]


def _covering_override(schedule: OnCall, at: datetime, tz: tzinfo) -> Override | None:
    best: tuple[datetime, int] | None = None
    chosen: Override | None = None
    for index, override in enumerate(schedule.overrides):
        start, end = _localise(override.start, tz), _localise(override.end, tz)
        if start <= at < end and (best is None or (start, index) >= best):
            best, chosen = (start, index), override
    return chosen


def shift(schedule: OnCall, at: datetime, *, default_tz: str) -> Shift:
    """Who is on call at the aware datetime `at`, and why (see the module's rules)."""
    _check_aware(at)
    tz = schedule_zone(schedule, default_tz)
    override = _covering_override(schedule, at, tz)
    if override is not None:
        return Shift((override.person,), "override")
    local = at.astimezone(tz)
    if schedule.business and _in_week_hours(local, schedule.business_hours):
        return Shift(tuple(dict.fromkeys(schedule.business)), "business")
    person = _rota_person(schedule, local)
    return Shift((person,) if person else (), "rota")


def on_call(schedule: OnCall, at: datetime, *, default_tz: str) -> list[str]:
    """The names of the people on call at the aware datetime `at` (empty when nobody is).

    `default_tz` is the organisation's time zone, used when the schedule sets none.
    """
    return list(shift(schedule, at, default_tz=default_tz).people)


def _boundaries(schedule: OnCall, at: datetime, tz: tzinfo) -> list[datetime]:
    """Every instant (UTC) after `at` at which the shift may change, in order."""
    _, start, end = parse_week_hours(schedule.business_hours)
    handover = _handover(schedule)
    days = 8 + schedule.rota_days * max(1, len(schedule.rota))
    today = at.astimezone(tz).date()
    found: set[datetime] = set()
    for offset in range(-1, days + 1):
        day = today + timedelta(days=offset)
        for moment in (start, end, handover):
            for fold in (0, 1):  # both readings of a wall time skipped or repeated by DST
                local = datetime.combine(day, moment, tzinfo=tz).replace(fold=fold)
                found.add(local.astimezone(UTC))
    for override in schedule.overrides:
        found.add(_localise(override.start, tz).astimezone(UTC))
        found.add(_localise(override.end, tz).astimezone(UTC))
    return sorted(b for b in found if b > at)


def next_change(schedule: OnCall, at: datetime, *, default_tz: str) -> datetime | None:
    """The first instant (UTC) after `at` at which `shift` changes (other people, or the same
    people for another reason), or None if it never does (one person on an endless rota).

    Meant for display ("alice until 18:00"); exact to the microsecond, including the odd
    handover set inside a daylight-saving gap.
    """
    _check_aware(at)
    tz = schedule_zone(schedule, default_tz)
    at = at.astimezone(UTC)
    current = shift(schedule, at, default_tz=default_tz)
    same = at
    for candidate in _boundaries(schedule, at, tz):
        if shift(schedule, candidate, default_tz=default_tz) == current:
            same = candidate
            continue
        # The change lies in (same, candidate]; usually exactly at candidate.
        low, high = same, candidate
        if shift(schedule, high - _ONE_MICROSECOND, default_tz=default_tz) == current:
            return high
        while high - low > _ONE_MICROSECOND:
            middle = low + (high - low) / 2
            if shift(schedule, middle, default_tz=default_tz) == current:
                low = middle
            else:
                high = middle
        return high
    return None


def _when(until: datetime, at: datetime, tz: tzinfo, language: str) -> str:
    local, now = until.astimezone(tz), at.astimezone(tz)
    clock = local.strftime("%H:%M")
    days = (local.date() - now.date()).days
    if days == 0:
        return clock
    if days == 1:
        return f"{_LABELS[language]['tomorrow']} {clock}"
    if days < 7:
        return f"{_WEEKDAYS[language][local.weekday()]} {clock}"
    return f"{local.date().isoformat()} {clock}"


def describe(schedule: OnCall, at: datetime, language: str, *, default_tz: str) -> str:
    """A one-line summary in `language` (``fr`` or ``en``), in the schedule's local time:
    ``"alice, bob (heures ouvrées jusqu'à 18:00)"``, ``"carol (on-call rota until Monday
    09:00)"``."""
    lang = "fr" if language.lower().startswith("fr") else "en"
    labels = _LABELS[lang]
    now = shift(schedule, at, default_tz=default_tz)
    people = ", ".join(now.people) or labels["nobody"]
    until = next_change(schedule, at, default_tz=default_tz)
    if until is None:
        return f"{people} ({labels[now.kind]})"
    when = _when(until, at, schedule_zone(schedule, default_tz), lang)
    word = labels["until"]
    if lang == "fr" and when[:1].isdigit() and "-" in when:
        word = "jusqu'au"  # jusqu'au 2026-02-01 09:00, jusqu'à 18:00
    return f"{people} ({labels[now.kind]} {word} {when})"
