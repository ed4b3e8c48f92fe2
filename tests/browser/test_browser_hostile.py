"""Hostile input renders inert, asserted in a real browser (Debian's chromium).

Mentions, authors, stories, crisis reasons and alerts carry ``<script>``, ``<img onerror>``,
``<svg onload>``, event handler attributes, attribute break-outs, ``javascript:`` links in
every disguise (case, leading space, tab inside the scheme), ``data:`` and ``vbscript:``
links, a forged Server-Sent Event, and odd Unicode (bidi overrides, zero-width characters,
C0 and C1 controls, noncharacters, lone carriage returns). Every payload would set
``window.__pwned`` if it ran. On every page that shows them, in the browser:

- ``window.__pwned`` stays undefined, and no dialog opens (``browsing`` fails the test);
- the DOM has no event handler attribute, no link, source or form action other than
  http(s) (resolved as the browser resolves it), no script but ``/static/`` ones, and none
  of the elements only hostile markup could add (img, svg, iframe...);
- the payloads are shown as text;
- and the Content-Security-Policy blocks inline script even when something manages to
  insert it (reported as violations in the console).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import pytest
from browser_support import (
    PASSWORD,
    SECRET,
    Browsing,
    LiveServer,
    history,
    inert_problems,
    live_server,
    mention,
)
from playwright.sync_api import expect

from tocsin.alert import Alert
from tocsin.mention import Author, Mention
from tocsin.notify.signing import sign

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

TRAP = "window.__pwned=1"
SCRIPT = f"<script>{TRAP}</script>"
IMG = f'<img src=x onerror="{TRAP}">'
SVG = f"<svg onload={TRAP}>"
HANDLER = f'<b onmouseover="{TRAP}" onclick="{TRAP}">hover me</b>'
LINK = f'<a href="javascript:{TRAP}">click me</a>'
FRAME = f'<iframe src="javascript:{TRAP}"></iframe><object data="javascript:{TRAP}">'
BREAKOUT = f"\"'><img src=x onerror={TRAP}>"
ODD = (
    "\u202eevil\u202c \u2066isolate\u2069 zero\u200bwidth\u200d\ufeff e\u0301\u0301\u0301"
    " bell\x07 back\x08 esc\x1b[31mred nel\x85 ls\u2028ps\u2029 nonchar\ufffe\uffff \ufffd"
)
SSE_FORGERY = "\r\n\r\nevent: mention\r\ndata: <article class=mention data-id=forged>forged\r"
TEXT = f"acme {SCRIPT} {IMG} {SVG} {HANDLER} {LINK} {ODD} {SSE_FORGERY} end of post"
BAD_URLS = (
    f"javascript:{TRAP}",
    f"  JaVaScRiPt:{TRAP}",
    f"java\tscript:{TRAP}",
    f"\x01javascript:{TRAP}",
    f"data:text/html,{SCRIPT}",
    "vbscript:msgbox(1)",
)
HOSTILE_ID = f"rss:{BREAKOUT}"


def hostile(native: str, url: str, *, story: str | None = None, **fields: Any) -> Mention:
    return mention(
        native,
        TEXT,
        title=f"{FRAME} {LINK}",
        url=url,
        author=Author(
            handle=BREAKOUT,
            name=f"{SCRIPT}{IMG} {ODD}",
            followers=900_000,
            url=BAD_URLS[len(native) % len(BAD_URLS)],
        ),
        story_id=story,
        **fields,
    )


STORY = HOSTILE_ID
"""A story's id is its first mention's: this one, whose http(s) link tries to break out."""
MENTIONS = [
    hostile(STORY[4:], f"https://news.example.com/{BREAKOUT}", story=STORY, minutes_ago=9),
    *(hostile(str(i), url, story=STORY, minutes_ago=2 + i) for i, url in enumerate(BAD_URLS)),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("hostile")) as found:
        now = found.clock.now()
        found.store.save_batch("rss", history(12), now=now)
        found.deliver(*MENTIONS)
        found.store.save_crisis_level(
            "acme", 3, since=now - timedelta(hours=1), reasons=[SCRIPT, IMG, ODD], now=now
        )
        yield found


@pytest.fixture
def alert_id(server: LiveServer) -> int:
    alert = Alert(
        key=f"hostile-{len(server.store.alerts.list(limit=100))}",
        rule="negative",
        kind="negative_mention",
        subject=HOSTILE_ID,
        title=f"{SCRIPT} {IMG} {ODD}",
        created_at=server.clock.now(),
        reasons=(HANDLER, LINK, BREAKOUT),
        severity=4,
        watch="acme",
        mention_id=HOSTILE_ID,
        url=f"javascript:{TRAP}",
        details={SCRIPT: IMG, "url": f"javascript:{TRAP}", "odd": ODD},
    )
    stored, _ = server.store.alerts.save(alert, [], now=server.clock.now())
    assert stored.id is not None
    return stored.id


def sign_in(page: Page, server: LiveServer, who: str) -> None:
    page.goto(f"{server.url}/login")
    page.get_by_label("Email").fill(server.email(who))
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.url}/")


def visit(page: Page, server: LiveServer, path: str) -> None:
    """Open `path`; it must load (200) with the strict Content-Security-Policy."""
    response = page.goto(f"{server.url}{path}")
    assert response is not None
    assert response.status == 200, f"{path}: {response.status}"
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp


PROVOKE_JS = """
() => {
  document.querySelectorAll('details').forEach((d) => { d.open = true; });
  const kinds = ['mouseover', 'mouseenter', 'focus', 'error', 'load', 'animationstart'];
  for (const el of document.querySelectorAll('main *')) {
    for (const kind of kinds) { el.dispatchEvent(new Event(kind)); }
  }
}
"""
"""Opens every <details> and fires, on every element of the page, the events injected
handlers use (a handler that survived would run now)."""


def assert_inert(browsing: Browsing, page: Page, step: str) -> None:
    """The page as it stands: nothing hostile can run or lead anywhere but http(s)."""
    page.evaluate(PROVOKE_JS)
    browsing.shot(page, step)
    problems = inert_problems(page)
    assert not problems, f"{step}: {problems}"
    assert not browsing.dialogs


def shows_as_text(page: Page, *payloads: str) -> None:
    body = page.locator("body").inner_text()
    for payload in payloads:
        assert payload in body, f"{payload!r} is not shown as text"


def test_overview_shows_hostile_authors_stories_and_reasons_as_text(
    server: LiveServer, browsing: Browsing
) -> None:
    page = browsing.page()
    sign_in(page, server, "ada")
    visit(page, server, "/overview?range=24h")
    expect(page.locator(".chart.drawn canvas")).to_have_count(2)
    authors = page.locator("table.authors")
    expect(authors).to_contain_text(f"{SCRIPT}{IMG}")
    expect(authors).to_contain_text(f"@{BREAKOUT}")
    expect(page.locator("table.stories")).to_contain_text(FRAME)
    shows_as_text(page, SCRIPT, IMG, FRAME, LINK)
    assert_inert(browsing, page, "overview")


def test_live_shows_stored_and_streamed_hostile_mentions_inertly(
    server: LiveServer, browsing: Browsing
) -> None:
    page = browsing.page()
    sign_in(page, server, "vera")
    opened = server.broadcaster.opened
    visit(page, server, "/live")
    cards = page.locator("#feed article.mention")
    expect(cards.first).to_be_visible()
    before = cards.count()
    assert before >= len(MENTIONS)
    expect(page.locator("#live-status")).to_have_text("Live")
    server.broadcaster.wait_opened(opened)
    shows_as_text(page, SCRIPT, IMG, SVG, HANDLER, LINK, BREAKOUT, "end of post")
    assert_inert(browsing, page, "live stored")

    streamed = dataclasses.replace(
        hostile("streamed", f"  JAVASCRIPT:{TRAP}", minutes_ago=0), id=f"rss:new{BREAKOUT}"
    )
    server.deliver(streamed)
    expect(cards).to_have_count(before + 1)  # one card: the forged event made none
    first = cards.first
    assert first.get_attribute("data-id") == streamed.id
    expect(first).to_contain_text(SCRIPT)
    expect(first).to_contain_text("end of post")  # the forged "event:" lines stayed text
    expect(first.locator(".tag")).to_have_text(["acme"])
    expect(first.locator("a.open")).to_have_count(0)  # no link for a javascript: URL
    expect(first.locator("a.author")).to_have_count(0)
    assert page.locator('[data-id="forged"]').count() == 0
    shows_as_text(page, "evil", "isolate", "zero", "width", "red")
    assert_inert(browsing, page, "live streamed")


def test_search_inbox_and_audit_show_hostile_text_inertly(
    server: LiveServer, browsing: Browsing
) -> None:
    page = browsing.page()
    sign_in(page, server, "ada")
    visit(page, server, "/search?" + urlencode({"q": "acme"}))
    expect(page.locator("article.result").first).to_be_visible()
    expect(page.locator("article.result mark").first).to_have_text("acme")
    shows_as_text(page, SCRIPT, IMG, LINK)
    assert_inert(browsing, page, "search")

    visit(page, server, "/inbox")
    expect(page.locator("li.triage-item").first).to_be_visible()
    expect(page.locator("li.triage-item .tag", has_text="Story")).to_have_count(1)
    shows_as_text(page, SCRIPT, IMG, BREAKOUT)
    assert_inert(browsing, page, "inbox")

    for subject, step in ((f"mention:{HOSTILE_ID}", "mention"), (f"story:{STORY}", "story")):
        visit(page, server, "/inbox/item?" + urlencode({"subject": subject}))
        expect(page.get_by_role("heading", level=1)).to_contain_text(subject.split(":", 1)[1])
        page.get_by_role("button", name="Take it").click()
        expect(page.locator(".notice")).to_have_text("You are handling this item.")
        state_form = page.locator('form[action="/inbox/state"]')
        state_form.get_by_label("Set state").select_option("escalated")
        state_form.get_by_role("button", name="Apply").click()
        expect(page.locator(".triage-meta .state")).to_have_text("Escalated")
        assert_inert(browsing, page, f"inbox {step} item")

    visit(page, server, "/admin/audit")
    audit = page.locator("table.audit")
    expect(audit).to_contain_text(f"triage:mention:{HOSTILE_ID}")
    expect(audit).to_contain_text(f"triage:story:{STORY}")
    assert_inert(browsing, page, "audit")
    page.get_by_role("link", name=f"triage:mention:{HOSTILE_ID}").first.click()
    expect(page.locator("table.audit tbody tr")).to_have_count(2)  # take, state
    assert_inert(browsing, page, "audit of one subject")


def test_hostile_alerts_are_inert_on_the_alerts_pages_and_signed_links(
    server: LiveServer, browsing: Browsing, alert_id: int
) -> None:
    page = browsing.page()
    sign_in(page, server, "rita")
    visit(page, server, "/alerts")
    card = page.locator(f'article.alert[data-id="{alert_id}"]')
    expect(card).to_contain_text(SCRIPT)
    expect(card).to_contain_text(BREAKOUT)
    expect(card.get_by_role("link", name="Open the post")).to_have_count(0)
    assert_inert(browsing, page, "alerts")
    visit(page, server, f"/alerts/{alert_id}")
    expect(page.locator("article.alert dl")).to_contain_text(IMG)
    assert_inert(browsing, page, "alert")

    anonymous = browsing.page()
    token = sign(SECRET, alert_id, "ack", "alice", server.clock.now() + timedelta(days=1))
    visit(anonymous, server, f"/a/{quote(token, safe='')}")
    expect(anonymous.locator("article.alert")).to_contain_text(SCRIPT)
    assert_inert(browsing, anonymous, "signed link")
    anonymous.get_by_role("button", name="Acknowledge").click()
    expect(anonymous.get_by_role("heading", level=1)).to_contain_text("acknowledged by alice")
    assert_inert(browsing, anonymous, "signed link done")


def test_the_csp_blocks_inline_script_even_when_inserted(
    server: LiveServer, browsing: Browsing
) -> None:
    page = browsing.page()
    sign_in(page, server, "vera")
    visit(page, server, "/live")
    page.evaluate(
        """() => {
            window.__violations = [];
            document.addEventListener('securitypolicyviolation',
                (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
        }"""
    )
    with page.expect_console_message(lambda m: "Content Security Policy" in m.text) as seen:
        page.evaluate(
            """(trap) => {
                const s = document.createElement('script');
                s.textContent = trap;  // inline: 'self' does not allow it
                document.body.append(s);
            }""",
            "window.__pwned = 'inline script'",
        )
    assert "script-src" in seen.value.text
    page.evaluate(
        """(trap) => {
            const b = document.createElement('button');
            b.id = 'injected';
            b.textContent = 'injected';
            b.setAttribute('onclick', trap);  // an inline handler: blocked as well
            document.body.append(b);
            const a = document.createElement('a');
            a.id = 'injected-link';
            a.textContent = 'injected link';
            a.href = 'javascript:' + trap;  // a javascript: URL: blocked as well
            document.body.append(a);
        }""",
        "window.__pwned = 'handler'",
    )
    page.locator("#injected").click()
    page.locator("#injected-link").click()
    page.wait_for_function("() => window.__violations.length >= 3")
    violations = page.evaluate("() => window.__violations")
    assert all(v.startswith("script-src") for v in violations), violations
    assert page.evaluate("() => typeof window.__pwned") == "undefined"
    csp_messages = [m for m in browsing.console if "Content Security Policy" in m]
    assert len(csp_messages) >= 3, browsing.console
    browsing.shot(page, "csp blocked")
