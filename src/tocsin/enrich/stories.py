"""Stories: reposts, quotes and retellings of one complaint grouped under one `story_id`.

So that 500 retellings of one complaint show as one story of 500, not 500 rows. A mention
joins a story, in this order of evidence:

1. it already has one (`Mention.story_id` set, or its id was seen before): kept, never changed;
2. it reposts or quotes a known mention (X ``referenced_tweets``, a Bluesky record embed, a
   Mastodon quote): the story of that mention; a reply joins its parent's story only with
   `StoriesOptions.join_replies` (off by default, see ``docs/enrichment-stories.md``);
3. its normalised text (folded, no URLs, handles, ``RT @x:``, ``#``, emoji, punctuation) is
   exactly that of a recent mention;
4. for texts of at least `StoriesOptions.min_words` words: a recent mention whose word
   3-gram set has a Jaccard similarity of at least `StoriesOptions.threshold`, found with a
   MinHash LSH index and checked exactly;
5. it shares the same article (canonical URL, platform links excluded) as a recent mention;

otherwise it starts a story whose id is its own id. "Recent" means within
`StoriesOptions.window_hours` of the newest publication time seen (72 h): older entries expire,
and caps bound the memory (see `StoryIndex`). The index lives in memory; after a restart the
pipeline refills it with `StoryIndex.seed` from stored mentions, so story ids carry on.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from tocsin.clock import Clock
from tocsin.enrich.stories_features import Features, batch_features, signatures
from tocsin.enrich.stories_stats import StoryStats, stories_stats, story_stats
from tocsin.mention import Mention

__all__ = [
    "StoriesEnricher",
    "StoriesOptions",
    "StoryIndex",
    "StoryStats",
    "stories_stats",
    "story_stats",
]

_FUTURE_SLACK = timedelta(minutes=10)  # a post dated later than clock + this moves no time
_MIX = np.uint32(0x01000193)  # FNV prime, to fold the rows of a band into one key
_KEY_MASK = np.uint32((1 << 30) - 1)


@dataclass(frozen=True, slots=True)
class StoriesOptions:
    """Options of the stories enricher (defaults measured in ``docs/enrichment-stories.md``)."""

    #: Entries older than this (by publication time, behind the newest seen) expire.
    window_hours: float = 72.0
    #: Jaccard similarity of word 3-gram sets from which two texts are one story.
    threshold: float = 0.5
    #: Words per shingle.
    shingle_words: int = 3
    #: Texts with fewer words only join a story on an exactly equal normalised text.
    min_words: int = 6
    #: LSH bands x rows (= MinHash permutations): chance to find a pair of similarity s is
    #: ``1 - (1 - s**rows)**bands`` (0.97 at s = 0.5, 0.996 at s = 0.6 with 12 x 2).
    bands: int = 12
    rows: int = 2
    #: Seed of the MinHash permutations (changing it regroups nothing already assigned).
    seed: int = 1
    #: A text at least this similar to an indexed text of the same story is not indexed again:
    #: 500 reposts cost one index entry, not 500.
    duplicate: float = 0.9
    #: Replies join the story of the mention they answer (off: replies group by text only).
    join_replies: bool = False
    #: Mentions sharing the same article URL join one story.
    join_by_url: bool = True
    #: Most texts kept in the LSH index (least recently active evicted first): ~1.1 KB each.
    max_indexed: int = 50_000
    #: Most mention ids, exact texts and URLs remembered (least recently active evicted
    #: first): ~0.45 KB per mention.
    max_mentions: int = 200_000
    #: Most LSH candidates checked per mention (the newest ones).
    max_candidates: int = 64

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 < self.threshold <= 1.0:
            problems.append(f"threshold {self.threshold} must be in (0, 1]")
        if not self.threshold <= self.duplicate <= 1.0:
            problems.append(f"duplicate {self.duplicate} must be in [threshold, 1]")
        if self.window_hours <= 0:
            problems.append(f"window_hours {self.window_hours} must be positive")
        for name in ("shingle_words", "min_words", "bands", "rows", "max_candidates"):
            if getattr(self, name) < 1:
                problems.append(f"{name} {getattr(self, name)} must be at least 1")
        if self.max_indexed < 1 or self.max_mentions < 1:
            problems.append("max_indexed and max_mentions must be at least 1")
        if problems:
            raise ValueError("invalid stories options: " + "; ".join(problems))


class _Entry:
    """One text in the LSH index: its story, last activity, shingles and band keys."""

    __slots__ = ("keys", "last", "shingles", "story")

    def __init__(
        self, story: str, last: float, shingles: npt.NDArray[np.uint32], keys: bytes
    ) -> None:
        self.story = story
        self.last = last
        self.shingles = shingles
        self.keys = keys


class _Expiring:
    """A dict ``key -> [story, last activity, slot]`` that forgets the least recently active.

    One heap item per key; an item whose key was active since is pushed back (lazy refresh).
    """

    __slots__ = ("cap", "data", "heap")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.data: dict[Hashable, list[Any]] = {}
        self.heap: list[tuple[float, Hashable]] = []

    def add(self, key: Hashable, story: str, when: float, slot: int | None = None) -> None:
        self.data[key] = [story, when, slot]
        heapq.heappush(self.heap, (when, key))

    def expire(self, horizon: float) -> int:
        """Forget keys idle since before `horizon`, then the idlest beyond the cap."""
        removed = 0
        heap, data = self.heap, self.data
        while heap and (heap[0][0] < horizon or len(heap) > self.cap):
            when, key = heapq.heappop(heap)
            last = data[key][1]
            if last > when and last >= horizon:
                heapq.heappush(heap, (last, key))  # active since: back in at its true place
                continue
            del data[key]
            removed += 1
        return removed


class StoryIndex:
    """Recent mentions by story: ids, exact texts, article URLs and a MinHash LSH index.

    Memory is bounded twice: by time (entries idle for more than the window expire) and by
    count (`StoriesOptions.max_mentions` mentions at about 0.45 KB each for their id, exact
    text and URL; `StoriesOptions.max_indexed` LSH texts at about 1.1 KB each). Measured:
    74 MB for 50,000 mentions in the window; about 145 MB at both default caps, reached only
    under a sustained flood. Near-duplicates are never indexed twice.

    Time is the newest publication time seen, never ahead of the injected clock's now (plus
    ten minutes), so replays of old data group as they did live, and a post dated in the
    future cannot expire everything.
    """

    def __init__(self, options: StoriesOptions | None = None, clock: Clock | None = None) -> None:
        self.options = options or StoriesOptions()
        self.clock = clock
        opts = self.options
        self._window = opts.window_hours * 3600.0
        self._now = float("-inf")
        self._ids = _Expiring(opts.max_mentions)
        self._exact = _Expiring(opts.max_mentions)
        self._urls = _Expiring(opts.max_mentions)
        self._entries: dict[int, _Entry] = {}
        self._entry_heap: list[tuple[float, int]] = []
        self._tables: list[dict[int, int | list[int]]] = [{} for _ in range(opts.bands)]
        self._next_slot = 0

    # -- public API ----------------------------------------------------------------------------

    def assign(self, mentions: Sequence[Mention]) -> list[str]:
        """The story id of each mention, in order; each is learnt before the next is seen."""
        opts = self.options
        feats = batch_features(
            mentions, k=opts.shingle_words, min_words=opts.min_words, urls=opts.join_by_url
        )
        keys = self._band_keys(feats)
        return [
            self._assign(f, keys[i], m.story_id)
            for i, (m, f) in enumerate(zip(mentions, feats, strict=True))
        ]

    def seed(self, items: Iterable[tuple[str, str, datetime, str | None]]) -> int:
        """Refill the index after a restart from stored ``(id, text, published_at, story_id)``.

        Give the recent mentions oldest first (e.g. the last `window_hours` from the store); a
        stored story id is kept, a missing one is assigned as `assign` would. Returns how many
        items were read. Reposts and article links of seeded mentions are not known (only
        their text), so prefer `seed_mentions` where full mentions are at hand.
        """
        count = 0
        batch: list[Mention] = []
        for mention_id, text, published_at, story_id in items:
            source = mention_id.partition(":")[0]
            batch.append(
                Mention(
                    id=mention_id,
                    source=source,
                    url="",
                    text=text,
                    published_at=published_at,
                    seen_at=published_at,
                    story_id=story_id,
                )
            )
            if len(batch) >= 1000:
                count += len(self.assign(batch))
                batch.clear()
        return count + len(self.assign(batch))

    def seed_mentions(self, mentions: Iterable[Mention]) -> int:
        """Like `seed`, from full stored mentions (their reposts and links are learnt too)."""
        count = 0
        batch: list[Mention] = []
        for mention in mentions:
            batch.append(mention)
            if len(batch) >= 1000:
                count += len(self.assign(batch))
                batch.clear()
        return count + len(self.assign(batch))

    def story_of(self, mention_id: str) -> str | None:
        """The story of a recent mention, or None when unknown (or expired)."""
        known = self._ids.data.get(mention_id)
        return known[0] if known else None

    def expire(self, now: datetime | None = None) -> int:
        """Drop what is idle for more than the window before `now` (default: newest seen)."""
        if now is not None:
            self._now = max(self._now, now.timestamp())
        return self._expire()

    def sizes(self) -> dict[str, int]:
        """How much the index holds: ``mentions``, ``texts``, ``urls``, ``indexed``."""
        return {
            "mentions": len(self._ids.data),
            "texts": len(self._exact.data),
            "urls": len(self._urls.data),
            "indexed": len(self._entries),
        }

    # -- assignment ----------------------------------------------------------------------------

    def _assign(self, f: Features, keys: list[int] | None, preset: str | None) -> str:
        known = self._ids.data.get(f.id)
        if known is not None:
            return preset or str(known[0])  # seen before: its story never changes
        self._advance(f.published)
        story = preset or self._linked(f)
        when = f.published
        text = hash(f.key)  # the text's hash stands for it (saves ~110 bytes a mention)
        exact = self._exact.data.get(text) if f.key else None
        if exact is not None and (story is None or exact[0] == story):
            story = exact[0]
            exact[1] = max(exact[1], when)
            slot = exact[2]
            if slot is not None and slot in self._entries:
                entry = self._entries[slot]
                entry.last = max(entry.last, when)
        else:
            slot, similarity = self._best(f, keys) if keys is not None else (None, 0.0)
            if story is None and slot is not None and similarity >= self.options.threshold:
                story = self._entries[slot].story
            if story is None and f.url is not None:
                shared = self._urls.data.get(f.url)
                story = shared[0] if shared is not None else None
            if story is None:
                story = f.id
            if keys is not None:
                if slot is not None and (
                    similarity >= self.options.duplicate and self._entries[slot].story == story
                ):
                    entry = self._entries[slot]
                    entry.last = max(entry.last, when)
                else:
                    slot = self._insert(f, keys, story)
            if f.key and exact is None:
                self._exact.add(text, story, when, slot)
        self._remember_url(f, story)
        self._ids.add(f.id, story, when)
        self._expire_caps()
        return story

    def _linked(self, f: Features) -> str | None:
        """The story of a mention `f` reposts or quotes (or answers, with join_replies)."""
        data = self._ids.data
        for target in f.reposts:
            known = data.get(target)
            if known is not None:
                return str(known[0])
        if self.options.join_replies and f.parent_id is not None:
            known = data.get(f.parent_id)
            if known is not None:
                return str(known[0])
        return None

    def _remember_url(self, f: Features, story: str) -> None:
        if f.url is None:
            return
        shared = self._urls.data.get(f.url)
        if shared is None:
            self._urls.add(f.url, story, f.published)
        elif shared[0] == story:
            shared[1] = max(shared[1], f.published)

    # -- the LSH index ---------------------------------------------------------------------------

    def _band_keys(self, feats: Sequence[Features]) -> list[list[int] | None]:
        """One list of band keys per mention with shingles (None for short texts)."""
        opts = self.options
        todo = [i for i, f in enumerate(feats) if f.shingles.size]
        out: list[list[int] | None] = [None] * len(feats)
        if not todo:
            return out
        sigs = signatures([feats[i].shingles for i in todo], opts.bands * opts.rows, opts.seed)
        keys = np.zeros((len(todo), opts.bands), dtype=np.uint32)
        for r in range(opts.rows):
            keys = (keys * _MIX) ^ sigs[:, r :: opts.rows]
        keys &= _KEY_MASK  # 30-bit keys are the smallest Python ints (28 bytes, not 36)
        for i, row in zip(todo, keys.tolist(), strict=True):
            out[i] = row
        return out

    def _best(self, f: Features, keys: list[int]) -> tuple[int | None, float]:
        """The indexed text most similar to `f` (exact Jaccard of shingles) and its similarity."""
        candidates: set[int] = set()
        for table, key in zip(self._tables, keys, strict=True):
            found = table.get(key)
            if found is None:
                continue
            if isinstance(found, int):
                candidates.add(found)
            else:
                candidates.update(found)
        if not candidates:
            return None, 0.0
        if len(candidates) > self.options.max_candidates:
            candidates = set(heapq.nlargest(self.options.max_candidates, candidates))
        query = set(f.shingles.tolist())
        size = len(query)
        best, best_sim = None, 0.0
        for slot in sorted(candidates):
            other = self._entries[slot].shingles
            common = len(query.intersection(other.tolist()))
            sim = common / (size + len(other) - common)
            if sim > best_sim:
                best, best_sim = slot, sim
        return best, best_sim

    def _insert(self, f: Features, keys: list[int], story: str) -> int:
        slot = self._next_slot
        self._next_slot += 1
        packed = np.array(keys, dtype=np.uint32).tobytes()
        self._entries[slot] = _Entry(story, f.published, f.shingles, packed)
        heapq.heappush(self._entry_heap, (f.published, slot))
        for table, key in zip(self._tables, keys, strict=True):
            found = table.get(key)
            if found is None:
                table[key] = slot
            elif isinstance(found, int):
                table[key] = [found, slot]
            else:
                found.append(slot)
        return slot

    def _remove(self, slot: int) -> None:
        entry = self._entries.pop(slot)
        keys = np.frombuffer(entry.keys, dtype=np.uint32).tolist()
        for table, key in zip(self._tables, keys, strict=True):
            found = table[key]
            if isinstance(found, int):
                del table[key]
            else:
                found.remove(slot)
                if len(found) == 1:
                    table[key] = found[0]

    # -- time ----------------------------------------------------------------------------------

    def _advance(self, published: float) -> None:
        """Move time to `published` if newer (never past the clock's now plus some slack)."""
        if published <= self._now:
            return
        if self.clock is not None:
            published = min(published, (self.clock.now() + _FUTURE_SLACK).timestamp())
        if published > self._now:
            self._now = published
            self._expire()

    def _expire(self) -> int:
        horizon = self._now - self._window
        removed = self._ids.expire(horizon) + self._exact.expire(horizon)
        removed += self._urls.expire(horizon)
        return removed + self._expire_entries(horizon)

    def _expire_caps(self) -> None:
        if (
            len(self._entries) > self.options.max_indexed
            or len(self._ids.heap) > self._ids.cap
            or len(self._exact.heap) > self._exact.cap
        ):
            self._expire()

    def _expire_entries(self, horizon: float) -> int:
        removed = 0
        heap, entries, cap = self._entry_heap, self._entries, self.options.max_indexed
        while heap and (heap[0][0] < horizon or len(heap) > cap):
            when, slot = heapq.heappop(heap)
            last = entries[slot].last
            if last > when and last >= horizon:
                heapq.heappush(heap, (last, slot))
                continue
            self._remove(slot)
            removed += 1
        return removed


class StoriesEnricher:
    """Sets `Mention.story_id`: the id of the first mention of the story it belongs to."""

    name = "stories"
    description = (
        "Groups reposts, quotes and retellings of the same complaint into one story "
        "(`story_id` = the id of its first mention): exact normalised text, MinHash LSH over "
        "word 3-grams (Jaccard ≥ 0.5), repost/quote links and shared article URLs, within a "
        "72 h window. See `docs/enrichment.md`."
    )
    Options = StoriesOptions

    def __init__(
        self,
        options: StoriesOptions | None = None,
        *,
        clock: Clock | None = None,
        index: StoryIndex | None = None,
    ) -> None:
        self.index = index or StoryIndex(options, clock)
        self.options = self.index.options

    @property
    def history(self) -> timedelta:
        """How far back the index remembers (the pipeline refills it at start)."""
        return timedelta(hours=self.options.window_hours)

    def remember(self, items: Iterable[tuple[str, str, datetime, str | None]]) -> int:
        """Refill the index from stored ``(id, text, published_at, story_id)``, oldest first."""
        return self.index.seed(items)

    def health(self) -> str:
        """``ok`` and what the in-memory index holds."""
        sizes = self.index.sizes()
        return f"ok ({sizes['mentions']} recent mentions, {sizes['indexed']} indexed texts)"

    def enrich(self, mentions: Sequence[Mention]) -> list[Mention]:
        """One copy per mention, same order, with `story_id` set; in-batch repeats group."""
        stories = self.index.assign(mentions)
        return [
            m if m.story_id == s else dataclasses.replace(m, story_id=s)
            for m, s in zip(mentions, stories, strict=True)
        ]
