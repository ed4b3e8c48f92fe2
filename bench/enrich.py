"""Enrichment throughput: the default chain and each enricher, beside a trivial baseline.

    python bench/enrich.py [--corpus FILE ...] [--mentions N] [--batch 200] [--seed S]

Run it on one core: ``OMP_NUM_THREADS=1 taskset -c 0 python bench/enrich.py``.
Mentions are built from the corpus lines (e.g.
``../shared/data/sentiment/*/val_text.txt``) or, without ``--corpus``, from generated French
and English complaints, praise and questions (20 % are retellings of an earlier text, as a
stream of reposts would be). Each enricher runs on the output of the previous ones, as in
the pipeline, in batches of ``--batch``. The baseline is the cheapest enricher possible:
one ``dataclasses.replace`` per mention, setting a constant language.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tocsin.enrich.base import Enricher
from tocsin.mention import Author, Mention, Metrics
from tocsin.runtime import enrichers

console = Console()
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)

_SUBJECTS = ["@Acme", "Acme", "le service client d'Acme", "Acme Bank", "the Acme app"]
_TEMPLATES = [
    "{s} m'a encore facturé deux fois, je veux être remboursé !",
    "Trois semaines que j'attends mon colis, {s} ne répond pas. Inadmissible.",
    "{s} : comment je fais pour changer mon adresse de livraison ?",
    "Merci {s} pour la réactivité, problème réglé en dix minutes 👏",
    "Je vais porter plainte contre {s}, mes données ont fuité",
    "{s} charged me twice and nobody answers, I want a refund",
    "How do I reset my password on {s}? The link never arrives",
    "Great job {s}, the new update is really smooth",
    "Boycott {s} until they apologise for this",
    "{s} outage again this morning, can't pay at the store. Fix it!",
    "Not bad at all, {s}, not bad at all",
    "Pas du tout satisfait de {s}, plus jamais",
]
_WORDS = [
    "vraiment",
    "encore",
    "toujours",
    "aujourd'hui",
    "really",
    "again",
    "today",
    "seriously",
    "franchement",
]


def generated(n: int, rng: random.Random) -> list[str]:
    texts: list[str] = []
    for _ in range(n):
        if texts and rng.random() < 0.2:
            texts.append("RT " + rng.choice(texts[-500:]))
            continue
        text = rng.choice(_TEMPLATES).format(s=rng.choice(_SUBJECTS))
        extra = " ".join(rng.choices(_WORDS, k=rng.randint(0, 4)))
        texts.append(f"{text} {extra}".strip())
    return texts


def from_corpus(paths: Sequence[Path], n: int, rng: random.Random) -> list[str]:
    lines = [
        line.strip()
        for path in paths
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
        if line.strip()
    ]
    return [rng.choice(lines) for _ in range(n)]


def mentions_of(texts: Sequence[str], rng: random.Random) -> list[Mention]:
    return [
        Mention(
            id=f"bench:{i}",
            source="bench",
            url=f"https://example.org/{i}",
            text=text,
            published_at=T0 + timedelta(seconds=i),
            seen_at=T0 + timedelta(seconds=i + 60),
            author=Author(handle=f"u{i % 997}", followers=int(rng.paretovariate(1.2) * 50)),
            metrics=Metrics(likes=rng.randint(0, 50), reposts=rng.randint(0, 5)),
        )
        for i, text in enumerate(texts)
    ]


class Baseline:
    name = "baseline (replace)"

    def enrich(self, mentions: Sequence[Mention]) -> list[Mention]:
        return [dataclasses.replace(m, lang="fr") for m in mentions]


def timed(enricher: Enricher, batches: list[list[Mention]]) -> tuple[float, list[list[Mention]]]:
    start = time.perf_counter()
    out = [enricher.enrich(batch) for batch in batches]
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, nargs="*", default=[])
    parser.add_argument("--mentions", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    texts = (
        from_corpus(args.corpus, args.mentions, rng)
        if args.corpus
        else generated(args.mentions, rng)
    )
    mentions = mentions_of(texts, rng)
    batches = [mentions[i : i + args.batch] for i in range(0, len(mentions), args.batch)]
    chain = enrichers()
    console.print(
        f"{len(mentions):,} mentions in batches of {args.batch}; chain: "
        + " -> ".join(e.name for e in chain)
    )

    table = Table("stage", "mentions/s", "x baseline", "share of chain time")
    base_seconds, _ = timed(Baseline(), batches)
    rows: list[tuple[str, float]] = []
    current = batches
    total = 0.0
    for enricher in chain:
        seconds, current = timed(enricher, current)
        rows.append((enricher.name, seconds))
        total += seconds
    n = len(mentions)
    table.add_row("baseline (replace)", f"{n / base_seconds:,.0f}", "1.00", "")
    for name, seconds in rows:
        table.add_row(
            name, f"{n / seconds:,.0f}", f"{base_seconds / seconds:.4f}", f"{seconds / total:.0%}"
        )
    table.add_row(
        "[bold]whole chain[/]",
        f"[bold]{n / total:,.0f}[/]",
        f"{base_seconds / total:.4f}",
        "100%",
    )
    console.print(table)
    stories = {m.story_id for batch in current for m in batch}
    console.print(f"{len(stories):,} stories among {n:,} mentions")


if __name__ == "__main__":
    main()
