"""Crisis levels: points from signals, and hysteresis so the level does not flap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tocsin.detect.crisis import CrisisSignals, CrisisState, advance, raw_level

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CALM = CrisisSignals(mentions=10, expected=10, negative=1)
BAD = CrisisSignals(
    mentions=120,
    expected=10,
    negative=90,
    negative_reach=250_000,
    influential_negative=1,
    urgent=2,
    spike_score=0.97,
)


def test_a_calm_hour_is_level_0_and_a_bad_one_level_4_with_every_reason() -> None:
    assert raw_level(CrisisSignals()) == (0, ())
    assert raw_level(CALM) == (0, ())
    level, reasons = raw_level(BAD)
    assert level == 4
    assert any("x12.0 the usual" in r for r in reasons)
    assert any("75% negative" in r for r in reasons)
    assert any("250,000" in r for r in reasons)
    assert any("urgent" in r for r in reasons)


def test_few_mentions_never_make_a_crisis_by_ratio_or_share_alone() -> None:
    few = CrisisSignals(mentions=4, expected=0.1, negative=4)
    assert raw_level(few)[0] == 0


def test_one_urgent_post_by_a_journalist_raises_to_watch() -> None:
    level, reasons = raw_level(CrisisSignals(mentions=3, expected=3, media=1, urgent=1))
    assert level == 1
    assert len(reasons) == 2


def test_the_level_rises_at_once_and_falls_one_step_per_cooldown() -> None:
    state, change = advance("brand", None, BAD, T0)
    assert change is not None
    assert (change.before, change.after, state.level) == (0, 4, 4)
    # Calm again: nothing changes for 30 minutes, then one step down at a time.
    state, change = advance("brand", state, CALM, T0 + timedelta(minutes=5))
    assert (state.level, change) == (4, None)
    state, change = advance("brand", state, CALM, T0 + timedelta(minutes=20))
    assert (state.level, change) == (4, None)
    state, change = advance("brand", state, CALM, T0 + timedelta(minutes=36))
    assert change is not None
    assert (change.before, change.after) == (4, 3)
    state, change = advance("brand", state, CALM, T0 + timedelta(minutes=50))
    assert change is None
    state, change = advance("brand", state, CALM, T0 + timedelta(minutes=67))
    assert change is not None
    assert change.after == 2


def test_a_brief_lull_does_not_lower_the_level() -> None:
    state, _ = advance("brand", None, BAD, T0)
    state, _ = advance("brand", state, CALM, T0 + timedelta(minutes=5))
    state, change = advance("brand", state, BAD, T0 + timedelta(minutes=10))
    assert (state.level, change, state.lower_since) == (4, None, None)
    state, change = advance("brand", state, CALM, T0 + timedelta(minutes=30))
    assert change is None  # the 30 minutes start again from the new lull
    assert state == CrisisState(4, T0, state.reasons, T0 + timedelta(minutes=30))
