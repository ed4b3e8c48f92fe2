"""The search page: filters, bad queries, safe highlighting, pages, CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from triage_web_helpers import Env, make_env, mention

from tocsin.mention import Author, Sentiment
from tocsin.query import parse
from tocsin.store import Store
from tocsin.web.routes.search import SearchRequest, csv_cell, highlight, run_search

NEG = Sentiment("negative", -0.7)
POS = Sentiment("positive", 0.7)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    store = Store.open(f"sqlite:///{tmp_path / 'tocsin.db'}")
    store.upgrade()
    batch = [
        mention("1", "acme refund please", minutes=1, sentiment=NEG, demand="compensation"),
        mention("2", "acme is great", minutes=2, sentiment=POS, lang="en"),
        mention("3", "globex news", minutes=3, watches=("rival",), lang="fr"),
        mention("4", "acme remboursement", minutes=4, source="mastodon", id="mastodon:4"),
        mention("5", "old acme story", minutes=-3000),
    ]
    store.save_batch("rss", batch, now=batch[0].published_at)
    yield make_env(store)
    store.close()


def _ids(env: Env, **params: str) -> list[str]:
    page = env.client.get("/search", params=params, headers=env.as_("vera"))
    assert page.status_code == 200, page.text
    return [line.split('data-id="')[1].split('"')[0] for line in page.text.split("\n")
            if 'class="mention result' in line]  # fmt: skip


def test_each_filter(env: Env) -> None:
    assert _ids(env, q="acme") == ["mastodon:4", "rss:2", "rss:1", "rss:5"]
    assert _ids(env, q="acme", source="mastodon") == ["mastodon:4"]
    assert _ids(env, watch="rival") == ["rss:3"]
    assert _ids(env, lang="fr") == ["rss:3"]
    assert _ids(env, q="acme", sentiment="negative") == ["rss:1"]
    assert _ids(env, demand="compensation") == ["rss:1"]
    assert _ids(env, q="acme", since="2026-11-24") == ["mastodon:4", "rss:2", "rss:1"]
    assert _ids(env, q="acme", until="2026-11-22") == ["rss:5"]
    assert _ids(env, q="acme", since="2026-11-24T12:02") == ["mastodon:4", "rss:2"]


def test_an_invalid_query_is_a_400_with_the_caret(env: Env) -> None:
    page = env.client.get("/search", params={"q": 'acme AND "refund'}, headers=env.as_("vera"))
    assert page.status_code == 400
    assert "This query cannot be used" in page.text
    assert "this quote is never closed (column 10)" in page.text
    assert "  acme AND &#34;refund\n           ^" in page.text
    bad = env.client.get("/search", params={"since": "yesterday"}, headers=env.as_("vera"))
    assert bad.status_code == 400
    assert "YYYY-MM-DD" in bad.text
    worse = env.client.get("/search", params={"sentiment": "angry"}, headers=env.as_("vera"))
    assert worse.status_code == 400
    csv_bad = env.client.get("/search.csv", params={"q": "(acme"}, headers=env.as_("vera"))
    assert csv_bad.status_code == 400
    assert "never closed" in csv_bad.text or "(" in csv_bad.text


def test_the_page_needs_a_viewer(env: Env) -> None:
    assert env.client.get("/search", params={"q": "acme"}).status_code == 303  # sign in
    assert env.client.get("/search.csv").status_code == 303
    assert env.client.get("/search", headers=env.as_("vera")).status_code == 200


def test_highlighting_escapes_before_marking() -> None:
    node = parse("acme OR onmouseover OR javascript")
    hostile = '<script>alert(1)</script> acme " onmouseover="x" javascript:alert(1) &amp;'
    out = str(highlight(hostile, node))
    assert "<script>" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "<mark>acme</mark>" in out
    assert "&#34; <mark>onmouseover</mark>=&#34;x&#34;" in out
    assert "<mark>javascript</mark>:alert(1)" in out
    assert out.endswith("&amp;amp;")
    assert str(highlight("a <b>", None)) == "a &lt;b&gt;"
    assert str(highlight("Le Service Client d'ACME", parse('"service client" -acme'))) == (
        "Le <mark>Service</mark> <mark>Client</mark> d&#39;ACME"
    )
    assert str(highlight("Rappel: acme", parse("title:rappel"), title=True)) == (
        "<mark>Rappel</mark>: acme"
    )


def test_hostile_mentions_render_inert(env: Env) -> None:
    hostile = mention(
        "h",
        '<script>alert(1)</script> acme <img src=x onerror=alert(1)> " onmouseover="alert(1)',
        minutes=10,
        title='"><svg onload=alert(1)>',
        url="javascript:alert(1)",
        author=Author(handle="x", name="<b onclick=alert(1)>Eve</b>", url="javascript:alert(2)"),
    )
    env.store.save_batch("rss", [hostile], now=hostile.published_at)
    page = env.client.get("/search", params={"q": "acme"}, headers=env.as_("vera"))
    assert page.status_code == 200
    text = page.text
    assert "<script>alert" not in text
    assert "<img" not in text
    assert "<svg" not in text
    assert "<b onclick" not in text
    assert 'href="javascript:' not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; <mark>acme</mark>" in text
    assert "Content-Security-Policy" in page.headers


def test_pages_go_on_with_a_cursor(env: Env) -> None:
    more = [mention(f"p{i}", "acme page", minutes=100) for i in range(7)]  # same instant
    more += [mention(f"q{i}", "acme page", minutes=100 - i) for i in range(1, 6)]
    env.store.save_batch("rss", more, now=more[0].published_at)
    seen: list[str] = []
    search = SearchRequest(q="page")
    while True:
        page = run_search(env.store, search, size=3)
        seen += [m.id for m in page.mentions]
        if page.next is None:
            break
        search = SearchRequest(q="page", before=page.next[0], skip=page.next[1])
    assert len(seen) == len(set(seen)) == 12
    assert seen == [m.id for m in run_search(env.store, SearchRequest(q="page"), size=50).mentions]
    html = env.client.get("/search", params={"q": "page"}, headers=env.as_("vera")).text
    assert 'rel="next"' not in html  # 12 < 50
    # with a post-filter (sentiment), pages still cover everything exactly once
    neg = [mention(f"n{i}", "acme neg", minutes=200 + i % 3, sentiment=NEG) for i in range(9)]
    env.store.save_batch("rss", neg, now=neg[0].published_at)
    found: list[str] = []
    search = SearchRequest(q="neg", sentiment="negative")
    while True:
        page = run_search(env.store, search, size=2)
        found += [m.id for m in page.mentions]
        if page.next is None:
            break
        search = SearchRequest(
            q="neg", sentiment="negative", before=page.next[0], skip=page.next[1]
        )
    assert sorted(found) == sorted(m.id for m in neg)


def test_a_scan_limit_is_said(env: Env) -> None:
    many = [mention(f"s{i}", "acme scan", minutes=300 + i, sentiment=POS) for i in range(30)]
    env.store.save_batch("rss", many, now=many[0].published_at)
    page = run_search(env.store, SearchRequest(q="scan", sentiment="negative"), scan_limit=10)
    assert page.mentions == []
    assert page.scan_limited
    assert page.next is not None


def test_csv_export_guards_against_formulas(env: Env) -> None:
    evil = mention(
        "e",
        '=HYPERLINK("http://evil") acme',
        minutes=20,
        title="+cmd|' /C calc'!A0",
        author=Author(handle="@handle", name="-2+3"),
        sentiment=NEG,
    )
    env.store.save_batch("rss", [evil], now=evil.published_at)
    response = env.client.get("/search.csv", params={"q": "acme"}, headers=env.as_("vera"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["id"] for r in rows] == ["rss:e", "mastodon:4", "rss:2", "rss:1", "rss:5"]
    first = rows[0]
    assert first["text"] == '\'=HYPERLINK("http://evil") acme'
    assert first["title"] == "'+cmd|' /C calc'!A0"
    assert first["author_handle"] == "'@handle"
    assert first["author_name"] == "'-2+3"
    assert first["sentiment_score"] == "-0.700"  # our own number, not a formula
    filtered = env.client.get(
        "/search.csv", params={"q": "acme", "sentiment": "positive"}, headers=env.as_("vera")
    )
    assert [r["id"] for r in csv.DictReader(io.StringIO(filtered.text))] == ["rss:2"]


def test_csv_cell() -> None:
    assert [csv_cell(v) for v in ("=1", "+1", "-1", "@a", "\tx", "ok", None, 3)] == [
        "'=1",
        "'+1",
        "'-1",
        "'@a",
        "'\tx",
        "ok",
        "",
        "3",
    ]
