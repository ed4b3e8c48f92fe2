"""`tocsin analyze`: the full enrichment of texts, one JSON object per line.

Scripts and evaluations rely on this output: each line has the input's fields (for
``--jsonl``) or ``text`` (for arguments and standard input), then ``lang``,
``lang_confidence``, ``sentiment``, ``sentiment_score``, ``demand``, ``complaint``,
``urgent``, ``reach``, ``velocity``, ``priority``, ``priority_factors`` and ``story`` (the
1-based number of the first text of its story among the inputs).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from tocsin.cli.common import EXIT_PARTIAL, WorkspaceOpt, _fail, app, err
from tocsin.config import ConfigError, Settings, load_settings
from tocsin.mention import Author, Mention, Metrics
from tocsin.pipeline import enrich_mentions
from tocsin.runtime import enrichers
from tocsin.workspace import find_workspace

__all__ = ["analysis", "mention_for"]

#: Fields of a JSON line that describe the post (others are passed through untouched).
_METRICS = ("likes", "reposts", "replies", "quotes", "views")
_BATCH = 500


def _int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{value!r} is not a number")
    return int(float(value))


def mention_for(number: int, fields: Mapping[str, Any], now: datetime) -> Mention:
    """A mention for input number `number`: ``text`` (required), optional ``title``,
    ``lang``, ``followers``, ``verified``, ``likes``, ``reposts``, ``replies``, ``quotes``,
    ``views`` and ``published_at`` (ISO 8601)."""
    text = fields.get("text")
    if not isinstance(text, str):
        raise ValueError('needs a "text" field holding a string')
    published = fields.get("published_at")
    at = datetime.fromisoformat(published) if isinstance(published, str) else now
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    metrics = {k: _int(fields[k]) for k in _METRICS if fields.get(k) is not None}
    lang = fields.get("lang")
    return Mention(
        id=f"analyze:{number}",
        source="analyze",
        url="",
        text=text,
        title=str(fields.get("title") or ""),
        published_at=at,
        seen_at=max(at, now),
        lang=lang if isinstance(lang, str) and lang else None,
        author=Author(
            followers=_int(fields.get("followers")), verified=bool(fields.get("verified"))
        ),
        metrics=Metrics(**metrics),  # type: ignore[arg-type]
    )


def analysis(mention: Mention) -> dict[str, Any]:
    """The enrichment of `mention` as the JSON fields `tocsin analyze` prints."""
    sentiment = mention.sentiment
    story = mention.story_id.partition(":")[2] if mention.story_id else None
    return {
        "lang": mention.lang,
        "lang_confidence": mention.lang_confidence,
        "sentiment": sentiment.label if sentiment else None,
        "sentiment_score": sentiment.score if sentiment else None,
        "demand": mention.demand,
        "complaint": mention.complaint,
        "urgent": list(mention.urgent),
        "reach": mention.reach,
        "velocity": mention.velocity,
        "priority": mention.priority,
        "priority_factors": dict(mention.priority_factors),
        "story": int(story) if story and story.isdigit() else None,
    }


def _inputs(texts: list[str], jsonl: Path | None) -> Iterator[tuple[int, str, Any]]:
    """``(number, where, fields or error)`` for each input, in order."""
    if jsonl is None:
        lines = texts or [line.rstrip("\n") for line in sys.stdin]
        for n, text in enumerate(lines, 1):
            yield n, f"text {n}", {"text": text}
        return
    with sys.stdin if str(jsonl) == "-" else jsonl.open(encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as exc:
                yield n, f"{jsonl}:{n}", ValueError(f"not valid JSON ({exc})")
                continue
            if not isinstance(value, dict):
                yield n, f"{jsonl}:{n}", ValueError("is not a JSON object")
                continue
            yield n, f"{jsonl}:{n}", value


def _settings(workspace: Path | None) -> Settings | None:
    """The workspace's settings; None (the defaults) when there is no workspace."""
    try:
        folder = find_workspace(workspace)
    except ConfigError:
        if workspace is not None:
            raise
        return None
    return load_settings(folder)


@app.command()
def analyze(
    texts: Annotated[
        list[str] | None, typer.Argument(help="Texts to analyze (default: one per stdin line).")
    ] = None,
    jsonl: Annotated[
        Path | None,
        typer.Option(
            help='JSON Lines file ("-" for stdin); each object needs "text", other fields '
            "are kept in the output.",
            dir_okay=False,
        ),
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Print the enrichment of each text (language, sentiment, demand, urgency, priority)."""
    if jsonl is not None and str(jsonl) != "-" and not jsonl.is_file():
        raise _fail(f"no such file: {jsonl}")
    try:
        chain = enrichers(_settings(workspace))
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    now = datetime.now(UTC)
    bad = 0
    pending: list[tuple[Mapping[str, Any], Mention]] = []

    def flush() -> None:
        enriched = enrich_mentions(chain, [m for _, m in pending])
        for (fields, _), mention in zip(pending, enriched, strict=True):
            line = {**fields, **analysis(mention)}
            sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
        pending.clear()

    for number, where, fields in _inputs(texts or [], jsonl):
        try:
            if isinstance(fields, Exception):
                raise fields
            pending.append((fields, mention_for(number, fields, now)))
        except ValueError as exc:
            bad += 1
            err.print(f"{where}: skipped: {exc}", markup=False, highlight=False, soft_wrap=True)
            continue
        if len(pending) >= _BATCH:
            flush()
    if pending:
        flush()
    if bad:
        raise typer.Exit(EXIT_PARTIAL)
