"""Shared normalisation helpers, hostile inputs included."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tocsin.normalise import canonical_url, clean_text, html_to_text, site_of, to_utc

NOON = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        NOON,
        datetime(2026, 1, 5, 12, 0),  # naive: taken as UTC
        datetime(2026, 1, 5, 13, 0, tzinfo=timezone(timedelta(hours=1))),
        time.struct_time((2026, 1, 5, 12, 0, 0, 0, 5, 0)),
        NOON.timestamp(),
        int(NOON.timestamp()),
        "2026-01-05T12:00:00Z",
        "2026-01-05T07:00:00-05:00",
        "2026-01-05 12:00:00",
        "Mon, 05 Jan 2026 12:00:00 GMT",
        "Mon, 05 Jan 2026 13:00:00 +0100",
    ],
)
def test_to_utc_accepts_common_forms(value: object) -> None:
    result = to_utc(value)
    assert result == NOON
    assert result.tzinfo is UTC


@pytest.mark.parametrize("value", ["", "yesterday", "2026-13-45", None, True, [1], 1e20])
def test_to_utc_refuses_garbage_with_value_error(value: object) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies by input
        to_utc(value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://WWW.Example.COM", "https://www.example.com/"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("https://example.com/a#section", "https://example.com/a"),
        (
            "https://example.com/a?utm_source=x&id=3&UTM_Medium=y&fbclid=1&gclid=2&q=",
            "https://example.com/a?id=3&q=",
        ),
        ("  https://user:secret@example.com/p  ", "https://example.com/p"),
        ("https://[::1]:8080/x", "https://[::1]:8080/x"),
        ("https://example.com./", "https://example.com/"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "ftp://example.com/",
        "//example.com/path",
        "/relative",
        "",
        "https://",
        "http://example.com:99999/",
    ],
)
def test_canonical_url_refuses_non_web_urls(url: str) -> None:
    with pytest.raises(ValueError, match="URL"):
        canonical_url(url)


def test_site_of() -> None:
    assert site_of("https://WWW.Example.com/a") == "example.com"
    assert site_of("https://news.example.com./a") == "news.example.com"
    assert site_of("not a url") == ""
    assert site_of("http://[bad") == ""


def test_html_to_text_drops_active_content_and_keeps_text() -> None:
    html = (
        "<p>Hello<script>steal(document.cookie)</script> <b>world</b></p>"
        '<img src="x" onerror="alert(1)"><iframe src="javascript:alert(2)">inside</iframe>'
        "<style>p{color:red}</style><noscript>ns</noscript><object>obj</object>"
        "<embed src=x><template><p>tpl</p></template>"
        '<a href="javascript:alert(3)">a link</a> &amp; &eacute;&#x2603;'
    )
    assert html_to_text(html) == "Hello world\na link & é☃"


def test_html_to_text_block_structure() -> None:
    html = "<div><p>one</p>two<br>three</div><ul><li>a</li><li>b</li></ul><h2>t</h2>"
    assert html_to_text(html) == "one\ntwo\nthree\na\nb\nt"


@pytest.mark.parametrize("html", ["", "   ", "<script>only</script>", "<!-- c -->", "<br>"])
def test_html_to_text_empty_results(html: str) -> None:
    assert html_to_text(html) == ""


def test_html_to_text_survives_deep_nesting_and_broken_markup() -> None:
    assert html_to_text("<div>" * 50_000 + "deep" + "</div>" * 10) == "deep"
    assert html_to_text("<p>unclosed <b>bold <i>and a < b & c") == "unclosed bold and a < b & c"
    assert html_to_text("plain text, no tags") == "plain text, no tags"


def test_clean_text() -> None:
    messy = "  a\u0000b\x1b[31m \t c\u202e\u2066d\r\n\r\n\r\n\r\ne\ufeff  "
    assert clean_text(messy) == "ab[31m cd\n\ne"
    assert clean_text("Cafe\u0301") == "Café"  # NFC
    assert clean_text("a\u00a0\u00a0b") == "a b"
    assert clean_text("") == ""


@given(st.text())
def test_clean_text_is_idempotent_and_control_free(text: str) -> None:
    once = clean_text(text)
    assert clean_text(once) == once
    assert not any(ord(c) < 32 and c != "\n" for c in once)


@given(st.text())
def test_html_to_text_never_raises(text: str) -> None:
    assert isinstance(html_to_text(text), str)
