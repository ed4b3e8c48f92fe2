"""Typed settings of a workspace: ``tocsin.toml`` plus ``TOCSIN_*`` environment overrides.

`load_settings(workspace)` reads ``workspace / "tocsin.toml"``, applies the environment
(`TOCSIN_<SECTION>_<KEY>` for the keys of the single-table sections: organisation, database,
retention, run, enrich, web, notify), replaces ``{organisation}`` / ``{organisation_tag}`` in
watch queries and source options, and validates everything at once. Every model forbids unknown
keys, so a typo is an error with a did-you-mean. Any problem raises `ConfigError`, whose
message names the file, the line, the key path, what is wrong and the fix, for every problem
found.

Source tables (``[[sources]]``) hold ``type``, ``name``, ``enabled`` and the options of that
source type, validated against the source class's ``Options`` model found through the plugin
manager.
"""

from __future__ import annotations

import importlib
import os
import re
import tomllib
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pluggy
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from tocsin.configenv import apply_env, env_keys, substitute_organisation, typo_env_vars
from tocsin.configerror import (
    ConfigError,
    Problem,
    custom_error,
    did_you_mean,
    problems_from_validation,
    toml_syntax_problem,
)
from tocsin.confignotify import AlertRule, Channel, Escalation, Notify, OnCall, Person
from tocsin.configsource import Slug, SourceConfig, check_unique_names
from tocsin.redaction import redact_url
from tocsin.sources.base import SourceOptions

__all__ = [
    "CONFIG_FILE",
    "LANGUAGES",
    "TAGS",
    "ConfigError",
    "Database",
    "Enrich",
    "Organisation",
    "Problem",
    "Retention",
    "Run",
    "Settings",
    "SourceConfig",
    "Watch",
    "Web",
    "known_env_vars",
    "load_settings",
    "settings_from_text",
    "unknown_env_vars",
]

CONFIG_FILE = "tocsin.toml"
TAGS = ("brand", "product", "competitor", "executive", "crisis", "campaign", "other")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# ISO 639-1: every two-letter language code.
_ISO_639_1 = """
    aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv
    cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht
    hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la
    lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj
    om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv
    sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh
    zu"""
LANGUAGES = frozenset(_ISO_639_1.split())


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class Organisation(_Section):
    """Who is listening: the name (used by ``{organisation}``), languages, time zone."""

    name: str = Field(min_length=1)
    languages: list[str] = Field(default_factory=lambda: ["fr", "en"], min_length=1)
    timezone: str = "UTC"

    @field_validator("languages")
    @classmethod
    def _iso_639_1(cls, value: list[str]) -> list[str]:
        out: list[str] = []
        for code in (v.strip().lower() for v in value):
            if code not in LANGUAGES:
                raise custom_error(
                    "language",
                    f"{code!r} is not an ISO 639-1 language code{did_you_mean(code, LANGUAGES)}",
                    'use two-letter codes, e.g. languages = ["fr", "en", "de"]',
                )
            if code not in out:
                out.append(code)
        return out

    @field_validator("timezone")
    @classmethod
    def _iana(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            hint = did_you_mean(value, zoneinfo.available_timezones())
            raise custom_error(
                "timezone",
                f"{value!r} is not a known IANA time zone{hint}",
                'use a name like timezone = "Europe/Paris" or "America/New_York"',
            ) from None
        return value


class Database(_Section):
    """Where mentions are stored: SQLite (relative paths are in the workspace) or PostgreSQL."""

    url: str = "sqlite:///tocsin.db"

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", value):
            raise custom_error(
                "database_url",
                f"unsupported database URL {redact_url(value)!r}",
                'use url = "sqlite:///tocsin.db" or "postgresql://user:password@host:5432/tocsin"',
            )
        return value

    def __repr_args__(self) -> Any:
        yield "url", redact_url(self.url)


class Watch(_Section):
    """A named Boolean query; each mention it matches is tagged with the watch's name."""

    name: Slug
    query: str = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)
    description: str = ""
    enabled: bool = True

    @field_validator("query")
    @classmethod
    def _parses(cls, value: str) -> str:
        check_query(value)
        return value

    @field_validator("tags")
    @classmethod
    def _known_tags(cls, value: list[str]) -> list[str]:
        for tag in value:
            if tag not in TAGS:
                raise custom_error(
                    "tag",
                    f"unknown tag {tag!r}{did_you_mean(tag, TAGS)}",
                    f"use tags from: {', '.join(TAGS)}",
                )
        return value


def check_query(text: str) -> None:
    """Parse `text` with `tocsin.query.parse`; skipped while the query parser is not there."""
    try:
        parser = importlib.import_module("tocsin.query.parser")
    except ModuleNotFoundError as exc:
        if exc.name in ("tocsin.query.parser", "tocsin.query"):
            return
        raise
    try:
        parser.parse(text)
    except parser.QueryError as exc:
        message = str(exc)
        pos = getattr(exc, "column", getattr(exc, "pos", None))
        if "^" not in message and isinstance(pos, int):
            message += f"\n{text}\n{' ' * pos}^"
        hint = getattr(exc, "suggestion", "")
        if hint:
            message = message.replace(f"\nhint: {hint}", "")
        syntax = (
            'terms, "phrases", AND / OR / NOT, NEAR/n, (parentheses); see `tocsin query --help`'
        )
        raise custom_error(
            "query",
            message,
            f"{hint} ({syntax})" if hint else f"correct the query: {syntax}",
        ) from None


class Retention(_Section):
    """How long stored data is kept, in days."""

    mentions_days: int = Field(default=365, gt=0)
    errors_days: int = Field(default=30, gt=0)


class Run(_Section):
    """How `tocsin run` behaves: logging, batching, backpressure, shutdown."""

    log_level: str = "INFO"
    batch_size: int = Field(default=200, gt=0)
    queue_size: int = Field(default=1000, gt=0)
    shutdown_timeout: float = Field(default=30.0, gt=0)

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise custom_error(
                "log_level",
                f"unknown log level {value!r}",
                f"use one of {', '.join(LOG_LEVELS)}",
            )
        return level


SENTIMENT_MODES = ("default", "accurate", "onnx")


class Enrich(_Section):
    """How mentions are understood: the sentiment model, stories, and how priority weighs."""

    sentiment: str = "default"
    sentiment_model_path: str = ""
    story_window_hours: int = Field(default=72, gt=0, le=24 * 30)
    negative_retelling: float = Field(default=10.0, ge=1)
    positive_retelling: float = Field(default=3.0, ge=1)

    @field_validator("sentiment")
    @classmethod
    def _mode(cls, value: str) -> str:
        if value not in SENTIMENT_MODES:
            raise custom_error(
                "sentiment_mode",
                f"unknown sentiment mode {value!r}{did_you_mean(value, SENTIMENT_MODES)}",
                'use sentiment = "default" (shipped model), "accurate" (needs '
                "pip install 'tocsin[accurate]') or \"onnx\" with sentiment_model_path",
            )
        return value

    @model_validator(mode="after")
    def _onnx_needs_a_path(self) -> Enrich:
        if self.sentiment == "onnx" and not self.sentiment_model_path:
            raise custom_error(
                "sentiment_model_path",
                'sentiment = "onnx" needs the folder of an exported model',
                'set sentiment_model_path = "/path/to/model" (model.onnx, tokenizer.json, '
                "config.json), or use the default mode",
            )
        return self


class Web(_Section):
    """Where the web app listens."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, gt=0, lt=65536)


class Settings(_Section):
    """Everything in ``tocsin.toml``, validated."""

    organisation: Organisation
    database: Database = Field(default_factory=Database)
    watches: list[Watch] = Field(default_factory=list)
    sources: list[SourceConfig] = Field(default_factory=list)
    retention: Retention = Field(default_factory=Retention)
    run: Run = Field(default_factory=Run)
    enrich: Enrich = Field(default_factory=Enrich)
    web: Web = Field(default_factory=Web)
    notify: Notify = Field(default_factory=Notify)
    channels: list[Channel] = Field(default_factory=list)
    people: list[Person] = Field(default_factory=list)
    oncall: list[OnCall] = Field(default_factory=list)
    escalations: list[Escalation] = Field(default_factory=list)
    alerts: list[AlertRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> Settings:
        """Every channel, person, schedule, escalation and watch named exists."""
        known = {
            "channel": {c.name for c in self.channels},
            "person": {p.name for p in self.people},
            "oncall": {o.name for o in self.oncall},
            "escalation": {e.name for e in self.escalations},
            "watch": {w.name for w in self.watches},
        }
        wanted: list[tuple[str, str, str]] = []  # (kind, name, where)
        for p in self.people:
            wanted += [("channel", c, f"people {p.name!r}") for c in p.channels]
        for o in self.oncall:
            names = [*o.business, *o.rota, *(x.person for x in o.overrides)]
            wanted += [("person", n, f"oncall {o.name!r}") for n in names]
        for e in self.escalations:
            for step in e.steps:
                kind, _, name = step.notify.partition(":")
                wanted.append((kind, name, f"escalations {e.name!r}"))
        for r in self.alerts:
            wanted += [("channel", c, f"alerts {r.name!r}") for c in r.channels]
            wanted += [("watch", w, f"alerts {r.name!r}") for w in r.watches]
            if r.escalation:
                wanted.append(("escalation", r.escalation, f"alerts {r.name!r}"))
        wanted += [("channel", c, "notify") for c in self.notify.digest_channels]
        for kind, name, where in wanted:
            if name not in known[kind]:
                raise custom_error(
                    "unknown_reference",
                    f"{where} names the {kind} {name!r}, which is not defined"
                    f"{did_you_mean(name, known[kind])}",
                    f"define it in a [[{_TABLES[kind]}]] table, or correct the name",
                )
        return self

    @field_validator(
        "watches",
        "sources",
        "channels",
        "people",
        "oncall",
        "escalations",
        "alerts",
        mode="wrap",
    )
    @classmethod
    def _unique(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        return check_unique_names(value, handler)

    def database_url_for(self, workspace: Path) -> str:
        """The database URL with a relative SQLite path made absolute inside `workspace`."""
        match = re.match(r"^(sqlite(?:\+\w+)?):///([^?]*)(\?.*)?$", self.database.url)
        if not match:
            return self.database.url
        scheme, path, query = match.group(1), match.group(2), match.group(3) or ""
        if path in ("", ":memory:") or path.startswith("/") or Path(path).is_absolute():
            return self.database.url
        return f"{scheme}:///{(Path(workspace) / path).absolute()}{query}"

    def source_configs(self, *, enabled_only: bool = True) -> list[tuple[str, str, SourceOptions]]:
        """``(type, name, options)`` for each source, the disabled ones left out by default."""
        return [(s.type, s.name, s.options) for s in self.sources if s.enabled or not enabled_only]

    def enabled_watches(self) -> list[Watch]:
        """The watches to match mentions against."""
        return [watch for watch in self.watches if watch.enabled]


_TABLES = {
    "channel": "channels",
    "person": "people",
    "oncall": "oncall",
    "escalation": "escalations",
    "watch": "watches",
}


def _read(file: Path) -> str:
    if not file.is_file():
        raise ConfigError(
            file,
            [
                Problem(
                    path="",
                    message=f"no {CONFIG_FILE} in {file.parent}",
                    fix="run `tocsin init` there first, or point --workspace / "
                    "TOCSIN_WORKSPACE at a folder that has one",
                )
            ],
        )
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problem = Problem(
            path="", message=f"not valid UTF-8 text ({exc.reason})", fix="save it as UTF-8"
        )
        raise ConfigError(file, [problem]) from None


def load_settings(
    workspace: Path,
    *,
    env: Mapping[str, str] = os.environ,
    plugin_manager: pluggy.PluginManager | None = None,
) -> Settings:
    """Read, override from `env`, and validate ``workspace / "tocsin.toml"``.

    Raises `ConfigError` listing every problem at once.
    """
    file = Path(workspace) / CONFIG_FILE
    return settings_from_text(_read(file), file, env=env, plugin_manager=plugin_manager)


def settings_from_text(
    text: str,
    file: Path,
    *,
    env: Mapping[str, str] = os.environ,
    plugin_manager: pluggy.PluginManager | None = None,
) -> Settings:
    """The settings that `text` would give as the contents of `file` (which is not read):
    how `load_settings` checks a file, and how a change is checked before it is written."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, [toml_syntax_problem(text, exc)]) from None
    data, origins = apply_env(data, env, Settings)
    data = substitute_organisation(data)
    from tocsin.plugins import source_classes

    context = {"source_classes": source_classes(plugin_manager), "env": env}
    try:
        return Settings.model_validate(data, context=context)
    except ValidationError as exc:
        problems = problems_from_validation(exc, root=Settings, text=text, env_origins=origins)
        raise ConfigError(file, problems) from None


def known_env_vars() -> list[str]:
    """Every ``TOCSIN_*`` variable that overrides a setting."""
    return sorted(env_keys(Settings))


def unknown_env_vars(env: Mapping[str, str] = os.environ) -> list[str]:
    """Warnings for ``TOCSIN_*`` variables that look like a mistyped setting (they are ignored).

    Other unknown ``TOCSIN_*`` variables, ``TOCSIN_TEST_*``, ``TOCSIN_WORKSPACE`` and
    ``TOCSIN_REQUIRE_SERVICES`` give no warning.
    """
    return typo_env_vars(env, Settings)
