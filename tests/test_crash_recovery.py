"""Kill -9 the importer at several points mid-run: on restart nothing is lost or duplicated.

The import is a real `tocsin import` subprocess on a real workspace; the test watches the
SQLite file from outside and SIGKILLs the process while batches are being written.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

GOOD_LINES = 6000
BAD_LINES = (17, 2500, 5999)  # 0-based positions of broken lines


def _write_export(path: Path) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(GOOD_LINES + len(BAD_LINES)):
            if i in BAD_LINES:
                fh.write('{"id": "broken", "text": \n')
                continue
            record = {
                "id": f"post-{i}",
                "text": f"Acme mention number {i} — le service client répond vite",
                "url": f"https://forum.example.org/t/{i}",
                "created": f"2026-10-{1 + i % 28:02d}T12:00:00+00:00",
            }
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def _count(db: Path, table: str) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    except sqlite3.OperationalError:  # schema not created yet
        return 0


def _import(workspace: Path, export: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "tocsin", "import", str(export), "-w", str(workspace)]
    cmd += ["--map", "published_at=created"]
    env = {**os.environ, "TOCSIN_DATABASE_URL": "sqlite:///tocsin.db"}
    with (workspace / "import.log").open("ab") as log:
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)


def _kill_when(proc: subprocess.Popen[bytes], db: Path, at_least: int) -> int:
    """SIGKILL `proc` once the store holds `at_least` mentions; returns the count seen."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        seen = _count(db, "mentions")
        if seen >= at_least:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return seen
        time.sleep(0.01)  # waiting on another process, not on time-driven logic
    proc.kill()
    log = (db.parent / "import.log").read_text(errors="replace")
    pytest.fail(f"import ended or stalled before reaching {at_least} mentions:\n{log}")


def test_kill_9_mid_import_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    from tocsin.workspace import init_workspace

    workspace = tmp_path / "ws"
    init_workspace(workspace, organisation="Acme")
    export = tmp_path / "export.jsonl"
    _write_export(export)
    db = workspace / "tocsin.db"

    for threshold in (1, 2000, 4000):
        seen = _kill_when(_import(workspace, export), db, threshold)
        assert seen < GOOD_LINES, "the import finished before it could be killed"

    final = _import(workspace, export)
    final.wait(timeout=300)
    log = (workspace / "import.log").read_text(errors="replace")
    assert final.returncode == 3, log  # partial: the broken lines were skipped

    with sqlite3.connect(db) as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM mentions")]
        errors = conn.execute("SELECT ref FROM ingest_errors ORDER BY ref").fetchall()
    assert len(ids) == len(set(ids)) == GOOD_LINES
    assert set(ids) == {f"import:post-{i}" for i in range(GOOD_LINES + 3) if i not in BAD_LINES}
    assert len(errors) == len(BAD_LINES), errors
    assert sorted(int(ref.rsplit(" ", 1)[1]) for (ref,) in errors) == [n + 1 for n in BAD_LINES]
