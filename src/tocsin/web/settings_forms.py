"""The forms of the Settings pages: which fields each kind of ``[[table]]`` of tocsin.toml
shows, and how a submitted form becomes the values written back.

A form field is one key of the table. An empty field removes its key (the default applies);
a secret field is never shown back, and left empty it keeps what is set. Source options
come from the source type's own ``Options`` model, so a plugin's source gets its form for
free. Values are checked by the same validation as the file itself (`ConfigFile.save`); this
module only turns text into TOML values.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, SecretStr

from tocsin.alert import ALERT_KINDS
from tocsin.config import TAGS, Settings
from tocsin.redaction import is_secret_key

__all__ = ["SECTIONS", "Field", "Section", "form_values", "source_fields"]

FieldKind = Literal[
    "text",
    "query",
    "textarea",
    "lines",
    "bool",
    "int",
    "number",
    "secret",
    "choice",
    "choices",
    "rows",
]
_SPLIT = re.compile(r"[\n,]+")


@dataclass(frozen=True, slots=True)
class Field:
    """One key of a table, as a form field."""

    key: str
    kind: FieldKind = "text"
    choices: tuple[str, ...] = ()
    required: bool = False
    hint: str = ""  # shown under the field (the default, an example)
    default: Any = None  # what applies when the key is not written
    columns: tuple[str, ...] = ()  # "rows": the keys of each line's tables, in order
    required_columns: int = 0  # "rows": how many of them each line must give


@dataclass(frozen=True, slots=True)
class Section:
    """A kind of ``[[table]]`` editable from the Settings pages."""

    array: str  # the TOML array: "watches"
    role: str  # the least role that may change it
    fields: Callable[[Settings, Mapping[str, Any] | None], list[Field]]


def _watch_fields(settings: Settings, entry: Mapping[str, Any] | None) -> list[Field]:
    return [
        Field("query", "query", required=True, hint='e.g. "Acme" OR #acme -job'),
        Field("tags", "choices", choices=TAGS),
        Field("description", "textarea"),
        Field("enabled", "bool", default=True),
    ]


def _channel_fields(settings: Settings, entry: Mapping[str, Any] | None) -> list[Field]:
    return [
        Field(
            "urls",
            "secret",
            required=entry is None,
            hint="apprise URLs, one per line: mailto://…, slack://…, ntfy://…, json://…",
        ),
        Field("language", "choice", choices=("", "fr", "en")),
    ]


def _person_fields(settings: Settings, entry: Mapping[str, Any] | None) -> list[Field]:
    channels = tuple(c.name for c in settings.channels)
    return [
        Field("channels", "choices", choices=channels, required=True),
        Field("timezone", hint="IANA name, e.g. Europe/Paris; empty: the organisation's"),
    ]


def _oncall_fields(settings: Settings, entry: Mapping[str, Any] | None) -> list[Field]:
    people = tuple(p.name for p in settings.people)
    return [
        Field("business_hours", hint="e.g. mon-fri 09:00-18:00"),
        Field("business", "choices", choices=people),
        Field("rota", "lines", hint="people in turn, one per line: " + ", ".join(people)),
        Field("rota_start", hint="when the first of the rota starts, e.g. 2026-01-05"),
        Field("rota_days", "int", hint="days each turn lasts (7)"),
        Field("handover", hint="time of the handover, e.g. 09:00"),
        Field("timezone", hint="IANA name, e.g. Europe/Paris; empty: the organisation's"),
        Field(
            "overrides",
            "rows",
            hint="who covers for whom, one per line: person start end, "
            "e.g. alice 2026-12-24T18:00 2026-12-26T09:00",
            columns=("person", "start", "end"),
            required_columns=3,
        ),
    ]


def _escalation_fields(settings: Settings, entry: Mapping[str, Any] | None) -> list[Field]:
    return [
        Field(
            "steps",
            "rows",
            required=True,
            hint="one per line: whom (oncall:NAME, person:NAME or channel:NAME), then after "
            "how many unacknowledged minutes (0 if left out), e.g. person:alice 10",
            columns=("notify", "after_minutes"),
            required_columns=1,
        ),
    ]


def _alert_fields(settings: Settings, entry: Mapping[str, Any] | None) -> list[Field]:
    names = {
        "watches": tuple(w.name for w in settings.watches),
        "channels": tuple(c.name for c in settings.channels),
        "escalations": ("", *(e.name for e in settings.escalations)),
    }
    return [
        Field("when", "choice", choices=ALERT_KINDS, required=True),
        Field("watches", "choices", choices=names["watches"], hint="none: every watch"),
        Field("channels", "choices", choices=names["channels"]),
        Field("escalation", "choice", choices=names["escalations"]),
        Field("severity", "int", hint="1 (low) to 4 (critical); default 3"),
        Field("min_priority", "number", hint="negative_mention: default 40 (0-100)"),
        Field("growth_per_hour", "number", hint="story_growth: mentions per hour, default 20"),
        Field("min_level", "int", hint="crisis_level: 1 to 4, default 3"),
        Field("reasons", "lines", hint="urgent: which urgent reasons (all if empty)"),
        Field("throttle_minutes", "int", hint="at most one alert per key this often; 60"),
        Field("quiet_hours", hint="e.g. 22:00-07:00: only severity ≥ quiet_min_severity pages"),
        Field("quiet_min_severity", "int", hint="default 4"),
        Field("enabled", "bool", default=True),
    ]


def source_fields(options: type[BaseModel]) -> list[Field]:
    """A field per option of a source type's ``Options`` model."""
    found = []
    for key, info in options.model_fields.items():
        kind = _kind(info.annotation)
        if is_secret_key(key) or kind == "secret":
            kind = "secret"
        default = info.get_default(call_default_factory=True)
        hint = "" if default in (None, "", [], ()) else f"default: {_show(default)}"
        if info.description:
            hint = f"{info.description} {hint}".strip()
        found.append(Field(key, kind, required=info.is_required(), hint=hint, default=default))
    return found


def _kind(annotation: Any) -> FieldKind:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return _kind(args[0])
    if typing.get_origin(annotation) is typing.Annotated:
        return _kind(args[0])
    if annotation is bool:
        return "bool"
    if annotation is int:
        return "int"
    if annotation is float:
        return "number"
    if annotation is SecretStr:
        return "secret"
    if typing.get_origin(annotation) in (list, tuple, set, frozenset):
        return "lines"
    return "text"


def _show(value: Any) -> str:
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(str(v) for v in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


SECTIONS: Mapping[str, Section] = {
    s.array: s
    for s in (
        Section("watches", "lead", _watch_fields),
        Section("channels", "admin", _channel_fields),
        Section("people", "admin", _person_fields),
        Section("oncall", "admin", _oncall_fields),
        Section("escalations", "admin", _escalation_fields),
        Section("alerts", "admin", _alert_fields),
    )
}


def form_values(
    fields: Sequence[Field],
    form: Mapping[str, Sequence[str]],
    existing: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """The values to write (None removes a key; a secret left empty is not in them) and the
    mistakes found by field. `form` maps a key to every value submitted for it. A key that
    `existing` (the table as written) does not have is not added with its default value."""
    values, errors = _parse(fields, form)
    written = existing or {}
    for field in fields:
        value = values.get(field.key)
        if field.key in values and field.key not in written and value in (None, field.default):
            del values[field.key]
    return values, errors


def _parse(
    fields: Sequence[Field], form: Mapping[str, Sequence[str]]
) -> tuple[dict[str, Any], dict[str, str]]:
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in fields:
        given = [v.strip() for v in form.get(field.key, ())]
        first = given[0] if given else ""
        if field.kind == "bool":
            values[field.key] = "on" in given or "true" in given
        elif field.kind == "choices":
            picked = [v for v in given if v]
            bad = [v for v in picked if v not in field.choices]
            if bad:
                errors[field.key] = f"unknown: {', '.join(bad)}"
            values[field.key] = picked or None
        elif field.kind in ("lines", "secret"):
            items = [v.strip() for v in _SPLIT.split("\n".join(given)) if v.strip()]
            if field.kind == "secret" and not items:
                continue  # keep what is set
            values[field.key] = items or None
        elif field.kind == "rows":
            rows = [line.split() for line in "\n".join(given).splitlines() if line.strip()]
            fits = range(field.required_columns, len(field.columns) + 1)
            bad = [" ".join(row) for row in rows if len(row) not in fits]
            if bad:
                errors[field.key] = f"write {' '.join(field.columns)} on each line, not: {bad[0]!r}"
            tables = [
                {c: int(v) if v.isdigit() else v for c, v in zip(field.columns, row, strict=False)}
                for row in rows
                if len(row) in fits
            ]
            values[field.key] = tables or None
        elif field.kind in ("int", "number"):
            if not first:
                values[field.key] = None
                continue
            try:
                values[field.key] = int(first) if field.kind == "int" else float(first)
            except ValueError:
                errors[field.key] = f"{first!r} is not a number"
        else:
            values[field.key] = first or None
        if field.required and values.get(field.key) in (None, [], "") and field.key not in errors:
            errors[field.key] = "required"
    return values, errors
