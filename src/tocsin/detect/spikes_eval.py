"""Evaluate the volume spike detector on NAB series: result files in NAB's format, NAB scores.

``evaluate(nab_dir, out_dir)`` reads every series of ``labels/windows.json`` present under
``nab_dir`` (``<dir>/<file>.csv`` with ``timestamp,value``), runs a fresh
:class:`~tocsin.detect.spikes.SpikeDetector` over each, writes
``out_dir/tocsin/<dir>/tocsin_<file>.csv`` (``timestamp,value,anomaly_score,label``, the label
being 1 inside a window) and scores the corpus under each profile of ``profiles.json`` (NAB's
three when absent), with NAB's optimised threshold and with one fixed threshold.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tocsin.detect.nab import (
    PROFILES,
    CorpusScore,
    CostProfile,
    ScoredSeries,
    load_profiles,
    load_windows,
    optimise_threshold,
    parse_timestamp,
    score_corpus,
)
from tocsin.detect.spikes import SpikeDetector, SpikeOptions

__all__ = ["DETECTOR_NAME", "ProfileResult", "SpikesReport", "evaluate", "format_report"]

DETECTOR_NAME = "tocsin"

_TWITTER_FIVE = frozenset(
    f"realTweets/Twitter_volume_{name}.csv" for name in ("AAPL", "AMZN", "FB", "GOOG", "IBM")
)
_PUBLISHED = (
    "published on these 5 series (standard): ARTime 80.2 (NAB thresholds), 82.0 (threshold "
    "tuned on them); contextOSE 64.4; earthgeckoSkyline 64.3; numenta 55.9"
)


@dataclass(frozen=True, slots=True)
class ProfileResult:
    """One cost profile: the corpus scored at NAB's optimised threshold and at the fixed one."""

    profile: CostProfile
    optimised: CorpusScore
    fixed: CorpusScore


@dataclass(frozen=True, slots=True)
class SpikesReport:
    """An evaluation run over a NAB corpus."""

    series: list[str]
    records: int
    windows: int
    fixed_threshold: float
    profiles: list[ProfileResult]
    updates_per_second: float
    options: SpikeOptions
    out_dir: Path


def _read_series(path: Path) -> tuple[list[str], list[float]]:
    stamps: list[str] = []
    values: list[float] = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != ["timestamp", "value"]:
            raise ValueError(f"{path}: expected a header 'timestamp,value', got {header!r}")
        for line, row in enumerate(reader, start=2):
            try:
                stamps.append(row[0])
                values.append(float(row[1]))
            except (IndexError, ValueError):
                raise ValueError(
                    f"{path}:{line}: expected 'timestamp,value', got {row!r}"
                ) from None
    return stamps, values


def evaluate(
    nab_dir: Path,
    out_dir: Path,
    *,
    options: SpikeOptions | None = None,
    fixed_threshold: float = 0.5,
    series: Sequence[str] | None = None,
) -> SpikesReport:
    """Run the detector over a NAB corpus, write NAB result files and score them.

    ``nab_dir`` holds ``labels/windows.json``, optionally ``profiles.json``, and the series
    (``realTweets/Twitter_volume_AAPL.csv``, ...). ``series`` restricts the run to some keys of
    ``windows.json``; by default every key whose file exists is used. ``fixed_threshold``
    applies to the detector's score (0.5 is its own alert bar).
    """
    windows_path = nab_dir / "labels" / "windows.json"
    if not windows_path.is_file():
        raise FileNotFoundError(
            f"{windows_path} not found: --nab must point at a NAB folder holding "
            "labels/windows.json and the series (e.g. realTweets/Twitter_volume_AAPL.csv)"
        )
    all_windows = load_windows(windows_path)
    profiles_path = nab_dir / "profiles.json"
    profiles = load_profiles(profiles_path) if profiles_path.is_file() else dict(PROFILES)
    keys = list(series) if series is not None else sorted(all_windows)
    keys = [key for key in keys if series is not None or (nab_dir / key).is_file()]
    if not keys:
        raise FileNotFoundError(
            f"no series of {windows_path} found under {nab_dir}: expected files such as "
            f"{nab_dir / next(iter(sorted(all_windows)), 'realTweets/x.csv')}"
        )
    options = options or SpikeOptions()
    scored: list[ScoredSeries] = []
    records = 0
    elapsed = 0.0
    for key in keys:
        if key not in all_windows:
            raise ValueError(f"series {key!r} has no entry in {windows_path}")
        stamps, values = _read_series(nab_dir / key)
        parsed = [parse_timestamp(text) for text in stamps]
        epochs = [(t - _EPOCH).total_seconds() for t in parsed]
        detector = SpikeDetector(options)
        started = time.perf_counter()
        scores = [
            detector.update(at, value).score for at, value in zip(epochs, values, strict=True)
        ]
        elapsed += time.perf_counter() - started
        records += len(values)
        one = ScoredSeries(key, parsed, scores, all_windows[key])
        scored.append(one)
        _write_results(out_dir, key, stamps, values, scores, one)
    results = [
        ProfileResult(
            profile,
            optimise_threshold(scored, profile),
            score_corpus(scored, profile, fixed_threshold),
        )
        for profile in profiles.values()
    ]
    return SpikesReport(
        series=keys,
        records=records,
        windows=sum(one.n_windows for one in scored),
        fixed_threshold=fixed_threshold,
        profiles=results,
        updates_per_second=records / elapsed if elapsed > 0 else float("inf"),
        options=options,
        out_dir=out_dir,
    )


_EPOCH = parse_timestamp("1970-01-01 00:00:00")


def _write_results(
    out_dir: Path,
    key: str,
    stamps: list[str],
    values: list[float],
    scores: list[float],
    series: ScoredSeries,
) -> None:
    folder, _, name = key.rpartition("/")
    target = out_dir / DETECTOR_NAME / folder / f"{DETECTOR_NAME}_{name}"
    target.parent.mkdir(parents=True, exist_ok=True)
    labels = (series.window_of >= 0).astype(np.int64)
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["timestamp", "value", "anomaly_score", "label"])
        for stamp, value, score, label in zip(stamps, values, scores, labels, strict=True):
            writer.writerow([stamp, f"{value:g}", f"{score:.6f}", int(label)])


def format_report(report: SpikesReport) -> str:
    """A table per profile: the NAB score at the optimised and at the fixed threshold."""
    lines = [
        f"NAB score of the tocsin spike detector on {len(report.series)} series "
        f"({report.records:,} records, {report.windows} anomaly windows)",
        f"results: {report.out_dir / DETECTOR_NAME}",
        f"speed: {report.updates_per_second:,.0f} updates/s",
        "",
    ]
    header = f"  {'threshold':<24}{'score':>7}{'windows':>10}{'missed':>8}{'FPs':>6}{'raw':>9}"
    for result in report.profiles:
        profile = result.profile
        lines.append(
            f"{profile.name} (tp {profile.tp_weight:g}, fp {profile.fp_weight:g}, "
            f"fn {profile.fn_weight:g})"
        )
        lines.append(header)
        for label, score in (
            (f"NAB-optimised {result.optimised.threshold:.4f}", result.optimised),
            (f"fixed {result.fixed.threshold:.4f}", result.fixed),
        ):
            found = f"{score.detected_windows}/{report.windows}"
            lines.append(
                f"  {label:<24}{score.score:>7.1f}{found:>10}{score.missed_windows:>8}"
                f"{score.false_positives:>6}{score.raw:>9.2f}"
            )
        if profile.name == "standard" and frozenset(report.series) == _TWITTER_FIVE:
            lines.append(f"  {_PUBLISHED}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
