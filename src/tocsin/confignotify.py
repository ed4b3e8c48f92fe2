"""The alerting part of ``tocsin.toml``: channels, people, on-call schedules, escalations,
alert rules and the ``[notify]`` section. `config.Settings` holds them and checks that every
name they refer to exists.

```toml
[[channels]]                 # where messages go: apprise URLs (email, Slack, ntfy, ...)
name = "comms-slack"
urls = ["env:TOCSIN_SLACK_URL"]

[[people]]
name = "alice"
channels = ["alice-sms"]

[[oncall]]
name = "comms"
business = ["alice", "bob"]  # everyone, during business hours
rota = ["carol", "dave"]     # one of them at a time, out of hours, a week each

[[escalations]]
name = "default"
steps = [
  { notify = "oncall:comms" },
  { notify = "person:alice", after_minutes = 10 },
  { notify = "channel:comms-slack", after_minutes = 20 },
]

[[alerts]]
name = "negative"
when = "negative_mention"
min_priority = 45
escalation = "default"
```
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import datetime, time
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tocsin.alert import ALERT_KINDS
from tocsin.configerror import custom_error, did_you_mean
from tocsin.configsource import Slug
from tocsin.sources.base import ENV_PREFIX, read_env_option

__all__ = [
    "AlertRule",
    "Channel",
    "Escalation",
    "EscalationStep",
    "Notify",
    "OnCall",
    "Override",
    "Person",
    "parse_hours",
    "parse_week_hours",
]

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


def parse_hours(value: str) -> tuple[time, time]:
    """``"22:00-07:00"`` -> ``(22:00, 07:00)``; an end before the start wraps past midnight."""
    match = _HOURS.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a time range like 09:00-18:00")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError(f"{value!r} has an impossible time")
    end = time(0, 0) if h2 == 24 else time(h2, m2)
    return time(h1, m1), end


def parse_week_hours(value: str) -> tuple[frozenset[int], time, time]:
    """``"mon-fri 09:00-18:00"`` -> ``({0..4}, 09:00, 18:00)`` (Monday is 0)."""
    days_text, _, hours = value.strip().partition(" ")
    days: set[int] = set()
    for part in days_text.lower().split(","):
        first, _, last = part.partition("-")
        if first not in _DAYS or (last and last not in _DAYS):
            raise ValueError(f"{value!r}: days must be like mon-fri or sat,sun")
        a, b = _DAYS.index(first), _DAYS.index(last or first)
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    start, end = parse_hours(hours)
    return frozenset(days), start, end


def _hours_error(kind: str, exc: ValueError, example: str) -> Exception:
    return custom_error(kind, str(exc), f'write it like "{example}"')


def _check_timezone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise custom_error(
            "timezone",
            f"{value!r} is not a known IANA time zone"
            f"{did_you_mean(value, zoneinfo.available_timezones())}",
            'use a name like "Europe/Paris"',
        ) from None
    return value


class Channel(_Section):
    """A destination for messages: one or more apprise URLs (``mailto://``, ``slack://``,
    ``ntfy://``, ``json://`` webhooks, ...). A URL may be ``"env:NAME"`` to keep its token
    out of the file."""

    name: Slug
    urls: list[str] = Field(min_length=1)
    language: str | None = None

    @field_validator("urls", mode="before")
    @classmethod
    def _from_environment(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, list):
            return value
        return [
            read_env_option("urls", v, info.context)
            if isinstance(v, str) and v.startswith(ENV_PREFIX)
            else v
            for v in value
        ]

    @field_validator("urls")
    @classmethod
    def _understood(cls, value: list[str]) -> list[str]:
        import apprise

        for url in value:
            if apprise.Apprise.instantiate(url) is None:
                scheme = url.split("://", 1)[0] if "://" in url else "?"
                raise custom_error(
                    "channel_url",
                    f"apprise does not understand a URL of scheme {scheme!r}",
                    "use an apprise URL such as mailto://user:pass@example.org, "
                    "slack://T/B/C, ntfy://topic, json://host/path (see "
                    "https://github.com/caronc/apprise/wiki)",
                )
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        if value is not None and value not in ("fr", "en"):
            raise custom_error("language", f"messages exist in fr and en, not {value!r}", "")
        return value

    def __repr_args__(self) -> Any:
        yield "name", self.name
        yield "urls", f"[{len(self.urls)} URL(s), not shown]"


class Person(_Section):
    """Someone who can be paged, and the channels that reach them (first = preferred)."""

    name: Slug
    channels: list[str] = Field(min_length=1)
    timezone: str | None = None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return _check_timezone(value)


class Override(_Section):
    """`person` is on call instead of the schedule from `start` to `end`."""

    person: str
    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> Override:
        if (self.start.tzinfo is None) != (self.end.tzinfo is None):
            raise custom_error(
                "override_zone",
                f"override of {self.person!r}: one time has a time zone and the other not",
                "give both with an offset (2026-12-24T18:00+01:00) or both without",
            )
        if self.end <= self.start:
            raise custom_error(
                "override_order",
                f"override of {self.person!r} ends ({self.end}) before it starts ({self.start})",
                "swap start and end",
            )
        return self


class OnCall(_Section):
    """Who is on call: everyone in `business` during `business_hours`; out of hours, one
    person of `rota` at a time, handing over every `rota_days` days at `handover` (local
    time), counted from `rota_start`; `overrides` win over both."""

    name: Slug
    timezone: str | None = None
    business_hours: str = "mon-fri 09:00-18:00"
    business: list[str] = Field(default_factory=list)
    rota: list[str] = Field(default_factory=list)
    rota_start: datetime = datetime(2026, 1, 5)
    rota_days: int = Field(default=7, ge=1)
    handover: str = "09:00"
    overrides: list[Override] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return _check_timezone(value)

    @field_validator("business_hours")
    @classmethod
    def _week_hours(cls, value: str) -> str:
        try:
            parse_week_hours(value)
        except ValueError as exc:
            raise _hours_error("business_hours", exc, "mon-fri 09:00-18:00") from None
        return value

    @field_validator("handover")
    @classmethod
    def _handover(cls, value: str) -> str:
        try:
            parse_hours(f"{value}-{value}")
        except ValueError as exc:
            raise _hours_error("handover", exc, "09:00") from None
        return value


class EscalationStep(_Section):
    """Notify `notify` (``oncall:NAME``, ``person:NAME`` or ``channel:NAME``) once the alert
    has gone unacknowledged for `after_minutes`."""

    notify: str
    after_minutes: int = Field(default=0, ge=0)

    @field_validator("notify")
    @classmethod
    def _target(cls, value: str) -> str:
        kind, _, name = value.partition(":")
        if kind not in ("oncall", "person", "channel") or not name:
            raise custom_error(
                "escalation_target",
                f"{value!r} is not oncall:NAME, person:NAME or channel:NAME",
                'e.g. notify = "oncall:comms"',
            )
        return value


class Escalation(_Section):
    """An escalation chain: its steps in order (their `after_minutes` must not decrease)."""

    name: Slug
    steps: list[EscalationStep] = Field(min_length=1)

    @field_validator("steps")
    @classmethod
    def _ordered(cls, value: list[EscalationStep]) -> list[EscalationStep]:
        times = [step.after_minutes for step in value]
        if times != sorted(times):
            raise custom_error(
                "escalation_order",
                f"steps must be in time order, got after_minutes {times}",
                "sort the steps by after_minutes",
            )
        return value


class AlertRule(_Section):
    """When to alert, whom, and how often.

    `when` is one of ``negative_mention`` (negative sentiment and `min_priority`; below it
    the mention is *watched* and alerts if its priority crosses the threshold later),
    ``story_growth`` (a story gaining `growth_per_hour` mentions per hour), ``spike``,
    ``crisis_level`` (at least `min_level`), ``urgent`` (an urgent reason among `reasons`, all
    if empty), ``source_down``.
    """

    name: Slug
    when: str
    watches: list[str] = Field(default_factory=list)
    min_priority: float = Field(default=40.0, ge=0, le=100)
    growth_per_hour: float = Field(default=20.0, gt=0)
    min_level: int = Field(default=3, ge=1, le=4)
    reasons: list[str] = Field(default_factory=list)
    severity: int = Field(default=3, ge=1, le=4)
    channels: list[str] = Field(default_factory=list)
    escalation: str | None = None
    throttle_minutes: int = Field(default=60, ge=0)
    quiet_hours: str | None = None
    quiet_min_severity: int = Field(default=4, ge=1, le=4)
    enabled: bool = True

    @field_validator("when")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in ALERT_KINDS:
            raise custom_error(
                "alert_kind",
                f"unknown alert kind {value!r}{did_you_mean(value, ALERT_KINDS)}",
                f"use one of {', '.join(ALERT_KINDS)}",
            )
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_hours(value)
            except ValueError as exc:
                raise _hours_error("quiet_hours", exc, "22:00-07:00") from None
        return value


class Notify(_Section):
    """How alerts reach people: links, signatures, retries and digests."""

    public_url: str = "http://127.0.0.1:8080"
    signing_secret: str = ""
    language: str | None = None
    retry_hours: float = Field(default=24.0, gt=0)
    digest: str = "daily"
    digest_at: str = "08:00"
    digest_channels: list[str] = Field(default_factory=list)

    @field_validator("signing_secret", mode="before")
    @classmethod
    def _secret_from_environment(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str) and value.startswith(ENV_PREFIX):
            return read_env_option("signing_secret", value, info.context)
        return value

    @field_validator("public_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise custom_error(
                "public_url",
                f"{value!r} is not an http(s) URL",
                'the address people open tocsin at, e.g. "https://tocsin.example.org"',
            )
        return value.rstrip("/")

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str) -> str:
        if value not in ("off", "hourly", "daily"):
            raise custom_error(
                "digest", f"unknown digest {value!r}", 'use "off", "hourly", "daily"'
            )
        return value

    def __repr_args__(self) -> Any:
        for key, value in super().__repr_args__():
            yield key, ("**********" if key == "signing_secret" and value else value)
