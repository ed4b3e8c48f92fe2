"""Change ``tocsin.toml`` from the program (the web Settings pages) and keep it the one source
of truth.

A change is made on the parsed document (tomlkit keeps the comments and the layout of a
hand-written file), checked whole exactly as `load_settings` checks it, and only then written,
atomically: a temporary file beside it, flushed to disk, then renamed over it, with the
previous text kept as ``tocsin.toml.bak`` and the file's permissions kept (it may hold
secrets). A page carries the `version` (SHA-256 of the text) it was drawn from; a save from
a page older than the file is refused with `ConfigConflict`, so two people editing at once
never overwrite each other silently. `tocsin run` notices the new file and applies it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy
import tomlkit
from tomlkit.container import Container
from tomlkit.items import AoT, Comment, InlineTable, Item, Table, Whitespace

from tocsin.config import CONFIG_FILE, Settings, settings_from_text

__all__ = [
    "ConfigConflict",
    "ConfigFile",
    "Draft",
    "entries",
    "find_entry",
    "remove_entry",
    "set_entry",
]

_LOCK = threading.Lock()  # one writer at a time within the process


class ConfigConflict(Exception):
    """The file changed since the page that asks for a change was drawn."""


def _version(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class Draft:
    """The document being changed, and the version of the file it was read from."""

    doc: tomlkit.TOMLDocument
    version: str


@dataclass
class ConfigFile:
    """The ``tocsin.toml`` of `workspace`, read and written as a whole."""

    workspace: Path
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    plugin_manager: pluggy.PluginManager | None = None

    @property
    def path(self) -> Path:
        return Path(self.workspace) / CONFIG_FILE

    def read(self) -> Draft:
        """The current document and its version."""
        text = self.path.read_text(encoding="utf-8")
        return Draft(tomlkit.parse(text), _version(text))

    def version(self) -> str:
        """The version (SHA-256) of the file as it is now."""
        return _version(self.path.read_text(encoding="utf-8"))

    def save(self, draft: Draft) -> Settings:
        """Check `draft` whole, then write it in place of the file (atomically).

        Raises `ConfigError` (nothing written) when the result is not valid, and
        `ConfigConflict` when the file changed since `draft` was read.
        """
        text = tomlkit.dumps(draft.doc)
        settings = settings_from_text(
            text, self.path, env=self.env, plugin_manager=self.plugin_manager
        )
        with _LOCK:
            current = self.path.read_text(encoding="utf-8")
            if _version(current) != draft.version:
                raise ConfigConflict(
                    f"{self.path} changed since this page was opened (someone saved, or the "
                    "file was edited): reload the page and make the change again"
                )
            _write_atomically(self.path, text, backup=current)
        return settings


def _write_atomically(path: Path, text: str, *, backup: str) -> None:
    mode = path.stat().st_mode & 0o777
    _replace(path.with_name(path.name + ".bak"), backup, mode)
    _replace(path, text, mode)


def _replace(path: Path, text: str, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


# -- editing the [[tables]] of a document --------------------------------------------------


def entries(doc: tomlkit.TOMLDocument, array: str) -> list[dict[str, Any]]:
    """The tables of ``[[array]]`` as plain values, as written (before any substitution)."""
    found = doc.get(array)
    if not isinstance(found, list):
        return []
    return [item.unwrap() for item in found if isinstance(item, Table | InlineTable)]


def find_entry(doc: tomlkit.TOMLDocument, array: str, name: str) -> dict[str, Any] | None:
    """The table of ``[[array]]`` named `name`, as plain values, or None."""
    return next((e for e in entries(doc, array) if e.get("name") == name), None)


def set_entry(
    doc: tomlkit.TOMLDocument, array: str, name: str, values: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Set `values` in the table of ``[[array]]`` named `name` (created at the end of the
    array when there is none); a value of None removes its key. Returns the table as it was
    before (None when created). Keys not in `values`, and comments, are kept."""
    tables = _tables(doc, array)
    for table in tables:
        if table.get("name") == name:
            before: dict[str, Any] = table.unwrap()
            for key, value in values.items():
                if value is None:
                    if key in table:
                        del table[key]
                else:
                    table[key] = value
            return before
    table = tomlkit.table()
    table["name"] = name
    for key, value in values.items():
        if value is not None and key != "name":
            table[key] = value
    if tables:
        _move_trailing(tables[-1], table)  # the comments that lead into the next section
    tables.append(table)
    return None


def remove_entry(doc: tomlkit.TOMLDocument, array: str, name: str) -> dict[str, Any] | None:
    """Remove the table of ``[[array]]`` named `name`; returns it (None when there is none).
    The comments written after it (they introduce what follows) are kept."""
    tables = _tables(doc, array)
    for index, table in enumerate(tables):
        if table.get("name") == name:
            before: dict[str, Any] = table.unwrap()
            if index > 0:
                _move_trailing(table, tables[index - 1])
            elif len(tables) > 1:
                _move_trailing(table, tables[1])
            del tables[index]
            if not tables:
                del doc[array]
            return before
    return None


def _tables(doc: tomlkit.TOMLDocument, array: str) -> Any:
    found = doc.get(array)
    if found is None:
        found = tomlkit.aot()
        doc.append(array, found)
    if not isinstance(found, AoT | list):
        raise ValueError(f"{array} in {CONFIG_FILE} is not a list of [[{array}]] tables")
    return found


def _move_trailing(source: Table, target: Table) -> None:
    """Move the comments and blank lines that end `source` to the end of `target`."""
    body: list[tuple[Any, Item]] = source.value.body
    cut = len(body)
    while cut and body[cut - 1][0] is None and isinstance(body[cut - 1][1], Comment | Whitespace):
        cut -= 1
    moved = body[cut:]
    del body[cut:]
    container: Container = target.value
    for _, item in moved:
        container.append(None, item)
