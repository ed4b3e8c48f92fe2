"""Web page latency on a big store: Overview, Search and Inbox beside a static file, one run.

    python bench/web.py [--mentions 1000000] [--days 90] [--db /tmp/tocsin-bench-web.db]
                        [--reuse] [--requests 30] [--batch 2000] [--seed 1]
                        [--only overview inbox] [--gc-freeze] [--json FILE] [--fill-only]
                        [--authors]

Fills a SQLite store with `--mentions` generated mentions published over the last `--days`
days (five watches, one tagged ``brand`` and two ``competitor``, see `WATCHES`; mixes of
sources, languages, sentiment, reach, priority, urgency and stories close to a real
workspace, with a day/night rhythm), written the
way the pipeline writes them: `Store.save_batch` in batches (so the rollups are maintained as
in production) then `TriageStore.ingest` (so the inbox holds what the pipeline would put
there). `--reuse` keeps a store filled by an earlier run with the same options (generating
a million mentions takes minutes); the file is upgraded to the latest migration first.

Then it measures, in process (FastAPI's TestClient, a signed-in responder with a real
session cookie), `--requests` requests of each page, interleaved so that noise on the
machine spreads over every page alike, after two warm-up requests each:

* the static baseline, ``/static/style.css`` (the app's middleware, no database);
* the Overview for 1h, 24h, 7d and 30d;
* Search for a common term (in most mentions) and a rare one (about 1 in 10,000);
* the Inbox (``/inbox``, the "to handle" view).

and prints p50/p95 per page with ratios to the baseline, then whether the goal of issue 7
(Overview and Inbox p95 under 150 ms on SQLite) is met. Beside the elapsed time it prints the
CPU time the process used per request (all its threads): on a machine shared with other work,
a p95 far above the CPU p95 is time spent waiting for a CPU, not tocsin's. `--gc-freeze`
moves the heap built at startup out of the garbage collector's generations, to show what the
full collections (every ten requests or so) cost; `tocsin run` does that after startup.

`--authors` measures only the Overview's top authors, `Store.top_authors` (the author rollup),
for each range beside the baseline, the same exact answer computed from the mentions by one
SQL query (sqlite3 on the same file), and beside the 500-mention sample the Overview used
before (`Store.search` then ranking in Python; not exact); it checks that tocsin and the
baseline agree author by author.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import random
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import argon2
from fastapi.testclient import TestClient
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from tocsin.clock import FakeClock
from tocsin.config import Settings
from tocsin.mention import Author, Mention, Metrics, Sentiment
from tocsin.store import Store
from tocsin.store.sessions import SessionStore
from tocsin.store.triage import TriageStore
from tocsin.store.users import UserStore
from tocsin.web import create_app, overview_data, sessions

NOW = datetime(2026, 11, 25, 12, 0, 30, tzinfo=UTC)
"""The bench's fixed "now" (the app runs on a fake clock), so a reused store stays valid."""
GOAL_MS = 150.0
EMAIL = "bench@example.org"
RARE = "zarkelbot"
"""The rare search term: put in about one mention in 10,000."""

# (name, query, tags, weight): how often a mention matches the watch (a mention matches one
# watch, or two when the second watch is drawn too).
WATCHES: tuple[tuple[str, str, list[str], float], ...] = (
    ("acme", "acme", ["brand"], 0.45),
    ("acme-ceo", '"jane doe" OR acme_ceo', [], 0.05),
    ("rival", "rival", ["competitor"], 0.30),
    ("globex", "globex", ["competitor"], 0.15),
    ("recall", "recall OR rappel", [], 0.05),
)
SOURCES = (("rss", 0.30), ("bluesky", 0.30), ("mastodon", 0.15), ("reddit", 0.20), ("yt", 0.05))
LANGS = (("fr", 0.5), ("en", 0.4), ("de", 0.1))
SENTIMENTS = (("neutral", 0.55), ("negative", 0.22), ("positive", 0.18), (None, 0.05))
WORDS = (
    "service",
    "client",
    "panne",
    "remboursement",
    "livraison",
    "commande",
    "produit",
    "prix",
    "qualité",
    "retard",
    "support",
    "app",
    "update",
    "bug",
    "crash",
    "refund",
    "delivery",
    "order",
    "price",
    "quality",
    "late",
    "great",
    "awful",
    "love",
    "hate",
    "merci",
    "thanks",
    "problème",
    "problem",
    "nouveau",
    "new",
    "magasin",
    "store",
    "boycott",
)
URGENT = ("legal_threat", "safety", "data_breach", "boycott_call", "media")


def _pick(rng: random.Random, choices: tuple[tuple[str | None, float], ...]) -> str | None:
    x = rng.random()
    for value, weight in choices:
        x -= weight
        if x < 0:
            return value
    return choices[-1][0]


def settings() -> Settings:
    return Settings.model_validate(
        {
            "organisation": {"name": "Acme", "languages": ["en"]},
            "watches": [{"name": n, "query": q, "tags": t} for n, q, t, _ in WATCHES],
        }
    )


def generate(n: int, days: int, seed: int) -> Iterator[Mention]:
    """`n` mentions published from ``NOW - days`` to `NOW`, oldest first."""
    rng = random.Random(seed)
    span = days * 86400.0
    start = NOW - timedelta(days=days)
    weights = [w for *_, w in WATCHES]
    names = [w[0] for w in WATCHES]
    story = 0
    for i in range(n):
        # evenly spread, a little jitter, and a day/night rhythm (more posts in the day)
        u = (i + rng.random()) / n * span
        u -= 0.3 * 86400 / (2 * math.pi) * math.sin(2 * math.pi * u / 86400)
        at = start + timedelta(seconds=min(max(u, 0.0), span - 1))
        source = _pick(rng, SOURCES) or "rss"
        watches = [rng.choices(names, weights)[0]]
        if rng.random() < 0.15:
            watches.append(rng.choices(names, weights)[0])
        label = _pick(rng, SENTIMENTS)
        followers = int(min(rng.lognormvariate(5.5, 2.2), 50_000_000))
        reach = int(followers * rng.uniform(0.05, 0.6))
        negative = label == "negative"
        urgent = (rng.choice(URGENT),) if rng.random() < 0.004 else ()
        complaint = negative and rng.random() < 0.3
        priority = min(
            100.0,
            6 * math.log10(reach + 1)
            + (18 if negative else 0)
            + (30 if urgent else 0)
            + rng.random() * 25,
        )
        if rng.random() < 0.2:  # a fifth of the posts belong to stories of ~8 posts
            if rng.random() < 0.12:
                story += 1
            story_id: str | None = f"{source}:s{story}"
        else:
            story_id = None
        words = rng.sample(WORDS, 8)
        words.insert(rng.randrange(9), "acme" if "acme" in watches else watches[0])
        if rng.random() < 1e-4:
            words.insert(rng.randrange(10), RARE)
        handle = f"user{int(rng.paretovariate(1.2)) % 200_000}"
        yield Mention(
            id=f"{source}:{i}",
            source=source,
            url=f"https://{source}.example.org/p/{i}",
            text=" ".join(words) + f" #{i}",
            title="" if source != "rss" else f"Article {i}",
            published_at=at,
            seen_at=at + timedelta(seconds=rng.randrange(30, 300)),
            author=Author(
                handle=handle, name=handle.title(), followers=followers, verified=followers > 1e5
            ),
            lang=_pick(rng, LANGS),
            metrics=Metrics(likes=rng.randrange(50), reposts=rng.randrange(10)),
            watches=tuple(dict.fromkeys(watches)),
            sentiment=Sentiment(label, -0.6 if negative else 0.5) if label else None,
            demand=rng.choice(("apology", "fix", "compensation")) if complaint else None,
            complaint=complaint,
            urgent=urgent,
            reach=reach,
            priority=round(priority, 1),
            priority_factors={"reach": round(6 * math.log10(reach + 1), 1)},
            story_id=story_id,
        )


def fill(store: Store, args: argparse.Namespace) -> None:
    triage = TriageStore(store)
    batch: list[Mention] = []
    columns = (
        TextColumn("filling"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>6,.0f}/s"),
        TimeRemainingColumn(),
    )
    started = time.perf_counter()
    with Progress(*columns) as progress:
        task = progress.add_task("fill", total=args.mentions, rate=0.0)
        for m in generate(args.mentions, args.days, args.seed):
            batch.append(m)
            if len(batch) == args.batch:
                _save(store, triage, batch)
                progress.update(
                    task,
                    advance=len(batch),
                    rate=progress.tasks[0].completed / (time.perf_counter() - started + 1e-9),
                )
                batch = []
        if batch:
            _save(store, triage, batch)
            progress.update(task, advance=len(batch))
    for source, _ in SOURCES:
        store.record_health(source, source, ok=True, items=40, at=NOW - timedelta(minutes=1))
    print(f"filled {store.count():,} mentions in {time.perf_counter() - started:,.0f} s")


def _save(store: Store, triage: TriageStore, batch: list[Mention]) -> None:
    now = max(m.seen_at for m in batch)
    store.save_batch("bench", batch, cursor=batch[-1].id, now=now)
    triage.ingest(batch, now)


def signed_in(store: Store, app_now: datetime) -> str:
    """A session cookie for the bench's responder (created on first use)."""
    users = UserStore(store)
    record = users.by_email(EMAIL)
    if record is None:
        hasher = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        record = users.add(EMAIL, "Bench", "responder", hasher.hash("bench bench"), now=app_now)
    token, session = sessions.start_session(record.id, app_now)
    SessionStore(store).create_session(session)
    return token


@dataclass(frozen=True, slots=True)
class Page:
    name: str
    path: str
    goal: bool = False  # counted in the goal (Overview and Inbox)


PAGES = (
    Page("static /static/style.css", "/static/style.css"),
    Page("overview 1h", "/overview?range=1h", goal=True),
    Page("overview 24h", "/overview?range=24h", goal=True),
    Page("overview 7d", "/overview?range=7d", goal=True),
    Page("overview 30d", "/overview?range=30d", goal=True),
    Page("search common (acme)", "/search?q=acme"),
    Page(f"search rare ({RARE})", f"/search?q={RARE}"),
    Page("inbox", "/inbox", goal=True),
)


def measure(
    store: Store, requests: int, pages: tuple[Page, ...], *, freeze: bool = False
) -> dict[str, Timings]:
    app = create_app(settings(), store, secret="bench", clock=FakeClock(NOW))
    client = TestClient(app, follow_redirects=False)
    client.cookies.set(sessions.COOKIE, signed_in(store, NOW))
    if freeze:  # what a server could do once started: the startup heap leaves the GC's view
        gc.collect()
        gc.freeze()
    times = {p.name: Timings([], []) for p in pages}
    for rnd in range(requests + 2):
        for page in pages:
            wall, cpu = time.perf_counter(), time.process_time()
            response = client.get(page.path)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if response.status_code != 200:
                sys.exit(f"{page.path}: HTTP {response.status_code}\n{response.text[:500]}")
            if rnd >= 2:
                times[page.name].wall.append(wall * 1000)
                times[page.name].cpu.append(cpu * 1000)
    return times


@dataclass(frozen=True, slots=True)
class Timings:
    """Milliseconds per request: elapsed, and CPU used by this process (all its threads)."""

    wall: list[float]
    cpu: list[float]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def report(
    times: dict[str, Timings], pages: tuple[Page, ...], args: argparse.Namespace, mentions: int
) -> bool:
    base = times[pages[0].name].wall
    base50, base95 = percentile(base, 0.5), percentile(base, 0.95)
    print(
        f"\n{mentions:,} mentions over {args.days} days (SQLite), {args.requests} requests per"
        f" page, in process (TestClient); ms; load average {os.getloadavg()[0]:.1f}"
        f" on {os.cpu_count()} CPUs"
    )
    print(
        f"  {'page':28} {'p50':>8} {'p95':>8} {'p50/static':>11} {'p95/static':>11}"
        f" {'cpu p50':>8} {'cpu p95':>8}  goal"
    )
    met = cpu_met = True
    rows = {}
    for page in pages:
        t = times[page.name]
        p50, p95 = percentile(t.wall, 0.5), percentile(t.wall, 0.95)
        c50, c95 = percentile(t.cpu, 0.5), percentile(t.cpu, 0.95)
        rows[page.name] = {"p50": round(p50, 1), "p95": round(p95, 1), "cpu_p95": round(c95, 1)}
        mark = ""
        if page.goal:
            met = met and p95 < GOAL_MS
            cpu_met = cpu_met and c95 < GOAL_MS
            mark = "ok" if p95 < GOAL_MS else "MISSED"
        print(
            f"  {page.name:28} {p50:8.1f} {p95:8.1f} {p50 / base50:10.1f}x {p95 / base95:10.1f}x"
            f" {c50:8.1f} {c95:8.1f}  {mark}"
        )
    print(
        f"goal (Overview and Inbox p95 < {GOAL_MS:.0f} ms on SQLite): {'met' if met else 'NOT met'}"
    )
    if not met and cpu_met:
        print(
            "  (but met on CPU time: the misses are time spent waiting for a CPU that other"
            " processes held; rerun on a quiet machine)"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return met


# -- --authors: the top-authors query alone ------------------------------------------------------

EXACT_SQL = """
SELECT m.source, CASE WHEN m.author_handle <> '' THEN m.author_handle ELSE m.author_name END AS h,
       MAX(max(COALESCE(m.reach, 0), COALESCE(m.author_followers, 0), 0)) AS r, COUNT(*) AS n
FROM mentions m
WHERE m.published_at >= ? AND m.published_at < ?
  AND EXISTS (SELECT 1 FROM mention_watches w WHERE w.mention_id = m.id)
GROUP BY 1, 2 HAVING h <> '' ORDER BY r DESC, n DESC, h, m.source LIMIT 10
"""
"""The baseline: the exact top 10 from the mentions (SQLite keeps naive UTC text)."""
SAMPLE = 500
"""What the Overview ranked before the author rollup: the newest 500 mentions of the range."""


def exact_top(conn: sqlite3.Connection, start: datetime, end: datetime) -> list[tuple[Any, ...]]:
    def text(at: datetime) -> str:
        return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    return conn.execute(EXACT_SQL, (text(start), text(end))).fetchall()


def sample_top(store: Store, start: datetime, end: datetime) -> list[tuple[Any, ...]]:
    """The Overview's former ranking: authors of the newest `SAMPLE` mentions of the range."""
    found: dict[tuple[str, str], list[int]] = {}
    for m in store.search(since=start, until=end, limit=SAMPLE):
        handle = m.author.handle or m.author.name
        if m.watches and handle:
            seen = found.setdefault((m.source, handle), [0, 0])
            seen[0] = max(seen[0], m.reach or 0, m.author.followers or 0)
            seen[1] += 1
    ranked = sorted(found.items(), key=lambda x: (-x[1][0], -x[1][1], x[0][1], x[0][0]))
    return [(s, h, r, n) for (s, h), (r, n) in ranked[:10]]


def measure_authors(store: Store, path: Path, requests: int) -> bool:
    """Times of the three ways per range (ms), interleaved; True when tocsin is exact."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    ways: dict[str, Callable[[datetime, datetime], list[tuple[Any, ...]]]] = {
        "baseline (exact SQL)": lambda s, e: exact_top(conn, s, e),
        "before (500 sample)": lambda s, e: sample_top(store, s, e),
        "tocsin (author rollup)": lambda s, e: [
            (a.source, a.handle, a.reach, a.mentions) for a in store.top_authors(start=s, end=e)
        ],
    }
    exact = True
    print(f"\ntop authors, {requests} runs per range and way, in process; ms")
    print(f"  {'range':6} {'way':24} {'p50':>8} {'p95':>8} {'p50/base':>9}  same as baseline")
    for name, time_range in overview_data.RANGES.items():
        start, end = overview_data.window(time_range, NOW)
        times: dict[str, list[float]] = {way: [] for way in ways}
        answers: dict[str, list[tuple[Any, ...]]] = {}
        for _ in range(requests + 1):  # the first run of each warms caches: not counted
            for way, run in ways.items():
                began = time.perf_counter()
                answers[way] = [tuple(row) for row in run(start, end)]
                times[way].append((time.perf_counter() - began) * 1000)
        base = percentile(times["baseline (exact SQL)"][1:], 0.5)
        for way, values in times.items():
            same = answers[way] == answers["baseline (exact SQL)"]
            exact = exact and (same or way.startswith("before"))
            p50, p95 = percentile(values[1:], 0.5), percentile(values[1:], 0.95)
            print(f"  {name:6} {way:24} {p50:8.2f} {p95:8.2f} {p50 / base:8.2f}x  {same}")
    conn.close()
    print(f"tocsin's top authors {'equal' if exact else 'DIFFER FROM'} the exact ones")
    return exact


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--db", default="/tmp/tocsin-bench-web.db", help="SQLite file")
    parser.add_argument("--reuse", action="store_true", help="keep an already filled --db")
    parser.add_argument("--requests", type=int, default=30, help="measured requests per page")
    parser.add_argument("--batch", type=int, default=2000, help="mentions per save_batch")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fill-only", action="store_true", help="fill the store and stop")
    parser.add_argument("--json", default=None, help="also write p50/p95 per page here")
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() once the app is built, as `tocsin run` does after startup",
    )
    parser.add_argument(
        "--only", nargs="*", default=(), help="measure only pages whose name has one of these"
    )
    parser.add_argument(
        "--authors", action="store_true", help="measure the top-authors query, not the pages"
    )
    args = parser.parse_args()
    path = Path(args.db)
    if not args.reuse:
        for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            leftover.unlink(missing_ok=True)
    elif not path.exists():
        sys.exit(f"--reuse: {path} does not exist (run once without --reuse)")
    store = Store.open(f"sqlite:///{path}")
    started = time.perf_counter()
    store.upgrade()  # on a reused store made by older code: its pending migrations
    if args.reuse:
        print(f"reusing {path} (upgrade: {time.perf_counter() - started:.1f} s)")
    else:
        fill(store, args)
    if args.fill_only:
        return
    if args.authors:
        try:
            exact = measure_authors(store, path, args.requests)
        finally:
            store.close()
        sys.exit(0 if exact else 1)
    try:
        pages = tuple(
            p
            for i, p in enumerate(PAGES)
            if i == 0 or not args.only or any(w in p.name for w in args.only)
        )
        times = measure(store, args.requests, pages, freeze=args.gc_freeze)
        met = report(times, pages, args, store.count())
    finally:
        store.close()
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
