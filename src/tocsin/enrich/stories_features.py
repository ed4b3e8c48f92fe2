"""What the story grouper looks at in one mention: normalised words, shingles, links.

Pure functions, no state. `features` turns a `Mention` into `Features`; `signatures` turns many
shingle sets into MinHash signatures at once (numpy, vectorised over the whole batch). The
signatures are exactly datasketch's ``affine32`` MinHash (same permutations, same pre-mix), as a
test checks, only computed for a batch in one go instead of one `MinHash.update_batch` each.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt

from tocsin.mention import Mention
from tocsin.normalise import canonical_url
from tocsin.query.text import fold

__all__ = [
    "PLATFORM_HOSTS",
    "Features",
    "article_url",
    "batch_features",
    "features",
    "linked_ids",
    "normalise",
    "normalise_words",
    "permutations",
    "shingle_hashes",
    "signatures",
]

_URL_RE = re.compile(r"https?://[^\s<>\"']+|\bwww\.[^\s<>\"']+", re.IGNORECASE)
_RT_RE = re.compile(r"^\s*(?:rt|mt)\s*@[\w.\-]+(?:@[\w.\-]+)?\s*:?\s*", re.IGNORECASE)
_HANDLE_RE = re.compile(r"(?<![\w@])@[\w.\-]+(?:@[\w\-]+(?:\.[\w\-]+)+)?")
_WORD_RE = re.compile(r"[^\W_]+")
_HOST_RE = re.compile(r"(?:https?://)?([^/:?#\s@]+)", re.IGNORECASE)

#: Hosts whose links are posts, profiles or redirects, never an article: a link to one of them
#: says nothing about which story a mention belongs to (links to posts are handled as quotes).
PLATFORM_HOSTS = frozenset(
    {
        "twitter.com", "x.com", "t.co", "bsky.app", "bsky.social", "go.bsky.app",
        "facebook.com", "fb.com", "fb.me", "m.facebook.com", "instagram.com", "threads.net",
        "tiktok.com", "vm.tiktok.com", "youtube.com", "m.youtube.com", "youtu.be",
        "reddit.com", "old.reddit.com", "redd.it", "news.ycombinator.com", "linkedin.com",
        "lnkd.in", "t.me", "wa.me", "bit.ly", "tinyurl.com", "ow.ly", "buff.ly", "goo.gl",
        "dlvr.it", "ift.tt", "trib.al", "shorturl.at", "rebrand.ly", "is.gd", "cutt.ly",
        "news.google.com", "google.com", "apple.news", "flipboard.com", "mastodon.social",
        "discord.com", "discord.gg", "twitch.tv", "pinterest.com", "pin.it",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Features:
    """The parts of one mention that decide its story.

    `key` is the normalised text (words joined by one space; ``""`` when nothing is left);
    `shingles` the sorted, unique 32-bit hashes of its word k-grams (empty for texts shorter
    than `min_words`, which only ever group on an exact `key`); `url` the canonical URL of the
    article it links to, if any; `reposts` the ids of mentions it reposts or quotes;
    `parent_id` the mention it replies to.
    """

    id: str
    published: float
    key: str
    shingles: npt.NDArray[np.uint32]
    url: str | None
    reposts: tuple[str, ...]
    parent_id: str | None


_EMPTY = np.zeros(0, dtype=np.uint32)


def normalise(text: str) -> tuple[list[str], tuple[str, ...]]:
    """The words that make a text's story, and whom it addresses.

    Words: folded (case, accents), without URLs, ``RT @x:`` prefixes, @handles, trailing
    hashtags, ``#`` marks, emoji or punctuation. Targets: the sorted @handles and trailing
    #hashtags, which a short text needs to say whom it is about (``je suis déçu @a`` is not
    ``je suis déçu @b``) but which retellings of a longer text add, drop and change freely.

    >>> normalise("RT @bob: @SNCF Mon TGV a 3h de retard!!! 😡 #TGV #fail https://t.co/x")
    (['mon', 'tgv', 'a', '3h', 'de', 'retard'], ('#fail', '#tgv', '@sncf'))
    """
    if "://" in text or "www." in text or "WWW." in text:
        text = _URL_RE.sub(" ", text)
    while text.lstrip()[:2].lower() in ("rt", "mt"):
        stripped = _RT_RE.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped
    handles: set[str] = set()
    if "@" in text:
        handles = {fold(h) for h in _HANDLE_RE.findall(text)}
        text = _HANDLE_RE.sub(" ", text)
    tokens = text.split()
    end = len(tokens)
    while end and (tokens[end - 1][0] == "#" or not _WORD_RE.search(tokens[end - 1])):
        end -= 1
    if end == len(tokens):
        return _WORD_RE.findall(fold(text)), tuple(sorted(handles))
    tags = {f"#{w}" for t in tokens[end:] if t[0] == "#" for w in _WORD_RE.findall(fold(t))}
    words = _WORD_RE.findall(fold(" ".join(tokens[:end] if end else tokens)))
    return words, tuple(sorted(handles | tags))


def normalise_words(text: str) -> list[str]:
    """The words of `normalise` alone.

    >>> normalise_words("RT @sncf: Mon TGV a 3h de retard!!! 😡 #SNCF https://t.co/x")
    ['mon', 'tgv', 'a', '3h', 'de', 'retard']
    """
    return normalise(text)[0]


def shingle_hashes(words: Sequence[str], k: int) -> npt.NDArray[np.uint32]:
    """Sorted unique 32-bit hashes of the word `k`-grams (one gram for `k` words or fewer)."""
    return _batch_shingles([words], k)[0]


def _batch_shingles(texts: Sequence[Sequence[str]], k: int) -> list[npt.NDArray[np.uint32]]:
    """`shingle_hashes` of many word lists in one numpy pass (words hashed once each)."""
    out = [_EMPTY] * len(texts)
    todo = [i for i, words in enumerate(texts) if words]
    if not todo:
        return out
    sizes = np.fromiter((len(texts[i]) for i in todo), dtype=np.int64, count=len(todo))
    flat = [w for i in todo for w in texts[i]]
    hashed = np.fromiter((zlib.crc32(w.encode()) for w in flat), np.uint32, count=len(flat))
    ends = np.cumsum(sizes)
    starts = ends - sizes
    # gram at position p: words p .. p+k-1, cut at its text's end (so short texts get one)
    position = np.arange(len(flat), dtype=np.int64)
    owner = np.repeat(np.arange(len(todo), dtype=np.int64), sizes)
    limit = ends[owner]
    grams = hashed.copy()
    for j in range(1, k):
        nxt = np.where(position + j < limit, np.roll(hashed, -j), np.uint32(0))
        grams = (grams * np.uint32(0x9E3779B1)) ^ nxt
    keep = (position + k <= limit) | (position == starts[owner])
    keep &= (position + k <= limit) | (sizes[owner] < k)
    keyed = (owner[keep].astype(np.uint64) << np.uint64(32)) | grams[keep].astype(np.uint64)
    unique = np.unique(keyed)
    values = (unique & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    bounds = np.searchsorted(unique >> np.uint64(32), np.arange(len(todo) + 1, dtype=np.uint64))
    for n, i in enumerate(todo):
        out[i] = values[bounds[n] : bounds[n + 1]].copy()
    return out


def batch_features(
    mentions: Sequence[Mention], *, k: int, min_words: int, urls: bool = True
) -> list[Features]:
    """The `Features` of each mention (title and text together, as a reader sees them).

    Texts of fewer than `min_words` words get no shingles and a key that keeps their targets
    (``je suis déçu | @brand``), so they only ever group with the same words to the same
    addressee.
    """
    normalised = [normalise(f"{m.title}\n{m.text}" if m.title else m.text) for m in mentions]
    long = [words if len(words) >= min_words else () for words, _ in normalised]
    shingles = _batch_shingles(long, k)
    out = []
    for m, (words, targets), grams in zip(mentions, normalised, shingles, strict=True):
        if len(words) >= min_words:
            key = " ".join(words)
        else:
            key = " ".join((*words, "|", *targets)) if words else ""
        out.append(
            Features(
                id=m.id,
                published=m.published_at.timestamp(),
                key=key,
                shingles=grams,
                url=article_url(m) if urls else None,
                reposts=linked_ids(m),
                parent_id=m.parent_id,
            )
        )
    return out


def features(mention: Mention, *, k: int, min_words: int, urls: bool = True) -> Features:
    """The `Features` of one mention (see `batch_features`)."""
    return batch_features([mention], k=k, min_words=min_words, urls=urls)[0]


# -- links: reposts and quotes ------------------------------------------------------------------


def linked_ids(mention: Mention) -> tuple[str, ...]:
    """Ids of the mentions that `mention` reposts or quotes, read from its raw payload.

    X: ``referenced_tweets`` of type ``quoted`` / ``retweeted``; Bluesky: a record embed
    (``app.bsky.embed.record`` / ``recordWithMedia``), from a Jetstream event or a post view;
    Mastodon: the ``quote`` of a status (reblogs are already unwrapped to the original by the
    source, so they *are* the original mention). Replies are not links here: see `parent_id`.
    """
    raw = mention.raw
    if not raw:
        return ()
    if mention.source == "x":
        refs = raw.get("referenced_tweets")
        return tuple(
            f"x:{r['id']}"
            for r in (refs if isinstance(refs, list) else ())
            if isinstance(r, Mapping)
            and r.get("type") in ("quoted", "retweeted")
            and isinstance(r.get("id"), str)
            and r["id"]
        )
    if mention.source == "bluesky":
        uri = _bluesky_quoted(_bluesky_record(raw).get("embed"))
        return (f"bluesky:{uri}",) if uri else ()
    if mention.source == "mastodon":
        quote = raw.get("quote")
        status = quote.get("quoted_status") if isinstance(quote, Mapping) else None
        uri = status.get("uri") if isinstance(status, Mapping) else None
        return (f"mastodon:{uri}",) if isinstance(uri, str) and uri else ()
    return ()


def _bluesky_record(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """The post record of a Jetstream event (``commit.record``) or a post view (``record``)."""
    commit = raw.get("commit")
    record = commit.get("record") if isinstance(commit, Mapping) else raw.get("record")
    return record if isinstance(record, Mapping) else {}


def _bluesky_quoted(embed: object) -> str | None:
    """The AT URI quoted by a record embed (or a record-with-media embed), if any."""
    if not isinstance(embed, Mapping):
        return None
    kind = embed.get("$type")
    ref = embed.get("record")
    if kind == "app.bsky.embed.recordWithMedia" and isinstance(ref, Mapping):
        ref = ref.get("record")
    elif kind != "app.bsky.embed.record":
        return None
    uri = ref.get("uri") if isinstance(ref, Mapping) else None
    return uri if isinstance(uri, str) and uri.startswith("at://") else None


# -- links: the article a mention shares ---------------------------------------------------------


def article_url(mention: Mention) -> str | None:
    """The canonical URL of the article a mention is or shares, or None.

    In order: the mention's own URL when it is not a platform post (a news article, a review
    page), then links the source expanded (X ``entities.urls``, a Bluesky external embed, a
    Mastodon preview card), then URLs written in the text. The first that looks like an
    article wins (see `_article`): platform and shortener hosts, home pages and short
    section paths never do.
    """
    for url in _candidate_urls(mention):
        found = _article(url)
        if found:
            return found
    return None


def _candidate_urls(mention: Mention) -> Iterator[str]:
    yield mention.url
    raw = mention.raw
    if mention.source == "x":
        entities = raw.get("entities")
        urls = entities.get("urls") if isinstance(entities, Mapping) else None
        for entry in urls if isinstance(urls, list) else ():
            if isinstance(entry, Mapping):
                value = entry.get("unwound_url") or entry.get("expanded_url")
                if isinstance(value, str):
                    yield value
    elif mention.source == "bluesky":
        embed = _bluesky_record(raw).get("embed")
        media = embed.get("media") if isinstance(embed, Mapping) else None
        for part in (embed, media):
            external = part.get("external") if isinstance(part, Mapping) else None
            uri = external.get("uri") if isinstance(external, Mapping) else None
            if isinstance(uri, str):
                yield uri
    elif mention.source == "mastodon":
        card = raw.get("card")
        url = card.get("url") if isinstance(card, Mapping) else None
        if isinstance(url, str):
            yield url
    text = mention.text
    if "://" in text or "www." in text.lower():
        yield from (m.group(0).rstrip(".,;:!?)]}»") for m in _URL_RE.finditer(text))


def _platform(host: str) -> bool:
    """True for a platform host or any of its sub-domains (``fr.m.wikipedia.org`` is not)."""
    host = host.removeprefix("www.")
    while host:
        if host in PLATFORM_HOSTS:
            return True
        host = host.partition(".")[2]
    return False


def _article(url: str) -> str | None:
    """`url` in canonical form when it can be an article: not a platform, a real path."""
    quick = _HOST_RE.match(url)
    if not quick or _platform(quick.group(1).lower()):
        return None
    if url[:4].lower() == "www.":
        url = f"https://{url}"
    try:
        canonical = canonical_url(url)
    except ValueError:
        return None
    parts = urlsplit(canonical)
    host = (parts.hostname or "").removeprefix("www.")
    if _platform(host):
        return None
    path = parts.path.strip("/")
    if not path or path.startswith("@") or "/@" in parts.path:
        return None  # a home page or a fediverse profile / post
    segments = path.split("/")
    last = segments[-1]
    looks_like_article = (
        len(segments) >= 2 or len(last) >= 12 or any(c.isdigit() for c in last) or parts.query
    )
    return canonical if looks_like_article else None


# -- MinHash signatures --------------------------------------------------------------------------


@cache
def permutations(num_perm: int, seed: int) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
    """datasketch's ``affine32`` permutation parameters ``(a, b)`` for `num_perm`, `seed`."""
    # Imported here: datasketch pulls in scipy (about 0.45 s), which every tocsin command
    # paid at start-up when the plugins were loaded, though only stories need it.
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed).permutations
    return a.astype(np.uint32), b.astype(np.uint32)


def _fmix32(h: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    """MurmurHash3's 32-bit finalizer (datasketch pre-mixes every input hash with it)."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def signatures(
    shingles: Sequence[npt.NDArray[np.uint32]], num_perm: int, seed: int = 1
) -> npt.NDArray[np.uint32]:
    """MinHash signatures, one row per (non-empty) shingle set, computed in one numpy pass.

    Row ``i`` equals ``MinHash(num_perm, seed, hashfunc=<the shingle hash>)`` updated with
    the shingles of set ``i``: datasketch's ``affine32`` scheme, vectorised over the batch.
    """
    if not shingles:
        return np.zeros((0, num_perm), dtype=np.uint32)
    a, b = permutations(num_perm, seed)
    lengths = np.fromiter((len(s) for s in shingles), dtype=np.int64, count=len(shingles))
    if np.any(lengths == 0):
        raise ValueError("every shingle set given to signatures() must be non-empty")
    flat = _fmix32(np.concatenate(shingles))
    hashed = flat[:, None] * a[None, :] + b[None, :]
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    return np.minimum.reduceat(hashed, starts, axis=0)
