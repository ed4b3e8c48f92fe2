"""What every source is: a named, described plugin with typed options that streams raw items.

A source only fetches and parses its platform's format. It yields `Batch`es of `RawItem`s with
the cursor that resumes *after* them; the pipeline normalises each item with
`Source.normalise`, stores the batch, and only then commits the cursor. A malformed item
becomes an `IngestError` (kept with its raw text for inspection) and never stops the batch.
"""

from __future__ import annotations

import abc
import os
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, ClassVar

import httpx
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo, field_validator

from tocsin.clock import Clock
from tocsin.configerror import custom_error
from tocsin.mention import Mention
from tocsin.normalise import canonical_url
from tocsin.redaction import is_secret_key

__all__ = [
    "ENV_PREFIX",
    "ApiRoot",
    "Batch",
    "IngestError",
    "PollingSource",
    "RawItem",
    "Source",
    "SourceError",
    "SourceHealth",
    "SourceOptions",
    "WebUrl",
    "Words",
    "read_env_option",
]


def _web_url(value: str) -> str:
    canonical_url(value)  # raises ValueError: only absolute http(s) URLs
    return value.strip()


def _api_root(value: str) -> str:
    return _web_url(value).rstrip("/")


def _words(value: str) -> str:
    if not value.strip():
        raise ValueError("query is blank; give the words to search, e.g. query = 'Acme'")
    return value.strip()


ENV_PREFIX = "env:"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _is_secret_option(cls: type[BaseModel], name: str) -> bool:
    field_info = cls.model_fields.get(name)
    annotation = field_info.annotation if field_info is not None else None
    return is_secret_key(name) or "SecretStr" in str(annotation)


def read_env_option(option: str, value: str, context: object = None) -> str:
    """The value of ``env:NAME`` for `option`, from ``context["env"]`` if the validation was
    given one, else from the process environment; a clear error when it is not set."""
    variable = value.removeprefix(ENV_PREFIX).strip()
    if not _ENV_NAME.fullmatch(variable):
        raise custom_error(
            "env_option",
            f'`{option}` = "env:…" does not name an environment variable',
            f'write `{option} = "env:NAME"` with NAME made of letters, digits and _, '
            f'e.g. "env:TOCSIN_{option.upper()}"',
        )
    env = context.get("env") if isinstance(context, Mapping) else None
    found = (env if isinstance(env, Mapping) else os.environ).get(variable)
    if not found:
        state = "is empty" if found == "" else "is not set"
        raise custom_error(
            "env_option_missing",
            f"`{option}` is read from the environment variable {variable}, which {state}",
            f"set {variable} in the environment tocsin runs in (e.g. `export {variable}=…`, "
            "a systemd EnvironmentFile or a container secret), or write the value itself",
        )
    return found


WebUrl = Annotated[str, AfterValidator(_web_url)]
"""An option holding an absolute http(s) URL (a feed, a page)."""
ApiRoot = Annotated[str, AfterValidator(_api_root)]
"""An option holding the http(s) root of an API, without its trailing slash."""
Words = Annotated[str, AfterValidator(_words)]
"""A non-blank search query, stripped."""


class SourceOptions(BaseModel):
    """Base of every source's typed options; unknown keys are an error (typos must not pass).

    A secret option (a `SecretStr`, or a name such as ``api_key``, ``client_secret``,
    ``password``: see `tocsin.redaction.is_secret_key`), and any option named in `ENV_OPTIONS`,
    may be written ``"env:NAME"``: its value is then read from the environment variable
    ``NAME`` when the options are validated, so the secret never sits in ``tocsin.toml``. A
    missing or empty variable is an error naming it and the option; the value itself is never
    shown (``hide_input_in_errors``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    ENV_OPTIONS: ClassVar[frozenset[str]] = frozenset()
    """Options that are not secret but may also be read from the environment (``env:NAME``)."""

    @field_validator("*", mode="before")
    @classmethod
    def _from_environment(cls, value: Any, info: ValidationInfo) -> Any:
        name = info.field_name or ""
        if not (isinstance(value, str) and value.startswith(ENV_PREFIX)):
            return value
        if not (name in cls.ENV_OPTIONS or _is_secret_option(cls, name)):
            return value
        return read_env_option(name, value, info.context)


@dataclass(frozen=True, slots=True)
class RawItem:
    """One item as the platform gave it, before normalisation.

    `source` is the source instance key (e.g. ``lemonde``); `ref` says where the item came from
    in words a person can follow (``entry 3 of https://…/feed.xml``).
    """

    source: str
    native_id: str
    payload: Mapping[str, Any]
    ref: str = ""


@dataclass(frozen=True, slots=True)
class IngestError:
    """An item that could not be read, kept with its raw text so a person can inspect it."""

    source: str
    ref: str
    error: str
    raw: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Batch:
    """Items fetched together and the cursor that resumes after them (None: nothing to keep)."""

    items: tuple[RawItem, ...] = ()
    cursor: str | None = None
    errors: tuple[IngestError, ...] = ()
    refreshed: bool = False
    """Current versions of stored mentions (engagement refresh): stored even if no watch
    matches them any more, so their metrics stay true."""


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """How a source is doing, as recorded by the pipeline."""

    source: str
    platform: str
    last_success_at: datetime | None = None
    last_error_at: datetime | None = None
    last_error: str | None = None
    items_total: int = 0
    items_per_minute: float = 0.0
    consecutive_failures: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)


class SourceError(Exception):
    """A fetch failed in a way worth retrying later.

    `retry_after` (seconds) is honoured by the pipeline's backoff, e.g. from an HTTP 429.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Source(abc.ABC):
    """A platform to listen to. Subclasses set `name`, `description` and `Options`."""

    name: ClassVar[str]
    description: ClassVar[str]
    Options: ClassVar[type[SourceOptions]] = SourceOptions

    def __init__(
        self,
        key: str,
        options: SourceOptions,
        *,
        client: httpx.AsyncClient | None,
        clock: Clock,
    ) -> None:
        self.key = key
        self.options = options
        self._client = client
        self.clock = clock

    @property
    def client(self) -> httpx.AsyncClient:
        """The shared HTTP client; sources that read local files are built without one."""
        if self._client is None:
            raise RuntimeError(f"source {self.key!r} ({self.name}) needs an HTTP client")
        return self._client

    @abc.abstractmethod
    def stream(self, cursor: str | None) -> AsyncIterator[Batch]:
        """Yield batches from `cursor` on, forever or until the source is exhausted."""

    @abc.abstractmethod
    def normalise(self, item: RawItem) -> Mention:
        """Turn one raw item into a `Mention`; raise `ValueError` with a clear message if bad."""

    def describe(self) -> str:
        """One line for tables: what this instance listens to."""
        return self.name

    async def complete(self, mentions: Sequence[Mention]) -> list[Mention]:
        """Fill in what the platform only gives on request (e.g. who a Bluesky DID is) for
        `mentions`, which matched a watch; the pipeline calls it before enrichment, so the
        cost is paid for the few posts that matter, not the whole stream. One mention per
        mention, same order. By default they are already complete."""
        return list(mentions)

    #: How many items one `refresh` call may ask for.
    refresh_batch: ClassVar[int] = 100

    async def refresh(self, native_ids: Sequence[str]) -> list[RawItem] | None:
        """Fetch the current version of these items (for their metrics), or None when the
        platform cannot; the pipeline re-polls recent mentions on a decaying schedule."""
        return None

    @property
    def can_refresh(self) -> bool:
        """Whether this source's class implements `refresh`."""
        return type(self).refresh is not Source.refresh

    @classmethod
    def zero_config(cls, terms: Sequence[str]) -> list[tuple[str, SourceOptions]]:
        """Instances that listen for `terms` with no account, key or workspace, as
        ``(key, options)`` pairs, for `tocsin watch`; ``[]`` when the source needs setup."""
        return []


class PollingSource(Source):
    """A source read by repeated requests: `fetch` once, wait `poll_interval()`, repeat."""

    @abc.abstractmethod
    async def fetch(self, cursor: str | None) -> Batch:
        """Fetch what is new since `cursor`."""

    @abc.abstractmethod
    def poll_interval(self) -> float:
        """Seconds between two fetches."""

    async def stream(self, cursor: str | None) -> AsyncIterator[Batch]:
        while True:
            batch = await self.fetch(cursor)
            yield batch
            if batch.cursor is not None:
                cursor = batch.cursor
            await self.clock.sleep(self.poll_interval())
