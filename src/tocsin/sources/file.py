"""Sources that read local files: `ImportSource` (JSONL/CSV exports) and `ReplaySource`.

Both resume from a line-number cursor and turn a broken line into an `IngestError` that names
the file, the line, the problem and the fix, while every good line around it goes through.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from tocsin.hookspecs import hookimpl
from tocsin.mention import Author, Mention, Metrics, make_id
from tocsin.normalise import clean_text, to_utc
from tocsin.sources.base import Batch, IngestError, RawItem, Source, SourceOptions

__all__ = ["ImportOptions", "ImportSource", "ReplayOptions", "ReplaySource"]

_AUTHOR_FIELDS = {"handle": str, "name": str, "followers": int, "verified": bool, "url": str}
_METRIC_FIELDS = {"likes": int, "reposts": int, "replies": int, "quotes": int, "views": int}
_PLAIN_FIELDS = ("url", "text", "title", "lang", "parent_id", "thread_id")
_MENTION_KEYS = frozenset({"id", "source", "url", "text", "published_at", "seen_at"})
ProgressCallback = Callable[[int, int], None]


class ImportOptions(SourceOptions):
    """Options of a file import."""

    path: str
    format: Literal["jsonl", "csv"] | None = Field(None, description="default: by extension")
    mapping: dict[str, str] = Field(default_factory=dict, description="tocsin field → key")
    source_name: str = Field("import", min_length=1, pattern=r"^[^:]+$")
    id_field: str | None = Field(None, description="key of the native id (default: id)")
    encoding: str = "utf-8"
    batch_size: int = Field(500, gt=0)


class _FileSource(Source):
    """Shared plumbing: a path, byte progress for the CLI, and line reading with errors."""

    options: Any
    on_progress: ProgressCallback | None = None

    @property
    def path(self) -> Path:
        return Path(self.options.path)

    def describe(self) -> str:
        """The file path."""
        return str(self.path)

    def total_bytes(self) -> int:
        """Size of the file, for a progress bar (see `bytes_read` and `on_progress`)."""
        return self.path.stat().st_size

    def total_lines(self) -> int:
        """Number of lines in the file (reads it once)."""
        with self.path.open("rb") as handle:
            return sum(1 for _ in handle)

    bytes_read: int = 0

    def _lines(self, encoding: str) -> Iterator[tuple[int, str | None, bytes]]:
        """Yield ``(line number, text or None if undecodable, raw bytes)`` and track progress."""
        total = self.total_bytes()
        with self.path.open("rb") as handle:
            for number, raw in enumerate(handle, 1):
                self.bytes_read += len(raw)
                if self.on_progress is not None:
                    self.on_progress(self.bytes_read, total)
                try:
                    yield number, raw.decode(encoding).rstrip("\r\n"), raw
                except UnicodeDecodeError:
                    yield number, None, raw

    def _error(self, number: int, message: str, raw: bytes | str) -> IngestError:
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        ref = f"{self.path} line {number}"
        return IngestError(self.key, ref, message, text.rstrip("\r\n"), self.clock.now())


class ImportSource(_FileSource):
    """Imports an export file once; see `description`."""

    name = "import"
    description = """\
Import a file of past mentions: **JSONL** (one JSON object per line) or **CSV** (first row is
the header), chosen by extension or the `format` option.

A line that is a `Mention.to_dict()` is read as is. Any other record is read through `mapping`
(tocsin field → column or dotted JSON key), e.g.
`{"text": "body", "url": "link", "published_at": "created", "author.handle": "user.screen_name"}`.
Records without a platform get `source_name`; the native id comes from `id_field` (default
`id`), else a hash of url and text. Resumable: the cursor is the last line read.
"""
    Options = ImportOptions
    options: ImportOptions

    def _format(self) -> str:
        if self.options.format:
            return self.options.format
        return "csv" if self.path.suffix.lower() in (".csv", ".tsv") else "jsonl"

    async def stream(self, cursor: str | None) -> AsyncIterator[Batch]:
        """Yield batches of `batch_size` records after line `cursor`, then stop."""
        start = _line_cursor(cursor)
        items: list[RawItem] = []
        errors: list[IngestError] = []
        last = start
        for number, record, problem, raw in self._records(start):
            last = number
            if problem is None:
                try:
                    item = RawItem(self.key, "", {"record": record, "line": number})
                    mention = self.normalise(item)
                    ref = f"{self.path} line {number}"
                    items.append(RawItem(self.key, mention.native_id, item.payload, ref))
                except (ValueError, TypeError, AttributeError) as exc:
                    problem = f"{exc}; fix the line or the `mapping` option"
            if problem is not None:
                errors.append(self._error(number, problem, raw))
            if len(items) + len(errors) >= self.options.batch_size:
                yield Batch(tuple(items), str(last), tuple(errors))
                items, errors = [], []
        if items or errors or last != start:
            yield Batch(tuple(items), str(last), tuple(errors))

    def _records(self, start: int) -> Iterator[tuple[int, dict[str, Any], str | None, str]]:
        """``(line, record, problem or None, raw text)`` for every record after line `start`."""
        if self._format() == "csv":
            yield from self._csv_records(start)
            return
        for number, text, raw in self._lines(self.options.encoding):
            if number <= start:
                continue
            if text is None:
                yield number, {}, _encoding_problem(raw, self.options.encoding), _raw(raw)
                continue
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                yield number, {}, f"not valid JSON ({exc}); each line must be one object", text
                continue
            if not isinstance(record, dict):
                yield number, {}, f"a JSON {type(record).__name__}, not an object", text
                continue
            yield number, record, None, text

    def _csv_records(self, start: int) -> Iterator[tuple[int, dict[str, Any], str | None, str]]:
        """CSV rows as dicts keyed by the header; line numbers are physical lines."""
        bad: dict[int, bytes] = {}

        def texts() -> Iterator[str]:
            for number, text, raw in self._lines(self.options.encoding):
                if text is None:
                    bad[number] = raw
                    text = ""
                yield text + "\n"

        reader = csv.reader(texts())
        header: list[str] | None = None
        for row in reader:
            number = reader.line_num
            if number in bad:
                raw = bad.pop(number)
                if number > start:
                    yield number, {}, _encoding_problem(raw, self.options.encoding), _raw(raw)
                continue
            if header is None:
                header = [h.strip() for h in row]
                continue
            if number <= start or not any(cell.strip() for cell in row):
                continue
            text = ",".join(row)
            if len(row) != len(header):
                problem = f"has {len(row)} columns but the header has {len(header)}"
                yield number, {}, problem + "; check quoting and separators", text
                continue
            yield number, dict(zip(header, row, strict=True)), None, text

    def normalise(self, item: RawItem) -> Mention:
        """A `Mention.to_dict()` as is, anything else through `mapping`."""
        record = item.payload["record"]
        if record.keys() >= _MENTION_KEYS and isinstance(record.get("author", {}), Mapping):
            return Mention.from_dict(record)
        return _mapped(record, self.options, self.clock.now())


def _mapped(record: Mapping[str, Any], opts: ImportOptions, now: Any) -> Mention:
    """Build a mention from any record through ``opts.mapping`` (identity where unmapped)."""

    def get(field: str) -> Any:
        return _lookup(record, opts.mapping.get(field, field))

    text = get("text")
    if not isinstance(text, str) or not text.strip():
        key = opts.mapping.get("text", "text")
        raise ValueError(f"no text (looked for key {key!r}); map it with mapping={{'text': ...}}")
    published = get("published_at")
    if published in (None, ""):
        key = opts.mapping.get("published_at", "published_at")
        raise ValueError(f"no published_at (looked for key {key!r}); map the date column")
    values: dict[str, Any] = {f: _str_or_none(get(f)) for f in _PLAIN_FIELDS}
    source = str(get("source") or opts.source_name)
    native = get(opts.id_field) if opts.id_field else _lookup(record, opts.mapping.get("id", "id"))
    if native in (None, ""):
        native = hashlib.sha256(f"{values['url'] or ''}\x00{text}".encode()).hexdigest()[:24]
    seen = get("seen_at")
    return Mention(
        id=make_id(source, str(native)),
        source=source,
        url=values["url"] or "",
        text=clean_text(text),
        title=clean_text(values["title"] or ""),
        lang=values["lang"] or None,
        parent_id=values["parent_id"] or None,
        thread_id=values["thread_id"] or None,
        published_at=to_utc(_maybe_number(published)),
        seen_at=to_utc(_maybe_number(seen)) if seen not in (None, "") else now,
        author=Author(**_typed(get, "author", _AUTHOR_FIELDS)),
        metrics=Metrics(**_typed(get, "metrics", _METRIC_FIELDS)),
        raw=dict(record),
    )


def _typed(get: Callable[[str], Any], prefix: str, fields: Mapping[str, type]) -> dict[str, Any]:
    """``author.*`` / ``metrics.*`` values converted to their types; absent ones left out."""
    out: dict[str, Any] = {}
    for name, kind in fields.items():
        value = get(f"{prefix}.{name}")
        if value in (None, ""):
            continue
        if kind is bool:
            out[name] = str(value).strip().lower() in ("1", "true", "yes", "y")
        elif kind is int:
            try:
                out[name] = int(float(value))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{prefix}.{name} {value!r} is not a number") from exc
        else:
            out[name] = str(value)
    return out


def _lookup(record: Mapping[str, Any], key: str) -> Any:
    """``record[key]``, else follow a dotted path through nested objects; None if absent."""
    if key in record:
        return record[key]
    current: Any = record
    for part in key.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _maybe_number(value: Any) -> Any:
    """Epoch seconds given as a string (CSV) become a number; anything else is unchanged."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _encoding_problem(raw: bytes, encoding: str) -> str:
    try:
        raw.decode(encoding)
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1].hex()
        return (
            f"is not valid {encoding} (byte 0x{bad} at position {exc.start}); re-save the file "
            f"as UTF-8 or set `encoding` in the options (e.g. 'latin-1')"
        )
    return f"could not be decoded as {encoding}"


def _raw(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").rstrip("\r\n")


def _line_cursor(cursor: str | None) -> int:
    """The line-number cursor; anything else is an error naming the bad value."""
    if cursor in (None, ""):
        return 0
    try:
        value = int(str(cursor))
    except ValueError as exc:
        raise ValueError(f"file cursor {cursor!r} is not a line number") from exc
    return max(value, 0)


class ReplayOptions(SourceOptions):
    """Options of a replay."""

    path: str
    speed: float = Field(
        1.0, ge=0, description="1 = original pace, 10 = ten times faster, 0 = no waits"
    )
    batch_size: int = Field(500, gt=0)


class ReplaySource(_FileSource):
    """Replays a recording of mentions at their original pace; see `description`."""

    name = "replay"
    description = """\
Replay a **JSONL recording** of mentions (one `Mention.to_dict()` per line), waiting between
items as long as their `published_at` times are apart, divided by `speed` (`speed = 0`: no
waits). Useful to test watches, detectors and alerts against a past crisis.
"""
    Options = ReplayOptions
    options: ReplayOptions

    async def stream(self, cursor: str | None) -> AsyncIterator[Batch]:
        """Yield mentions after line `cursor`, paced by their `published_at` gaps."""
        start = _line_cursor(cursor)
        pending: list[RawItem] = []
        errors: list[IngestError] = []
        previous = None
        last = start
        for number, text, raw in self._lines("utf-8"):
            if number <= start or (text is not None and not text.strip()):
                continue
            try:
                mention = _replayed(text)
            except (ValueError, TypeError, AttributeError) as exc:
                hint = f"{exc}; each line must be a Mention.to_dict()"
                errors.append(self._error(number, hint, raw))
                last = number
                continue
            wait = self._wait(previous, mention)
            if wait > 0 and (pending or errors):
                yield Batch(tuple(pending), str(last), tuple(errors))
                pending, errors = [], []
            if wait > 0:
                await self.clock.sleep(wait)
            previous, last = mention, number
            payload = {"mention": mention.to_dict(), "line": number}
            pending.append(
                RawItem(self.key, mention.native_id, payload, f"{self.path} line {number}")
            )
            if len(pending) >= self.options.batch_size:
                yield Batch(tuple(pending), str(last), tuple(errors))
                pending, errors = [], []
        if pending or errors:
            yield Batch(tuple(pending), str(last), tuple(errors))

    def _wait(self, previous: Mention | None, mention: Mention) -> float:
        if previous is None or self.options.speed == 0:
            return 0.0
        gap = (mention.published_at - previous.published_at).total_seconds()
        return max(gap, 0.0) / self.options.speed

    def normalise(self, item: RawItem) -> Mention:
        """The recorded mention, unchanged."""
        return Mention.from_dict(item.payload["mention"])


def _replayed(text: str | None) -> Mention:
    if text is None:
        raise ValueError("line is not valid UTF-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"a JSON {type(data).__name__}, not an object")
    return Mention.from_dict(data)


@hookimpl
def tocsin_sources() -> list[type[Source]]:
    """The built-in file sources."""
    return [ImportSource, ReplaySource]
