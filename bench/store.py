"""Store write throughput: tocsin's `save_batch` beside a bare sqlite3 upsert, in one run.

    python bench/store.py [--mentions 20000] [--batch 500] [--database-url URL]

The baseline is the least work any tool must do to keep mentions idempotently: one
`INSERT ... ON CONFLICT(id) DO UPDATE` per row with `executemany`, one transaction per batch,
in a SQLite file with WAL. tocsin does more in the same transaction (full-text index over
folded text, watch links, cursor); the ratio says what that costs. With --database-url, tocsin
also runs on that database (e.g. PostgreSQL) while the baseline stays on SQLite.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tocsin.mention import Author, Mention, Metrics
from tocsin.store import Store

T0 = datetime(2026, 11, 1, tzinfo=UTC)
WORDS = "Acme service client panne remboursement boycott great awful refund école café".split()  # noqa: SIM905


def mentions(n: int) -> list[Mention]:
    return [
        Mention(
            id=f"bench:{i}",
            source="bench",
            url=f"https://forum.example.org/t/{i}",
            text=" ".join(WORDS[(i * k) % len(WORDS)] for k in range(1, 14)) + f" #{i}",
            title=f"Sujet {i}",
            published_at=T0 + timedelta(seconds=i),
            seen_at=T0,
            author=Author(handle=f"@user{i % 500}", followers=i % 10_000),
            metrics=Metrics(likes=i % 7),
            watches=("brand",) if i % 2 else ("brand", "crisis"),
        )
        for i in range(n)
    ]


def baseline(path: Path) -> Callable[[Sequence[Mention], int], None]:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE m (id TEXT PRIMARY KEY, url TEXT, title TEXT, text TEXT, likes INT)")
    sql = (
        "INSERT INTO m VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
        "url=excluded.url, title=excluded.title, text=excluded.text, likes=excluded.likes"
    )

    def save(batch: Sequence[Mention], _k: int) -> None:
        with conn:
            conn.executemany(sql, [(m.id, m.url, m.title, m.text, m.metrics.likes) for m in batch])

    return save


def tocsin_store(url: str) -> Callable[[Sequence[Mention], int], None]:
    store = Store.open(url)
    store.upgrade()

    def save(batch: Sequence[Mention], k: int) -> None:
        store.save_batch("bench", batch, cursor=str(k), now=T0)

    return save


def rate(save: Callable[[Sequence[Mention], int], None], rows: list[Mention], size: int) -> float:
    start = time.perf_counter()
    for k in range(0, len(rows), size):
        save(rows[k : k + size], k)
    return len(rows) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--database-url", default=None, help="run tocsin on this database")
    args = parser.parse_args()
    rows = mentions(args.mentions)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'tocsin.db'}"
        runs = {
            "baseline (bare sqlite3 upsert)": baseline(Path(tmp) / "base.db"),
            "tocsin": tocsin_store(url),
        }
        results: dict[str, tuple[float, float]] = {}
        for name, save in runs.items():
            results[name] = (rate(save, rows, args.batch), rate(save, rows, args.batch))
    print(f"{args.mentions} mentions, batches of {args.batch}; rows/s (insert, then update)")
    for name, (ins, upd) in results.items():
        print(f"  {name:32} insert {ins:>9,.0f}   update {upd:>9,.0f}")
    (b_ins, b_upd), (t_ins, t_upd) = results.values()
    print(f"  tocsin/baseline: insert {t_ins / b_ins:.2f}x, update {t_upd / b_upd:.2f}x")


if __name__ == "__main__":
    main()
