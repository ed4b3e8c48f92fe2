"""Text normalisation shared by the matcher and the store: `fold` and `tokenize`.

Word tokens are exactly those of SQLite FTS5 ``unicode61 remove_diacritics 2``: the
separator set and the per-code-point folding are probed from FTS5 itself (see
`tocsin.query._fts5_gen`), so a phrase or NEAR query means the same thing in memory and
in the database. tocsin then adds what FTS5 lacks, all of it letter-to-letter so word
boundaries never move: ß→ss, œ→oe, æ→ae, ø→o, ł→l, đ→d, þ→th, ligatures (ﬁ→fi),
full-width and "fancy" mathematical letters (NFKC), and emoji, which become separate tokens
kept apart from the words (`Tokens.emoji`) so they shift no word position.

Everything is done with `str.translate` tables built once at import; no per-character
Python loop runs on the hot path.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from tocsin.query import _fts5_data

__all__ = [
    "Tokens",
    "agrees_with_fts5",
    "emoji_key",
    "fold",
    "fold_tokens",
    "is_emoji",
    "raw_words",
    "tokenize",
    "tokens_of",
    "words_of",
]


def _parse_separators() -> list[tuple[int, int]]:
    out = []
    for item in _fts5_data.SEPARATORS.split(","):
        start, _, end = item.partition("-")
        out.append((int(start, 16), int(end, 16)))
    return out


def _parse_folds() -> dict[int, str]:
    out: dict[int, str] = {}
    for item in _fts5_data.FOLDS.split(","):
        src, _, dst = item.partition(":")
        out[int(src, 16)] = chr(int(dst, 16)) if int(dst, 16) else ""
    return out


_SEP_RANGES = _parse_separators()
_FTS_FOLD = _parse_folds()
# U+0000 cannot be probed (SQLite ends the probe's string there) but FTS5 splits on it in
# stored text ('acme\x00' matches "acme"), so it is a separator too.
_SEPARATORS = frozenset(c for a, b in _SEP_RANGES for c in range(a, b + 1)) | {0}

# Emoji and their joiners/modifiers: tocsin keeps them as their own tokens.
_EMOJI_RANGES = (
    (0x2190, 0x21FF),
    (0x2300, 0x23FF),
    (0x25A0, 0x27BF),
    (0x2900, 0x297F),
    (0x2B00, 0x2BFF),
    (0x3030, 0x3030),
    (0x303D, 0x303D),
    (0x3297, 0x3297),
    (0x3299, 0x3299),
    (0x1F000, 0x1FAFF),
)
_EMOJI_GLUE = "\u200d\ufe0e\ufe0f\u20e3" + "".join(chr(c) for c in range(0xE0020, 0xE0080))
_EMOJI_CLASS = "".join(f"{chr(a)}-{chr(b)}" for a, b in _EMOJI_RANGES)
_EMOJI_RE = re.compile(
    f"[{_EMOJI_CLASS}][{_EMOJI_GLUE}\U0001f3fb-\U0001f3ff]*"
    f"(?:\u200d[{_EMOJI_CLASS}][\ufe0f\U0001f3fb-\U0001f3ff]*)*"
)
_EMOJI_NOISE = str.maketrans(
    "", "", "\ufe0e\ufe0f\U0001f3fb\U0001f3fc\U0001f3fd\U0001f3fe\U0001f3ff"
)
_EMOJI_CHARS = frozenset(
    [c for a, b in _EMOJI_RANGES for c in range(a, b + 1)] + [ord(c) for c in _EMOJI_GLUE]
)

_EXTRA = {
    "ß": "ss", "ẞ": "ss", "œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ø": "o", "Ø": "o",
    "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ð": "d", "Ð": "d", "þ": "th", "Þ": "th",
    "ı": "i", "ĸ": "k", "ŉ": "n",
}  # fmt: skip
_NFKC_BLOCKS = ((0xA0, 0x24F), (0x1D00, 0x1DBF), (0x2070, 0x218F), (0x2460, 0x24FF),
                (0xFB00, 0xFB4F), (0xFF00, 0xFFEF), (0x1D400, 0x1D7FF))  # fmt: skip


def _fts_fold_str(s: str) -> str:
    return "".join(_FTS_FOLD.get(ord(c), c) for c in s)


def _extra_folds() -> dict[int, str]:
    """tocsin's additions to FTS5 folding: token characters to token characters only."""
    out: dict[int, str] = {}
    for a, b in _NFKC_BLOCKS:
        for cp in range(a, b + 1):
            if cp in _SEPARATORS:
                continue
            nfkc = unicodedata.normalize("NFKC", chr(cp))
            if nfkc != chr(cp) and nfkc and not any(ord(c) in _SEPARATORS for c in nfkc):
                out[cp] = _fts_fold_str(nfkc)
    for cp, dst in _FTS_FOLD.items():  # upper-case forms of the extras, e.g. Œ -> œ -> oe
        if dst in _EXTRA:
            out[cp] = _EXTRA[dst]
    out.update({ord(k): v for k, v in _EXTRA.items()})
    for cp, dst in list(out.items()):
        out[cp] = "".join(_EXTRA.get(c, c) for c in _fts_fold_str(dst))
    for cp in _EMOJI_CHARS - _SEPARATORS:  # FTS5 would glue these to words: split them
        out[cp] = f" {chr(cp)} "
    return {cp: dst for cp, dst in out.items() if dst != _FTS_FOLD.get(cp, chr(cp))}


_EXTRA_FOLD = _extra_folds()
_FOLD_TABLE: dict[int, str] = {**_FTS_FOLD, **_EXTRA_FOLD}
_TOKEN_TABLE: dict[int, str] = dict.fromkeys(_SEPARATORS | _EMOJI_CHARS, " ")
_TOKEN_TABLE.update({k: v for k, v in _FOLD_TABLE.items() if k not in _EMOJI_CHARS})
del _TOKEN_TABLE[ord("#")], _TOKEN_TABLE[ord("@")]
# Identity entries for the unmapped code points of the Latin, Greek and Cyrillic blocks: a
# missing key costs `str.translate` a KeyError per character, an identity entry does not
# (same result, ~1.6x faster on accented text).
for _cp in (*range(0x250), *range(0x370, 0x530)):
    _TOKEN_TABLE.setdefault(_cp, chr(_cp))
del _cp
_RAW_TABLE: dict[int, str] = dict.fromkeys(_SEPARATORS | _EMOJI_CHARS, " ")
_WORD_RE = re.compile(r"([#@]?)([^\s#@]+)")
_DIVERGENT_RE = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(_EXTRA_FOLD)) + "]")


def fold(s: str) -> str:
    """Fold case, accents and tocsin's extra equivalences; keep everything else as is.

    >>> fold("Œuvre Ça straße ﬁn")
    'oeuvre ca strasse fin'
    """
    if s.isascii():
        return s.lower()
    return s.translate(_FOLD_TABLE)


def agrees_with_fts5(text: str) -> bool:
    """True when FTS5 would tokenise `text` exactly as tocsin does (no tocsin-only folding)."""
    return text.isascii() or _DIVERGENT_RE.search(text) is None


def is_emoji(text: str) -> bool:
    """True when `text` is one emoji (sequence), e.g. ``🔥`` or ``👍🏽``."""
    match = _EMOJI_RE.fullmatch(text)
    return match is not None


def emoji_key(text: str) -> str:
    """Compare emoji without skin tones and presentation selectors: ``👍🏽`` is ``👍``."""
    return text.translate(_EMOJI_NOISE)


class Tokens:
    """The tokens of one text: folded words (FTS5's), hashtag/handle marks, emoji apart.

    `words[i]` is the i-th FTS5 token; `hashtags` / `handles` hold the positions written
    ``#word`` / ``@word``. Everything but `words` is computed on first use.
    """

    __slots__ = ("_emoji", "_folded", "_marks", "_positions", "_raw", "text", "words")

    def __init__(self, text: str, folded: str, words: tuple[str, ...]) -> None:
        self.text = text
        self.words = words
        self._folded = folded
        self._marks: tuple[frozenset[int], frozenset[int]] | None = None
        self._emoji: tuple[str, ...] | None = None
        self._positions: dict[str, list[int]] | None = None
        self._raw: tuple[str, ...] | None = None

    def __repr__(self) -> str:
        return f"Tokens(words={self.words!r}, emoji={self.emoji!r})"

    def _compute_marks(self) -> tuple[frozenset[int], frozenset[int]]:
        if self._marks is None:
            if "#" not in self._folded and "@" not in self._folded:
                self._marks = (frozenset(), frozenset())
            else:
                pairs = _WORD_RE.findall(self._folded)
                tags = frozenset(i for i, (mark, _) in enumerate(pairs) if mark == "#")
                handles = frozenset(i for i, (mark, _) in enumerate(pairs) if mark == "@")
                self._marks = (tags, handles)
        return self._marks

    @property
    def hashtags(self) -> frozenset[int]:
        """Positions of words written as ``#word``."""
        return self._compute_marks()[0]

    @property
    def handles(self) -> frozenset[int]:
        """Positions of words written as ``@word``."""
        return self._compute_marks()[1]

    @property
    def emoji(self) -> tuple[str, ...]:
        """The emoji (sequences) of the text, in order, as written."""
        if self._emoji is None:
            self._emoji = () if self.text.isascii() else tuple(_EMOJI_RE.findall(self.text))
        return self._emoji

    @property
    def positions(self) -> dict[str, list[int]]:
        """Folded word -> its positions, ascending."""
        if self._positions is None:
            positions: dict[str, list[int]] = {}
            for i, word in enumerate(self.words):
                positions.setdefault(word, []).append(i)
            self._positions = positions
        return self._positions

    @property
    def raw(self) -> tuple[str, ...]:
        """The words as written (NFC, case and accents kept), aligned with `words`."""
        if self._raw is None:
            pieces = self.text.translate(_RAW_TABLE).split()
            raw = [unicodedata.normalize("NFC", p) for p in pieces if p.translate(_FOLD_TABLE)]
            if len(raw) != len(self.words):  # pragma: no cover - defensive
                raw = (raw + list(self.words))[: len(self.words)]
            self._raw = tuple(raw)
        return self._raw


def fold_tokens(text: str) -> str:
    """The folded text `tokenize` splits: separators and emoji are spaces, ``#``/``@`` kept.

    Its only whitespace is ``" "``; its words are ``tokens_of(text, folded).words``.
    """
    return (text.lower() if text.isascii() else text).translate(_TOKEN_TABLE)


def tokens_of(text: str, folded: str) -> Tokens:
    """`tokenize` of `text` given ``folded = fold_tokens(text)`` (no second folding)."""
    if "#" in folded or "@" in folded:
        words = tuple(folded.replace("#", " ").replace("@", " ").split())
    else:
        words = tuple(folded.split())
    return Tokens(text, folded, words)


def tokenize(text: str) -> Tokens:
    """Split `text` into FTS5 word tokens (folded); ``#``/``@`` marks and emoji on demand."""
    return tokens_of(text, fold_tokens(text))


def raw_words(text: str) -> tuple[str, ...]:
    """The words of `text` as written (no folding), split where FTS5 splits."""
    return tuple(p for p in text.translate(_RAW_TABLE).split() if p.translate(_FOLD_TABLE))


@lru_cache(maxsize=4096)
def words_of(text: str) -> tuple[str, ...]:
    """The folded word tokens of a query fragment (cached)."""
    return tokenize(text).words
