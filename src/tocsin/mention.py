"""The one record that flows through tocsin: a `Mention` of the organisation somewhere online.

Every stage takes mentions and returns new ones with `dataclasses.replace`; nothing mutates a
mention and no stage passes dicts around. Datetimes are always timezone-aware UTC.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["Author", "Mention", "Metrics", "Sentiment", "make_id", "split_id"]


def make_id(source: str, native_id: str) -> str:
    """Return the stable mention id ``"<source>:<native id>"``."""
    if not source or ":" in source:
        raise ValueError(f"source name {source!r} must be non-empty and contain no ':'")
    if not native_id:
        raise ValueError(f"a {source} item has an empty native id; every item needs one")
    return f"{source}:{native_id}"


def split_id(mention_id: str) -> tuple[str, str]:
    """Split a mention id into ``(source, native id)``."""
    source, sep, native = mention_id.partition(":")
    if not sep or not source or not native:
        raise ValueError(f"mention id {mention_id!r} is not of the form '<source>:<native id>'")
    return source, native


def _utc(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{what} {value.isoformat()} has no time zone; tocsin needs aware UTC times"
        )
    return value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Author:
    """Who wrote a mention, as far as the source tells."""

    handle: str = ""
    name: str = ""
    followers: int | None = None
    verified: bool = False
    url: str = ""


@dataclass(frozen=True, slots=True)
class Metrics:
    """Engagement counters at the time the mention was last seen."""

    likes: int = 0
    reposts: int = 0
    replies: int = 0
    quotes: int = 0
    views: int | None = None


@dataclass(frozen=True, slots=True)
class Sentiment:
    """A sentiment label (``negative``, ``neutral``, ``positive``) with its score in [-1, 1]."""

    label: str
    score: float


@dataclass(frozen=True, slots=True)
class Mention:
    """A post, article, comment or review that tocsin has seen.

    ``id`` is ``"<source>:<native id>"`` and is the key of every idempotent write.
    The fields after ``raw`` are filled by later stages (match, enrich, detect):
    ``lang``/``lang_confidence`` (ISO 639-1, 0..1), ``sentiment``, ``demand`` (``apology``,
    ``explanation``, ``fix``, ``compensation``, ``information`` or ``none``), ``complaint``,
    ``urgent`` (reasons: ``legal_threat``, ``safety``, ``data_breach``, ``boycott_call``,
    ``media``; empty when not urgent), ``reach`` (estimated audience), ``velocity``
    (engagement per hour), ``priority`` with ``priority_factors`` (what each factor added, so
    a reader sees why), ``story_id``.
    """

    id: str
    source: str
    url: str
    text: str
    published_at: datetime
    seen_at: datetime
    author: Author = Author()
    title: str = ""
    lang: str | None = None
    metrics: Metrics = Metrics()
    parent_id: str | None = None
    thread_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)
    watches: tuple[str, ...] = ()
    lang_confidence: float | None = None
    sentiment: Sentiment | None = None
    demand: str | None = None
    complaint: bool = False
    urgent: tuple[str, ...] = ()
    reach: int | None = None
    velocity: float | None = None
    priority: float | None = None
    priority_factors: Mapping[str, float] = field(default_factory=dict, hash=False)
    story_id: str | None = None

    def __post_init__(self) -> None:
        source, _ = split_id(self.id)
        if source != self.source:
            raise ValueError(
                f"mention id {self.id!r} does not start with its source {self.source!r}"
            )
        object.__setattr__(self, "published_at", _utc(self.published_at, "published_at"))
        object.__setattr__(self, "seen_at", _utc(self.seen_at, "seen_at"))
        if not isinstance(self.watches, tuple):
            object.__setattr__(self, "watches", tuple(self.watches))
        if not isinstance(self.urgent, tuple):
            object.__setattr__(self, "urgent", tuple(self.urgent))

    @property
    def native_id(self) -> str:
        """The id the source itself gives the item."""
        return split_id(self.id)[1]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (ISO 8601 datetimes); `from_dict` reads it back."""
        data = dataclasses.asdict(self)
        data["published_at"] = self.published_at.isoformat()
        data["seen_at"] = self.seen_at.isoformat()
        data["raw"] = dict(self.raw)
        data["watches"] = list(self.watches)
        data["urgent"] = list(self.urgent)
        data["priority_factors"] = dict(self.priority_factors)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Mention:
        """Build a mention from `to_dict` output; unknown keys are an error, not ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown mention field(s): {', '.join(unknown)}")
        values = dict(data)
        for key in ("published_at", "seen_at"):
            if isinstance(values.get(key), str):
                values[key] = datetime.fromisoformat(values[key])
        if isinstance(values.get("author"), Mapping):
            values["author"] = Author(**values["author"])
        if isinstance(values.get("metrics"), Mapping):
            values["metrics"] = Metrics(**values["metrics"])
        if isinstance(values.get("sentiment"), Mapping):
            values["sentiment"] = Sentiment(**values["sentiment"])
        for key in ("watches", "urgent"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)
