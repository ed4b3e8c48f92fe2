"""The web app in a real browser (Debian's chromium, Playwright): sign in and see the
Overview's charts drawn, watch a mention arrive on Live (pause, resume), triage it in the
Inbox and read the audit log as an admin, acknowledge alerts from the Alerts page and from a
signed link, and see forms without their CSRF token refused.

Triage, alerts and search forms are sent by htmx: the tests check that the page is updated
in place (a marker put on ``window`` before the click survives it), that htmx sent the
request (``HX-Request``), that no Content-Security-Policy violation was reported, and that
the same forms still work in a browser without JavaScript.

One server for the module (uvicorn in a thread over a SQLite store the tests fill); each
test signs its people in through the login form, in their own browser contexts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

import pytest
from browser_support import (
    PASSWORD,
    SECRET,
    Browsing,
    LiveServer,
    history,
    live_server,
    mention,
)
from playwright.sync_api import expect

from tocsin.alert import Alert
from tocsin.notify.signing import sign
from tocsin.store.triage import TriageStore

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("flows")) as found:
        past = history()
        found.store.save_batch("rss", past, now=found.clock.now())
        yield found


def sign_in(page: Page, server: LiveServer, who: str, next_path: str = "/") -> None:
    """Sign `who` in through the login form and land on `next_path`."""
    page.goto(f"{server.url}/login?{urlencode({'next': next_path})}")
    page.get_by_label("Email").fill(server.email(who))
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.url}{next_path}")


def new_alert(server: LiveServer, key: str, title: str) -> int:
    alert = Alert(
        key=key,
        rule="negative",
        kind="negative_mention",
        subject=f"rss:{key}",
        title=title,
        created_at=server.clock.now(),
        reasons=("priority 80", "author reach 52,000"),
        severity=3,
        watch="acme",
        url=f"https://news.example.com/{key}",
    )
    stored, _ = server.store.alerts.save(alert, [], now=server.clock.now())
    assert stored.id is not None
    return stored.id


CSP_WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""
"""Records every CSP violation a page reports (added before any of the page's scripts)."""


def watch_csp(page: Page) -> None:
    """From now on, record the CSP violations of each document `page` loads."""
    page.add_init_script(script=CSP_WATCH)


def assert_no_csp_violation(browsing: Browsing, page: Page) -> None:
    assert page.evaluate("() => window.__csp") == []
    assert not [m for m in browsing.console if "Content Security Policy" in m], browsing.console


def mark_document(page: Page) -> None:
    """Put a marker on `page`'s window: a full page load loses it."""
    page.evaluate("() => { window.__sameDocument = true; }")


def same_document(page: Page) -> bool:
    return bool(page.evaluate("() => window.__sameDocument === true"))


def no_javascript_page(browsing: Browsing) -> Page:
    """A page in a fresh context with JavaScript off: what the forms do without htmx."""
    context = browsing.browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 900}, locale="en-GB"
    )
    browsing.contexts.append(context)  # closed with the others
    return context.new_page()


def audit_rows(page: Page, server: LiveServer, subject: str) -> list[list[str]]:
    """The admin's audit page for `subject`: each row's cells (newest first)."""
    page.goto(f"{server.url}/admin/audit?{urlencode({'subject': subject})}")
    rows = page.locator("table.audit tbody tr")
    expect(rows.first).to_be_visible()
    return [row.locator("td").all_inner_texts() for row in rows.all()]


def test_sign_in_and_see_the_overview_charts_drawn(server: LiveServer, browsing: Browsing) -> None:
    page = browsing.page()
    page.goto(f"{server.url}/overview?range=24h")
    expect(page).to_have_url(re.compile(r"/login\?next="))  # signed out: the sign-in page
    browsing.shot(page, "signed out")
    page.get_by_label("Email").fill(server.email("vera"))
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.url}/overview?range=24h")  # back where it started
    expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Sign out (Vera)")).to_be_visible()

    charts = page.locator(".chart.drawn")
    expect(charts).to_have_count(len(server.settings.watches))
    for chart in charts.all():
        canvas = chart.locator("canvas").first
        expect(canvas).to_be_visible()
        box = canvas.bounding_box()
        assert box is not None
        assert box["width"] >= 200
        assert box["height"] >= 100
        painted = canvas.evaluate(
            """(c) => {
                const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let n = 0;
                for (let i = 3; i < data.length; i += 4) { if (data[i] > 0) n += 1; }
                return n;
            }"""
        )
        assert painted > 500, "the chart's canvas is blank"
        expect(chart.locator(".u-legend")).to_contain_text("Mentions")
    acme = page.locator("article.panel", has=page.get_by_role("heading", name="acme brand"))
    expect(acme.locator(".totals")).to_contain_text("40")  # 40 of the 60 mentions are acme's
    browsing.shot(page, "overview charts")
    page.get_by_role("link", name="7 days").click()
    expect(page).to_have_url(f"{server.url}/overview?range=7d")
    expect(page.locator(".chart.drawn canvas")).to_have_count(len(server.settings.watches))
    browsing.shot(page, "overview 7 days")


def test_a_mention_arrives_on_live_without_reload_and_pause_holds_it(
    server: LiveServer, browsing: Browsing
) -> None:
    page = browsing.page()
    sign_in(page, server, "vera")
    opened = server.broadcaster.opened
    page.get_by_role("link", name="Live").first.click()
    expect(page).to_have_url(f"{server.url}/live")
    expect(page.locator("#live-status")).to_have_text("Live")
    server.broadcaster.wait_opened(opened)  # the stream is subscribed on the server
    page.evaluate("() => { window.__sameDocument = true; }")
    browsing.shot(page, "live connected")

    first = mention("live-1", "acme refund still not paid after three weeks", minutes_ago=0)
    server.deliver(first)
    card = page.locator(f'#feed article.mention[data-id="{first.id}"]')
    expect(card).to_be_visible()
    expect(card).to_contain_text("acme refund still not paid after three weeks")
    expect(card).to_contain_text("Jane Doe")
    expect(card.locator(".tag")).to_have_text(["acme"])
    expect(card).to_have_class(re.compile(r"\bfresh\b"))
    expect(page.locator("#feed article.mention").first).to_have_attribute("data-id", first.id)
    assert page.evaluate("() => window.__sameDocument") is True  # no reload
    browsing.shot(page, "mention arrived")

    pause = page.locator("#pause")
    expect(pause).to_have_text("Pause")
    pause.click()
    expect(pause).to_have_text("Resume")
    expect(pause).to_have_attribute("aria-pressed", "true")
    second = mention("live-2", "acme support never answers", minutes_ago=0)
    server.deliver(second)
    expect(pause).to_have_text("Resume (1 new)")  # arrived, kept aside
    second_card = page.locator(f'#feed article.mention[data-id="{second.id}"]')
    expect(second_card).to_have_count(0)
    browsing.shot(page, "paused with one waiting")
    pause.click()
    expect(second_card).to_be_visible()
    expect(page.locator("#feed article.mention").first).to_have_attribute("data-id", second.id)
    expect(pause).to_have_text("Pause")
    assert page.evaluate("() => window.__sameDocument") is True
    browsing.shot(page, "resumed")


def test_triage_a_mention_in_the_inbox_and_the_admin_sees_the_audit(
    server: LiveServer, browsing: Browsing
) -> None:
    arrived = mention("triage-1", "acme charged me twice and support hung up", minutes_ago=0)
    server.deliver(arrived)
    subject = f"mention:{arrived.id}"

    rita = browsing.page()
    watch_csp(rita)
    sign_in(rita, server, "rita", "/inbox")
    row = rita.locator("li.triage-item", has_text="acme charged me twice")
    expect(row).to_be_visible()
    expect(row.locator(".state")).to_have_text("New")
    expect(row).to_contain_text("urgency +18.0")  # why this priority
    browsing.shot(rita, "inbox")

    # In the list: the entry's own state form, sent by htmx, updates the entry in place.
    mark_document(rita)
    row.get_by_label("Set state").select_option("watching")
    with rita.expect_response(lambda r: r.url.endswith("/inbox/state")) as answer:
        row.get_by_role("button", name="Apply").click()
    assert answer.value.status == 200  # a fragment, not a redirect
    assert answer.value.request.headers.get("hx-request") == "true"
    expect(row.locator(".state")).to_have_text("Watching")
    expect(row).to_have_class(re.compile(r"\bstate-watching\b"))
    watching = rita.locator("#triage-views a", has_text="Watching").locator(".count")
    expect(watching).not_to_have_text("0")  # the views' counts came with it
    assert same_document(rita), "the inbox was reloaded"
    assert rita.url == f"{server.url}/inbox"
    browsing.shot(rita, "entry set to watching")

    row.get_by_role("link", name="More →").click()
    expect(rita).to_have_url(f"{server.url}/inbox/item?{urlencode({'subject': subject})}")

    # On the item's page: take it, then set its state, each updating the panel in place.
    mark_document(rita)
    rita.get_by_role("button", name="Take it").click()
    expect(rita.locator(".notice")).to_have_text("You are handling this item.")
    expect(rita.locator(".lock-mine")).to_contain_text("You are handling this item until")
    expect(rita.locator(".lock-keeper")).to_have_attribute("hx-trigger", "every 150s")
    browsing.shot(rita, "item taken")
    state_form = rita.locator('form[action="/inbox/state"]')
    state_form.get_by_label("Set state").select_option("to_respond")
    state_form.get_by_role("button", name="Apply").click()
    expect(rita.locator(".triage-meta .state")).to_have_text("To respond")
    expect(rita.locator(".notice")).to_have_count(0)
    assert same_document(rita), "the item page was reloaded"
    browsing.shot(rita, "state set to respond")
    item = TriageStore(server.store).get(subject)
    assert item is not None
    assert item.state == "to_respond"
    assert_no_csp_violation(browsing, rita)

    ada = browsing.page()
    sign_in(ada, server, "ada", f"/inbox/item?{urlencode({'subject': subject})}")
    expect(ada.locator(".lock-other")).to_contain_text("Being handled by Rita")
    expect(ada.get_by_role("button", name="Take over from Rita")).to_be_visible()
    browsing.shot(ada, "admin sees the lock")
    rows = audit_rows(ada, server, f"triage:{subject}")
    # columns: when, who, what, subject, before, after, from
    assert [(r[1], r[2], r[3]) for r in rows] == [
        ("rita@example.org", "triage.state", f"triage:{subject}"),
        ("rita@example.org", "triage.take", f"triage:{subject}"),
        ("rita@example.org", "triage.state", f"triage:{subject}"),
    ]
    assert "watching" in rows[0][4]
    assert "to_respond" in rows[0][5]
    assert "'state': 'new'" in rows[2][4] or '"state": "new"' in rows[2][4]
    assert rows[0][6] == "127.0.0.1"
    browsing.shot(ada, "audit log")


def test_a_locked_item_is_refused_in_place_and_can_be_taken_over(
    server: LiveServer, browsing: Browsing
) -> None:
    arrived = mention("lock-1", "acme refund never arrived", minutes_ago=0)
    server.deliver(arrived)
    subject = f"mention:{arrived.id}"
    item_url = f"{server.url}/inbox/item?{urlencode({'subject': subject})}"
    ada = browsing.page()
    watch_csp(ada)
    sign_in(ada, server, "ada", "/inbox")  # the list, before Rita takes the item
    rita = browsing.page()
    sign_in(rita, server, "rita", f"/inbox/item?{urlencode({'subject': subject})}")
    rita.get_by_role("button", name="Take it").click()
    expect(rita.locator(".lock-mine")).to_be_visible()

    row = ada.locator("li.triage-item", has_text="acme refund never arrived")
    mark_document(ada)
    row.get_by_label("Set state").select_option("ignored")
    with ada.expect_response(lambda r: r.url.endswith("/inbox/state")) as answer:
        row.get_by_role("button", name="Apply").click()
    assert answer.value.status == 409
    expect(row.locator(".notice")).to_contain_text("Someone else is handling this item")
    expect(row.locator(".lock-other")).to_contain_text("Being handled by Rita")
    expect(row.get_by_label("Set state")).to_have_count(0)
    browsing.shot(ada, "refused in the list")
    ada.goto(item_url)
    mark_document(ada)
    ada.get_by_role("button", name="Take over from Rita").click()
    expect(ada.locator(".lock-mine")).to_contain_text("You are handling this item until")
    assert same_document(ada)
    assert_no_csp_violation(browsing, ada)
    item = TriageStore(server.store).get(subject)
    assert item is not None
    assert (item.state, item.locked_by) == ("new", server.people["ada"].id)


def test_a_bulk_action_updates_the_list_in_place(server: LiveServer, browsing: Browsing) -> None:
    texts = ("acme bulk one: refund refused", "acme bulk two: refund refused again")
    arrived = [mention(f"bulk-{i}", text, minutes_ago=0) for i, text in enumerate(texts)]
    server.deliver(*arrived)
    ada = browsing.page()
    watch_csp(ada)
    sign_in(ada, server, "ada", "/inbox")
    rows = [ada.locator("li.triage-item", has_text=text) for text in texts]
    for row in rows:
        row.get_by_role("checkbox").check()
    mark_document(ada)
    bulk = ada.locator("#bulk")
    bulk.get_by_label("Assign").select_option(label="Rita")
    with ada.expect_response(lambda r: r.url.endswith("/inbox/bulk")) as answer:
        bulk.get_by_role("button", name="Apply").nth(1).click()  # the assign one
    assert answer.value.status == 200
    expect(ada.locator("#triage-list .notice")).to_have_text("2 item(s) changed.")
    for row in rows:
        expect(row).to_contain_text("Assignee: Rita")
        expect(row.get_by_role("checkbox")).not_to_be_checked()  # a fresh list
    assert same_document(ada), "the inbox was reloaded"
    assert_no_csp_violation(browsing, ada)
    browsing.shot(ada, "bulk assigned")
    rita = server.people["rita"].id
    for m in arrived:
        item = TriageStore(server.store).get(f"mention:{m.id}")
        assert item is not None
        assert item.assignee_id == rita


def test_acknowledge_an_alert_from_the_alerts_page(server: LiveServer, browsing: Browsing) -> None:
    alert_id = new_alert(server, "page-ack", "Negative mention on acme (52k reach)")
    rita = browsing.page()
    watch_csp(rita)
    sign_in(rita, server, "rita", "/alerts")
    card = rita.locator(f'article.alert[data-id="{alert_id}"]')
    expect(card.locator(".alert-state")).to_have_text("open")
    expect(rita.locator(".oncall")).to_contain_text("comms")
    browsing.shot(rita, "alerts")
    mark_document(rita)
    with rita.expect_response(lambda r: r.url.endswith(f"/alerts/{alert_id}/ack")) as answer:
        card.get_by_role("button", name="Acknowledge").click()
    assert answer.value.status == 200
    assert answer.value.request.headers.get("hx-request") == "true"
    expect(card.locator(".alert-state")).to_have_text("acknowledged")
    expect(card.locator(".notice")).to_have_text("Alert acknowledged.")
    expect(card).to_contain_text("acknowledged by Rita")
    expect(card.get_by_role("button", name="Acknowledge")).to_have_count(0)
    expect(card.get_by_role("button", name="Resolve")).to_be_visible()
    assert rita.url == f"{server.url}/alerts"  # still the list, not reloaded
    assert same_document(rita), "the alerts page was reloaded"
    assert_no_csp_violation(browsing, rita)
    browsing.shot(rita, "acknowledged")
    stored = server.store.alerts.get(alert_id)
    assert stored is not None
    assert (stored.state, stored.acknowledged_by) == ("acknowledged", "Rita")

    ada = browsing.page()
    sign_in(ada, server, "ada")
    rows = audit_rows(ada, server, f"alert:{alert_id}")
    assert [(r[1], r[2]) for r in rows] == [("rita@example.org", "alert.ack")]
    assert "acknowledged" in rows[0][5]
    browsing.shot(ada, "audit log")


def test_the_forms_work_without_javascript(server: LiveServer, browsing: Browsing) -> None:
    arrived = mention("nojs-1", "acme app crashes at checkout", minutes_ago=0)
    server.deliver(arrived)
    subject = f"mention:{arrived.id}"
    alert_id = new_alert(server, "nojs-alert", "Negative mention on acme")
    page = no_javascript_page(browsing)
    sign_in(page, server, "rita", f"/inbox/item?{urlencode({'subject': subject})}")
    page.get_by_role("button", name="Take it").click()  # a plain POST, then 303
    expect(page).to_have_url(re.compile(r"/inbox/item\?subject=.*&notice=taken$"))
    expect(page.locator(".notice")).to_have_text("You are handling this item.")
    state_form = page.locator('form[action="/inbox/state"]')
    state_form.get_by_label("Set state").select_option("escalated")
    state_form.get_by_role("button", name="Apply").click()
    expect(page.locator(".triage-meta .state")).to_have_text("Escalated")
    page.goto(f"{server.url}/inbox?view=escalated")
    row = page.locator("li.triage-item", has_text="acme app crashes at checkout")
    row.get_by_label("Set state").select_option("responded")
    row.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(f"{server.url}/inbox?view=escalated")  # back to the list
    expect(row).to_have_count(0)  # responded: no longer in this view
    page.goto(f"{server.url}/alerts")
    card = page.locator(f'article.alert[data-id="{alert_id}"]')
    card.get_by_role("button", name="Acknowledge").click()
    expect(page).to_have_url(f"{server.url}/alerts/{alert_id}?done=ack")
    expect(page.locator(".notice")).to_have_text("Alert acknowledged.")
    browsing.shot(page, "acknowledged without javascript")
    item = TriageStore(server.store).get(subject)
    assert item is not None
    assert item.state == "responded"
    stored = server.store.alerts.get(alert_id)
    assert stored is not None
    assert stored.state == "acknowledged"


def _link(server: LiveServer, alert_id: int) -> str:
    """The signed "acknowledge" link an alert message sends to alice."""
    token = sign(SECRET, alert_id, "ack", "alice", server.clock.now() + timedelta(days=1))
    return f"{server.url}/a/{quote(token, safe='')}"


def test_acknowledge_an_alert_from_a_signed_link(server: LiveServer, browsing: Browsing) -> None:
    alert_id = new_alert(server, "link-ack", "Boycott call on acme")
    page = browsing.page()  # opened from a chat: no session
    page.goto(_link(server, alert_id))
    expect(page.get_by_role("heading", name=f"Acknowledge alert #{alert_id}?")).to_be_visible()
    expect(page.locator("article.alert")).to_contain_text("Boycott call on acme")
    button = page.get_by_role("button", name="Acknowledge")
    expect(button).to_be_visible()
    browsing.shot(page, "link asks first")
    stored = server.store.alerts.get(alert_id)
    assert stored is not None
    assert stored.state == "open"  # opening the link changed nothing
    button.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Alert #{alert_id} is acknowledged by alice."
    )
    browsing.shot(page, "link acknowledged")
    stored = server.store.alerts.get(alert_id)
    assert stored is not None
    assert (stored.state, stored.acknowledged_by) == ("acknowledged", "alice")


def test_a_signed_link_acknowledgement_is_in_the_audit_log(
    server: LiveServer, browsing: Browsing
) -> None:
    alert_id = new_alert(server, "link-audit", "Data breach rumour on acme")
    page = browsing.page()
    page.goto(_link(server, alert_id))
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("is acknowledged by alice")
    ada = browsing.page()
    sign_in(ada, server, "ada")
    ada.goto(f"{server.url}/admin/audit?{urlencode({'subject': f'alert:{alert_id}'})}")
    browsing.shot(ada, "audit after link")
    assert "alert.ack" in ada.locator("main").inner_text()  # server-rendered: no wait


def test_forms_without_their_csrf_token_are_refused(server: LiveServer, browsing: Browsing) -> None:
    arrived = mention("csrf-1", "acme lost my parcel", minutes_ago=0)
    server.deliver(arrived)
    subject = f"mention:{arrived.id}"
    alert_id = new_alert(server, "csrf-alert", "Negative mention on acme")
    rita = browsing.page()
    watch_csp(rita)
    sign_in(rita, server, "rita", f"/inbox/item?{urlencode({'subject': subject})}")

    # The state form without its token: the hidden csrf field removed, and the header htmx
    # adds (hx-headers on <body>) too, as a forged request would lack both.
    state_form = rita.locator('form[action="/inbox/state"]')
    state_form.locator('input[name="csrf"]').evaluate("(el) => el.remove()")
    rita.locator("body").evaluate("(el) => el.removeAttribute('hx-headers')")
    state_form.get_by_label("Set state").select_option("ignored")
    with rita.expect_response(
        lambda r: r.url.endswith("/inbox/state") and r.request.method == "POST"
    ) as answer:
        state_form.get_by_role("button", name="Apply").click()
    assert answer.value.status == 403
    assert "x-csrf-token" not in answer.value.request.headers
    error = rita.locator(".request-error")
    expect(error).to_contain_text("its CSRF token is missing or wrong")  # said in place
    expect(error).to_have_attribute("role", "alert")
    expect(rita.locator(".triage-meta .state")).to_have_text("New")
    browsing.shot(rita, "state form refused")
    item = TriageStore(server.store).get(subject)
    assert item is not None
    assert item.state == "new"

    # The alert's acknowledge form with a wrong token, in the field and in the header.
    rita.goto(f"{server.url}/alerts/{alert_id}")
    ack = rita.locator(f'form[action="/alerts/{alert_id}/ack"]')
    ack.locator('input[name="csrf"]').evaluate("(el) => { el.value = 'forged'; }")
    rita.locator("body").evaluate(
        """(el) => el.setAttribute('hx-headers', '{"X-CSRF-Token": "forged"}')"""
    )
    with rita.expect_response(lambda r: r.url.endswith("/ack")) as answer:
        ack.get_by_role("button", name="Acknowledge").click()
    assert answer.value.status == 403
    expect(rita.locator(".request-error")).to_contain_text("CSRF")
    browsing.shot(rita, "ack form refused")
    stored = server.store.alerts.get(alert_id)
    assert stored is not None
    assert stored.state == "open"

    # A script on the page posting with the session cookie but no token.
    rita.goto(f"{server.url}/inbox")
    status = rita.evaluate(
        """async (subject) => {
            const body = new URLSearchParams({subject, state: 'ignored'});
            const r = await fetch('/inbox/state', {method: 'POST', body,
                                                   credentials: 'same-origin'});
            return r.status;
        }""",
        subject,
    )
    assert status == 403
    item = TriageStore(server.store).get(subject)
    assert item is not None
    assert item.state == "new"

    # With the token, the same form works (the refusals were about the token only).
    rita.goto(f"{server.url}/inbox/item?{urlencode({'subject': subject})}")
    state_form.get_by_label("Set state").select_option("ignored")
    state_form.get_by_role("button", name="Apply").click()
    expect(rita.locator(".triage-meta .state")).to_have_text("Ignored")
    expect(rita.locator(".request-error")).to_have_count(0)
    assert_no_csp_violation(browsing, rita)
    browsing.shot(rita, "with the token")


def test_search_filters_update_the_results_in_place(server: LiveServer, browsing: Browsing) -> None:
    page = browsing.page()
    watch_csp(page)
    sign_in(page, server, "vera", "/search?" + urlencode({"q": "past"}))
    results = page.locator("#results article.result")
    expect(results.first).to_be_visible()
    tags = page.locator("#results article.result .tag")
    expect(tags.filter(has_text="globex").first).to_be_visible()
    mark_document(page)
    page.get_by_label("Watch").select_option("acme")  # a change: no button pressed
    expect(page).to_have_url(f"{server.url}/search?q=past&watch=acme")  # shareable
    expect(tags.filter(has_text="globex")).to_have_count(0)
    expect(tags.filter(has_text="acme").first).to_be_visible()
    expect(page.get_by_role("link", name="Export CSV")).to_have_attribute(
        "href", "/search.csv?q=past&watch=acme"
    )
    assert same_document(page), "the search page was reloaded"
    browsing.shot(page, "filtered in place")
    query = page.get_by_label("Query")
    query.fill('past AND "unclosed')
    query.press("Enter")  # submits (a change too: htmx keeps the last request only)
    expect(page.get_by_role("alert")).to_contain_text("This query cannot be used")
    expect(results).to_have_count(0)
    assert same_document(page)
    page.go_back()  # to the acme results: the page is loaded again, whole
    expect(page).to_have_url(f"{server.url}/search?q=past&watch=acme")
    expect(tags.filter(has_text="acme").first).to_be_visible()
    expect(page.get_by_label("Watch")).to_have_value("acme")
    assert_no_csp_violation(browsing, page)


def test_search_highlights_matches_and_screenshots_are_kept(
    server: LiveServer, browsing: Browsing
) -> None:
    page = browsing.page()
    sign_in(page, server, "vera", "/search?" + urlencode({"q": "globex"}))
    results = page.locator("article.result")
    expect(results.first).to_be_visible()
    expect(results.first.locator("mark")).to_have_text("globex")
    path = browsing.shot(page, "search")
    assert re.fullmatch(r"\d\d-search\.png", path.name)
    assert path.stat().st_size > 1000
