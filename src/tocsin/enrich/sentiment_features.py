"""Text to sparse features for the sentiment model: hashed character and word n-grams.

Everything here is stateless: hashing needs no vocabulary, so only the model's weights ship.
Character n-grams (2 to 5 characters) are hashed for a whole batch at once with numpy
(a polynomial rolling hash over the code points, then Fibonacci hashing into buckets); word
unigrams and bigrams are hashed with CRC-32. Words in the scope of a negation ("not", "pas",
"nicht", ...) are hashed as different features, so "not good" and "good" do not share weights.
The same functions build the training matrix (`batch_features`) and score texts at run time
(`hashed_scores`), so training and inference cannot drift apart.
"""

from __future__ import annotations

import html
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "BLOCK_BITS",
    "CHAR_BITS",
    "WORD_BITS",
    "Block",
    "HashedBatch",
    "batch_features",
    "hashed_scores",
    "normalise",
    "tokenise",
]

CHAR_BITS = 18
WORD_BITS = 17
BLOCK_BITS = (CHAR_BITS, WORD_BITS, 17, 16)
_KNUTH = np.uint64(2_654_435_761)
CHAR_NGRAMS = (2, 3, 4, 5)
_PRIME = np.uint64(1_000_003)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_NEGATION_SCOPE = 3

_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_URL = re.compile(r"(?:https?://|www\.)\S+|\bhttp\b")
_USER = re.compile(r"@\w+")
_REPEAT = re.compile(r"(.)\1{2,}")
_SPACES = re.compile(r"\s+")
_TOKEN = re.compile(r"\b(?:[cdjlmnst]|qu)['’](?=\w)|[#@]?\w+(?:['’]\w+)*|[^\w\s]")
_CLAUSE_END = frozenset('.,;:!?()[]"“”«»—')

NEGATORS = frozenset(
    word
    for line in (
        "not no never nothing nobody none nowhere neither nor without cannot cant dont doesnt",
        "didnt isnt wasnt arent werent wont wouldnt shouldnt couldnt havent hasnt hadnt aint",
        "nope ne n' n’ pas jamais rien aucun aucune sans ni personne guère nullement",
        "nicht kein keine keinen keinem keiner nie niemals ohne nichts weder",
        "nunca jamás jamas sin nada tampoco ningún ninguno ninguna",
        "non mai senza niente nulla nessuno nessuna neanche não nao nem nenhum nenhuma",
    )
    for word in line.split()
)


def normalise(text: str) -> str:
    """Lower-case, unescape, and replace URLs, handles and long letter runs by stable tokens."""
    if "\\u" in text:
        text = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    if "&" in text:
        text = html.unescape(text)
    text = _URL.sub(" http ", text.lower())
    text = _USER.sub("@user", text)
    text = _REPEAT.sub(r"\1\1", text)
    return _SPACES.sub(" ", text).strip()


def tokenise(normalised: str) -> list[str]:
    """Words (with their leading ``#``/``@`` and inner apostrophes) and single punctuation."""
    return _TOKEN.findall(normalised)


def is_negator(token: str) -> bool:
    """Whether `token` negates what follows ("not", "n't", "pas", "nicht", "no", ...)."""
    return token in NEGATORS or token.endswith(("n't", "n’t"))


def _word_hashes(tokens: Sequence[str], mask: int) -> list[int]:
    """Hash unigrams (negation-marked) and bigrams of one text into word buckets."""
    out: list[int] = []
    previous = 0
    scope = 0
    for token in tokens:
        if token in _CLAUSE_END:
            scope = 0
        key = token.encode()
        h = zlib.crc32(key)
        if scope:
            out.append(zlib.crc32(b"\x01" + key) & mask)
            scope -= 1
        else:
            out.append(h & mask)
        if previous:
            out.append(zlib.crc32(h.to_bytes(4, "little"), previous) & mask)
        previous = h
        if is_negator(token):
            scope = _NEGATION_SCOPE
    return out


@dataclass(frozen=True, slots=True)
class Block:
    """Hashed n-grams of one kind for a batch: text index, bucket id, 1/sqrt(count) per text."""

    doc: NDArray[np.int64]
    bucket: NDArray[np.int64]
    norm: NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class HashedBatch:
    """The `Block`s of a batch in `BLOCK_BITS` order: characters, words, and both again
    crossed with the text's language (empty for texts of unknown language)."""

    size: int
    blocks: tuple[Block, ...]


def _char_buckets(texts: Sequence[str]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    padded = [f" {t} " for t in texts]
    lengths = np.fromiter((len(p) for p in padded), dtype=np.int64, count=len(padded))
    codes = np.frombuffer("".join(padded).encode("utf-32-le"), dtype=np.uint32)
    codes64 = codes.astype(np.uint64)
    ends = np.repeat(np.cumsum(lengths), lengths)
    docs = np.repeat(np.arange(len(padded), dtype=np.int64), lengths)
    positions = np.arange(codes64.size, dtype=np.int64)
    shift = np.uint64(64 - CHAR_BITS)
    h = codes64
    doc_parts: list[NDArray[np.int64]] = []
    bucket_parts: list[NDArray[np.int64]] = []
    for n in range(2, max(CHAR_NGRAMS) + 1):
        h = h[:-1] * _PRIME + codes64[n - 1 :]
        if n not in CHAR_NGRAMS:
            continue
        valid = positions[: h.size] + n <= ends[: h.size]
        mixed = (h[valid] + np.uint64(n)) * _GOLDEN
        bucket_parts.append((mixed >> shift).astype(np.int64))
        doc_parts.append(docs[: h.size][valid])
    if not bucket_parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return np.concatenate(doc_parts), np.concatenate(bucket_parts)


def _inverse_sqrt_counts(doc: NDArray[np.int64], size: int) -> NDArray[np.float64]:
    counts = np.bincount(doc, minlength=size).astype(np.float64)
    with np.errstate(divide="ignore"):
        inv = 1.0 / np.sqrt(counts)
    inv[counts == 0] = 0.0
    return inv


def language_salts(langs: Sequence[str | None]) -> NDArray[np.uint64]:
    """A non-zero salt per known language code, 0 for None."""
    return np.fromiter(
        (zlib.crc32(lang.encode()) | 1 if lang else 0 for lang in langs),
        dtype=np.uint64,
        count=len(langs),
    )


def _crossed(block: Block, salts: NDArray[np.uint64], bits: int) -> Block:
    """Re-hash `block`'s buckets with each text's language salt into ``2**bits`` buckets."""
    keep = salts[block.doc] != 0
    salted = block.bucket[keep].astype(np.uint64) + salts[block.doc[keep]] * _KNUTH
    bucket = ((salted * _GOLDEN) >> np.uint64(64 - bits)).astype(np.int64)
    return Block(block.doc[keep], bucket, block.norm)


def batch_features(
    normalised: Sequence[str],
    tokens: Sequence[Sequence[str]],
    langs: Sequence[str | None] | None = None,
) -> HashedBatch:
    """Hash a batch of normalised texts (their tokens, their languages) into `Block`s."""
    size = len(normalised)
    char_doc, char_bucket = _char_buckets(normalised)
    mask = (1 << WORD_BITS) - 1
    word_lists = [_word_hashes(t, mask) for t in tokens]
    word_lengths = np.fromiter((len(w) for w in word_lists), dtype=np.int64, count=size)
    word_doc = np.repeat(np.arange(size, dtype=np.int64), word_lengths)
    word_bucket = np.fromiter(
        (b for w in word_lists for b in w), dtype=np.int64, count=int(word_lengths.sum())
    )
    chars = Block(char_doc, char_bucket, _inverse_sqrt_counts(char_doc, size))
    words = Block(word_doc, word_bucket, _inverse_sqrt_counts(word_doc, size))
    salts = language_salts(langs if langs is not None else [None] * size)
    return HashedBatch(
        size,
        (
            chars,
            words,
            _crossed(chars, salts, BLOCK_BITS[2]),
            _crossed(words, salts, BLOCK_BITS[3]),
        ),
    )


def hashed_scores(
    batch: HashedBatch, weights: Sequence[NDArray[np.floating]]
) -> NDArray[np.float64]:
    """The linear part of the model: per text, sum of bucket weights times 1/sqrt(count).

    `weights` holds one ``(2**bits, k)`` table per block (`BLOCK_BITS`); the result is
    ``(batch.size, k)``.
    """
    k = weights[0].shape[1]
    out = np.zeros((batch.size, k), dtype=np.float64)
    for block, table in zip(batch.blocks, weights, strict=True):
        if not block.bucket.size:
            continue
        gathered = table[block.bucket]
        summed = np.empty((batch.size, k), dtype=np.float64)
        for j in range(k):
            summed[:, j] = np.bincount(block.doc, weights=gathered[:, j], minlength=batch.size)
        out += summed * block.norm[:, None]
    return out
