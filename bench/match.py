"""Watch matching throughput: tocsin's compiled Matcher beside two baselines, in one run.

    python bench/match.py [--corpus FILE] [--queries 100 1000 10000 100000] [--posts N]
                          [--seed S] [--budget SECONDS] [--lang fr]
                          [--brands synthetic|corpus] [--brand-share 0.03]

Engines, same posts and same queries, one core:

* tocsin   `Matcher(watches).match_text(text, lang=...)` (anchor prefilter + exact evaluation);
* doc      `Matcher.match(Document.from_text(...))`, the pipeline's path;
* naive    every query evaluated alone per post with `tocsin.query.matches`;
* fts5     batch percolation: a batch of posts in an in-memory FTS5 table
           (``unicode61 remove_diacritics 2`` over `index_text`), every query's `to_fts5` run
           as MATCH; queries FTS5 cannot express exactly (field filters, hashtags, ``{Case}``,
           ``?``, ordered NEAR, emoji...) are post-filtered with `matches`, and queries with no
           FTS5 expression are evaluated on every post of the batch (what the store does).

Without --corpus, posts are generated (French and English, Zipf word frequencies, hashtags,
handles, emoji). With the default ``--brands synthetic``, watch ``i`` watches its own
made-up brand name (a rare proper noun), and ``--brand-share`` (3 %) of the posts name a
brand, drawn Zipf over all the brands, so a firehose post rarely names a watched brand (the
table says how many do); ``--brands corpus`` is the older generator (brands are the corpus'
rarer words, shared by many watches). Each watch combines its brand with the corpus'
common words: phrases, OR lists, NOT exclusions, NEAR, wildcards, field filters.
Slow engines run until --budget seconds are spent and are extrapolated (the table says on
how many posts). All engines must agree on every post they all ran before any speed prints.
"""

from __future__ import annotations

import argparse
import bisect
import random
import resource
import sqlite3
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from tocsin.query import And, Document, Matcher, Near, Node, Not, Or, Phrase, Term, matches, parse
from tocsin.query import Wildcard as Wild
from tocsin.query.text import tokenize
from tocsin.store.fts import index_text, to_fts5

console = Console(stderr=True)
Post = tuple[str, str | None]  # (text, lang)
Result = list[tuple[str, ...]]


def _split(words: str) -> list[str]:
    return words.split()


FR = _split(
    "de la le et les des en un une du est que pour qui dans a pas sur au il ne se ce plus par "
    "je on avec tout mais nous comme ou si leur y dit elle avant deux aussi bien ça été même "
    "très fait sans service client après être avoir merci vraiment encore toujours rien "
    "problème commande livraison remboursement colis retard réponse attente numéro journée "
    "chez moi vous trop super nul génial déçu arnaque écoute téléphone panne réseau fibre "
    "magasin prix qualité produit équipe conseiller délai semaine mois hier aujourd'hui"
)
EN = _split(
    "the to and a of i is in it you that for on my this with be was have are not but so just "
    "at me your all can they we about like from no get what out if one up do will there time "
    "customer service order refund delivery package late support phone outage network "
    "store price quality product team week month today yesterday really still never always "
    "great awful love hate thanks worst best broken waiting account app update issue fixed"
)
SYLLABLES = _split("ka lo mi ra ne to vu pi sé zo la ré bi fa do gu te ni po xa qui ber vel tan")
EMOJI = ["🔥", "😡", "👍", "🙏", "😂", "💔"]
# Brand names are built from syllables the other made-up words never use, so a brand is a
# rare proper noun that only occurs where a post names it.
BRAND_SYLLABLES = _split(
    "zar kel mox tri van dor quin bex lum syn hal cor vex nio pra sto gri fen jul wat "
    "kry osk ult bram dex fyr gon hex ix jor kov lyx myr nov orb plex quar rix sol tor"
)


def _made_words(rng: random.Random, n: int) -> list[str]:
    out: set[str] = set()
    while len(out) < n:
        out.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(out)


def _zipf_weights(n: int, s: float = 1.07) -> list[float]:
    total, out = 0.0, []
    for rank in range(1, n + 1):
        total += 1.0 / rank**s
        out.append(total)
    return out


def generate_posts(n: int, seed: int) -> list[Post]:
    """`n` French / English posts: Zipf-distributed words, tags, handles, emoji.

    One post in ten names a brand (a made-up capitalised word, itself Zipf-distributed).
    """
    rng = random.Random(seed)
    tail = _made_words(rng, 20_000)
    brands = [w.capitalize() for w in _made_words(random.Random(seed + 1), 3_000)]
    vocab = {"fr": FR + tail[:10_000], "en": EN + tail[10_000:]}
    cum = {lang: _zipf_weights(len(words)) for lang, words in vocab.items()}
    brand_cum = _zipf_weights(len(brands))
    posts: list[Post] = []
    for _ in range(n):
        lang = "fr" if rng.random() < 0.55 else "en"
        words = rng.choices(vocab[lang], cum_weights=cum[lang], k=rng.randint(4, 30))
        for _ in range(rng.choices((0, 1, 2), weights=(90, 8, 2))[0]):
            brand = rng.choices(brands, cum_weights=brand_cum)[0]
            mark = rng.choice(("", "", "", "#", "@"))
            words.insert(rng.randrange(len(words) + 1), mark + brand)
        if rng.random() < 0.15:
            words.append(rng.choice(EMOJI))
        seps = rng.choices((" ", ", ", ". ", " ! ", " : "), weights=(20, 3, 2, 1, 1), k=len(words))
        text = "".join(w + s for w, s in zip(words, seps, strict=True)).strip()
        posts.append((text[:1].upper() + text[1:], lang))
    return posts


def brand_names(n: int, seed: int) -> list[str]:
    """`n` distinct synthetic brand names (lower case, 5+ letters), in a seeded order."""
    rng = random.Random(seed)
    out: dict[str, None] = {}
    while len(out) < n:
        name = "".join(rng.choice(BRAND_SYLLABLES) for _ in range(rng.choice((2, 3, 3, 4))))
        if len(name) >= 5:
            out.setdefault(name)
    return list(out)


def mention_brands(
    posts: Sequence[Post], brands: list[str], share: float, seed: int
) -> tuple[list[Post], list[int]]:
    """Name a brand in a `share` of the posts; (new posts, best brand rank per post).

    Brands are drawn Zipf (s = 1) over `brands`, so popular brands are mentioned most; one
    brand post in ten names two. Watch ``i`` watches ``brands[i]``: with ``n`` watches a post
    mentions a watched brand when its rank is below ``n``. The rank is ``len(brands)`` for a
    post that names none.
    """
    rng = random.Random(seed)
    cum = _zipf_weights(len(brands), 1.0)
    out: list[Post] = []
    ranks: list[int] = []
    for text, lang in posts:
        best = len(brands)
        if rng.random() < share:
            words = text.split(" ")
            for _ in range(2 if rng.random() < 0.1 else 1):
                rank = bisect.bisect_left(cum, rng.random() * cum[-1])
                best = min(best, rank)
                name = brands[rank]
                form = rng.choices(("cap", "low", "#", "@"), weights=(70, 20, 5, 5))[0]
                written = {"cap": name.capitalize(), "low": name}.get(form, form + name)
                words.insert(rng.randrange(len(words) + 1), written)
            text = " ".join(words)
        out.append((text, lang))
        ranks.append(best)
    return out, ranks


def read_corpus(path: Path, lang: str | None, limit: int) -> list[Post]:
    """One post per non-empty line."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    posts = [(line, lang) for line in lines if line]
    return posts[:limit] if limit else posts


def vocabulary(posts: Sequence[Post]) -> tuple[list[str], list[str]]:
    """(brand-like rarer words, context words) from the corpus' own word counts."""
    counts = Counter(w for text, _ in posts for w in tokenize(text).words if w.isalpha())
    ranked = [w for w, c in counts.most_common() if len(w) > 2]
    brands = [w for w in ranked[500:] if counts[w] >= 2 and len(w) >= 6] or ranked
    return brands, ranked[20:2000] or ranked


def _query(rng: random.Random, brand: str, ctx: Callable[[], str]) -> str:
    kind = rng.choices(range(10), weights=(20, 15, 10, 12, 8, 8, 8, 7, 7, 5))[0]
    if kind == 0:
        return brand
    if kind == 1:
        return f"{brand} ({' OR '.join(ctx() for _ in range(rng.randint(2, 5)))})"
    if kind == 2:
        return f'"{brand} {ctx()}" OR "{ctx()} {brand}"'
    if kind == 3:
        return f"{brand} -{ctx()} -{ctx()}"
    if kind == 4:
        return f"{brand} NEAR/{rng.randint(2, 8)} ({ctx()} OR {ctx()})"
    if kind == 5:
        stem = brand[:-2] if len(brand) >= 7 else brand
        return f"{stem}* ({ctx()} OR {ctx()}*)"
    if kind == 6:
        return f"{brand} lang:{rng.choice(('fr', 'en'))}"
    if kind == 7:
        return f"#{brand} OR {{{brand.capitalize()}}} OR @{brand}"
    if kind == 8:
        return f"{brand} OR {brand}s OR {brand[:-1]}?"
    return f'"{ctx()} {ctx()}"~2 {brand} -source:reddit'


def generate_queries(
    n: int, brands: list[str], context: list[str], seed: int, *, own: bool = False
) -> dict[str, Node]:
    """`n` watches; watch ``i`` watches ``brands[i]`` (`own`) or a brand drawn (mildly Zipf).

    ``own=False`` is the older generator (``--brands corpus``): brands are the corpus'
    rarer words, shared by many watches, and many posts match.
    """
    rng = random.Random(seed)
    cum = _zipf_weights(len(brands), 0.3)

    def brand(i: int) -> str:
        return brands[i] if own else rng.choices(brands, cum_weights=cum)[0]

    return {
        f"q{i:06d}": parse(_query(rng, brand(i), lambda: rng.choice(context))) for i in range(n)
    }


def fts5_exact(node: Node) -> bool:
    """Whether `to_fts5(node)` finds exactly the matches (conservative)."""
    if isinstance(node, Term):
        text = node.text
        return not node.case_sensitive and text[:1] not in ("#", "@") and text.isascii()
    if isinstance(node, Phrase):
        return node.slop == 0
    if isinstance(node, Wild):
        body = node.pattern
        return body[:1] not in ("#", "@", "*") and body.count("*") == 1 and body.endswith("*")
    if isinstance(node, Near):
        return not node.ordered and fts5_exact(node.left) and fts5_exact(node.right)
    if isinstance(node, Not):
        return fts5_exact(node.child)
    if isinstance(node, And):
        return any(not isinstance(c, Not) for c in node.children) and all(
            fts5_exact(c) for c in node.children
        )
    if isinstance(node, Or):
        return all(fts5_exact(c) and not isinstance(c, Not) for c in node.children)
    return False


@dataclass
class Engine:
    """A matching engine: `setup(watches)` returns `run(posts) -> results`."""

    name: str
    setup: Callable[[dict[str, Node]], Callable[[Sequence[Post]], Result]]
    chunk: int = 500


def _tocsin(watches: dict[str, Node]) -> Callable[[Sequence[Post]], Result]:
    match = Matcher(watches).match_text
    return lambda posts: [match(text, lang=lang) for text, lang in posts]


def _doc(watches: dict[str, Node]) -> Callable[[Sequence[Post]], Result]:
    match = Matcher(watches).match
    return lambda posts: [match(Document.from_text(t, lang=lang)) for t, lang in posts]


def _naive(watches: dict[str, Node]) -> Callable[[Sequence[Post]], Result]:
    items = sorted(watches.items())

    def run(posts: Sequence[Post]) -> Result:
        out = []
        for text, lang in posts:
            doc = Document.from_text(text, lang=lang)
            out.append(tuple(name for name, node in items if matches(node, doc)))
        return out

    return run


def _fts5(watches: dict[str, Node]) -> Callable[[Sequence[Post]], Result]:
    plans = [(n, q, to_fts5(q), fts5_exact(q)) for n, q in sorted(watches.items())]
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE p USING fts5(body, tokenize='unicode61 remove_diacritics 2')")

    def run(posts: Sequence[Post]) -> Result:
        db.execute("DELETE FROM p")
        db.executemany(
            "INSERT INTO p(rowid, body) VALUES (?, ?)",
            ((i, index_text("", text)) for i, (text, _) in enumerate(posts)),
        )
        docs: dict[int, Document] = {}

        def doc(i: int) -> Document:
            if i not in docs:
                docs[i] = Document.from_text(posts[i][0], lang=posts[i][1])
            return docs[i]

        hits: list[list[str]] = [[] for _ in posts]
        for name, node, expr, exact in plans:
            if expr is None:
                rows: Sequence[int] = range(len(posts))
            else:
                rows = [r for (r,) in db.execute("SELECT rowid FROM p WHERE p MATCH ?", (expr,))]
            for r in rows:
                if exact or matches(node, doc(r)):
                    hits[r].append(name)
        return [tuple(h) for h in hits]

    return run


ENGINES = [
    Engine("tocsin", _tocsin),
    Engine("doc", _doc),
    Engine("naive", _naive, chunk=50),
    Engine("fts5", _fts5, chunk=2000),
]


@dataclass
class Timing:
    """What one engine did at one query count."""

    results: Result
    seconds: float
    setup_s: float

    @property
    def rate(self) -> float:
        return len(self.results) / self.seconds if self.seconds else float("inf")


def run_engine(
    engine: Engine, watches: dict[str, Node], posts: Sequence[Post], budget: float, bar: Progress
) -> Timing:
    """Run `engine` over `posts` in chunks until done or `budget` seconds are spent."""
    task = bar.add_task(f"{engine.name:7} {len(watches):>7} queries", total=len(posts))
    t0 = time.perf_counter()
    run = engine.setup(watches)
    setup = time.perf_counter() - t0
    results: Result = []
    spent = 0.0
    chunk = engine.chunk if engine.name != "fts5" else min(engine.chunk, len(posts))
    while len(results) < len(posts) and spent < budget:
        part = posts[len(results) : len(results) + chunk]
        t1 = time.perf_counter()
        results.extend(run(part))
        spent += time.perf_counter() - t1
        bar.update(task, completed=len(results))
    bar.remove_task(task)
    return Timing(results, spent, setup)


def check_agreement(timings: dict[str, Timing], posts: Sequence[Post]) -> int:
    """Exit unless every engine gave the same watches on every post they all ran."""
    common = min(len(t.results) for t in timings.values())
    ref_name, ref = next(iter(timings.items()))
    for name, timing in timings.items():
        for i in range(common):
            if timing.results[i] != ref.results[i]:
                console.print(f"[red]MISMATCH[/] {name} vs {ref_name} on post {i}: {posts[i][0]!r}")
                console.print(f"  {name}: {timing.results[i]}\n  {ref_name}: {ref.results[i]}")
                sys.exit(1)
    return common


def matcher_memory(watches: dict[str, Node], posts: Sequence[Post]) -> float:
    """Peak Python memory (MiB, tracemalloc) to compile the watches and match 1,000 posts."""
    tracemalloc.start()
    matcher = Matcher(watches)
    for text, lang in posts[:1000]:
        matcher.match_text(text, lang=lang)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def bench_size(
    n: int,
    brands: list[str],
    context: list[str],
    posts: Sequence[Post],
    args: argparse.Namespace,
    ranks: list[int] | None = None,
) -> dict[str, object]:
    """All engines at `n` queries; the row of the result table."""
    watches = generate_queries(n, brands, context, args.seed, own=ranks is not None)
    timings: dict[str, Timing] = {}
    with Progress(console=console, transient=True) as bar:
        for engine in ENGINES:
            budget = float("inf") if engine.name in ("tocsin", "doc") else args.budget
            timings[engine.name] = run_engine(engine, watches, posts, budget, bar)
    common = check_agreement(timings, posts)
    matched = sum(1 for r in timings["tocsin"].results if r)
    exact = sum(fts5_exact(node) for node in watches.values())
    return {
        "n": n,
        "t": timings,
        "common": common,
        "matched": matched / len(posts),
        "fts_exact": exact / n,
        "mem": matcher_memory(watches, posts),
        "brand": None if ranks is None else sum(r < n for r in ranks) / len(posts),
        "compile": timings["tocsin"].setup_s,
    }


def report(rows: list[dict[str, object]], total_posts: int) -> Table:
    """The result table."""
    table = Table(title=f"posts/s on one core ({total_posts:,} posts)")
    columns = "queries tocsin doc-path naive fts5 tocsin/naive tocsin/fts5 compile-s matcher-MiB"
    for col in [*columns.split(), "agreed on", "watched brand", "posts matched"]:
        table.add_column(col, justify="right")
    for row in rows:
        t: dict[str, Timing] = row["t"]  # type: ignore[assignment]
        table.add_row(
            f"{row['n']:,}",
            f"{t['tocsin'].rate:,.0f}",
            f"{t['doc'].rate:,.0f}",
            f"{t['naive'].rate:,.0f} ({len(t['naive'].results):,})",
            f"{t['fts5'].rate:,.0f} ({len(t['fts5'].results):,})",
            f"{t['tocsin'].rate / t['naive'].rate:,.0f}x",
            f"{t['tocsin'].rate / t['fts5'].rate:,.1f}x",
            f"{row['compile']:.2f}",
            f"{row['mem']:.1f}",
            f"{row['common']:,}",
            "-" if row["brand"] is None else f"{row['brand']:.1%}",
            f"{row['matched']:.1%}",
        )
    return table


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, help="text file, one post per line")
    parser.add_argument("--lang", help="language of the --corpus posts (for lang: filters)")
    parser.add_argument("--queries", type=int, nargs="+", default=[100, 1000, 10000, 100000])
    parser.add_argument("--posts", type=int, default=20_000, help="posts (generated or read)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--budget", type=float, default=15.0, help="seconds per slow engine")
    parser.add_argument(
        "--brands",
        choices=("synthetic", "corpus"),
        default="synthetic",
        help="synthetic: each watch its own made-up brand, named in --brand-share of the posts "
        "(default); corpus: the older generator, brands drawn from the corpus' rarer words",
    )
    parser.add_argument(
        "--brand-share", type=float, default=0.03, help="share of posts naming a brand"
    )
    args = parser.parse_args(argv)
    if args.corpus:
        posts = read_corpus(args.corpus, args.lang, args.posts)
    else:
        posts = generate_posts(args.posts, args.seed)
    brands, context = vocabulary(posts)
    ranks: list[int] | None = None
    if args.brands == "synthetic":
        brands = brand_names(max(100_000, *args.queries), args.seed + 2)
        posts, ranks = mention_brands(posts, brands, args.brand_share, args.seed + 3)
        named = sum(r < len(brands) for r in ranks) / len(posts)
        console.print(f"{len(posts):,} posts, {named:.1%} naming one of {len(brands):,} brands")
    else:
        console.print(f"{len(posts):,} posts, {len(brands):,} brand-like words; seed {args.seed}")
    rows = []
    for n in args.queries:
        rows.append(bench_size(n, brands, context, posts, args, ranks))
        console.print(f"{n:,} queries done; all engines agree")
    Console(width=220).print(report(rows, len(posts)))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS {peak:,.0f} MiB; naive/fts5 (n) = extrapolated from n posts")


if __name__ == "__main__":
    main()
