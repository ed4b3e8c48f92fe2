"""An `Alert`: something that needs a person now (or, while *watching*, maybe soon).

Alerts are made by the rules of ``tocsin.toml`` (`tocsin.detect.rules`), stored once per
`key` (so one story alerts once per throttle window, however many mentions it gathers), then
delivered through the outbox and escalated until someone acknowledges them.

States: ``watching`` (the seed's rule: a negative critique with no traction is watched, not
alerted; it turns ``open`` when its engagement crosses the rule's threshold), ``open``
(delivered and escalating), ``acknowledged`` (someone has it; escalation stops),
``resolved``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["ALERT_KINDS", "ALERT_STATES", "Alert"]

ALERT_KINDS = (
    "negative_mention",
    "story_growth",
    "spike",
    "crisis_level",
    "urgent",
    "source_down",
)
"""What a rule can watch for (`AlertRule.when`)."""

ALERT_STATES = ("watching", "open", "acknowledged", "resolved")


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert. `key` makes it idempotent: the same key is never stored (nor sent) twice."""

    key: str
    rule: str
    kind: str
    subject: str
    title: str
    created_at: datetime
    reasons: tuple[str, ...] = ()
    severity: int = 2
    state: str = "open"
    watch: str | None = None
    mention_id: str | None = None
    story_id: str | None = None
    url: str = ""
    details: Mapping[str, Any] = field(default_factory=dict, hash=False)
    id: int | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.kind not in ALERT_KINDS:
            raise ValueError(f"unknown alert kind {self.kind!r}; one of {', '.join(ALERT_KINDS)}")
        if self.state not in ALERT_STATES:
            raise ValueError(f"unknown alert state {self.state!r}")
        if not 1 <= self.severity <= 4:
            raise ValueError(f"alert severity {self.severity} must be 1 to 4")
        for name in ("created_at", "acknowledged_at", "resolved_at"):
            value = getattr(self, name)
            if value is None:
                continue
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"alert {name} {value.isoformat()} has no time zone")
            object.__setattr__(self, name, value.astimezone(UTC))
        if not isinstance(self.reasons, tuple):
            object.__setattr__(self, "reasons", tuple(self.reasons))
