"""Alert messages: a title and a markdown body, in French or English.

A message says what happened, why it alerted, shows the post (or story) it is about, and
links to the post, to the alert in tocsin and to the signed acknowledge / resolve links.

Text that comes from the internet (post text, author names, story titles, even reasons that
quote a post) is hostile. Before it enters a message it is:

- cleaned: control characters, bidi overrides/isolates and zero-width characters removed,
  whitespace collapsed to single spaces, cut to a length at a word boundary;
- neutralised: ``@`` followed by a word gets a zero-width space (no ``@channel``,
  ``@here``, ``@everyone`` or personal pings), ``<`` and ``>`` become ``‹`` and ``›`` (no
  HTML, no Slack ``<!channel>`` or ``<url|text>``), ``://`` is broken so no URL in a post
  becomes a link;
- escaped: the markdown specials ``\\ ` * _ [ ] ~ |`` get a backslash, so a post cannot
  make a link, an image, emphasis or a table.

Links tocsin adds itself are written as markdown autolinks ``<https://...>`` (clickable
where markdown is rendered, readable where it is not); only http(s) URLs are kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final
from urllib.parse import quote, urlsplit

from tocsin.alert import Alert

__all__ = [
    "LANGUAGES",
    "MentionFacts",
    "Message",
    "StoryFacts",
    "digest",
    "escape_markdown",
    "language_of",
    "neutralise",
    "render",
    "safe_link",
    "safe_text",
]

LANGUAGES = ("en", "fr")

EXCERPT_LIMIT = 400
TITLE_LIMIT = 140
LINE_LIMIT = 200
DIGEST_LIMIT = 50

_INVISIBLE = re.compile(
    "[\u200b\u200e\u200f\u061c\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u00ad]"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MENTION = re.compile(r"@(?=[\w!])")
_MARKDOWN = re.compile(r"([\\`*_\[\]~|])")
_LEADING = re.compile(r"^(\d*)([#>+\-=.)])")
_ZWSP = "\u200b"

_T: Final[Mapping[str, Mapping[str, str]]] = {
    "en": {
        "negative_mention": "Negative mention",
        "story_growth": "Story growing fast",
        "spike": "Spike",
        "crisis_level": "Crisis level",
        "urgent": "Urgent",
        "source_down": "Source down",
        "sev1": "info",
        "sev2": "low",
        "sev3": "high",
        "sev4": "critical",
        "severity": "severity",
        "watch": "watch",
        "watching": "watching",
        "what": "What happened",
        "why": "Why it alerted",
        "post": "The post",
        "by": "by",
        "followers": "followers",
        "reach": "reach",
        "priority": "priority",
        "matters": "Why it matters",
        "story": "The story",
        "mentions": "mentions",
        "per_hour": "per hour",
        "open_post": "Open the post",
        "in_tocsin": "In tocsin",
        "ack": "Acknowledge (I take it)",
        "resolve": "Resolve",
        "at": "at",
        "digest_hourly": "in the last hour",
        "digest_daily": "in the last 24 hours",
        "digest_title": "Digest: {n} alert(s) {period}",
        "digest_none": "Nothing {period}.",
        "digest_more": "… and {n} more in tocsin",
        "state_open": "open",
        "state_watching": "watching",
        "state_acknowledged": "acknowledged",
        "state_resolved": "resolved",
        ":": ":",
    },
    "fr": {
        "negative_mention": "Mention négative",
        "story_growth": "Sujet en forte croissance",
        "spike": "Pic d'activité",
        "crisis_level": "Niveau de crise",
        "urgent": "Urgent",
        "source_down": "Source en panne",
        "sev1": "info",
        "sev2": "faible",
        "sev3": "élevée",
        "sev4": "critique",
        "severity": "gravité",
        "watch": "veille",
        "watching": "sous surveillance",
        "what": "Ce qui s'est passé",
        "why": "Pourquoi cette alerte",
        "post": "Le message",
        "by": "par",
        "followers": "abonnés",
        "reach": "portée",
        "priority": "priorité",
        "matters": "Pourquoi c'est important",
        "story": "Le sujet",
        "mentions": "mentions",
        "per_hour": "par heure",
        "open_post": "Voir le message",
        "in_tocsin": "Dans tocsin",
        "ack": "Prendre en charge",
        "resolve": "Clore",
        "at": "le",
        "digest_hourly": "sur la dernière heure",
        "digest_daily": "sur les dernières 24 heures",
        "digest_title": "Résumé : {n} alerte(s) {period}",
        "digest_none": "Rien {period}.",
        "digest_more": "… et {n} de plus dans tocsin",
        "state_open": "ouverte",
        "state_watching": "sous surveillance",
        "state_acknowledged": "prise en charge",
        "state_resolved": "close",
        ":": "\u202f:",
    },
}


@dataclass(frozen=True, slots=True)
class Message:
    """A message ready for a channel: a plain `title` and a markdown `body`."""

    title: str
    body: str


@dataclass(frozen=True, slots=True)
class MentionFacts:
    """What a message shows of the post an alert is about (plain data, all optional)."""

    text: str = ""
    author: str = ""
    author_name: str = ""
    source: str = ""
    url: str = ""
    followers: int | None = None
    reach: float | None = None
    priority: float | None = None
    factors: Sequence[str] = field(default_factory=tuple)
    published_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoryFacts:
    """What a message shows of the story an alert is about."""

    size: int
    growth_per_hour: float | None = None
    title: str = ""


def language_of(*choices: str | None) -> str:
    """The first of `choices` that is a message language (channel, then workspace), else
    English."""
    for choice in choices:
        if choice:
            short = choice.lower().split("-")[0].split("_")[0]
            if short in LANGUAGES:
                return short
    return "en"


# -- hostile text ------------------------------------------------------------------------------


def safe_text(text: str, limit: int = LINE_LIMIT) -> str:
    """`text` on one line without control, bidi or zero-width characters, at most `limit`
    characters (cut at a word boundary, with an ellipsis)."""
    text = _INVISIBLE.sub("", text)
    text = " ".join(_CONTROL.sub(" ", text).split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def neutralise(text: str) -> str:
    """No pings (``@`` + zero-width space), no tags (``‹ ›``), no URLs that autolink."""
    text = _MENTION.sub("@" + _ZWSP, text)
    text = text.replace("<", "‹").replace(">", "›")
    return text.replace("://", ":/" + _ZWSP + "/")


def escape_markdown(text: str) -> str:
    """`text` with markdown specials escaped, so it renders as the same text."""
    text = _MARKDOWN.sub(r"\\\1", text)
    return _LEADING.sub(r"\1\\\2", text)


def _md(text: str, limit: int = LINE_LIMIT) -> str:
    """Hostile text, made safe to put in a markdown message."""
    return escape_markdown(neutralise(safe_text(text, limit)))


def _plain(text: str, limit: int = TITLE_LIMIT) -> str:
    """Hostile text, made safe for a title (shown as text, sometimes as markdown)."""
    return neutralise(safe_text(text, limit)).replace("[", "(").replace("]", ")")


def safe_link(url: str | None) -> str | None:
    """`url` as a markdown autolink target, or None unless it is a plain http(s) URL."""
    if not url:
        return None
    url = url.strip()
    if _CONTROL.search(url) or _INVISIBLE.search(url) or " " in url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return quote(url, safe=":/?#@!$&'*+,;=%-._~")  # <, >, ", spaces, (), [], ` encoded


def _autolink(url: str | None) -> str | None:
    link = safe_link(url)
    return f"<{link}>" if link else None


# -- rendering ---------------------------------------------------------------------------------


def _number(value: float, language: str) -> str:
    if abs(value) < 1000:
        text = f"{value:.0f}"
    elif abs(value) < 1_000_000:
        text = f"{value / 1000:.1f}k"
    else:
        text = f"{value / 1_000_000:.1f}M"
    return text.replace(".", ",") if language == "fr" else text


def _when(at: datetime, language: str) -> str:
    at = at.astimezone(UTC)
    if language == "fr":
        return at.strftime("%d/%m/%Y %H:%M UTC")
    return at.strftime("%Y-%m-%d %H:%M UTC")


def _title(alert: Alert, t: Mapping[str, str]) -> str:
    return f"[tocsin] {t[alert.kind]} ({t[f'sev{alert.severity}']}): {_plain(alert.title)}"


def _header(alert: Alert, t: Mapping[str, str], language: str) -> str:
    parts = [f"**{t[alert.kind]}**", f"{t['severity']} {t[f'sev{alert.severity}']}"]
    if alert.watch:
        parts.append(f"{t['watch']} {_md(alert.watch, 60)}")
    if alert.state == "watching":
        parts.append(t["watching"])
    parts.append(_when(alert.created_at, language))
    return " · ".join(parts)


def _post(mention: MentionFacts, t: Mapping[str, str], language: str) -> list[str]:
    who = [f"@{mention.author.lstrip('@')}" if mention.author else "", mention.author_name]
    byline = " — ".join(_md(w, 80) for w in who if w)
    facts = [_md(mention.source, 40)] if mention.source else []
    if byline:
        facts.append(f"{t['by']} {byline}")
    if mention.followers is not None:
        facts.append(f"{_number(mention.followers, language)} {t['followers']}")
    if mention.reach is not None:
        facts.append(f"{t['reach']} {_number(mention.reach, language)}")
    if mention.priority is not None:
        facts.append(f"{t['priority']} {mention.priority:.0f}")
    if mention.published_at is not None:
        facts.append(_when(mention.published_at, language))
    about = f" ({', '.join(facts)})" if facts else ""
    lines = [f"**{t['post']}**{about}{t[':']}"]
    if mention.text:
        lines += ["", f"> {_md(mention.text, EXCERPT_LIMIT)}"]
    if mention.factors:
        factors = "; ".join(_md(f, 80) for f in list(mention.factors)[:6])
        lines += ["", f"{t['matters']}{t[':']} {factors}"]
    return lines


def _story(story: StoryFacts, t: Mapping[str, str], language: str) -> str:
    text = f"**{t['story']}**{t[':']} {story.size} {t['mentions']}"
    if story.growth_per_hour is not None:
        text += f", +{_number(story.growth_per_hour, language)} {t['per_hour']}"
    if story.title:
        text += f" — “{_md(story.title, 120)}”"
    return text


def render(
    alert: Alert,
    *,
    language: str = "en",
    public_url: str,
    mention: MentionFacts | None = None,
    story: StoryFacts | None = None,
    acknowledge_url: str | None = None,
    resolve_url: str | None = None,
) -> Message:
    """The message for `alert` in `language` (``fr`` or ``en``). `public_url` is where
    tocsin is served (the alert's page is ``{public_url}/alerts/{id}``); the acknowledge and
    resolve URLs are already signed. Every link that is not http(s) is left out."""
    language = language_of(language)
    t = _T[language]
    blocks: list[list[str]] = [[_header(alert, t, language)]]
    blocks.append([f"**{t['what']}**{t[':']} {_md(alert.title)}"])
    if alert.reasons:
        blocks.append([f"**{t['why']}**{t[':']}", *(f"- {_md(r)}" for r in alert.reasons[:10])])
    if mention is not None:
        blocks.append(_post(mention, t, language))
    if story is not None:
        blocks.append([_story(story, t, language)])
    links = []
    post_link = _autolink(mention.url if mention and mention.url else alert.url)
    if post_link:
        links.append(f"{t['open_post']}{t[':']} {post_link}")
    if alert.id is not None:
        page = _autolink(f"{public_url.rstrip('/')}/alerts/{alert.id}")
        if page:
            links.append(f"{t['in_tocsin']}{t[':']} {page}")
    for label, url in (("ack", acknowledge_url), ("resolve", resolve_url)):
        link = _autolink(url)
        if link:
            links.append(f"{t[label]}{t[':']} {link}")
    if links:
        blocks.append([f"{line}  " for line in links[:-1]] + links[-1:])
    body = "\n\n".join("\n".join(block) for block in blocks)
    return Message(title=_title(alert, t), body=body)


def digest(
    alerts: Sequence[Alert],
    language: str,
    period: str,
    *,
    public_url: str | None = None,
) -> Message:
    """A digest of `alerts` (those that did not page) over `period` (``hourly`` or
    ``daily``): one line each, newest first, at most 50."""
    language = language_of(language)
    t = _T[language]
    when = t["digest_hourly" if period == "hourly" else "digest_daily"]
    title = f"[tocsin] {t['digest_title'].format(n=len(alerts), period=when)}"
    if not alerts:
        return Message(title=title, body=t["digest_none"].format(period=when))
    ordered = sorted(alerts, key=lambda a: a.created_at, reverse=True)
    lines = []
    for alert in ordered[:DIGEST_LIMIT]:
        line = (
            f"- {_when(alert.created_at, language)} · **{t[alert.kind]}** · "
            f"{_md(alert.title, 120)} · {t[f'state_{alert.state}']}"
        )
        page = _autolink(f"{public_url.rstrip('/')}/alerts/{alert.id}") if public_url else None
        if page and alert.id is not None:
            line += f" · {page}"
        lines.append(line)
    if len(ordered) > DIGEST_LIMIT:
        lines.append(t["digest_more"].format(n=len(ordered) - DIGEST_LIMIT))
    return Message(title=title, body="\n".join(lines))
