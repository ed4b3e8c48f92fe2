"""One story (``GET /stories/{id}``, viewer): its mentions, growth curve and spread over
sources. A story's id is the id of its first mention."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from tocsin.store.stories import story_mentions, story_size
from tocsin.web.auth import User, require
from tocsin.web.i18n import words
from tocsin.web.pages import render
from tocsin.web.story_data import story_view

__all__ = ["SHOWN", "WORDS", "router"]

router = APIRouter()
_VIEWER = Depends(require("viewer"))
SHOWN = 200
"""Mentions listed on the page (the curve and sources count up to 2,000)."""

WORDS: Mapping[str, Mapping[str, str]] = words("story")
OVERVIEW_WORDS = words("overview")  # the charts and mention cards speak the Overview's words


@router.get("/stories/{story_id:path}", response_class=HTMLResponse)
async def story_page(request: Request, story_id: str, user: User = _VIEWER) -> HTMLResponse:
    """The story page; 404 when no stored mention belongs to `story_id`."""
    store = request.app.state.store
    size = await asyncio.to_thread(story_size, store, story_id)
    if size == 0:
        raise HTTPException(404, "no such story")
    found = await asyncio.to_thread(story_mentions, store, story_id, limit=2000)
    context = {
        "story_id": story_id,
        "view": story_view(found, size),
        "mentions": found[:SHOWN],
        "shown": min(SHOWN, len(found)),
        "user": user,
    }
    return render(request, "story.html", context, WORDS, OVERVIEW_WORDS)
