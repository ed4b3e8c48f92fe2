"""The Overview (``GET /`` and ``GET /overview?range=1h|24h|7d|30d``): per watch, volume and
sentiment over time, share of voice, crisis level, growing stories, top authors by reach and
source health.

Every number comes from bounded reads: the rollups (`Store.series`, buckets of 1 min, 15 min,
1 h or 6 h by range), the crisis levels and source health tables (one row per watch or
source), `Store.growing_stories` over at most the last `STORY_WINDOW` (6 hours), and the author
rollup for the exact top authors of the range (`Store.top_authors`). Nothing scans all
mentions.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from tocsin.config import Settings
from tocsin.detect.crisis import LEVEL_NAMES
from tocsin.store import Store
from tocsin.web import overview_data as data
from tocsin.web.auth import User, require
from tocsin.web.i18n import layered, request_language, words
from tocsin.web.pages import render

__all__ = ["STORY_WINDOW", "WORDS", "page_translator", "router"]

router = APIRouter()
Viewer = Annotated[User, Depends(require("viewer"))]

#: Growing stories are counted over the range, but never more than this far back.
STORY_WINDOW = timedelta(hours=6)

WORDS: Mapping[str, Mapping[str, str]] = words("overview")


def page_translator(language: str) -> Callable[..., str]:
    """``t(key, **values)`` knowing these pages' words, then the app's (`tocsin.web.i18n`)."""
    return layered(language, WORDS)


@dataclass(frozen=True, slots=True)
class WatchPanel:
    """One watch on the page: its totals, chart JSON and non-empty buckets for the table."""

    summary: data.WatchSummary
    chart: str
    rows: list[Any]
    crisis: tuple[int, str, datetime | None, tuple[str, ...]]


def _step_words(t: Callable[..., str], step: timedelta) -> str:
    minutes = int(step.total_seconds() // 60)
    if minutes % 60:
        return t("minute") if minutes == 1 else t("minutes", n=minutes)
    hours = minutes // 60
    return t("hour") if hours == 1 else t("hours", n=hours)


def gather(
    store: Store, settings: Settings, time_range: data.TimeRange, now: datetime, lang: str
) -> dict[str, Any]:
    """Everything the Overview shows, read from `store` (blocking: run it in a thread)."""
    t = page_translator(lang)
    start, end = data.window(time_range, now)
    tags = {w.name: tuple(w.tags) for w in settings.watches if w.enabled}
    series = store.series(start=start, end=end, step=time_range.step, watches=list(tags))
    summaries = data.summarise(series, tags)
    levels = store.crisis_levels()
    names = LEVEL_NAMES.get(lang, LEVEL_NAMES["en"])
    labels = {k: t(k) for k in ("mentions", "negative", "neutral", "positive")}
    panels = []
    for s in summaries:
        buckets = series.get(s.watch, [])
        level, since, reasons = levels.get(s.watch, (0, None, ()))
        level = max(0, min(level, len(names) - 1))
        panels.append(
            WatchPanel(
                summary=s,
                chart=json.dumps(data.chart_data(buckets, labels), separators=(",", ":")),
                rows=[b for b in buckets if b.mentions],
                crisis=(level, names[level], since, reasons),
            )
        )
    story_since = max(start, now - STORY_WINDOW)
    counts = store.growing_stories(since=story_since, min_recent=2, limit=30)
    firsts = store.get_many(list(dict.fromkeys(c.story_id for c in counts)))
    intervals = {
        s.name: getattr(s.options, "interval", None) for s in settings.sources if s.enabled
    }
    return {
        "start": start,
        "end": end,
        "step_words": _step_words(t, time_range.step),
        "panels": panels,
        "sov": data.share_of_voice(summaries),
        "stories": data.top_stories(counts, firsts),
        "story_hours": int((end - story_since).total_seconds() // 3600),
        "authors": store.top_authors(start=start, end=end),
        "health": data.health_rows(store.health(now=now), intervals, now=now),
    }


def _zone(settings: Settings) -> ZoneInfo:
    try:
        return ZoneInfo(settings.organisation.timezone)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
@router.get("/overview", response_class=HTMLResponse, include_in_schema=False)
async def overview(
    request: Request,
    user: Viewer,
    period: Annotated[str, Query(alias="range")] = data.DEFAULT_RANGE,
) -> HTMLResponse:
    """The Overview page for `range` (1h, 24h, 7d or 30d; 24h when unknown, with a note)."""
    state = request.app.state
    lang = request_language(request)
    notice = None
    if period not in data.RANGES:
        t = page_translator(lang)
        choices = ", ".join(data.RANGES)
        notice = t("unknown_range", value=period[:20], default=data.DEFAULT_RANGE, choices=choices)
        period = data.DEFAULT_RANGE
    now = state.clock.now()
    context = await asyncio.to_thread(
        gather, state.store, state.settings, data.RANGES[period], now, lang
    )
    zone = _zone(state.settings)
    context |= {
        "user": user,
        "period": period,
        "ranges": list(data.RANGES),
        "notice": notice,
        "local": lambda at: at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if at else "",
    }
    return render(request, "overview.html", context, WORDS)
