"""A NAB scorer, written from the method of Lavin & Ahmad (2015), "Evaluating Real-time Anomaly
Detection Algorithms - the Numenta Anomaly Benchmark".

The benchmark labels *windows* around each anomaly. A detector emits an ``anomaly_score`` per
record; a threshold turns scores into detections (``score >= threshold``). Then:

- only the first detection inside a window counts: it earns ``tpWeight x sigma(p) / sigma(-1)``
  where ``p = -(right - i + 1) / width`` is its relative position (``-1`` at the window's first
  record, close to ``0`` at its last) and ``sigma(p) = 2 / (1 + exp(5p)) - 1`` the scaled sigmoid;
  detecting at a window's start earns exactly ``tpWeight``;
- a window without a detection costs ``fnWeight``;
- every detection outside the windows costs ``fpWeight x sigma(p)`` where
  ``p = (i - right_prev) / (width_prev - 1)`` relative to the preceding window (``p = 3``, the
  full cost, before the first window): a detection just after a window costs almost nothing;
- the first ``min(floor(0.15 n), 0.15 x 5000)`` records of each series are a probationary
  period and are not scored at all.

Raw scores are summed over every series of a corpus and only then normalised as
``100 x (raw - null) / (perfect - null)``, where *null* never detects (``-fnWeight`` per window)
and *perfect* detects each window at its first record (``tpWeight`` per window).

NAB picks, for each cost profile, the threshold that maximises the corpus score
(:func:`optimise_threshold`, an exact sweep over every distinct anomaly score);
:func:`score_corpus` scores a fixed threshold.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = [
    "PROFILES",
    "CorpusScore",
    "CostProfile",
    "ScoredSeries",
    "Window",
    "load_profiles",
    "load_windows",
    "optimise_threshold",
    "parse_timestamp",
    "scaled_sigmoid",
    "score_corpus",
]

Window = tuple[datetime, datetime]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

PROBATION_PERCENT = 0.15
"""NAB's probationary share of each series (capped at ``0.15 x 5000`` records)."""

_OUTSIDE = -1


@dataclass(frozen=True, slots=True)
class CostProfile:
    """A NAB application profile: the weights of true positives, false positives and misses."""

    name: str
    tp_weight: float
    fp_weight: float
    fn_weight: float


PROFILES: dict[str, CostProfile] = {
    "standard": CostProfile("standard", 1.0, 0.11, 1.0),
    "reward_low_FP_rate": CostProfile("reward_low_FP_rate", 1.0, 0.22, 1.0),
    "reward_low_FN_rate": CostProfile("reward_low_FN_rate", 1.0, 0.11, 2.0),
}
"""NAB's three profiles, as in its ``config/profiles.json``."""


def scaled_sigmoid(position: float) -> float:
    """NAB's scaled sigmoid: ``2 / (1 + exp(5 x position)) - 1``, clipped to -1 from 3 on.

    ``-1`` (a window's left edge) gives 0.98661, ``0`` (its right edge) gives 0 and positive
    positions (after a window) give a growing penalty that reaches -1.
    """
    if position >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


_MAX_TP = scaled_sigmoid(-1.0)


def _sigmoid_array(positions: FloatArray) -> FloatArray:
    clipped = np.minimum(positions, 3.0)
    values: FloatArray = 2.0 / (1.0 + np.exp(5.0 * clipped)) - 1.0
    return np.where(positions >= 3.0, -1.0, values)


def parse_timestamp(text: str) -> datetime:
    """Parse a NAB timestamp (``2015-03-03 04:37:53`` with optional fraction), naive UTC."""
    return datetime.fromisoformat(text.strip())


def load_profiles(path: Path) -> dict[str, CostProfile]:
    """Read NAB's ``profiles.json`` (``{name: {"CostMatrix": {"tpWeight": ...}}}``)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    profiles: dict[str, CostProfile] = {}
    for name, body in raw.items():
        matrix = body["CostMatrix"]
        profiles[name] = CostProfile(
            name, float(matrix["tpWeight"]), float(matrix["fpWeight"]), float(matrix["fnWeight"])
        )
    return profiles


def load_windows(path: Path) -> dict[str, list[Window]]:
    """Read NAB's ``windows.json``: ``{"dir/file.csv": [[start, end], ...]}``."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {
        key: [(parse_timestamp(start), parse_timestamp(end)) for start, end in limits]
        for key, limits in raw.items()
    }


class ScoredSeries:
    """One series prepared for NAB scoring: per-record window membership and sweep positions.

    ``windows`` are ``(start, end)`` timestamps, both inclusive; a window covering no record is
    ignored. ``probation_percent`` defaults to NAB's 0.15.
    """

    __slots__ = (
        "anomaly_scores",
        "fp_position",
        "n_windows",
        "name",
        "scorable",
        "tp_position",
        "window_of",
    )

    def __init__(
        self,
        name: str,
        timestamps: Sequence[datetime],
        anomaly_scores: Sequence[float] | FloatArray,
        windows: Sequence[Window],
        probation_percent: float = PROBATION_PERCENT,
    ) -> None:
        n = len(timestamps)
        if len(anomaly_scores) != n:
            raise ValueError(
                f"series {name!r}: {len(anomaly_scores)} anomaly scores for {n} timestamps; "
                "give one score per record"
            )
        self.name = name
        self.anomaly_scores: FloatArray = np.asarray(anomaly_scores, dtype=np.float64)
        probation = int(min(math.floor(probation_percent * n), probation_percent * 5000))
        self.scorable = np.arange(n) >= probation
        self.window_of: IntArray = np.full(n, _OUTSIDE, dtype=np.int64)
        self.tp_position: FloatArray = np.zeros(n, dtype=np.float64)
        self.fp_position: FloatArray = np.full(n, 3.0, dtype=np.float64)
        order = np.array([t.timestamp() for t in timestamps], dtype=np.float64)
        bounds: list[tuple[int, int]] = []
        for start, end in sorted(windows):
            left = int(np.searchsorted(order, start.timestamp(), side="left"))
            right = int(np.searchsorted(order, end.timestamp(), side="right")) - 1
            if right >= left:
                bounds.append((left, right))
        index = np.arange(n, dtype=np.float64)
        for k, (left, right) in enumerate(bounds):
            width = right - left + 1
            self.window_of[left : right + 1] = k
            self.tp_position[left : right + 1] = -(right - index[left : right + 1] + 1) / width
            stop = bounds[k + 1][0] if k + 1 < len(bounds) else n
            after = index[right + 1 : stop]
            self.fp_position[right + 1 : stop] = (after - right) / max(width - 1, 1)
        in_play = self.window_of[self.scorable]
        self.n_windows = len(np.unique(in_play[in_play != _OUTSIDE]))

    def weights(self, profile: CostProfile) -> tuple[FloatArray, FloatArray]:
        """Per-record reward if detected inside a window, and (negative) cost outside one."""
        tp = profile.tp_weight * _sigmoid_array(self.tp_position) / _MAX_TP
        fp = profile.fp_weight * _sigmoid_array(self.fp_position)
        return tp, fp


@dataclass(frozen=True, slots=True)
class CorpusScore:
    """A corpus scored under one profile and one threshold."""

    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float
    detected_windows: int
    missed_windows: int
    false_positives: int

    @property
    def score(self) -> float:
        """The normalised NAB score: 0 for the null detector, 100 for a perfect one."""
        span = self.perfect - self.null
        return 100.0 * (self.raw - self.null) / span if span else 0.0


def _series_raw(
    series: ScoredSeries, profile: CostProfile, threshold: float
) -> tuple[float, int, int]:
    detected = series.scorable & (series.anomaly_scores >= threshold)
    tp, fp = series.weights(profile)
    outside = detected & (series.window_of == _OUTSIDE)
    inside = np.flatnonzero(detected & (series.window_of != _OUTSIDE))
    _, first = np.unique(series.window_of[inside], return_index=True)
    hits = inside[first]
    raw = float(tp[hits].sum()) + float(fp[outside].sum())
    raw -= profile.fn_weight * (series.n_windows - len(hits))
    return raw, len(hits), int(outside.sum())


def score_corpus(
    series: Sequence[ScoredSeries], profile: CostProfile, threshold: float
) -> CorpusScore:
    """Score every series at one threshold, sum the raw scores and normalise them."""
    raw = 0.0
    hits = 0
    false_positives = 0
    for one in series:
        part, found, fps = _series_raw(one, profile, threshold)
        raw += part
        hits += found
        false_positives += fps
    windows = sum(one.n_windows for one in series)
    return CorpusScore(
        profile=profile.name,
        threshold=threshold,
        raw=raw,
        null=-profile.fn_weight * windows,
        perfect=profile.tp_weight * windows,
        detected_windows=hits,
        missed_windows=windows - hits,
        false_positives=false_positives,
    )


def optimise_threshold(series: Sequence[ScoredSeries], profile: CostProfile) -> CorpusScore:
    """NAB's threshold optimisation: the threshold with the best corpus score, swept exactly.

    Every distinct anomaly score is a candidate (plus one above them all, which never
    detects); ties go to the highest threshold.
    """
    scores: list[FloatArray] = []
    window_ids: list[IntArray] = []
    tp_weights: list[FloatArray] = []
    fp_weights: list[FloatArray] = []
    offset = 0
    for one in series:
        keep = one.scorable
        ids = one.window_of[keep].copy()
        ids[ids != _OUTSIDE] += offset
        offset += int(one.window_of.max(initial=-1)) + 1
        tp, fp = one.weights(profile)
        scores.append(one.anomaly_scores[keep])
        window_ids.append(ids)
        tp_weights.append(tp[keep])
        fp_weights.append(fp[keep])
    all_scores = np.concatenate(scores) if scores else np.zeros(0)
    order = np.argsort(-all_scores, kind="stable")
    ordered = all_scores[order]
    ids = np.concatenate(window_ids)[order] if scores else np.zeros(0, dtype=np.int64)
    tp_all = np.concatenate(tp_weights)[order] if scores else np.zeros(0)
    fp_all = np.concatenate(fp_weights)[order] if scores else np.zeros(0)
    windows = sum(one.n_windows for one in series)
    null = -profile.fn_weight * windows
    delta = np.where(ids == _OUTSIDE, fp_all, 0.0)
    best: dict[int, float] = {}
    for j in np.flatnonzero(ids != _OUTSIDE):
        window = int(ids[j])
        before = best.get(window, -profile.fn_weight)
        after = max(before, float(tp_all[j]))
        delta[j] = after - before
        best[window] = after
    totals = null + np.cumsum(delta)
    ends = np.flatnonzero(np.r_[ordered[1:] != ordered[:-1], True]) if len(ordered) else ordered
    candidates = np.r_[null, totals[ends]]
    pick = int(np.argmax(candidates))
    if pick == 0:
        top = float(ordered[0]) if len(ordered) else 1.0
        threshold = float(np.nextafter(max(top, 1.0), math.inf))
    else:
        threshold = float(ordered[ends[pick - 1]])
    return score_corpus(series, profile, threshold)
