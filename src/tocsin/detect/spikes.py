"""Streaming spike detection on per-watch bucket series: mention volume and negative share.

Both detectors keep a small state, update it once per bucket (no re-scan of history), and
serialise it to a JSON-able dict so that a restart resumes where it stopped.

**Volume** (:class:`SpikeDetector`). Counts are modelled in log space,
``y = log(count + offset)``, as ``level + daily[slot] + weekly[weekday]``: a robust
Holt-Winters without trend whose seasonal terms are learned online. The residual
``r = y - expected`` divided by a robust running scale (an EWMA of ``|r|``, floored by the
Poisson noise of the expected count) is the bucket's z-score. Every state update uses the
residual clipped to ``±clip x scale``, so a spike moves the baseline by a bounded step and does
not inflate it.

The alert is on the *burst*: a decayed sum (half-life ``burst_half_life_minutes``) of the counts
above the noise band ``exp(expected_y + margin x scale)``, as a share of a usual day's volume.
A single huge bucket fires at once; a moderate rise fires once it has brought enough extra
mentions. The bar is the larger of ``threshold`` and ``peak_factor x`` the largest recent
burst (decaying with ``peak_half_life_days``), so a watch that bursts every day is only paged
for bursts as large as its recent largest; after an alert it rises to ``escalation x`` the
alerted burst and decays back with ``refractory_hours``: one alert per spike, early in it, and
a new one only if it grows a lot. ``score = burst / (burst + bar)`` lies in 0..1 and is 0.5
exactly at the bar.

A second path catches **level shifts** that never make a burst (volume doubling over hours and
staying there): the recent deseasonalised log level (half-life ``shift_fast_half_life_hours``)
against the long-run one (``shift_slow_half_life_days``), with the same relative-to-history bar
(``shift_threshold`` or ``peak_factor x`` the largest recent shift) and its own raised bar after
an alert (``shift_refractory_hours``); armed once the long-run level has settled. The score is
the larger of the two paths' scores.

**Negative share** (:class:`ShareSpikeDetector`). The share of negative mentions in recent
buckets (exponentially decayed counts) is tested against its long-run baseline with a binomial
z-score (with continuity correction); nothing is decided below ``min_count`` recent mentions.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any, Self

__all__ = [
    "ShareSpikeDetector",
    "ShareSpikeOptions",
    "SpikeDetector",
    "SpikeOptions",
    "SpikeResult",
]

_DAY = 86_400.0
_WEEK_DAYS = 7
_STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class SpikeResult:
    """The verdict on one bucket.

    ``score`` (0..1) is the spike evidence: 0 when the bucket is at or below what was expected,
    0.5 at the alert bar, approaching 1 far above it. ``expected`` is the baseline in the
    series' own unit (mentions per bucket, or a share 0..1), ``deviation`` the robust z-score
    (how many typical deviations above the baseline), ``is_spike`` whether to alert and
    ``reason`` a short human explanation.
    """

    score: float
    expected: float
    deviation: float
    is_spike: bool
    reason: str


@dataclass(frozen=True, slots=True)
class SpikeOptions:
    """Parameters of :class:`SpikeDetector` (defaults chosen on NAB's Twitter volume series)."""

    threshold: float = 0.07
    """Smallest burst, as a share of a usual day's volume, that alerts (score 0.5)."""
    level_half_life_hours: float = 12.0
    """How fast the baseline level follows the (deseasonalised) series."""
    season_half_life_days: float = 3.0
    """How fast the daily profile (per ``season_slot_minutes`` slot) is learned."""
    weekly_half_life_weeks: float = 2.0
    """How fast the day-of-week offsets are learned."""
    scale_half_life_hours: float = 24.0
    """How fast the typical deviation is learned."""
    season_slot_minutes: int = 60
    """Width of a daily-profile slot."""
    utc_offset_hours: float = 0.0
    """Local time of the audience: where its days (and weekdays) start."""
    clip: float = 3.0
    """State updates use residuals clipped to ``±clip`` typical deviations."""
    offset: float = 1.0
    """Counts are modelled as ``log(count + offset)``."""
    noise_floor: float = 1.0
    """Scale floor, in multiples of the Poisson noise of the expected count."""
    warmup_hours: float = 48.0
    """No alert before this much history (score 0, reason ``warming up``)."""
    refractory_hours: float = 3.0
    """Half-life of the raised alert bar after an alert."""
    escalation: float = 3.0
    """After an alert, a new one needs ``escalation x`` the alerted burst (decaying)."""
    min_count: float = 0.0
    """A bucket below this many mentions is never a spike."""
    margin: float = 1.0
    """Only counts above ``margin`` typical deviations over the baseline make a burst."""
    burst_half_life_minutes: float = 60.0
    """Half-life of the burst accumulator (the excess counts of recent buckets)."""
    peak_factor: float = 0.9
    """The bar is also ``peak_factor x`` the largest recent burst (decayed): a watch that
    bursts often alerts only on bursts as large as its recent largest ones."""
    peak_half_life_days: float = 30.0
    """Half-life of the largest recent burst."""
    bucket_seconds: float = 0.0
    """Bucket width; 0 infers it (the smallest spacing seen)."""
    shift_threshold: float = 0.2
    """Smallest sustained level shift (log ratio of the recent to the long-run deseasonalised
    level) that alerts; 0 disables the level-shift path."""
    shift_fast_half_life_hours: float = 12.0
    """Half-life of the recent level of the level-shift path."""
    shift_slow_half_life_days: float = 7.0
    """Half-life of the long-run level of the level-shift path."""
    shift_refractory_hours: float = 48.0
    """Half-life of the raised level-shift bar after an alert."""


class SpikeDetector:
    """Streaming seasonal spike detector for a count series (one instance per watch)."""

    __slots__ = (
        "_bar",
        "_bar_time",
        "_bucket",
        "_burst",
        "_daily",
        "_first",
        "_last",
        "_level",
        "_n",
        "_peak",
        "_scale",
        "_shift_bar",
        "_shift_bar_time",
        "_shift_fast",
        "_shift_peak",
        "_shift_slow",
        "_slots",
        "_volume",
        "_weekly",
        "options",
    )

    def __init__(self, options: SpikeOptions | None = None) -> None:
        self.options = options or SpikeOptions()
        opts = self.options
        if opts.threshold <= 0 or opts.clip <= 0 or opts.season_slot_minutes <= 0:
            raise ValueError("threshold, clip and season_slot_minutes must be positive")
        if 1440 % opts.season_slot_minutes:
            raise ValueError(
                f"season_slot_minutes={opts.season_slot_minutes} must divide a day (1440)"
            )
        self._slots = 1440 // opts.season_slot_minutes
        self._level = 0.0
        self._scale = 0.0
        self._daily = [0.0] * self._slots
        self._weekly = [0.0] * _WEEK_DAYS
        self._n = 0
        self._first: float | None = None
        self._last: float | None = None
        self._bar = 0.0
        self._bar_time = 0.0
        self._bucket = 0.0
        self._burst = 0.0
        self._peak = 0.0
        self._volume = 0.0
        self._shift_fast = 0.0
        self._shift_slow = 0.0
        self._shift_peak = 0.0
        self._shift_bar = 0.0
        self._shift_bar_time = 0.0

    # -- time helpers -------------------------------------------------------------------

    @staticmethod
    def _alpha(elapsed: float, half_life: float) -> float:
        """Weight of a new observation after ``elapsed`` seconds, for a half-life in seconds."""
        if half_life <= 0:
            return 1.0
        return 1.0 - math.pow(0.5, elapsed / half_life)

    # -- the update ---------------------------------------------------------------------

    @property
    def last_update(self) -> float | None:
        """POSIX time of the last bucket taken (None before the first): a caller feeding
        buckets only needs to read from the next one on."""
        return self._last

    def update(self, timestamp: datetime | float, value: float) -> SpikeResult:
        """Take one bucket (its start time, its count) and judge it.

        ``timestamp`` is an aware datetime or POSIX seconds. A bucket not later than the last
        one (a replay) is ignored: the state does not change and the result says so.
        """
        opts = self.options
        now = timestamp.timestamp() if isinstance(timestamp, datetime) else float(timestamp)
        last = self._last
        if last is not None and now <= last:
            return SpikeResult(0.0, 0.0, 0.0, False, "bucket not after the last one: ignored")
        step = 300.0 if last is None else now - last
        a_level = self._alpha(step, opts.level_half_life_hours * 3600.0)
        a_scale = self._alpha(step, opts.scale_half_life_hours * 3600.0)
        # the daily slot sees ~step/slot_seconds updates per day, the weekday ~86400/step
        slot_seconds = opts.season_slot_minutes * 60.0
        a_season = self._alpha(min(step, slot_seconds), opts.season_half_life_days * slot_seconds)
        a_week = self._alpha(step, opts.weekly_half_life_weeks * _DAY)

        local = now + opts.utc_offset_hours * 3600.0
        day_index = math.floor(local / _DAY)
        slot = int((local - day_index * _DAY) // slot_seconds)
        weekday = (day_index + 3) % _WEEK_DAYS  # 1970-01-01 was a Thursday; 0 = Monday
        y = math.log(max(value, 0.0) + opts.offset)

        daily = self._daily
        weekly = self._weekly
        if self._first is None:
            self._first = now
            self._level = y
            self._shift_fast = self._shift_slow = y
        self._last = now
        self._n += 1
        season = daily[slot] + weekly[weekday]
        expected_y = self._level + season
        expected = max(math.exp(expected_y) - opts.offset, 0.0)
        residual = y - expected_y
        # noise floor: sd of log(X + offset) for X ~ Poisson(expected) is ~ sqrt(mu) / (mu + o)
        floor = opts.noise_floor * math.sqrt(expected + 0.5) / (expected + opts.offset)
        scale = self._scale * 1.2533 if self._scale * 1.2533 > floor else floor
        z = residual / scale

        # clipped state updates: a spike moves the baseline by a bounded step only
        limit = opts.clip * scale
        clipped = limit if residual > limit else (-limit if residual < -limit else residual)
        self._level += a_level * clipped
        daily[slot] += a_season * clipped
        weekly[weekday] += a_week * clipped
        self._scale += a_scale * (abs(clipped) - self._scale) if self._n > 1 else 0.0

        # level shift: recent vs long-run deseasonalised level (log ratio), clipped inputs
        shift = 0.0
        if opts.shift_threshold > 0.0:
            flat = y - season
            lo = self._shift_slow - limit
            hi = self._shift_slow + limit
            flat = hi if flat > hi else (lo if flat < lo else flat)
            self._shift_fast += self._alpha(step, opts.shift_fast_half_life_hours * 3600.0) * (
                flat - self._shift_fast
            )
            # until the long-run level has settled it follows the recent one: no shift yet
            slow_half_life = (
                opts.shift_slow_half_life_days * _DAY
                if now - self._first >= opts.shift_slow_half_life_days * _DAY
                else opts.shift_fast_half_life_hours * 3600.0
            )
            self._shift_slow += self._alpha(step, slow_half_life) * (flat - self._shift_slow)
            shift = self._shift_fast - self._shift_slow

        # burst: decayed sum of the counts above the noise band, as a share of a day's volume
        upper = math.exp(expected_y + opts.margin * scale) - opts.offset
        self._burst = self._burst * 0.5 ** (step / (opts.burst_half_life_minutes * 60.0))
        if value > upper:
            self._burst += value - upper
        bucket = opts.bucket_seconds or self._bucket
        if last is not None and (bucket == 0.0 or step < bucket):
            bucket = self._bucket = step
        if bucket > 0.0:
            rate = expected / bucket
            self._volume = (
                rate if self._volume == 0.0 else self._volume + a_scale * (rate - self._volume)
            )
        day_volume = self._volume * _DAY
        burst = self._burst / day_volume if day_volume > 0.0 else 0.0

        bar = opts.threshold
        self._peak *= 0.5 ** (step / (opts.peak_half_life_days * _DAY))
        if opts.peak_factor * self._peak > bar:
            bar = opts.peak_factor * self._peak
        if burst > self._peak:
            self._peak = burst
        shift_bar = opts.shift_threshold
        settled = now - self._first >= opts.shift_slow_half_life_days * _DAY
        if shift_bar > 0.0 and settled:
            self._shift_peak *= 0.5 ** (step / (opts.peak_half_life_days * _DAY))
            if opts.peak_factor * self._shift_peak > shift_bar:
                shift_bar = opts.peak_factor * self._shift_peak
            if shift > self._shift_peak:
                self._shift_peak = shift
        warm = self._volume > 0.0 and now - self._first >= opts.warmup_hours * 3600.0
        if not warm:
            return SpikeResult(0.0, expected, z, False, "warming up")
        shift_score = 0.0
        if shift_bar > 0.0 and shift > 0.0 and settled:
            if self._shift_bar > 0.0:
                decayed = self._shift_bar * 0.5 ** (
                    (now - self._shift_bar_time) / (opts.shift_refractory_hours * 3600)
                )
                shift_bar = max(shift_bar, decayed)
            shift_score = shift / (shift + shift_bar)
        usual = bar
        if self._bar > 0.0:
            decayed = self._bar * 0.5 ** ((now - self._bar_time) / (opts.refractory_hours * 3600))
            bar = max(bar, decayed)
        score = burst / (burst + bar)
        if shift_score > score:
            score = shift_score
        if shift_score >= 0.5:
            self._shift_bar = opts.escalation * shift
            self._shift_bar_time = now
            self._bar = max(self._bar, opts.escalation * burst)
            self._bar_time = now
            reason = (
                f"volume {math.exp(shift):.2g} x its usual level for hours "
                f"({value:g} against {expected:.3g} expected now)"
            )
            return SpikeResult(score, expected, z, True, reason)
        if burst >= bar and value >= opts.min_count and z > opts.margin:
            self._bar = opts.escalation * burst
            self._bar_time = now
            if opts.shift_threshold > 0.0:
                # the burst lifts the recent level: that is the same event, not a new shift
                self._shift_bar = opts.escalation * max(shift, opts.shift_threshold)
                self._shift_bar_time = now
            reason = (
                f"{value:g} against {expected:.3g} expected ({z:.1f} typical deviations above); "
                f"{burst:.0%} of a usual day's volume in excess lately"
            )
            return SpikeResult(score, expected, z, True, reason)
        if burst >= usual:
            return SpikeResult(score, expected, z, False, "still high: already alerted")
        return SpikeResult(score, expected, z, False, "within the expected range")

    # -- persistence --------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """The whole state as a JSON-able dict (options included)."""
        return {
            "version": _STATE_VERSION,
            "kind": "volume",
            "options": asdict(self.options),
            "level": self._level,
            "scale": self._scale,
            "daily": list(self._daily),
            "weekly": list(self._weekly),
            "n": self._n,
            "first": self._first,
            "last": self._last,
            "bar": self._bar,
            "bar_time": self._bar_time,
            "bucket": self._bucket,
            "burst": self._burst,
            "peak": self._peak,
            "volume": self._volume,
            "shift_fast": self._shift_fast,
            "shift_slow": self._shift_slow,
            "shift_peak": self._shift_peak,
            "shift_bar": self._shift_bar,
            "shift_bar_time": self._shift_bar_time,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        """Rebuild a detector from :meth:`to_state`'s dict."""
        _check_state(state, "volume")
        known = {f.name for f in fields(SpikeOptions)}
        detector = cls(SpikeOptions(**{k: v for k, v in state["options"].items() if k in known}))
        if len(state["daily"]) != detector._slots:
            raise ValueError("state has a daily profile of another slot width; start afresh")
        detector._level = float(state["level"])
        detector._scale = float(state["scale"])
        detector._daily = [float(x) for x in state["daily"]]
        detector._weekly = [float(x) for x in state["weekly"]]
        detector._n = int(state["n"])
        detector._first = None if state["first"] is None else float(state["first"])
        detector._last = None if state["last"] is None else float(state["last"])
        detector._bar = float(state["bar"])
        detector._bar_time = float(state["bar_time"])
        detector._bucket = float(state["bucket"])
        detector._burst = float(state["burst"])
        detector._peak = float(state["peak"])
        detector._volume = float(state["volume"])
        detector._shift_fast = float(state.get("shift_fast", detector._level))
        detector._shift_slow = float(state.get("shift_slow", detector._level))
        detector._shift_peak = float(state.get("shift_peak", 0.0))
        detector._shift_bar = float(state.get("shift_bar", 0.0))
        detector._shift_bar_time = float(state.get("shift_bar_time", 0.0))
        return detector


def _check_state(state: dict[str, Any], kind: str) -> None:
    if state.get("kind") != kind or state.get("version") != _STATE_VERSION:
        raise ValueError(
            f"not a {kind} spike-detector state of version {_STATE_VERSION} "
            f"(kind={state.get('kind')!r}, version={state.get('version')!r}); start afresh"
        )


@dataclass(frozen=True, slots=True)
class ShareSpikeOptions:
    """Parameters of :class:`ShareSpikeDetector`."""

    threshold: float = 4.0
    """Binomial z-score of the recent share against the baseline at which to alert."""
    recent_half_life_minutes: float = 30.0
    """Half-life of the recent counts that are tested."""
    baseline_half_life_days: float = 7.0
    """Half-life of the baseline counts."""
    min_count: float = 20.0
    """No verdict below this many (decayed) recent mentions."""
    prior_share: float = 0.2
    """Baseline share before any data (weighted as ``prior_weight`` mentions)."""
    prior_weight: float = 20.0
    """Pseudo-count of the prior share."""
    min_lift: float = 0.05
    """The recent share must exceed the baseline by at least this much (absolute)."""
    warmup_count: float = 100.0
    """No alert before the baseline has seen this many mentions."""
    refractory_hours: float = 3.0
    """Half-life of the raised alert bar after an alert."""
    escalation: float = 1.5
    """After an alert, a new one needs ``escalation x`` the alerted z-score (decaying)."""


class ShareSpikeDetector:
    """Streaming detector of a rise in a share (e.g. the negative share of a watch)."""

    __slots__ = (
        "_bar",
        "_bar_time",
        "_base_hits",
        "_base_total",
        "_last",
        "_recent_hits",
        "_recent_total",
        "_seen",
        "options",
    )

    def __init__(self, options: ShareSpikeOptions | None = None) -> None:
        self.options = options or ShareSpikeOptions()
        if not 0.0 < self.options.prior_share < 1.0:
            raise ValueError("prior_share must lie strictly between 0 and 1")
        self._base_hits = self.options.prior_share * self.options.prior_weight
        self._base_total = self.options.prior_weight
        self._recent_hits = 0.0
        self._recent_total = 0.0
        self._seen = 0.0
        self._last: float | None = None
        self._bar = 0.0
        self._bar_time = 0.0

    @property
    def last_update(self) -> float | None:
        """POSIX time of the last bucket taken (None before the first): a caller feeding
        buckets only needs to read from the next one on."""
        return self._last

    def update(self, timestamp: datetime | float, hits: float, total: float) -> SpikeResult:
        """Take one bucket: ``hits`` (e.g. negative mentions) out of ``total`` mentions."""
        opts = self.options
        if hits < 0 or total < hits:
            raise ValueError(f"need 0 <= hits <= total, got hits={hits}, total={total}")
        now = timestamp.timestamp() if isinstance(timestamp, datetime) else float(timestamp)
        last = self._last
        if last is not None and now <= last:
            return SpikeResult(0.0, 0.0, 0.0, False, "bucket not after the last one: ignored")
        step = 60.0 if last is None else now - last
        self._last = now
        keep_recent = 0.5 ** (step / (opts.recent_half_life_minutes * 60.0))
        self._recent_hits = self._recent_hits * keep_recent + hits
        self._recent_total = self._recent_total * keep_recent + total
        base_share = self._base_hits / self._base_total
        n = self._recent_total
        share = self._recent_hits / n if n > 0 else 0.0
        sd = math.sqrt(base_share * (1.0 - base_share) * n) if n > 0 else 0.0
        excess = self._recent_hits - n * base_share - 0.5  # continuity correction
        z = excess / sd if sd > 0 else 0.0

        # baseline update, clipped: an outlying bucket counts as if at the bar's share
        keep_base = 0.5 ** (step / (opts.baseline_half_life_days * _DAY))
        counted = hits
        if total > 0:
            bucket_sd = math.sqrt(base_share * (1.0 - base_share) * total)
            counted = min(hits, total * base_share + opts.threshold * bucket_sd)
        self._base_hits = self._base_hits * keep_base + counted
        self._base_total = self._base_total * keep_base + total
        self._seen += total

        if self._seen < opts.warmup_count:
            return SpikeResult(0.0, base_share, z, False, "warming up")
        if n < opts.min_count:
            return SpikeResult(0.0, base_share, z, False, "too few recent mentions to judge")
        bar = opts.threshold
        if self._bar > 0.0:
            decayed = self._bar * 0.5 ** ((now - self._bar_time) / (opts.refractory_hours * 3600))
            bar = max(bar, decayed)
        positive = z if z > 0.0 and share - base_share >= opts.min_lift else 0.0
        effective = positive * opts.threshold / bar
        score = effective / (effective + opts.threshold)
        if positive >= bar:
            self._bar = opts.escalation * positive
            self._bar_time = now
            reason = f"share {share:.0%} of {n:.0f} recent against {base_share:.0%} usually"
            return SpikeResult(score, base_share, z, True, reason)
        if positive >= opts.threshold:
            return SpikeResult(score, base_share, z, False, "still high: already alerted")
        return SpikeResult(score, base_share, z, False, "within the expected range")

    def to_state(self) -> dict[str, Any]:
        """The whole state as a JSON-able dict (options included)."""
        return {
            "version": _STATE_VERSION,
            "kind": "share",
            "options": asdict(self.options),
            "base_hits": self._base_hits,
            "base_total": self._base_total,
            "recent_hits": self._recent_hits,
            "recent_total": self._recent_total,
            "seen": self._seen,
            "last": self._last,
            "bar": self._bar,
            "bar_time": self._bar_time,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        """Rebuild a detector from :meth:`to_state`'s dict."""
        _check_state(state, "share")
        known = {f.name for f in fields(ShareSpikeOptions)}
        options = ShareSpikeOptions(**{k: v for k, v in state["options"].items() if k in known})
        detector = cls(options)
        detector._base_hits = float(state["base_hits"])
        detector._base_total = float(state["base_total"])
        detector._recent_hits = float(state["recent_hits"])
        detector._recent_total = float(state["recent_total"])
        detector._seen = float(state["seen"])
        detector._last = None if state["last"] is None else float(state["last"])
        detector._bar = float(state["bar"])
        detector._bar_time = float(state["bar_time"])
        return detector
