"""Alert messages in French and English, safe against hostile post text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tocsin.alert import Alert
from tocsin.notify.messages import (
    MentionFacts,
    StoryFacts,
    digest,
    escape_markdown,
    language_of,
    neutralise,
    render,
    safe_link,
    safe_text,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PUBLIC = "https://tocsin.example.org"


def make_alert(**fields: object) -> Alert:
    values: dict[str, object] = {
        "key": "k",
        "rule": "negative",
        "kind": "negative_mention",
        "subject": "bluesky:1",
        "title": "Acme outage complaint",
        "created_at": T0,
        "reasons": ("negative sentiment (-0.8)", "priority 62 ≥ 45"),
        "severity": 3,
        "watch": "acme",
        "id": 42,
        "url": "https://bsky.app/profile/a/post/1",
    }
    values.update(fields)
    return Alert(**values)  # type: ignore[arg-type]


MENTION = MentionFacts(
    text="Acme has been down for 3 hours",
    author="angry.bsky.social",
    author_name="Angry Person",
    source="bluesky",
    followers=12_345,
    reach=45_678,
    priority=62,
    factors=("influential author", "growing fast"),
)


def test_english_message_says_what_why_and_links() -> None:
    message = render(
        make_alert(),
        language="en",
        public_url=PUBLIC + "/",
        mention=MENTION,
        story=StoryFacts(size=14, growth_per_hour=22, title="Acme outage"),
        acknowledge_url=f"{PUBLIC}/a/42/ack?t=abc",
        resolve_url=f"{PUBLIC}/a/42/resolve?t=def",
    )
    assert message.title == "[tocsin] Negative mention (high): Acme outage complaint"
    body = message.body
    assert "**What happened**: Acme outage complaint" in body
    assert "**Why it alerted**:\n- negative sentiment (-0.8)\n- priority 62 ≥ 45" in body
    assert "12.3k followers, reach 45.7k, priority 62" in body
    assert "> Acme has been down for 3 hours" in body
    assert "Why it matters: influential author; growing fast" in body
    assert "**The story**: 14 mentions, +22 per hour" in body
    assert "Open the post: <https://bsky.app/profile/a/post/1>" in body
    assert f"In tocsin: <{PUBLIC}/alerts/42>" in body
    assert f"Acknowledge (I take it): <{PUBLIC}/a/42/ack?t=abc>" in body
    assert f"Resolve: <{PUBLIC}/a/42/resolve?t=def>" in body


def test_french_message() -> None:
    message = render(make_alert(), language="fr-FR", public_url=PUBLIC, mention=MENTION)
    assert message.title.startswith("[tocsin] Mention négative (élevée)")
    assert "**Ce qui s'est passé**\u202f: Acme outage complaint" in message.body
    assert "12,3k abonnés, portée 45,7k" in message.body
    assert "01/03/2026 12:00 UTC" in message.body
    assert f"Dans tocsin\u202f: <{PUBLIC}/alerts/42>" in message.body


def test_language_choice() -> None:
    assert language_of(None, "fr") == "fr"
    assert language_of("en", "fr") == "en"
    assert language_of("de", None) == "en"
    assert language_of("FR_ca") == "fr"


HOSTILE = (
    "Click [here](https://evil.example/phish) ![x](https://evil.example/p.png) "
    "<img src=x onerror=alert(1)> <!channel> @channel @here @everyone "
    "\u202egnp.exe\u202c zero\u200bwidth \x1b[31mred\x07 *bold* _it_ `code` ~~s~~ | a |\n"
    "# heading\n> quote https://evil.example/x"
)


def test_post_text_cannot_inject_markup_links_or_pings() -> None:
    mention = MentionFacts(text=HOSTILE, author="@everyone", author_name="[me](http://x)")
    body = render(
        make_alert(title=HOSTILE, reasons=(HOSTILE,)), public_url=PUBLIC, mention=mention
    ).body
    for bad in (
        "[here](",
        "![x](",
        "<img",
        "<!channel>",
        "@channel",
        "@here",
        "@everyone",
        "https://evil",
        "\u202e",
        "\u200bwidth",
        "\x1b",
        "\x07",
        "\n# heading",
        "\n> quote",
        "[me](",
    ):
        assert bad not in body, bad
    assert "\\*bold\\*" in body
    assert "\\[here\\]" in body
    assert "@\u200beveryone" in body
    assert "‹img src=x onerror=alert(1)›" in body


def test_title_is_plain_and_short() -> None:
    title = render(make_alert(title=HOSTILE + "x" * 500), public_url=PUBLIC).title
    assert "\n" not in title
    assert "[" not in title.removeprefix("[tocsin]")
    assert len(title) < 220
    assert title.endswith("…")


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://x.com/a_b?c=1&d=2", "https://x.com/a_b?c=1&d=2"),
        ("http://x.com/a b", None),
        ("javascript:alert(1)", None),
        ("data:text/html,hi", None),
        ("ftp://x.com/f", None),
        ("https://x.com/a>b<c", "https://x.com/a%3Eb%3Cc"),
        ("https://x.com/(x)", "https://x.com/%28x%29"),
        ("https:///nohost", None),
        ("", None),
        (None, None),
    ],
)
def test_only_http_links(url: str | None, kept: str | None) -> None:
    assert safe_link(url) == kept


def test_bad_mention_url_is_left_out() -> None:
    mention = MentionFacts(text="x", url="javascript:alert(1)")
    body = render(make_alert(url="data:x"), public_url=PUBLIC, mention=mention).body
    assert "javascript" not in body
    assert "Open the post" not in body
    assert f"<{PUBLIC}/alerts/42>" in body


def test_long_text_is_cut_at_a_word() -> None:
    text = safe_text("word " * 200, limit=50)
    assert len(text) <= 50
    assert text.endswith("word…")
    body = render(make_alert(), public_url=PUBLIC, mention=MentionFacts(text="y " * 2000)).body
    assert len(body) < 2000


def test_helpers() -> None:
    assert escape_markdown("a_b*c[d]`e~f|g\\h") == "a\\_b\\*c\\[d\\]\\`e\\~f\\|g\\\\h"
    assert escape_markdown("1. first") == "1\\. first"
    assert neutralise("@here <b> https://x") == "@\u200bhere ‹b› https:/\u200b/x"
    assert safe_text("a\u202eb\u2066c\u200bd\u00ade\r\nf\tg") == "abcde f g"


def test_digest() -> None:
    alerts = [
        make_alert(id=i, key=f"k{i}", created_at=T0.replace(hour=i), title=f"alert {i}")
        for i in range(1, 4)
    ]
    en = digest(alerts, "en", "hourly", public_url=PUBLIC)
    assert en.title == "[tocsin] Digest: 3 alert(s) in the last hour"
    lines = en.body.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("- 2026-03-01 03:00 UTC · **Negative mention** · alert 3 · open")
    assert lines[0].endswith(f"<{PUBLIC}/alerts/3>")
    fr = digest(alerts * 20, "fr", "daily")
    assert fr.title == "[tocsin] Résumé : 60 alerte(s) sur les dernières 24 heures"
    assert fr.body.splitlines()[-1] == "… et 10 de plus dans tocsin"
    assert digest([], "fr", "daily").body == "Rien sur les dernières 24 heures."
