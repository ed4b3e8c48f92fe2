"""The NAB scorer against hand-computed cases on tiny series."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tocsin.detect.nab import (
    PROFILES,
    ScoredSeries,
    load_profiles,
    load_windows,
    optimise_threshold,
    scaled_sigmoid,
    score_corpus,
)

START = datetime(2015, 3, 1)
STANDARD = PROFILES["standard"]
N = 100


def _timestamps(n: int = N) -> list[datetime]:
    return [START + timedelta(minutes=5 * i) for i in range(n)]


def _series(detect_at: list[int], window: tuple[int, int] = (40, 59)) -> ScoredSeries:
    """100 records, one window over records 40..59 (width 20), no probation."""
    stamps = _timestamps()
    scores = [1.0 if i in detect_at else 0.0 for i in range(N)]
    return ScoredSeries(
        "s", stamps, scores, [(stamps[window[0]], stamps[window[1]])], probation_percent=0.0
    )


def _raw(detect_at: list[int]) -> float:
    return score_corpus([_series(detect_at)], STANDARD, 0.5).raw


def test_scaled_sigmoid_landmarks() -> None:
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert scaled_sigmoid(-0.5) == pytest.approx(0.84828, abs=1e-5)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(1.0) == pytest.approx(-0.98661, abs=1e-5)
    assert scaled_sigmoid(3.0) == -1.0


def test_detection_at_window_start_earns_the_full_tp_weight() -> None:
    assert _raw([40]) == pytest.approx(1.0)


def test_detection_in_the_middle_of_the_window() -> None:
    # position -(59 - 50 + 1) / 20 = -0.5 -> 0.84828 / 0.98661
    assert _raw([50]) == pytest.approx(0.8597926, abs=1e-6)


def test_detection_at_window_end_is_worth_little() -> None:
    # position -(59 - 59 + 1) / 20 = -0.05 -> 0.12435 / 0.98661
    assert _raw([59]) == pytest.approx(0.1260401, abs=1e-6)


def test_only_the_first_detection_in_a_window_counts() -> None:
    assert _raw([41, 50, 59]) == pytest.approx(_raw([41]))
    assert _raw([41]) == pytest.approx(0.9961796, abs=1e-6)


def test_detection_just_after_the_window_is_a_cheap_fp_and_the_window_is_missed() -> None:
    # miss -1; FP at position (60 - 59) / (20 - 1) -> 0.11 x sigma(1/19)
    assert _raw([60]) == pytest.approx(-1.0 - 0.0143907, abs=1e-6)


def test_fp_far_after_and_before_the_window_cost_the_full_fp_weight() -> None:
    # (99 - 59) / 19 = 2.105 -> sigma = -0.99995; before any window: -1
    assert _raw([99]) == pytest.approx(-1.0 - 0.1099941, abs=1e-6)
    assert _raw([10]) == pytest.approx(-1.0 - 0.11)
    assert _raw([10, 40]) == pytest.approx(1.0 - 0.11)


def test_missed_window_costs_the_fn_weight_per_profile() -> None:
    assert _raw([]) == pytest.approx(-1.0)
    low_fn = score_corpus([_series([])], PROFILES["reward_low_FN_rate"], 0.5)
    assert low_fn.raw == pytest.approx(-2.0)
    assert low_fn.score == 0.0


def test_normalisation_between_null_and_perfect() -> None:
    perfect = score_corpus([_series([40])], STANDARD, 0.5)
    assert (perfect.null, perfect.perfect, perfect.score) == (-1.0, 1.0, pytest.approx(100.0))
    assert score_corpus([_series([10])], STANDARD, 0.5).score == pytest.approx(-5.5)
    counts = score_corpus([_series([10, 45, 50])], STANDARD, 0.5)
    assert (counts.detected_windows, counts.missed_windows, counts.false_positives) == (1, 0, 1)


def test_corpus_sums_raw_scores_before_normalising() -> None:
    both = score_corpus([_series([40]), _series([])], STANDARD, 0.5)
    assert both.raw == pytest.approx(0.0)
    assert both.score == pytest.approx(50.0)


def test_probationary_records_are_not_scored() -> None:
    stamps = _timestamps()
    scores = [1.0 if i == 5 else 0.0 for i in range(N)]
    series = ScoredSeries("s", stamps, scores, [(stamps[40], stamps[59])])  # probation 15
    assert score_corpus([series], STANDARD, 0.5).raw == pytest.approx(-1.0)


def test_threshold_turns_scores_into_detections() -> None:
    stamps = _timestamps()
    scores = [0.0] * N
    scores[10], scores[50] = 0.9, 0.7  # an FP scored above the true detection
    series = ScoredSeries("s", stamps, scores, [(stamps[40], stamps[59])], probation_percent=0)
    assert score_corpus([series], STANDARD, 0.8).raw == pytest.approx(-1.11)
    assert score_corpus([series], STANDARD, 0.7).raw == pytest.approx(0.8597926 - 0.11)
    assert score_corpus([series], STANDARD, 0.95).raw == pytest.approx(-1.0)


def test_optimised_threshold_is_the_best_of_an_exact_sweep() -> None:
    stamps = _timestamps()
    scores = [0.0] * N
    scores[10], scores[50], scores[70], scores[80] = 0.9, 0.7, 0.6, 0.5
    series = ScoredSeries("s", stamps, scores, [(stamps[40], stamps[59])], probation_percent=0)
    best = optimise_threshold([series], STANDARD)
    assert best.threshold == pytest.approx(0.7)
    for threshold in (0.0, 0.5, 0.6, 0.8, 0.9, 1.5):
        assert score_corpus([series], STANDARD, threshold).raw <= best.raw + 1e-12
    # With FPs that cost more than the window is worth, never detecting wins.
    costly = ScoredSeries("c", stamps, [0.9] * 40 + [0.0] * 60, [(stamps[40], stamps[59])], 0)
    none = optimise_threshold([costly], STANDARD)
    assert none.threshold > 0.9
    assert none.score == 0.0


def test_windows_and_profiles_load_from_nab_files(tmp_path: Path) -> None:
    windows = tmp_path / "windows.json"
    windows.write_text(
        json.dumps({"d/a.csv": [["2015-03-01 00:00:00.000000", "2015-03-01 01:00:00.000000"]]}),
        encoding="utf-8",
    )
    profiles = tmp_path / "profiles.json"
    matrix = {"tpWeight": 1.0, "fnWeight": 2.0, "fpWeight": 0.11, "tnWeight": 1.0}
    profiles.write_text(json.dumps({"x": {"CostMatrix": matrix}}), encoding="utf-8")
    assert load_windows(windows) == {"d/a.csv": [(START, START + timedelta(hours=1))]}
    assert load_profiles(profiles)["x"].fn_weight == 2.0


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="one score per record"):
        ScoredSeries("s", _timestamps(3), [0.0], [])
