"""Story grouping throughput and quality: tocsin's StoryIndex beside exact-hash grouping.

    python bench/stories.py [--posts 50000] [--retell 0.2] [--batch 500] [--seed 7]
                            [--thresholds 0.3 0.4 0.5 0.6 0.7]

Generated tweets (French and English complaints about a few brands, Zipf word frequencies,
handles, hashtags, emoji, links), spread over 48 hours; a share ``--retell`` of them retell an
earlier tweet: a plain repost (``RT @x:``), a copy with one word changed, dropped or added, a
quote that adds a comment, a copy with other hashtags, emoji or handles. Engines, same tweets,
same batches, one core:

* exact    a dict from the lower-cased, whitespace-collapsed text to the first id (baseline);
* index    `StoryIndex.assign` (normalisation, MinHash, LSH, exact check, expiry);
* enrich   `StoriesEnricher.enrich`, i.e. the index plus `dataclasses.replace` per mention.

Quality is pairwise against the generator's truth (a retelling belongs to its original's
story). Then the labelled set of `tocsin.enrich.stories_labelled` is scored at each
``--thresholds`` value. Memory of the index after the run is measured with tracemalloc.
"""

from __future__ import annotations

import argparse
import random
import re
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from tocsin.enrich.stories import StoriesEnricher, StoriesOptions, StoryIndex
from tocsin.enrich.stories_labelled import evaluate
from tocsin.mention import Author, Mention

BRANDS = ["Colivraison", "SNCF", "QuickCart", "Telvio", "EnergieBleue", "Nimbus"]
FR = str.split(
    "le la les de du des un une et en est pas que qui mon ma mes pour sur dans avec "
    "depuis jamais encore toujours rien tout service client colis commande livraison retard "
    "train facture remboursement conseiller appli carte compte panne réseau internet "
    "téléphone attente semaines jours heures heure minutes livré reçu bloqué annulé perdu "
    "cassé répond répondre joindre impossible honteux inadmissible scandale déçu marre "
    "vraiment franchement merci bonjour encore fois personne message mail adresse suivi "
    "livreur entrepôt gare quai voie clim eau prix doublé augmenté explication"
)
EN = str.split(
    "the a an of to and in is not my for on with since never still nothing all customer "
    "service support order delivery late package refund account app card outage network "
    "internet phone wait weeks days hours minutes delivered received stuck cancelled lost "
    "broken answer reach impossible shameful unacceptable scandal disappointed tired really "
    "honestly thanks hello again time nobody message email address tracking driver store "
    "ticket charged twice price doubled explanation update device screen battery"
)
EMOJI = ["😡", "😤", "🙄", "👎", "🤬", "💀", "😭", ""]
COMMENTS = ["Same here!", "Pareil.", "Inadmissible.", "Unreal.", "Lamentable", "This!!", "+1"]


def _zipf_words(rng: random.Random, vocab: Sequence[str], n: int) -> list[str]:
    weights = [1.0 / (i + 1) for i in range(len(vocab))]
    return rng.choices(vocab, weights=weights, k=n)


def _original(rng: random.Random) -> str:
    vocab = FR if rng.random() < 0.5 else EN
    words = _zipf_words(rng, vocab, rng.randint(8, 30))
    brand = rng.choice(BRANDS)
    if rng.random() < 0.6:
        words.insert(0, f"@{brand}")
    else:
        words.insert(rng.randrange(len(words)), brand)
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words)), str(rng.randint(2, 99)))
    if rng.random() < 0.3:
        words.append(f"#{rng.choice(BRANDS)}")
    if rng.random() < 0.2:
        words.append(f"https://news.example/{rng.randint(1, 10**6)}-article")
    return " ".join(words) + " " + rng.choice(EMOJI)


def _retell(rng: random.Random, text: str, author: str) -> str:
    words = text.split()
    kind = rng.randrange(6)
    if kind == 0:
        return f"RT @{author}: {text}"
    if kind == 1 and len(words) > 3:
        words[rng.randrange(len(words))] = rng.choice(FR + EN)
    elif kind == 2 and len(words) > 8:
        del words[rng.randrange(len(words))]
    elif kind == 3:
        words.insert(rng.randrange(len(words)), rng.choice(FR + EN))
    elif kind == 4:
        return f"{rng.choice(COMMENTS)} « {text} »"
    else:
        words = [w for w in words if not w.startswith(("#", "@"))]
        words.append(f"#{rng.choice(BRANDS)}fail {rng.choice(EMOJI)}")
    return " ".join(words)


def generate(posts: int, retell: float, seed: int) -> tuple[list[Mention], list[int]]:
    """`posts` tweets and, for each, the index of its story's original (the truth)."""
    rng = random.Random(seed)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    step = 48 * 3600 / posts
    mentions: list[Mention] = []
    truth: list[int] = []
    for i in range(posts):
        if i and rng.random() < retell:
            j = rng.randrange(max(0, i - 2000), i)  # retell something recent
            text = _retell(rng, mentions[j].text, f"user{j}")
            root = truth[j]
        else:
            text, root = _original(rng), i
        when = start + timedelta(seconds=i * step + rng.uniform(-60, 60))
        mentions.append(
            Mention(
                id=f"x:{i}",
                source="x",
                url=f"https://x.com/user{i}/status/{i}",
                text=text,
                author=Author(handle=f"@user{i}"),
                published_at=when,
                seen_at=when,
            )
        )
        truth.append(root)
    return mentions, truth


_SPACES = re.compile(r"\s+")


def exact_hash(batches: Sequence[Sequence[Mention]]) -> list[str]:
    """Baseline: the first id of each lower-cased, whitespace-collapsed text."""
    first: dict[str, str] = {}
    out: list[str] = []
    for batch in batches:
        for m in batch:
            out.append(first.setdefault(_SPACES.sub(" ", m.text.lower()).strip(), m.id))
    return out


def pairwise(predicted: Sequence[str], truth: Sequence[int]) -> tuple[float, float]:
    """Pairwise precision and recall from the contingency counts."""

    def pairs(counts: Counter[object]) -> int:
        return sum(n * (n - 1) // 2 for n in counts.values())

    both = pairs(Counter(zip(predicted, truth, strict=True)))
    pred, true = pairs(Counter(predicted)), pairs(Counter(truth))
    return (both / pred if pred else 1.0), (both / true if true else 1.0)


def timed(run: Callable[[], list[str]]) -> tuple[list[str], float]:
    start = time.perf_counter()
    result = run()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=50_000)
    parser.add_argument("--retell", type=float, default=0.2)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.3, 0.4, 0.5, 0.6, 0.7])
    args = parser.parse_args()

    mentions, truth = generate(args.posts, args.retell, args.seed)
    batches = [mentions[i : i + args.batch] for i in range(0, len(mentions), args.batch)]
    print(f"{len(mentions)} tweets, {args.retell:.0%} retellings, batches of {args.batch}")

    index = StoryIndex()
    enricher = StoriesEnricher()
    runs: dict[str, Callable[[], list[str]]] = {
        "exact": lambda: exact_hash(batches),
        "index": lambda: [s for b in batches for s in index.assign(b)],
        "enrich": lambda: [m.story_id or "" for b in batches for m in enricher.enrich(b)],
    }
    results = {name: timed(run) for name, run in runs.items()}
    base = len(mentions) / results["exact"][1]
    print(f"{'engine':<8} {'mentions/s':>11} {'vs exact':>9} {'precision':>10} {'recall':>8}")
    for name, (stories, seconds) in results.items():
        rate = len(mentions) / seconds
        precision, recall = pairwise(stories, truth)
        print(f"{name:<8} {rate:>11,.0f} {rate / base:>8.2f}x {precision:>10.3f} {recall:>8.3f}")

    tracemalloc.start()
    fresh = StoryIndex(StoriesOptions())
    for b in batches:
        fresh.assign(b)
    used, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    sizes = fresh.sizes()
    print(
        f"index memory: {used / 2**20:.1f} MiB for {sizes['mentions']} mentions "
        f"({sizes['indexed']} indexed texts, {sizes['texts']} exact texts, {sizes['urls']} URLs)"
    )

    print("\nlabelled set (stories_labelled.STORIES), pairwise:")
    print(f"{'threshold':>9} {'precision':>10} {'recall':>8} {'f1':>6}")
    for threshold in args.thresholds:
        score = evaluate(threshold)
        print(f"{threshold:>9.2f} {score.precision:>10.3f} {score.recall:>8.3f} {score.f1:>6.3f}")


if __name__ == "__main__":
    main()
