"""Alert latency through the real `tocsin run`: Jetstream replay -> tocsin -> webhook.

Issue 6, point 7. The bench

1. creates a temporary workspace (`tocsin init`, then its own ``tocsin.toml``): SQLite, one
   watch on a made-up brand, one ``bluesky`` source whose only instance is a local Jetstream
   replay server, authors not resolved, no backfill; a ``json://`` channel to a local webhook
   receiver and an ``urgent`` alert rule (no throttle) paging it; then starts
   ``python -m tocsin run`` as a subprocess, as a user runs it;
2. replays ``app.bsky.feed.post`` commit events in Jetstream's JSON format at ``--rate``
   posts/s (after ``--warmup`` seconds that are not counted), of which ``--match-share``
   name the brand with an urgent text (a legal threat, a safety issue, a data breach...)
   carrying a unique token; every text is distinct, so stories never merge two of them;
3. receives the alerts on an asyncio HTTP server and finds each token in the JSON body;
4. prints p50/p95/p99/max of the latency from a post handed to the WebSocket by the replay to
   its alert read by the receiver, the alerts sent/received/missing/duplicated, and beside
   them the replay's own lateness (against its schedule) and the receiver's own overhead;
   then, from the workspace's database, where the time went (batching and queue, then
   enrichment + storing + the alert rules, then the outbox and the webhook call);
5. stops tocsin with SIGTERM, says where the workspace and its log are if anything failed,
   and exits non-zero when alerts are missing (or duplicated, or tocsin failed).

    .venv/bin/python bench/alert_latency.py                      # 2,000 posts/s, 30 s, 1 %
    .venv/bin/python bench/alert_latency.py --batch-seconds 0.05 # try another source batching

The replay, the receiver and this script share one asyncio loop in one process (both clocks
are `time.perf_counter`; wall-clock `time.time` is kept too, to compare with the timestamps
tocsin writes in its database). tocsin runs in its own process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

BRAND = "Zorvex"
DID_PREFIX = "did:plc:tocsinbench"
TOKEN = re.compile(rb"ZVXTOK(\d{8})")

# Urgent phrases the shipped demand rules recognise (legal threat, safety, data breach).
URGENT = (
    "I will sue {brand}, see you in court",
    "{brand} leaked my data, this is a data breach",
    "my {brand} kettle caught fire, fire hazard",
    "{brand} heater exploded, dangerous product",
    "my lawyer will contact {brand}",
    "je vais porter plainte contre {brand}",
    "{brand} exposed our personal data in a breach",
)


def _check_texts() -> None:
    """Every urgent text must be urgent for tocsin's rules, or its alerts would be missing."""
    from tocsin.enrich.demand import analyze

    for template in URGENT:
        text = template.format(brand=BRAND)
        if not analyze(text).urgent:
            raise SystemExit(f"bench text {text!r} is not urgent for tocsin's demand rules")


_WORD_LIST = (
    "amber basil cedar delta ember fjord garnet harbor indigo jasper kestrel lumen meadow "
    "nectar onyx pepper quartz raven saffron tundra umber velvet willow xenon yarrow zephyr "
    "anchor beacon canyon dune estuary falcon glacier heron island juniper kelp lagoon maple "
    "nimbus orchid prairie quill reef sierra thistle upland valley walnut yucca zinnia "
    "morning evening tuesday parcel ticket invoice neighbour garden window bridge river"
)
WORDS = tuple(_WORD_LIST.split(" "))
FILLER = (
    "Try RSV for a good time !!",
    "what a day at the market, the strawberries are back",
    "new blog post about sourdough hydration is up",
    "Quelqu'un a vu le match hier soir ?",
    "reading a great book about lighthouses",
    "the train was late again this morning",
    "Bonne journée à tous, il fait beau à Lyon",
    "just finished a 10k run, legs are jelly",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def _ms(values: list[float]) -> str:
    if not values:
        return "n/a"
    return (
        f"p50 {_pct(values, 50) * 1000:7.1f} ms  p95 {_pct(values, 95) * 1000:7.1f} ms  "
        f"p99 {_pct(values, 99) * 1000:7.1f} ms  max {max(values) * 1000:7.1f} ms"
    )


# --- the Jetstream replay -----------------------------------------------------------------


@dataclass
class Sent:
    """One matching post as the replay sent it."""

    token: int
    rkey: str
    scheduled: float  # perf_counter
    at: float = 0.0  # perf_counter, once handed to the WebSocket
    wall: float = 0.0  # time.time, same moment
    counted: bool = True  # False during the warm-up


@dataclass
class Replay:
    """A Jetstream-like server: every connected client gets the live stream (no history)."""

    rate: float
    share: float
    seed: int
    clients: set[ServerConnection] = field(default_factory=set)
    connections: list[str] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    matching: dict[int, Sent] = field(default_factory=dict)
    lateness: list[float] = field(default_factory=list)
    posts: int = 0
    started: float = 0.0  # perf_counter when the replay began
    lost: int = 0  # posts produced while no client was connected

    async def handler(self, ws: ServerConnection) -> None:
        self.connections.append(ws.request.path if ws.request else "")
        self.clients.add(ws)
        self.connected.set()
        try:
            await ws.wait_closed()
        finally:
            self.clients.discard(ws)

    def _event(self, n: int, text: str, now_wall: float) -> tuple[str, str]:
        rkey = f"3lbench{n:09d}"
        did = f"{DID_PREFIX}{n % 997:04d}"
        created = datetime.fromtimestamp(now_wall, UTC).isoformat(timespec="milliseconds")
        event = {
            "did": did,
            "time_us": int(now_wall * 1_000_000),
            "kind": "commit",
            "commit": {
                "rev": f"3lrev{n:09d}",
                "operation": "create",
                "collection": "app.bsky.feed.post",
                "rkey": rkey,
                "record": {
                    "$type": "app.bsky.feed.post",
                    "createdAt": created.replace("+00:00", "Z"),
                    "langs": ["fr" if n % 5 == 0 else "en"],
                    "text": text,
                },
                "cid": f"bafybench{n:09d}",
            },
        }
        return json.dumps(event, ensure_ascii=False, separators=(",", ":")), rkey

    def _text(self, rng: random.Random, n: int, matching: bool) -> str:
        words = " ".join(rng.sample(WORDS, 6))
        if not matching:
            return f"{FILLER[n % len(FILLER)]} {words} #{n}"
        urgent = URGENT[n % len(URGENT)].format(brand=BRAND)
        return f"ZVXTOK{n:08d} {urgent}. {words}"

    async def run(self, warmup: float, seconds: float) -> None:
        """Send posts on schedule for `warmup` + `seconds`; matching ones are remembered."""
        rng = random.Random(self.seed)
        total = int((warmup + seconds) * self.rate)
        counted_from = int(warmup * self.rate)
        start = self.started = time.perf_counter()
        n = 0
        while n < total:
            now = time.perf_counter()
            due = min(total, int((now - start) * self.rate) + 1)
            while n < due:
                scheduled = start + n / self.rate
                matching = rng.random() < self.share
                wall = time.time()
                line, rkey = self._event(n, self._text(rng, n, matching), wall)
                if not self.clients:
                    self.lost += 1
                for ws in list(self.clients):
                    with contextlib.suppress(ConnectionClosed):
                        await ws.send(line)
                sent_at = time.perf_counter()
                self.lateness.append(sent_at - scheduled)
                if matching and self.clients:
                    self.matching[n] = Sent(
                        n, rkey, scheduled, sent_at, time.time(), counted=n >= counted_from
                    )
                n += 1
                self.posts += 1
            if n < total:
                await asyncio.sleep(max(0.0, start + n / self.rate - time.perf_counter()))


# --- the webhook receiver -----------------------------------------------------------------


@dataclass
class Received:
    """One alert as the receiver read it."""

    token: int
    at: float  # perf_counter, once the body was read and its token found
    wall: float
    overhead: float  # from the end of the request's headers to `at`


@dataclass
class Receiver:
    """A minimal HTTP/1.1 server (keep-alive, Content-Length bodies): records every POST."""

    alerts: list[Received] = field(default_factory=list)
    untokened: int = 0
    requests: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                started = time.perf_counter()
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip() or 0)
                body = await reader.readexactly(length) if length else b""
                self.requests += 1
                tokens = {int(t) for t in TOKEN.findall(body)}
                at, wall = time.perf_counter(), time.time()
                for token in tokens:
                    self.alerts.append(Received(token, at, wall, at - started))
                if not tokens:
                    self.untokened += 1
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 2\r\n\r\n{}"
                )
                await writer.drain()
        finally:
            writer.close()


# --- tocsin's workspace and process ---------------------------------------------------------


def _config(js_port: int, hook_port: int, args: argparse.Namespace) -> str:
    batching = ""
    if args.batch_size is not None:
        batching += f"batch_size = {args.batch_size}\n"
    if args.batch_seconds is not None:
        batching += f"batch_seconds = {args.batch_seconds}\n"
    return f"""# Written by bench/alert_latency.py
[organisation]
name = "{BRAND}"
languages = ["en", "fr"]
timezone = "UTC"

[database]
url = "sqlite:///tocsin.db"

[[watches]]
name = "brand"
query = "{BRAND.lower()}"

[[sources]]
type = "bluesky"
name = "jetstream"
instances = ["ws://127.0.0.1:{js_port}/subscribe"]
resolve_matched_authors = false
appview_url = "http://127.0.0.1:9"
{batching}
[[channels]]
name = "hook"
urls = ["json://127.0.0.1:{hook_port}/hook"]

[[alerts]]
name = "page-urgent"
when = "urgent"
throttle_minutes = 0
channels = ["hook"]

[notify]
digest = "off"

[run]
log_level = "{args.log_level}"
"""


def _tocsin(*args: str) -> list[str]:
    return [sys.executable, "-m", "tocsin", *args]


def _env(web_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env["TOCSIN_WEB_PORT"] = str(web_port)
    return env


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process `pid` so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _when(value: object) -> float | None:
    """A UTC datetime stored by tocsin (text on SQLite) as epoch seconds."""
    if value is None:
        return None
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _stages(db: Path, sent: dict[str, Sent], got: dict[int, Received]) -> dict[str, list[float]]:
    """Per alert: post sent -> mention seen by the writer -> alert stored -> webhook got it."""
    stages: dict[str, list[float]] = {"batching + queue": [], "store + rules": [], "outbox": []}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
            rows = conn.execute(
                "SELECT m.id, m.seen_at, a.created_at FROM alerts a "
                "JOIN mentions m ON m.id = a.mention_id"
            ).fetchall()
    except sqlite3.Error as exc:
        print(f"(no breakdown: {exc})")
        return stages
    for mention_id, seen_at, created_at in rows:
        post = sent.get(str(mention_id).rsplit("/", 1)[-1])
        seen, created = _when(seen_at), _when(created_at)
        if post is None or not post.counted or seen is None or created is None:
            continue
        stages["batching + queue"].append(seen - post.wall)
        stages["store + rules"].append(created - seen)
        if post.token in got:
            stages["outbox"].append(got[post.token].wall - created)
    return stages


async def _bench(args: argparse.Namespace, folder: Path) -> int:
    replay = Replay(args.rate, args.match_share, args.seed)
    receiver = Receiver()
    compression = "deflate" if args.deflate else None
    js = await serve(replay.handler, "127.0.0.1", 0, max_size=2**20, compression=compression)
    hook = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    js_port = js.sockets[0].getsockname()[1]
    hook_port = hook.sockets[0].getsockname()[1]
    web_port = _free_port()
    env = _env(web_port)

    subprocess.run(
        _tocsin("init", str(folder), "--organisation", BRAND),
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (folder / "tocsin.toml").write_text(_config(js_port, hook_port, args), encoding="utf-8")
    log = folder / "run.log"
    print(f"workspace {folder}; tocsin run log {log}")
    with log.open("wb") as out:
        profile = ["-m", "cProfile", "-o", str(args.profile)] if args.profile else []
        command = [sys.executable, *profile, "-m", "tocsin", "run", "-w", str(folder)]
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    failed = ""
    try:
        started = time.perf_counter()
        while not replay.connected.is_set():
            if proc.poll() is not None:
                raise RuntimeError(f"tocsin run exited with {proc.returncode} before connecting")
            if time.perf_counter() - started > args.connect_timeout:
                raise RuntimeError("tocsin run did not connect to the Jetstream replay")
            await asyncio.sleep(0.05)
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"{os.cpu_count()} CPU(s), load average {load} (other work slows tocsin down)")
        print(
            f"tocsin connected after {time.perf_counter() - started:.1f} s; replaying "
            f"{args.rate:g} posts/s for {args.warmup:g} s (warm-up) + {args.seconds:g} s"
        )
        cpu_before, replay_started = _cpu_seconds(proc.pid), time.perf_counter()
        own_before = time.process_time()
        await replay.run(args.warmup, args.seconds)
        cpu_after, replay_ended = _cpu_seconds(proc.pid), time.perf_counter()
        took = replay_ended - replay_started
        own = (time.process_time() - own_before) / took
        if cpu_before is not None and cpu_after is not None:
            share = (cpu_after - cpu_before) / took
            print(f"CPU during the replay: tocsin run {share:.0%} of one core, bench {own:.0%}")
        wanted = {t for t, s in replay.matching.items() if s.counted}
        deadline = time.perf_counter() + args.drain
        while time.perf_counter() < deadline:
            if wanted <= {r.token for r in receiver.alerts}:
                break
            if proc.poll() is not None:
                break
            await asyncio.sleep(0.05)
        if proc.poll() is not None:
            failed = f"tocsin run exited early with {proc.returncode}"
    except RuntimeError as exc:
        failed = str(exc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(proc.wait, 60)
            except subprocess.TimeoutExpired:
                proc.kill()
                failed = failed or "tocsin run did not stop within 60 s of SIGTERM"
        if proc.returncode not in (0, None) and not failed:
            failed = f"tocsin run exited with {proc.returncode} after SIGTERM"
        js.close()
        hook.close()
        await js.wait_closed()
        await hook.wait_closed()

    return _report(args, replay, receiver, folder, log, failed)


def _report(
    args: argparse.Namespace,
    replay: Replay,
    receiver: Receiver,
    folder: Path,
    log: Path,
    failed: str,
) -> int:
    counted = {t: s for t, s in replay.matching.items() if s.counted}
    first: dict[int, Received] = {}
    duplicates = 0
    for r in receiver.alerts:
        if r.token in first:
            duplicates += 1
        else:
            first[r.token] = r
    latencies = [first[t].at - s.at for t, s in counted.items() if t in first]
    missing = sorted(set(counted) - set(first))
    print()
    print(
        f"posts sent: {replay.posts} ({args.rate:g}/s, {args.warmup:g} s warm-up + "
        f"{args.seconds:g} s measured); Jetstream connections: {len(replay.connections)}; "
        f"posts sent while no client was connected: {replay.lost}"
    )
    print(
        f"matching posts (measured): {len(counted)}  alerts received: "
        f"{sum(1 for t in counted if t in first)}  missing: {len(missing)}  "
        f"duplicates: {duplicates}  requests without a token: {receiver.untokened}"
    )
    print(f"post sent -> alert at the webhook:  {_ms(latencies)}")
    print(f"  replay lateness vs schedule:      {_ms(replay.lateness)}")
    print(f"  receiver overhead:                {_ms([r.overhead for r in receiver.alerts])}")
    stages = _stages(folder / "tocsin.db", {s.rkey: s for s in counted.values()}, first)
    for name, values in stages.items():
        print(f"  {name + ':':32s}  {_ms(values)}")
    slowest = sorted(
        (
            (first[t].at - s.at, s.scheduled - replay.started)
            for t, s in counted.items()
            if t in first
        ),
        reverse=True,
    )[:5]
    if slowest:
        print(
            "  slowest alerts (latency ms @ s into the replay): "
            + ", ".join(f"{lat * 1000:.0f} @ {when:.1f}" for lat, when in slowest)
        )
    if latencies:
        mean = statistics.fmean(latencies)
        print(f"  mean {mean * 1000:.1f} ms over {len(latencies)} alerts")
    goal = _pct(latencies, 99) < 1.0 if latencies else False
    print(f"goal p99 < 1 s: {'met' if goal else 'NOT met'}")
    problems = []
    if failed:
        problems.append(failed)
    if missing:
        problems.append(f"{len(missing)} alert(s) missing (tokens {missing[:10]}...)")
    if duplicates:
        problems.append(f"{duplicates} duplicate alert(s)")
    if problems:
        print("FAILED: " + "; ".join(problems))
        print(f"workspace kept: {folder}; log: {log}")
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-20:]
        print("last lines of the log:\n  " + "\n  ".join(tail))
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--rate", type=float, default=2000.0, help="posts per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured replay seconds")
    parser.add_argument("--match-share", type=float, default=0.01, help="share that alerts")
    parser.add_argument("--warmup", type=float, default=5.0, help="uncounted seconds first")
    parser.add_argument("--drain", type=float, default=20.0, help="seconds to wait for alerts")
    parser.add_argument("--seed", type=int, default=6, help="random seed of the replay")
    parser.add_argument("--batch-size", type=int, help="the source's batch_size (its default)")
    parser.add_argument("--batch-seconds", type=float, help="the source's batch_seconds")
    parser.add_argument(
        "--deflate", action="store_true", help="allow WebSocket permessage-deflate (off)"
    )
    parser.add_argument("--log-level", default="INFO", help="tocsin's [run] log_level")
    parser.add_argument("--connect-timeout", type=float, default=120.0)
    parser.add_argument(
        "--profile", type=Path, help="run tocsin under cProfile, writing its stats here"
    )
    parser.add_argument("--keep", action="store_true", help="keep the workspace")
    args = parser.parse_args(argv)
    _check_texts()
    folder = Path(tempfile.mkdtemp(prefix="tocsin-alert-latency-")) / "ws"
    code = asyncio.run(_bench(args, folder))
    if code == 0 and not args.keep:
        shutil.rmtree(folder.parent, ignore_errors=True)
    elif code == 0:
        print(f"workspace kept: {folder}")
    return code


if __name__ == "__main__":
    sys.exit(main())
