"""Lexicon features for sentiment: word valences with negation, intensifier and "but" rules.

English uses VADER's lexicon and booster words (vaderSentiment ships them; MIT licence);
French, German, Spanish, Italian, Portuguese, Arabic and Hindi use small lexicons written
for tocsin (``models/sentiment_lexicon_<lang>.tsv``); emoji and emoticons have their own
table. The rules follow VADER: a word's valence is flipped and damped (x -0.74) when a
negation occurs in the three words before it, raised or lowered by intensifiers ("très",
"very") and dampeners ("un peu"), and words after "but"/"mais" weigh 1.5x, those before 0.5x.
"pas du tout satisfait" is thus negative and "not bad at all" positive. Negated words
followed or preceded by "at all"/"du tout"/"überhaupt" weigh 1.25x more.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tocsin.enrich.sentiment_features import is_negator

__all__ = ["FEATURE_NAMES", "LANGUAGES", "Lexicon", "lexicon_features", "load_lexicon"]

LANGUAGES = ("ar", "de", "en", "es", "fr", "hi", "it", "pt")
FEATURE_NAMES = (
    "positive",
    "negative",
    "compound",
    "emoji_positive",
    "emoji_negative",
    "negations",
    "exclamations",
    "questions",
)
_NEGATION_SCALAR = -0.74
_BOOST = 0.293
_ROMANCE = frozenset({"fr", "es", "it", "pt"})
_EMOTICON_CHARS = frozenset(":;=<x")
_EXCLAMATION = frozenset("!¡")
_QUESTION = frozenset("?¿؟")


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Valences per language (``None``: all languages merged), emoji, and modifier words."""

    words: Mapping[str | None, Mapping[str, float]]
    emoji: Mapping[str, float]
    boosters: Mapping[str, float]
    strong_negation: frozenset[str]
    contrast: frozenset[str]


def _model_dir() -> Path:
    return Path(str(resources.files("tocsin.enrich") / "models"))


def _read_tsv(path: Path) -> list[list[str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            rows.append(line.split("\t"))
    return rows


def _vader_english() -> tuple[dict[str, float], dict[str, float]]:
    """VADER's lexicon and booster words, from the installed vaderSentiment package."""
    from vaderSentiment import vaderSentiment as vader

    folder = Path(vader.__file__).parent
    words: dict[str, float] = {}
    for line in (folder / "vader_lexicon.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            words[parts[0]] = float(parts[1])
    return words, {k: float(v) for k, v in vader.BOOSTER_DICT.items()}


@cache
def load_lexicon() -> Lexicon:
    """Load every lexicon once per process (about 20 ms)."""
    folder = _model_dir()
    english, boosters = _vader_english()
    words: dict[str | None, dict[str, float]] = {"en": english}
    for lang in LANGUAGES:
        path = folder / f"sentiment_lexicon_{lang}.tsv"
        if path.exists():
            table = words.setdefault(lang, {})
            table.update({row[0]: float(row[1]) for row in _read_tsv(path)})
    merged: dict[str, float] = {}
    for lang in LANGUAGES:
        if lang != "en":
            merged.update(words.get(lang, {}))
    merged.update({w: v for w, v in english.items() if w.isalpha()})
    words[None] = merged
    # Hindi tweets mix in English (Hinglish): English words count there too.
    words["hi"] = {**english, **words.get("hi", {})}
    emoji = {row[0]: float(row[1]) for row in _read_tsv(folder / "sentiment_emoji.tsv")}
    strong: set[str] = set()
    contrast: set[str] = set()
    for kind, _lang, listed in _read_tsv(folder / "sentiment_modifiers.tsv"):
        for word in listed.split():
            if kind == "boost":
                boosters.setdefault(word, _BOOST)
            elif kind == "damp":
                boosters.setdefault(word, -_BOOST)
            elif kind == "strong-negation":
                strong.add(word)
            elif kind == "contrast":
                contrast.add(word)
    return Lexicon(words, emoji, boosters, frozenset(strong), frozenset(contrast))


def _valence(table: Mapping[str, float], token: str, romance: bool) -> float:
    value = table.get(token)
    if value is None and romance and len(token) > 4:
        for suffix in ("s", "es", "e"):
            if token.endswith(suffix):
                value = table.get(token[: -len(suffix)])
                if value is not None:
                    break
    return value or 0.0


def _modified(value: float, tokens: Sequence[str], i: int, lex: Lexicon) -> float:
    """Apply the intensifier and negation rules of the three preceding words."""
    negated = False
    for distance in (1, 2, 3):
        j = i - distance
        if j < 0:
            break
        previous = tokens[j]
        boost = lex.boosters.get(previous)
        if boost is not None:
            value += math.copysign(boost, value) * (1.0 - 0.05 * (distance - 1))
        if is_negator(previous):
            negated = True
    if negated:
        value *= _NEGATION_SCALAR
        nearby = tokens[max(0, i - 3) : i + 3]
        if any(t in lex.strong_negation for t in nearby):
            value *= 1.25
    return value


def _score_tokens(tokens: Sequence[str], lang: str | None, lex: Lexicon) -> list[float]:
    table = lex.words.get(lang) or lex.words[None]
    romance = lang in _ROMANCE or lang is None
    pos = neg = emo_pos = emo_neg = 0.0
    negations = exclamations = questions = 0
    valences: list[tuple[int, float]] = []
    but_at = -1
    for i, token in enumerate(tokens):
        if token in _EXCLAMATION:
            exclamations += 1
        elif token in _QUESTION:
            questions += 1
        elif token in lex.contrast:
            but_at = i
        if is_negator(token):
            negations += 1
        emoji = lex.emoji.get(token)
        if emoji is not None:
            if emoji > 0:
                emo_pos += emoji
            else:
                emo_neg -= emoji
            continue
        value = _valence(table, token, romance)
        if value:
            valences.append((i, _modified(value, tokens, i, lex)))
    for i, value in valences:
        if but_at >= 0:
            value *= 0.5 if i < but_at else 1.5
        if value > 0:
            pos += value
        else:
            neg -= value
    total = pos - neg + emo_pos - emo_neg
    compound = total / math.sqrt(total * total + 15.0)
    return [
        pos,
        neg,
        compound,
        emo_pos,
        emo_neg,
        min(negations, 3) / 3.0,
        min(exclamations, 3) / 3.0,
        min(questions, 3) / 3.0,
    ]


def _emoticons(normalised: str, lex: Lexicon) -> list[str]:
    found = []
    for word in normalised.split():
        if word[0] in _EMOTICON_CHARS and word in lex.emoji:
            found.append(word)
    return found


def lexicon_features(
    normalised: Sequence[str],
    tokens: Sequence[Sequence[str]],
    langs: Sequence[str | None],
) -> NDArray[np.float64]:
    """One row of `FEATURE_NAMES` per text; `langs` picks the lexicon (None: all merged)."""
    lex = load_lexicon()
    rows = [
        _score_tokens(list(toks) + _emoticons(text, lex), lang, lex)
        for text, toks, lang in zip(normalised, tokens, langs, strict=True)
    ]
    if not rows:
        return np.zeros((0, len(FEATURE_NAMES)), dtype=np.float64)
    return np.asarray(rows, dtype=np.float64)
