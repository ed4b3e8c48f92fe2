"""Alert rules: what in the stream deserves an `Alert`, for the rules of ``tocsin.toml``.

Pure functions: mentions, story growth, spikes, crisis changes and events in; alerts out.
An alert's `key` is ``rule:subject:window`` where the subject is the story (or the mention
when it has none) and the window the rule's throttle window of the *mention's* publication,
so that one story alerts once per window however many mentions it gathers, and a mention
re-evaluated after an engagement refresh lands on the same key.

The seed's rule is built into ``negative_mention``: a negative mention under the rule's
`min_priority` is stored as a ``watching`` alert (nobody is paged); when a refresh lifts its
priority over the threshold, the same key comes back ``open`` and it is delivered then.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tocsin.alert import Alert
from tocsin.confignotify import AlertRule
from tocsin.detect.crisis import LEVEL_NAMES, CrisisChange
from tocsin.events import SOURCE_DOWN, Event
from tocsin.mention import Mention

__all__ = ["SpikeSignal", "StoryGrowth", "alerts_for"]

_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)

_TEXT = {
    "en": {
        "negative": "Negative mention on {watch}: {who} (reach {reach})",
        "urgent": "Urgent ({reasons}) on {watch}: {who}",
        "story": "Story growing {rate:.0f}/h on {watch} ({size} mentions)",
        "spike": "Spike on {watch}: {count} mentions (usually {expected:.0f})",
        "negative_spike": "Negative surge on {watch}: {count} negative mentions "
        "(usually {expected:.0f})",
        "crisis": "Crisis level {level} ({name}) on {watch}",
        "down": "Source {subject} stopped delivering",
        "priority": "priority {priority:.0f} ({factors})",
        "watching": "no traction yet: watching (priority {priority:.0f} < {threshold:.0f})",
        "respond": "respond now: priority {priority:.0f} crossed {threshold:.0f}",
        "demand": "the author wants: {demand}",
    },
    "fr": {
        "negative": "Mention négative sur {watch} : {who} (portée {reach})",
        "urgent": "Urgent ({reasons}) sur {watch} : {who}",
        "story": "Sujet en hausse de {rate:.0f}/h sur {watch} ({size} mentions)",
        "spike": "Pic sur {watch} : {count} mentions (d'habitude {expected:.0f})",
        "negative_spike": "Montée du négatif sur {watch} : {count} mentions négatives "
        "(d'habitude {expected:.0f})",
        "crisis": "Niveau de crise {level} ({name}) sur {watch}",
        "down": "La source {subject} ne remonte plus rien",
        "priority": "priorité {priority:.0f} ({factors})",
        "watching": "pas encore d'écho : en observation "
        "(priorité {priority:.0f} < {threshold:.0f})",
        "respond": "à traiter maintenant : priorité {priority:.0f} au-dessus de {threshold:.0f}",
        "demand": "l'auteur demande : {demand}",
    },
}


@dataclass(frozen=True, slots=True)
class StoryGrowth:
    """A story of a watch and how fast it grows (mentions per hour over the last hour)."""

    story_id: str
    watch: str
    size: int
    per_hour: float
    first: Mention


@dataclass(frozen=True, slots=True)
class SpikeSignal:
    """The spike detector's verdict on one completed bucket of a watch."""

    watch: str
    at: datetime
    count: float
    expected: float
    score: float
    reason: str = ""
    metric: str = "volume"
    """``volume`` (mentions per bucket) or ``negative_share``."""


def _window(rule: AlertRule, at: datetime) -> int:
    if rule.throttle_minutes <= 0:
        return int(at.timestamp())
    return int((at - _EPOCH).total_seconds() // (rule.throttle_minutes * 60))


def _watches(rule: AlertRule, watches: Iterable[str]) -> list[str]:
    return [w for w in watches if not rule.watches or w in rule.watches]


def _who(m: Mention) -> str:
    return m.author.name or m.author.handle or m.source


def _factors(m: Mention) -> str:
    ranked = sorted(m.priority_factors.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{name} {value:.0f}" for name, value in ranked[:3])


def _mention_alert(
    rule: AlertRule,
    m: Mention,
    watch: str,
    title: str,
    reasons: list[str],
    state: str,
    now: datetime,
) -> Alert:
    subject = m.story_id or m.id
    return Alert(
        key=f"{rule.name}:{subject}:{_window(rule, m.published_at)}",
        rule=rule.name,
        kind=rule.when,
        subject=subject,
        title=title,
        created_at=now,
        reasons=tuple(reasons),
        severity=rule.severity,
        state=state,
        watch=watch,
        mention_id=m.id,
        story_id=m.story_id,
        url=m.url if m.url.startswith(("https://", "http://")) else "",
        details={"priority": m.priority or 0.0, "reach": m.reach or 0, "source": m.source},
    )


def _for_mention(rule: AlertRule, m: Mention, lang: str, now: datetime) -> Alert | None:
    text = _TEXT[lang]
    watches = _watches(rule, m.watches)
    if not watches:
        return None
    watch, priority = watches[0], m.priority or 0.0
    reasons = [text["priority"].format(priority=priority, factors=_factors(m) or "-")]
    if m.demand and m.demand != "none":
        reasons.append(text["demand"].format(demand=m.demand))
    if rule.when == "negative_mention":
        if m.sentiment is None or m.sentiment.label != "negative":
            return None
        title = text["negative"].format(watch=watch, who=_who(m), reach=f"{m.reach or 0:,}")
        threshold = rule.min_priority
        if priority < threshold:
            reasons.insert(0, text["watching"].format(priority=priority, threshold=threshold))
            return _mention_alert(rule, m, watch, title, reasons, "watching", now)
        reasons.insert(0, text["respond"].format(priority=priority, threshold=threshold))
        return _mention_alert(rule, m, watch, title, reasons, "open", now)
    if rule.when == "urgent":
        found = [r for r in m.urgent if not rule.reasons or r in rule.reasons]
        if not found:
            return None
        title = text["urgent"].format(reasons=", ".join(found), watch=watch, who=_who(m))
        return _mention_alert(rule, m, watch, title, reasons, "open", now)
    return None


def _subject_alert(
    rule: AlertRule,
    key: str,
    subject: str,
    title: str,
    now: datetime,
    *,
    reasons: tuple[str, ...],
    details: dict[str, object],
    severity: int | None = None,
    of_watch: bool = True,
) -> Alert:
    """An alert about a watch (`of_watch`) or a source, not a mention: key ``rule:<key>``."""
    return Alert(
        key=f"{rule.name}:{key}",
        rule=rule.name,
        kind=rule.when,
        subject=subject,
        title=title,
        created_at=now,
        reasons=reasons,
        severity=rule.severity if severity is None else severity,
        watch=subject if of_watch else None,
        details=details,
    )


def alerts_for(
    rules: Sequence[AlertRule],
    *,
    now: datetime,
    language: str = "en",
    mentions: Sequence[Mention] = (),
    stories: Sequence[StoryGrowth] = (),
    spikes: Sequence[SpikeSignal] = (),
    crisis: Sequence[CrisisChange] = (),
    events: Sequence[Event] = (),
) -> list[Alert]:
    """Every alert the enabled `rules` raise for these inputs, in rule order."""
    lang = language if language in _TEXT else "en"
    text = _TEXT[lang]
    out: list[Alert] = []
    for rule in (r for r in rules if r.enabled):
        if rule.when in ("negative_mention", "urgent"):
            out += [a for m in mentions if (a := _for_mention(rule, m, lang, now))]
        elif rule.when == "story_growth":
            for g in stories:
                if _watches(rule, [g.watch]) and g.per_hour >= rule.growth_per_hour:
                    title = text["story"].format(rate=g.per_hour, watch=g.watch, size=g.size)
                    alert = _mention_alert(rule, g.first, g.watch, title, [title], "open", now)
                    out.append(alert)
        elif rule.when == "spike":
            for s in (s for s in spikes if _watches(rule, [s.watch])):
                name = "spike" if s.metric == "volume" else "negative_spike"
                title = text[name].format(watch=s.watch, count=int(s.count), expected=s.expected)
                details = {"metric": s.metric, "score": s.score, "count": s.count}
                out.append(
                    _subject_alert(
                        rule,
                        f"{s.watch}:{s.metric}:{_window(rule, s.at)}",
                        s.watch,
                        title,
                        now,
                        reasons=(s.reason,) if s.reason else (),
                        details=details | {"expected": s.expected},
                    )
                )
        elif rule.when == "crisis_level":
            for c in crisis:
                if c.after <= c.before or c.after < rule.min_level:
                    continue
                if not _watches(rule, [c.watch]):
                    continue
                name = LEVEL_NAMES[lang][c.after]
                out.append(
                    _subject_alert(
                        rule,
                        f"{c.watch}:{c.after}:{_window(rule, c.at)}",
                        c.watch,
                        text["crisis"].format(level=c.after, name=name, watch=c.watch),
                        now,
                        reasons=c.reasons,
                        severity=max(rule.severity, min(4, c.after)),
                        details={"before": c.before, "after": c.after},
                    )
                )
        elif rule.when == "source_down":
            for e in (e for e in events if e.kind == SOURCE_DOWN):
                out.append(
                    _subject_alert(
                        rule,
                        f"{e.subject}:{e.id if e.id is not None else e.at}",
                        e.subject,
                        text["down"].format(subject=e.subject),
                        now,
                        reasons=(e.message,),
                        of_watch=False,
                        details=dict(e.details),
                    )
                )
    return out
