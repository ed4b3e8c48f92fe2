"""Many named regex rules, one left-to-right scan: which rules match a text, and where.

`RuleScanner` behaves exactly like ``re.finditer`` over the alternation of every pattern
(named by its rule, in rule order) with matches starting only at a word start, a ``#`` or
a ``?``, but it is several times faster: each pattern is split into its top-level
alternatives, each filed under the characters it can start with, and at each word start
only the patterns filed under that character (plus those whose first character could not
be worked out) are tried. Python's ``re`` tries
every branch of an alternation in turn, so this cuts the work per word start from all
patterns to a handful.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

__all__ = ["RuleScanner", "first_chars"]

_STARTS = re.compile(r"(?<!\w)\w|[#?]")
_LITERAL = frozenset("abcdefghijklmnopqrstuvwxyz0123456789'#- ")
_ESCAPED = frozenset("?.#-'()[]{}|*+\\")


def _top_level(pattern: str, i: int = 0) -> Iterator[tuple[int, str, int]]:
    """``(index, char, depth)`` of each character of `pattern` from `i` on that is outside
    escapes and character classes, `depth` counting the groups open after it."""
    depth, in_class, j = 0, False, i
    while j < len(pattern):
        ch = pattern[j]
        if ch == "\\":
            j += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        else:
            depth += (ch == "(") - (ch == ")")
            yield j, ch, depth
        j += 1


def _close(pattern: str, i: int) -> int:
    """Index of the ``)`` closing the group opened at `pattern[i]`; -1 if unbalanced."""
    return next((j for j, ch, depth in _top_level(pattern, i) if ch == ")" and depth == 0), -1)


def _split(body: str) -> list[str]:
    """Top-level ``|`` alternatives of a group body."""
    cuts = [j for j, ch, depth in _top_level(body) if ch == "|" and depth == 0]
    return [body[a + 1 : b] for a, b in zip([-1, *cuts], [*cuts, len(body)], strict=True)]


def first_chars(pattern: str, i: int = 0) -> frozenset[str] | None:
    """The characters a match of `pattern` can start with; None when unsure.

    Understands literals, escaped punctuation, non-capturing groups with alternatives and
    a ``?`` after a single character or a group; anything else (``\\w``, classes, ``*``,
    lookarounds) gives None, and the caller then tries the pattern everywhere.
    """
    if i >= len(pattern):
        return None  # an empty match could start anywhere
    ch = pattern[i]
    if pattern.startswith("(?:", i):
        end = _close(pattern, i)
        if end < 0:
            return None
        found: set[str] = set()
        for alt in _split(pattern[i + 3 : end]):
            chars = first_chars(alt)
            if chars is None:
                return None
            found |= chars
        return _then(pattern, end + 1, frozenset(found))
    if ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in _ESCAPED:
        return _then(pattern, i + 2, frozenset(pattern[i + 1]))
    if ch in _LITERAL:
        return _then(pattern, i + 1, frozenset(ch))
    return None


def _then(pattern: str, j: int, chars: frozenset[str]) -> frozenset[str] | None:
    """`chars`, plus what follows when the element before `j` is optional (``?``)."""
    if j < len(pattern) and pattern[j] in "*{":
        return None
    if j < len(pattern) and pattern[j] == "?":
        rest = first_chars(pattern, j + 1)
        return None if rest is None else chars | rest
    return chars


def expand(pattern: str) -> list[str]:
    """``(?:a|b)c`` -> ``[(?:a)c, (?:b)c]``: same matches, finer filing by first character."""
    if not pattern.startswith("(?:"):
        return [pattern]
    end = _close(pattern, 0)
    rest = pattern[end + 1 :] if end > 0 else ""
    if end < 0 or rest[:1] in ("?", "*", "+", "{"):
        return [pattern]
    return [f"(?:{alt}){rest}" if rest else alt for alt in _split(pattern[3:end])]


class RuleScanner:
    """Scan texts for `(name, pattern)` rules; see the module docstring for the semantics."""

    def __init__(self, rules: Sequence[tuple[str, str]]) -> None:
        rules = [(name, part) for name, pattern in rules for part in expand(pattern)]
        self.names = [name for name, _ in rules]
        buckets: dict[str, list[int]] = {}
        anywhere: list[int] = []
        for index, (_, pattern) in enumerate(rules):
            chars = first_chars(pattern)
            if chars is None:
                anywhere.append(index)
            else:
                for ch in chars:
                    buckets.setdefault(ch, []).append(index)
        self._patterns = [pattern for _, pattern in rules]
        self._anywhere = self._compile(anywhere)
        self._by_char = {
            ch: self._compile(sorted({*found, *anywhere})) for ch, found in buckets.items()
        }
        every = "|".join(f"(?P<g{i}>{p})" for i, p in enumerate(self._patterns))
        self._reference = re.compile(rf"(?:(?<!\w)(?=\w)|(?=[#?]))(?:{every})")

    def _compile(self, indexes: list[int]) -> re.Pattern[str] | None:
        if not indexes:
            return None
        alts = "|".join(f"(?P<g{i}>{self._patterns[i]})" for i in indexes)
        return re.compile(alts)

    def scan(self, text: str) -> Iterator[tuple[str, int]]:
        """``(rule name, start)`` of each match, left to right, matches not overlapping."""
        end = 0
        by_char, anywhere, names = self._by_char, self._anywhere, self.names
        for start in _STARTS.finditer(text):
            pos = start.start()
            if pos < end:
                continue
            regex = by_char.get(text[pos], anywhere)
            if regex is None:
                continue
            match = regex.match(text, pos)
            if match is not None:
                end = match.end()
                yield names[int((match.lastgroup or "g0")[1:])], pos

    def scan_reference(self, text: str) -> Iterator[tuple[str, int]]:
        """What `scan` must give, by one plain ``re.finditer`` (slow; for tests)."""
        for match in self._reference.finditer(text):
            yield self.names[int((match.lastgroup or "g0")[1:])], match.start()
