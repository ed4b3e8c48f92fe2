"""`tocsin run` end to end: a real subprocess polls a feed on 127.0.0.1, stores what matches,
and stops cleanly on SIGTERM with its cursor committed."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Forum</title><link>http://127.0.0.1/</link>
<item><title>Acme en panne</title><link>http://127.0.0.1/t/1</link><guid>t1</guid>
<description>Le service Acme est en panne depuis ce matin.</description>
<pubDate>Tue, 24 Nov 2026 08:00:00 +0000</pubDate></item>
<item><title>Acme répond</title><link>http://127.0.0.1/t/2</link><guid>t2</guid>
<description>&lt;script&gt;alert(1)&lt;/script&gt;Le support d'Acme a répondu.</description>
<pubDate>Tue, 24 Nov 2026 09:00:00 +0000</pubDate></item>
<item><title>Météo</title><link>http://127.0.0.1/t/3</link><guid>t3</guid>
<description>Il pleut.</description><pubDate>Tue, 24 Nov 2026 10:00:00 +0000</pubDate></item>
</channel></rss>"""


class _Feed(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = FEED.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        self.send_header("ETag", '"v1"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def feed_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Feed)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/feed.xml"
    server.shutdown()
    server.server_close()


def _workspace(folder: Path, url: str) -> Path:
    folder.mkdir()
    (folder / "tocsin.toml").write_text(
        f"""
[organisation]
name = "Acme"

[[watches]]
name = "brand"
query = "acme"
tags = ["brand"]

[[sources]]
type = "rss"
name = "forum"
url = "{url}"
interval = 60
""",
        encoding="utf-8",
    )
    return folder


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_run_polls_stores_and_stops_cleanly_on_sigterm(tmp_path: Path, feed_url: str) -> None:
    workspace = _workspace(tmp_path / "ws", feed_url)
    db = workspace / "tocsin.db"
    log = workspace / "run.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env["TOCSIN_WEB_PORT"] = str(port := _free_port())
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tocsin", "run", "-w", str(workspace)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _rows(db, "SELECT cursor FROM source_cursors"):
            assert proc.poll() is None, log.read_text()
            time.sleep(0.05)  # waiting on another process
        # The web app answers in the same process: a forged action link is refused.
        status = 0
        while time.monotonic() < deadline and status != 400:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/a/forged", timeout=2).status_code
            except httpx.TransportError:
                time.sleep(0.05)  # waiting on another process
        assert status == 400, log.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()
    finally:
        proc.kill()
    output = log.read_text()
    assert "stopped cleanly" in output
    assert "has no admin yet: create one with `tocsin user add" in " ".join(output.split())
    texts = dict(_rows(db, "SELECT id, text FROM mentions"))  # type: ignore[arg-type]
    assert set(texts) == {"rss:http://127.0.0.1/t/1", "rss:http://127.0.0.1/t/2"}
    assert "alert" not in str(texts["rss:http://127.0.0.1/t/2"])
    assert _rows(db, "SELECT cursor FROM source_cursors") == [('{"etag": "\\"v1\\""}',)]
