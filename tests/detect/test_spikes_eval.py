"""`evaluate` on a tiny NAB-shaped folder built by the test."""

from __future__ import annotations

import csv
import json
import math
import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tocsin.detect.spikes_eval import evaluate, format_report

START = datetime(2015, 3, 1)
FMT = "%Y-%m-%d %H:%M:%S"


def _make_corpus(root: Path) -> None:
    rng = random.Random(7)
    rows = []
    spike = 5 * 288 + 100
    for i in range(7 * 288):
        hour = (i * 5 / 60.0) % 24
        mean = 30.0 * (1.0 + 2.0 * max(0.0, math.sin(math.pi * (hour - 6) / 14)))
        value = max(0, round(rng.gauss(mean, math.sqrt(mean))))
        if spike <= i < spike + 6:
            value += 2000
        rows.append(((START + timedelta(minutes=5 * i)).strftime(FMT), value))
    (root / "demo").mkdir(parents=True)
    with (root / "demo" / "series.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "value"])
        writer.writerows(rows)
    window = [rows[spike - 60][0] + ".000000", rows[spike + 60][0] + ".000000"]
    (root / "labels").mkdir()
    (root / "labels" / "windows.json").write_text(
        json.dumps({"demo/series.csv": [window], "demo/absent.csv": []}), encoding="utf-8"
    )


def test_evaluate_writes_nab_results_and_scores_three_profiles(tmp_path: Path) -> None:
    _make_corpus(tmp_path / "nab")
    report = evaluate(tmp_path / "nab", tmp_path / "out")
    assert report.series == ["demo/series.csv"]
    assert report.windows == 1
    assert [p.profile.name for p in report.profiles] == [
        "standard",
        "reward_low_FP_rate",
        "reward_low_FN_rate",
    ]
    standard = report.profiles[0]
    assert standard.fixed.detected_windows == 1
    assert standard.fixed.false_positives == 0
    assert standard.optimised.score >= standard.fixed.score > 80.0
    result = tmp_path / "out" / "tocsin" / "demo" / "tocsin_series.csv"
    with result.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["timestamp", "value", "anomaly_score", "label"]
    assert len(rows) == 7 * 288
    assert sum(int(r["label"]) for r in rows) == 121
    assert all(0.0 <= float(r["anomaly_score"]) <= 1.0 for r in rows)
    text = format_report(report)
    assert "standard (tp 1, fp 0.11, fn 1)" in text
    assert "NAB-optimised" in text
    assert "fixed 0.5000" in text
    assert "ARTime" not in text  # published numbers only beside the five Twitter series


def test_missing_folder_says_what_to_give(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"labels/windows\.json"):
        evaluate(tmp_path, tmp_path / "out")


def test_bad_series_file_names_the_line(tmp_path: Path) -> None:
    _make_corpus(tmp_path / "nab")
    path = tmp_path / "nab" / "demo" / "series.csv"
    path.write_text("timestamp,value\n2015-03-01 00:00:00,x\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"series.csv:2"):
        evaluate(tmp_path / "nab", tmp_path / "out")
