"""The streaming spike detectors on small synthetic series (no data files needed)."""

from __future__ import annotations

import json
import math
import random
import time
from datetime import UTC, datetime, timedelta

import pytest

from tocsin.detect.spikes import (
    ShareSpikeDetector,
    ShareSpikeOptions,
    SpikeDetector,
    SpikeOptions,
    SpikeResult,
)

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
STEP = 300.0


def _daily_counts(days: int, seed: int = 1, base: float = 40.0) -> list[float]:
    """5-minute counts with a strong daily cycle (x5 between night and afternoon) and noise."""
    rng = random.Random(seed)
    counts = []
    for i in range(days * 288):
        hour = (i * STEP / 3600.0) % 24
        mean = base * (1.0 + 4.0 * max(0.0, math.sin(math.pi * (hour - 6) / 14)) ** 2)
        counts.append(float(max(0, round(rng.gauss(mean, math.sqrt(mean))))))
    return counts


def _run(detector: SpikeDetector, counts: list[float]) -> list[SpikeResult]:
    start = START.timestamp()
    return [detector.update(start + i * STEP, value) for i, value in enumerate(counts)]


def test_daily_cycle_alone_does_not_alert() -> None:
    results = _run(SpikeDetector(), _daily_counts(10))
    assert not any(r.is_spike for r in results)
    assert results[0].reason == "warming up"
    assert max(r.score for r in results[288:]) < 0.5


def test_spike_alerts_once_early_and_does_not_inflate_the_baseline() -> None:
    counts = _daily_counts(10)
    onset = 8 * 288 + 150
    for i in range(onset, onset + 12):
        counts[i] *= 6
    results = _run(SpikeDetector(), counts)
    alerts = [i for i, r in enumerate(results) if r.is_spike]
    assert onset <= alerts[0] <= onset + 3  # within 15 minutes of the onset
    assert len(alerts) == 1
    assert results[alerts[0]].score >= 0.5
    assert "expected" in results[alerts[0]].reason
    # the baseline right after the spike is still the pre-spike one (within 30%)
    before = results[onset - 288 + 14].expected
    after = results[onset + 14].expected
    assert after == pytest.approx(before, rel=0.3)


def test_a_replayed_bucket_is_ignored() -> None:
    detector = SpikeDetector()
    detector.update(START, 10)
    state = detector.to_state()
    result = detector.update(START, 500)
    assert (result.is_spike, result.reason) == (False, "bucket not after the last one: ignored")
    assert detector.to_state() == state


def test_state_round_trips_through_json_and_resumes_identically() -> None:
    counts = _daily_counts(4)
    counts[3 * 288 + 100] = 5000
    whole = SpikeDetector()
    expected = _run(whole, counts)
    first = SpikeDetector()
    _run(first, counts[:500])
    resumed = SpikeDetector.from_state(json.loads(json.dumps(first.to_state())))
    start = START.timestamp()
    rest = [resumed.update(start + i * STEP, counts[i]) for i in range(500, len(counts))]
    assert rest == expected[500:]
    assert any(r.is_spike for r in rest)


def test_state_of_another_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="start afresh"):
        SpikeDetector.from_state(ShareSpikeDetector().to_state())


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="must divide a day"):
        SpikeDetector(SpikeOptions(season_slot_minutes=7))


def test_works_on_one_minute_buckets_and_datetimes() -> None:
    detector = SpikeDetector()
    rng = random.Random(3)
    results = []
    onset = 3 * 1440 + 600
    for i in range(4 * 1440):
        surge = 100.0 if onset <= i < onset + 10 else 0.0
        results.append(detector.update(START + timedelta(minutes=i), rng.randint(3, 7) + surge))
    alerts = [i for i, r in enumerate(results) if r.is_spike]
    assert len(alerts) == 1
    assert onset <= alerts[0] < onset + 5


def test_speed_is_at_least_50k_updates_per_second() -> None:
    counts = _daily_counts(7)
    detector = SpikeDetector()
    start = START.timestamp()
    began = time.perf_counter()
    for i, value in enumerate(counts):
        detector.update(start + i * STEP, value)
    rate = len(counts) / (time.perf_counter() - began)
    assert rate > 50_000


def _share_run(
    detector: ShareSpikeDetector, buckets: list[tuple[float, float]]
) -> list[SpikeResult]:
    start = START.timestamp()
    return [detector.update(start + i * 60.0, h, t) for i, (h, t) in enumerate(buckets)]


def test_negative_share_rise_alerts_and_small_counts_do_not() -> None:
    rng = random.Random(5)
    buckets = []
    for i in range(3000):
        total = rng.randint(2, 6)
        share = 0.6 if 2500 <= i < 2560 else 0.15
        hits = sum(rng.random() < share for _ in range(total))
        buckets.append((float(hits), float(total)))
    results = _share_run(ShareSpikeDetector(), buckets)
    alerts = [i for i, r in enumerate(results) if r.is_spike]
    assert alerts
    assert 2500 <= alerts[0] < 2530
    assert all(2500 <= i < 2600 for i in alerts)
    assert results[2400].expected == pytest.approx(0.15, abs=0.05)


def test_share_needs_a_minimum_count() -> None:
    detector = ShareSpikeDetector(ShareSpikeOptions(min_count=20, warmup_count=0))
    result = detector.update(START, 3, 3)
    assert not result.is_spike
    assert result.reason == "too few recent mentions to judge"


def test_share_state_round_trips_and_bad_counts_are_refused() -> None:
    detector = ShareSpikeDetector()
    _share_run(detector, [(1.0, 5.0)] * 50)
    clone = ShareSpikeDetector.from_state(json.loads(json.dumps(detector.to_state())))
    assert clone.to_state() == detector.to_state()
    with pytest.raises(ValueError, match="hits <= total"):
        detector.update(START + timedelta(days=1), 5, 3)


def test_slow_level_shift_alerts_through_the_level_path() -> None:
    counts = _daily_counts(14, seed=4)
    onset = 10 * 288
    for i in range(onset, len(counts)):
        ramp = min(1.0, (i - onset) / 72.0)  # volume doubles over 6 hours, then stays
        counts[i] = float(round(counts[i] * (1.0 + ramp)))
    results = _run(SpikeDetector(), counts)
    alerts = [i for i, r in enumerate(results) if r.is_spike]
    assert not any(results[i].is_spike for i in range(onset))  # no alert when arming (day 7)
    assert 1 <= len(alerts) <= 2  # a second one only once the shift has grown a lot
    assert onset <= alerts[0] < onset + 288  # within the day of the shift
    assert len(alerts) == 1 or alerts[1] - alerts[0] > 288
    assert "usual level" in results[alerts[0]].reason
    assert results[alerts[0]].score >= 0.5


def test_level_path_waits_for_the_long_run_level_and_can_be_disabled() -> None:
    counts = _daily_counts(14, seed=4)
    for i in range(3 * 288, len(counts)):  # a shift on day 3: the long-run level is not settled
        counts[i] *= 2
    results = _run(SpikeDetector(), counts)
    assert not any("usual level" in r.reason for r in results[: 7 * 288])
    late = _daily_counts(14, seed=4)
    for i in range(10 * 288, len(late)):
        late[i] *= 2
    off = _run(SpikeDetector(SpikeOptions(shift_threshold=0.0)), late)
    assert not any("usual level" in r.reason for r in off)
