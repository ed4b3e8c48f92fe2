"""On-call schedules: business hours, rota turns, overrides, time zones and DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tocsin.confignotify import OnCall, Override
from tocsin.notify.oncall import Shift, describe, in_business_hours, next_change, on_call, shift

PARIS = ZoneInfo("Europe/Paris")
TZ = "Europe/Paris"


def schedule(**changes: Any) -> OnCall:
    """Business alice+bob Mon-Fri 09:00-18:00; rota carol/dave, a week each from Mon 5 Jan."""
    values: dict[str, Any] = {"name": "comms", "business": ["alice", "bob"]}
    values["rota"] = ["carol", "dave"]
    values.update(changes)
    return OnCall.model_validate(values)


def paris(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=PARIS)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=UTC)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (paris(2026, 1, 12, 9, 0), ["alice", "bob"]),  # Monday opening
        (paris(2026, 1, 16, 17, 59, 59), ["alice", "bob"]),  # Friday, just before closing
        (paris(2026, 1, 16, 18, 0), ["dave"]),  # Friday closing: the rota's week
        (paris(2026, 1, 17, 12, 0), ["dave"]),  # Saturday noon
        (paris(2026, 1, 19, 8, 59), ["dave"]),  # Monday before opening and handover
        (paris(2026, 1, 19, 18, 30), ["carol"]),  # the handover happened at 09:00
    ],
)
def test_business_hours_then_rota(at: datetime, expected: list[str]) -> None:
    assert on_call(schedule(), at, default_tz=TZ) == expected


@pytest.mark.parametrize(
    ("opening_utc", "label"),
    [
        (utc(2026, 3, 27, 8, 0), "Friday before the spring switch: 09:00 CET"),
        (utc(2026, 3, 30, 7, 0), "Monday after it: 09:00 CEST"),
        (utc(2026, 10, 23, 7, 0), "Friday before the autumn switch: 09:00 CEST"),
        (utc(2026, 10, 26, 8, 0), "Monday after it: 09:00 CET"),
    ],
)
def test_business_hours_follow_daylight_saving(opening_utc: datetime, label: str) -> None:
    oncall = schedule()
    second = timedelta(seconds=1)
    assert on_call(oncall, opening_utc - second, default_tz=TZ) != ["alice", "bob"], label
    assert on_call(oncall, opening_utc, default_tz=TZ) == ["alice", "bob"], label
    assert in_business_hours(oncall, opening_utc + timedelta(hours=8, minutes=59), default_tz=TZ)
    assert not in_business_hours(oncall, opening_utc + timedelta(hours=9), default_tz=TZ)


@pytest.mark.parametrize(
    ("sunday_opening_utc", "sunday_closing_utc"),
    [
        (utc(2026, 3, 29, 7, 0), utc(2026, 3, 29, 16, 0)),  # the switch day itself: CEST
        (utc(2026, 10, 25, 8, 0), utc(2026, 10, 25, 17, 0)),  # back to CET
    ],
)
def test_weekend_hours_on_the_switch_sundays(
    sunday_opening_utc: datetime, sunday_closing_utc: datetime
) -> None:
    oncall = schedule(business_hours="sat-sun 09:00-18:00", business=["erin"])
    second = timedelta(seconds=1)
    assert on_call(oncall, sunday_opening_utc - second, default_tz=TZ) != ["erin"]
    assert on_call(oncall, sunday_opening_utc, default_tz=TZ) == ["erin"]
    assert on_call(oncall, sunday_closing_utc - second, default_tz=TZ) == ["erin"]
    assert on_call(oncall, sunday_closing_utc, default_tz=TZ) != ["erin"]


def test_rota_hands_over_at_nine_local_every_seven_days() -> None:
    rota = schedule(business=[])  # rota only, so business hours do not hide the handover
    assert on_call(rota, paris(2026, 1, 5, 8, 59), default_tz=TZ) == ["dave"]  # turn -1
    assert on_call(rota, paris(2026, 1, 5, 9, 0), default_tz=TZ) == ["carol"]
    assert on_call(rota, paris(2026, 1, 12, 8, 59, 59), default_tz=TZ) == ["carol"]
    assert on_call(rota, paris(2026, 1, 12, 9, 0), default_tz=TZ) == ["dave"]
    assert on_call(rota, paris(2026, 1, 19, 9, 0), default_tz=TZ) == ["carol"]


@pytest.mark.parametrize(
    ("handover_utc", "before", "after"),
    [
        (utc(2026, 3, 30, 7, 0), "dave", "carol"),  # 09:00 CEST, the day after the switch
        (utc(2026, 10, 26, 8, 0), "dave", "carol"),  # 09:00 CET, the day after the switch
    ],
)
def test_rota_handover_stays_at_nine_across_daylight_saving(
    handover_utc: datetime, before: str, after: str
) -> None:
    rota = schedule(business=[])
    second = timedelta(seconds=1)
    assert on_call(rota, handover_utc - second, default_tz=TZ) == [before]
    assert on_call(rota, handover_utc, default_tz=TZ) == [after]
    assert next_change(rota, handover_utc - timedelta(hours=5), default_tz=TZ) == handover_utc


def test_handover_inside_the_spring_gap_happens_when_the_clock_jumps() -> None:
    # 02:30 does not exist on 2026-03-29 in Paris: 02:00 CET jumps to 03:00 CEST (01:00 UTC).
    rota = schedule(business=[], rota_days=1, handover="02:30", rota_start=datetime(2026, 3, 28))
    assert on_call(rota, utc(2026, 3, 29, 0, 59, 59), default_tz=TZ) == ["carol"]
    assert on_call(rota, utc(2026, 3, 29, 1, 0), default_tz=TZ) == ["dave"]
    assert next_change(rota, utc(2026, 3, 28, 23, 0), default_tz=TZ) == utc(2026, 3, 29, 1, 0)


def test_handover_inside_the_autumn_repeat_happens_the_first_time() -> None:
    # 02:30 happens twice on 2026-10-25 in Paris: at 00:30 UTC (CEST) and 01:30 UTC (CET).
    rota = schedule(business=[], rota_days=1, handover="02:30", rota_start=datetime(2026, 10, 24))
    assert on_call(rota, utc(2026, 10, 25, 0, 29), default_tz=TZ) == ["carol"]
    assert on_call(rota, utc(2026, 10, 25, 0, 30), default_tz=TZ) == ["dave"]
    assert on_call(rota, utc(2026, 10, 25, 1, 45), default_tz=TZ) == ["dave"]
    assert next_change(rota, utc(2026, 10, 24, 22, 0), default_tz=TZ) == utc(2026, 10, 25, 0, 30)


def test_rota_start_aware_and_daily_turns() -> None:
    rota = schedule(
        business=[],
        rota=["carol", "dave", "erin"],
        rota_days=1,
        handover="08:00",
        rota_start=datetime(2026, 2, 1, 12, 0, tzinfo=UTC),
    )
    assert on_call(rota, paris(2026, 2, 1, 8, 0), default_tz=TZ) == ["carol"]
    assert on_call(rota, paris(2026, 2, 2, 7, 59), default_tz=TZ) == ["carol"]
    assert on_call(rota, paris(2026, 2, 2, 8, 0), default_tz=TZ) == ["dave"]
    assert on_call(rota, paris(2026, 2, 3, 8, 0), default_tz=TZ) == ["erin"]
    assert on_call(rota, paris(2026, 2, 4, 8, 0), default_tz=TZ) == ["carol"]
    assert on_call(rota, paris(2026, 1, 31, 12, 0), default_tz=TZ) == ["erin"]  # before start


def test_schedule_time_zone_wins_over_the_organisation() -> None:
    new_york = schedule(timezone="America/New_York")
    at = utc(2026, 1, 12, 13, 59)  # 08:59 in New York, 14:59 in Paris
    assert on_call(new_york, at, default_tz=TZ) == ["carol"]  # before the 09:00 handover
    assert on_call(new_york, at + timedelta(minutes=1), default_tz=TZ) == ["alice", "bob"]
    assert on_call(schedule(), at, default_tz=TZ) == ["alice", "bob"]


def test_business_hours_past_midnight() -> None:
    night = schedule(business_hours="fri 22:00-06:00", business=["erin"], rota=["carol"])
    assert on_call(night, paris(2026, 1, 16, 21, 59), default_tz=TZ) == ["carol"]
    assert on_call(night, paris(2026, 1, 16, 22, 0), default_tz=TZ) == ["erin"]
    assert on_call(night, paris(2026, 1, 17, 5, 59), default_tz=TZ) == ["erin"]  # Saturday
    assert on_call(night, paris(2026, 1, 17, 6, 0), default_tz=TZ) == ["carol"]
    assert on_call(night, paris(2026, 1, 15, 23, 0), default_tz=TZ) == ["carol"]  # Thursday


def test_overrides_replace_the_schedule() -> None:
    oncall = schedule(
        overrides=[
            Override(person="erin", start=datetime(2026, 1, 16), end=datetime(2026, 1, 17)),
            Override(person="frank", start=utc(2026, 1, 20, 8), end=utc(2026, 1, 20, 9)),
        ]
    )
    # Naive bounds are Paris time: 2026-01-16 00:00 CET is 2026-01-15 23:00 UTC.
    assert on_call(oncall, utc(2026, 1, 15, 22, 59), default_tz=TZ) == ["dave"]
    assert on_call(oncall, utc(2026, 1, 15, 23, 0), default_tz=TZ) == ["erin"]
    assert on_call(oncall, paris(2026, 1, 16, 12, 0), default_tz=TZ) == ["erin"]  # business
    assert on_call(oncall, paris(2026, 1, 17, 0, 0), default_tz=TZ) == ["dave"]  # end excluded
    assert shift(oncall, utc(2026, 1, 20, 8, 30), default_tz=TZ) == Shift(("frank",), "override")
    assert on_call(oncall, utc(2026, 1, 20, 9, 0), default_tz=TZ) == ["alice", "bob"]


def test_the_latest_started_override_wins() -> None:
    week = Override(person="erin", start=datetime(2026, 1, 12), end=datetime(2026, 1, 19))
    day = Override(person="frank", start=datetime(2026, 1, 14), end=datetime(2026, 1, 15))
    for overrides in ([week, day], [day, week]):
        oncall = schedule(overrides=overrides)
        assert on_call(oncall, paris(2026, 1, 13, 12), default_tz=TZ) == ["erin"]
        assert on_call(oncall, paris(2026, 1, 14, 12), default_tz=TZ) == ["frank"]
        assert on_call(oncall, paris(2026, 1, 15, 12), default_tz=TZ) == ["erin"]


def test_empty_lists() -> None:
    no_business = schedule(business=[])
    assert shift(no_business, paris(2026, 1, 13, 12), default_tz=TZ) == Shift(("dave",), "rota")
    no_rota = schedule(rota=[])
    assert on_call(no_rota, paris(2026, 1, 13, 12), default_tz=TZ) == ["alice", "bob"]
    assert on_call(no_rota, paris(2026, 1, 13, 20), default_tz=TZ) == []
    nobody = schedule(business=[], rota=[])
    assert on_call(nobody, paris(2026, 1, 13, 12), default_tz=TZ) == []
    assert next_change(nobody, paris(2026, 1, 13, 12), default_tz=TZ) is None


def test_duplicate_names_are_paged_once() -> None:
    oncall = schedule(business=["alice", "bob", "alice"])
    assert on_call(oncall, paris(2026, 1, 13, 12), default_tz=TZ) == ["alice", "bob"]


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        on_call(schedule(), datetime(2026, 1, 13, 12), default_tz=TZ)


def test_next_change() -> None:
    oncall = schedule()
    assert next_change(oncall, paris(2026, 1, 16, 17, 0), default_tz=TZ) == utc(2026, 1, 16, 17)
    # Over the spring-switch weekend: Friday 18:00 CET -> Monday 09:00 CEST.
    friday = paris(2026, 3, 27, 18, 0)
    assert next_change(oncall, friday, default_tz=TZ) == utc(2026, 3, 30, 7, 0)
    # One person on an endless rota, no business: nothing ever changes.
    alone = schedule(business=[], rota=["carol"])
    assert next_change(alone, friday, default_tz=TZ) is None
    # An override's end is a change.
    covered = schedule(
        business=[],
        rota=["carol"],
        overrides=[Override(person="erin", start=datetime(2026, 3, 1), end=datetime(2026, 4, 1))],
    )
    assert next_change(covered, friday, default_tz=TZ) == utc(2026, 3, 31, 22, 0)


def test_next_change_counts_a_change_of_reason() -> None:
    same_people = schedule(business=["carol"], rota=["carol"])
    at = paris(2026, 1, 13, 12)
    assert on_call(same_people, at, default_tz=TZ) == on_call(
        same_people, paris(2026, 1, 13, 19), default_tz=TZ
    )
    assert next_change(same_people, at, default_tz=TZ) == utc(2026, 1, 13, 17)


def test_describe_in_french_and_english() -> None:
    oncall = schedule()
    noon = paris(2026, 1, 13, 12)
    assert (
        describe(oncall, noon, "fr", default_tz=TZ) == "alice, bob (heures ouvrées jusqu'à 18:00)"
    )
    assert describe(oncall, noon, "en", default_tz=TZ) == "alice, bob (business hours until 18:00)"
    evening = paris(2026, 1, 13, 19)
    assert describe(oncall, evening, "fr", default_tz=TZ) == "dave (astreinte jusqu'à demain 09:00)"
    friday = paris(2026, 1, 16, 19)
    assert describe(oncall, friday, "en", default_tz=TZ) == "dave (on-call rota until Monday 09:00)"
    assert describe(oncall, friday, "fr", default_tz=TZ) == "dave (astreinte jusqu'à lundi 09:00)"


def test_describe_overrides_nobody_and_far_changes() -> None:
    away = schedule(
        business=[],
        rota=["carol"],
        overrides=[Override(person="erin", start=datetime(2026, 1, 1), end=datetime(2026, 2, 1))],
    )
    at = paris(2026, 1, 13, 12)
    assert describe(away, at, "en", default_tz=TZ) == "erin (override until 2026-02-01 00:00)"
    assert (
        describe(away, at, "fr", default_tz=TZ) == "erin (remplacement jusqu'au 2026-02-01 00:00)"
    )
    nobody = schedule(business=[], rota=[])
    assert describe(nobody, at, "fr", default_tz=TZ) == "personne (astreinte)"
    assert describe(nobody, at, "en", default_tz=TZ) == "nobody (on-call rota)"
