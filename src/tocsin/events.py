"""An `Event`: something happened that someone may need to know (a source went down or came
back; later, a crisis level changed). The store keeps them; alerting reads them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["SOURCE_DOWN", "SOURCE_UP", "Event"]

SOURCE_DOWN = "source_down"
"""A source delivered nothing for much longer than usual, or failed repeatedly."""
SOURCE_UP = "source_up"
"""A source that was down delivers again."""


@dataclass(frozen=True, slots=True)
class Event:
    """One event; `subject` names what it is about (a source key, a watch name)."""

    kind: str
    subject: str
    message: str
    at: datetime
    details: Mapping[str, Any] = field(default_factory=dict, hash=False)
    id: int | None = None

    def __post_init__(self) -> None:
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError(f"event time {self.at.isoformat()} has no time zone")
        object.__setattr__(self, "at", self.at.astimezone(UTC))
