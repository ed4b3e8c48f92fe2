"""Find the line of a key in TOML text, so configuration errors can point at it.

`tomllib` gives values but no positions. `KeyLocator` walks the text once and records the line
of every table header (``[run]``), array-of-tables entry (``[[sources]]``, counted by index)
and ``key = value`` line, keyed by its path as pydantic reports it: ``("sources", 2,
"interval")``. It is good enough for the files ``tocsin init`` writes and for hand-written
ones: comments, quoted and dotted keys, multi-line strings and arrays are skipped correctly.
Inline tables are located at the line of their key.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["KeyLocator", "Path"]

Path = tuple[str | int, ...]

_HEADER = re.compile(r"^\s*(\[\[?)\s*(?P<name>[^\]]+?)\s*\]\]?\s*(#.*)?$")
_BARE_KEY = r"[A-Za-z0-9_-]+"
_QUOTED_KEY = r'"(?:[^"\\]|\\.)*"|\'[^\']*\''
_KEY_PART = rf"(?:{_BARE_KEY}|{_QUOTED_KEY})"
_KEY_LINE = re.compile(rf"^\s*(?P<key>{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*=\s*(?P<value>.*)$")
_PART = re.compile(rf"\s*({_KEY_PART})\s*")


def _split_key(key: str) -> tuple[str, ...]:
    """``a."b.c".d`` -> ``("a", "b.c", "d")``."""
    parts = []
    for raw in _PART.findall(key):
        if raw[:1] in "\"'":
            raw = raw[1:-1]
        parts.append(raw)
    return tuple(parts)


def _strip_strings(value: str) -> str:
    """The value with string contents and comments removed, to count brackets safely."""
    out: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "#":
            break
        if ch in "\"'":
            end = value.find(ch, i + 1)
            while ch == '"' and end > 0 and value[end - 1] == "\\":
                end = value.find(ch, end + 1)
            if end < 0:
                break
            i = end + 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


class KeyLocator:
    """Line numbers (1-based) of the keys and tables of one TOML document."""

    def __init__(self, text: str) -> None:
        self.lines: dict[Path, int] = {}
        self._arrays: dict[tuple[str, ...], int] = {}
        self._walk(text.splitlines())

    def _resolve(self, names: tuple[str, ...]) -> Path:
        """Insert the current index after every array-of-tables along a dotted header."""
        path: list[str | int] = []
        for depth in range(1, len(names) + 1):
            path.append(names[depth - 1])
            index = self._arrays.get(names[:depth])
            if index is not None and depth < len(names):
                path.append(index)
        return tuple(path)

    def _walk(self, lines: Sequence[str]) -> None:
        table: Path = ()
        skip_until: str | None = None
        depth = 0
        for number, line in enumerate(lines, start=1):
            if skip_until is not None:
                if skip_until in line:
                    skip_until = None
                continue
            if depth > 0:
                stripped = _strip_strings(line)
                depth += stripped.count("[") + stripped.count("{")
                depth -= stripped.count("]") + stripped.count("}")
                continue
            header = _HEADER.match(line)
            if header and not _KEY_LINE.match(line):
                table = self._header(header, number)
                continue
            match = _KEY_LINE.match(line)
            if match is None:
                continue
            self.lines.setdefault(table + _split_key(match["key"]), number)
            value = match["value"]
            for quote in ('"""', "'''"):
                if value.startswith(quote) and value.count(quote) == 1:
                    skip_until = quote
            if skip_until is None:
                stripped = _strip_strings(value)
                depth = stripped.count("[") + stripped.count("{")
                depth -= stripped.count("]") + stripped.count("}")
                depth = max(depth, 0)

    def _header(self, header: re.Match[str], number: int) -> Path:
        names = _split_key(header["name"])
        if header.group(1) == "[[":
            self._arrays[names] = self._arrays.get(names, -1) + 1
            table = (*self._resolve(names), self._arrays[names])
        else:
            table = self._resolve(names)
        self.lines.setdefault(table, number)
        return table

    def line_of(self, path: Path) -> int | None:
        """The line of `path`, else of its nearest enclosing key or table; None if none."""
        for end in range(len(path), 0, -1):
            found = self.lines.get(path[:end])
            if found is not None:
                return found
        return None
