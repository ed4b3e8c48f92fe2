"""Partial updates with htmx: signed-in pages load the vendored htmx within the CSP and send
the CSRF token in a header; with ``HX-Request`` the inbox, alerts and search answer with the
changed fragment only (no page around it), audit as before, and still refuse a request
without the CSRF token or from a role that may not act."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from accounts_helpers import add_user, client_as
from fastapi import FastAPI
from fastapi.testclient import TestClient
from triage_web_helpers import SETTINGS, T0, mention

from tocsin.alert import Alert
from tocsin.clock import FakeClock
from tocsin.config import Settings
from tocsin.store import Store
from tocsin.store.triage import TriageStore
from tocsin.store.users import UserStore
from tocsin.web import create_app
from tocsin.web.app import SECURITY_HEADERS
from tocsin.web.routes.search import PAGE_SIZE

HTMX = {"HX-Request": "true"}
STATIC = Path(__file__).resolve().parents[2] / "src" / "tocsin" / "web" / "static"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(f"sqlite:///{tmp_path / 'tocsin.db'}")
    store.upgrade()
    batch = [
        mention("high", "acme boycott", priority=85.0),
        mention("mid", "acme so-so", priority=50.0, minutes=1),
    ]
    store.save_batch("rss", batch, now=T0)
    TriageStore(store).ingest(batch, T0)
    yield store
    store.close()


@pytest.fixture
def app(store: Store) -> FastAPI:
    clock = FakeClock(T0)
    return create_app(Settings.model_validate(SETTINGS), store, secret="s", clock=clock)


class Person:
    """A signed-in browser (a real session cookie) and its CSRF token."""

    def __init__(self, app: FastAPI, store: Store, email: str, role: str) -> None:
        self.user = add_user(store, email, role, name=email.split("@")[0].title())
        self.client, self.token = client_as(app, store, self.user)

    def htmx(self, path: str, **fields: Any) -> Any:
        """POST as htmx does: the token in the header (``hx-headers``), the form's fields."""
        headers = HTMX | {"X-CSRF-Token": self.token}
        return self.client.post(path, data=fields, headers=headers)


@pytest.fixture
def rita(app: FastAPI, store: Store) -> Person:
    return Person(app, store, "rita@example.org", "responder")


@pytest.fixture
def rob(app: FastAPI, store: Store) -> Person:
    return Person(app, store, "rob@example.org", "responder")


@pytest.fixture
def vera(app: FastAPI, store: Store) -> Person:
    return Person(app, store, "vera@example.org", "viewer")


def _audit(store: Store) -> list[tuple[str, str, str]]:
    entries = reversed(UserStore(store).audit_entries(limit=100))
    return [(e.actor, e.action, e.subject) for e in entries]


def _fragment(response: Any) -> str:
    """The answer's text, checked to be a fragment: no page around it, never cached as one."""
    assert "<html" not in response.text
    assert "<body" not in response.text
    assert "<head>" not in response.text
    assert response.headers["vary"] == "HX-Request"
    assert response.headers["cache-control"] == "no-store"
    return str(response.text)


# -- htmx in every signed-in page --------------------------------------------------------------


def test_signed_in_pages_load_htmx_configured_for_the_csp(
    app: FastAPI, rita: Person, vera: Person
) -> None:
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    for person, path in ((rita, "/inbox"), (vera, "/search"), (vera, "/alerts"), (vera, "/")):
        page = person.client.get(path)
        assert page.status_code == 200, path
        assert '<script src="/static/vendor/htmx/htmx.min.js" defer></script>' in page.text
        assert '<script src="/static/partials.js" defer></script>' in page.text
        meta = re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", page.text)
        assert meta is not None, path
        config = json.loads(meta.group(1))
        assert config["includeIndicatorStyles"] is False  # no inline <style>
        assert config["allowEval"] is False  # no eval, no hx-on
        assert config["allowScriptTags"] is False  # nothing swapped in runs
        assert config["historyRestoreAsHxRequest"] is False  # a restored page is whole
        assert config["historyCacheSize"] == 0  # no page copies in the browser's storage
        headers = re.search(r"<body hx-headers='([^']+)'>", page.text)
        assert headers is not None, path
        assert json.loads(headers.group(1)) == {"X-CSRF-Token": person.token}
        assert page.headers["content-security-policy"] == csp  # as strict as ever
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    signed_out = TestClient(app).get("/login")
    assert "htmx" not in signed_out.text
    assert "hx-headers" not in signed_out.text


def test_the_vendored_htmx_is_served_with_its_licence(app: FastAPI) -> None:
    client = TestClient(app)
    script = client.get("/static/vendor/htmx/htmx.min.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert re.search(r'version:"2\.\d+\.\d+"', script.text)
    version = (STATIC / "vendor" / "htmx" / "VERSION").read_text()
    assert version.startswith("htmx 2.")
    assert version.split()[1] in script.text
    assert "Zero-Clause BSD" in (STATIC / "vendor" / "htmx" / "LICENSE").read_text()
    partials = client.get("/static/partials.js")
    assert partials.status_code == 200
    assert "eval(" not in partials.text
    assert "innerHTML" not in partials.text  # error texts are set as text only


# -- inbox -------------------------------------------------------------------------------------


def test_a_state_change_in_the_list_answers_the_entry_and_the_counts(
    store: Store, rita: Person
) -> None:
    answer = rita.htmx(
        "/inbox/state",
        subject="mention:rss:mid",
        state="ignored",
        part="entry",
        next="/inbox?view=active",
    )
    assert answer.status_code == 200
    html = _fragment(answer)
    assert html.startswith('<li class="triage-item state-ignored')
    assert '<span class="state state-ignored">Ignored</span>' in html
    assert 'hx-target="closest li"' in html  # the entry's form works again
    assert 'name="next" value="/inbox?view=active"' in html
    views = re.search(r'<nav class="views" id="triage-views"[^>]*hx-swap-oob="true"', html)
    assert views is not None  # the views' counts, out of band
    assert 'href="/inbox?view=ignored">Ignored <span class="count">1</span>' in html
    assert _audit(store) == [("rita@example.org", "triage.state", "triage:mention:rss:mid")]
    item = TriageStore(store).get("mention:rss:mid")
    assert item is not None
    assert item.state == "ignored"


def test_the_item_panel_is_updated_in_place(store: Store, rita: Person, rob: Person) -> None:
    subject = "mention:rss:high"
    taken = rita.htmx("/inbox/take", subject=subject)
    assert taken.status_code == 200
    html = _fragment(taken)
    assert html.startswith('<div id="triage-panel" hx-target="this" hx-swap="outerHTML">')
    assert "You are handling this item." in html
    assert 'hx-post="/inbox/refresh" hx-trigger="every 150s"' in html  # the lock is kept
    state = _fragment(rita.htmx("/inbox/state", subject=subject, state="to_respond"))
    assert '<span class="state state-to_respond">To respond</span>' in state
    assert "You are handling this item." not in state  # that was said once
    assigned = _fragment(rita.htmx("/inbox/assign", subject=subject, assignee=str(rob.user.id)))
    assert "Assignee: Rob" in assigned
    released = _fragment(rita.htmx("/inbox/release", subject=subject))
    assert "You let go of this item." in released
    assert "/inbox/refresh" not in released
    assert 'hx-post="/inbox/take"' in released
    assert [a for _, a, _ in _audit(store)] == [
        "triage.take",
        "triage.state",
        "triage.assign",
        "triage.release",
    ]


def test_someone_elses_item_is_answered_409_with_who_has_it(
    store: Store, rita: Person, rob: Person
) -> None:
    subject = "mention:rss:high"
    assert rita.htmx("/inbox/take", subject=subject).status_code == 200
    panel = rob.htmx("/inbox/state", subject=subject, state="ignored")
    assert panel.status_code == 409
    assert panel.headers["hx-reswap"] == "outerHTML"  # shown in place all the same
    html = _fragment(panel)
    assert "Someone else is handling this item" in html
    assert "Take over from Rita" in html
    entry = rob.htmx("/inbox/state", subject=subject, state="ignored", part="entry")
    assert entry.status_code == 409
    html = _fragment(entry)
    assert html.startswith('<li class="triage-item state-new')
    assert " locked" in html.split(">")[0]
    assert "Being handled by Rita" in html
    assert 'action="/inbox/state"' not in html  # no form for a locked item
    over = rob.htmx("/inbox/take", subject=subject, take_over="1")
    assert over.status_code == 200
    assert "You are handling this item." in _fragment(over)
    assert [a for _, a, _ in _audit(store)] == ["triage.take", "triage.take_over"]


def test_a_bulk_action_answers_the_list(store: Store, rita: Person, rob: Person) -> None:
    page = rita.client.get("/inbox")
    assert 'hx-post="/inbox/bulk" hx-target="#triage-list"' in page.text
    answer = rita.client.post(
        "/inbox/bulk",
        data={
            "subject": ["mention:rss:high", "mention:rss:mid"],
            "action": "assign",
            "assignee": str(rob.user.id),
            "next": "/inbox?view=active",
        },
        headers=HTMX | {"X-CSRF-Token": rita.token},
    )
    assert answer.status_code == 200
    html = _fragment(answer)
    assert html.startswith('<div id="triage-list">')
    assert "2 item(s) changed." in html
    assert html.count("Assignee: Rob") == 2
    assert 'hx-swap-oob="true"' in html
    assert [a for _, a, _ in _audit(store)] == ["triage.assign"] * 2


def test_the_lock_is_kept_by_polling_and_a_lost_one_reloads_the_page(
    app: FastAPI, rita: Person, rob: Person
) -> None:
    subject = "mention:rss:high"
    rita.htmx("/inbox/take", subject=subject)
    kept = rita.htmx("/inbox/refresh", subject=subject)
    assert kept.status_code == 204
    app.state.clock.advance(60)
    rob.htmx("/inbox/take", subject=subject, take_over="1")
    lost = rita.htmx("/inbox/refresh", subject=subject)
    assert lost.status_code == 409
    assert lost.headers["hx-refresh"] == "true"
    plain = rita.client.post("/inbox/refresh", data={"subject": subject, "csrf": rita.token})
    assert plain.json() == {"held": False}  # without htmx: JSON as before


def test_htmx_requests_are_refused_without_the_csrf_token_or_the_role(
    app: FastAPI, store: Store, rita: Person, vera: Person
) -> None:
    alert_id = _alert(store)
    posts: list[tuple[str, dict[str, str]]] = [
        ("/inbox/state", {"subject": "mention:rss:high", "state": "ignored", "part": "entry"}),
        ("/inbox/assign", {"subject": "mention:rss:high", "assignee": ""}),
        ("/inbox/bulk", {"subject": "mention:rss:high", "action": "state", "state": "ignored"}),
        ("/inbox/take", {"subject": "mention:rss:high"}),
        ("/inbox/release", {"subject": "mention:rss:high"}),
        (f"/alerts/{alert_id}/ack", {"card": "brief"}),
        (f"/alerts/{alert_id}/resolve", {"card": "brief"}),
    ]
    for path, fields in posts:
        missing = rita.client.post(path, data=fields, headers=HTMX)
        assert missing.status_code == 403, path
        assert "CSRF" in missing.text
        wrong = rita.client.post(path, data=fields, headers=HTMX | {"X-CSRF-Token": "forged"})
        assert wrong.status_code == 403, path
        other = rita.client.post(path, data=fields | {"csrf": vera.token}, headers=HTMX)
        assert other.status_code == 403, path  # another session's token
        viewer = vera.htmx(path, **fields)
        assert viewer.status_code == 403, path  # the token is right, the role is not
        signed_out = TestClient(app, follow_redirects=False).post(path, data=fields, headers=HTMX)
        assert signed_out.status_code == 401  # htmx is sent to the sign-in page
        assert signed_out.headers["hx-redirect"].startswith("/login")
    assert _audit(store) == []
    item = TriageStore(store).get("mention:rss:high")
    assert item is not None
    assert (item.state, item.locked_by) == ("new", None)
    stored = store.alerts.get(alert_id)
    assert stored is not None
    assert stored.state == "open"


# -- alerts ------------------------------------------------------------------------------------


def _alert(store: Store, key: str = "k1") -> int:
    alert = Alert(
        key=key,
        rule="negative",
        kind="negative_mention",
        subject="rss:1",
        title="Negative <b>mention</b>",
        created_at=T0,
        reasons=("priority 80",),
        details={"reach": "52000"},
    )
    stored, _ = store.alerts.save(alert, [], now=T0)
    assert stored.id is not None
    return stored.id


def test_acknowledge_and_resolve_answer_the_alerts_card(store: Store, rita: Person) -> None:
    alert_id = _alert(store)
    page = rita.client.get("/alerts")
    assert 'hx-target="closest article" hx-swap="outerHTML"' in page.text
    assert f'hx-post="/alerts/{alert_id}/ack"' in page.text
    acked = rita.htmx(f"/alerts/{alert_id}/ack", card="brief")
    assert acked.status_code == 200
    html = _fragment(acked)
    assert html.startswith(
        f'<article class="alert severity-2 alert-state-acknowledged" data-id="{alert_id}">'
    )
    assert '<p class="notice" role="status">Alert acknowledged.</p>' in html
    assert "acknowledged by Rita" in html
    assert "Negative &lt;b&gt;mention&lt;/b&gt;" in html
    assert f'<a href="/alerts/{alert_id}">' in html  # the card of the list
    assert f'action="/alerts/{alert_id}/ack"' not in html
    assert f'hx-post="/alerts/{alert_id}/resolve"' in html
    assert 'name="card" value="brief"' in html
    resolved = _fragment(rita.htmx(f"/alerts/{alert_id}/resolve", card="full"))
    assert "Alert resolved." in resolved
    assert "resolved by Rita" in resolved
    assert "<details>" in resolved  # the card of the alert's own page
    assert "<form" not in resolved  # nothing more to do
    assert [(a, s) for _, a, s in _audit(store)] == [
        ("alert.ack", f"alert:{alert_id}"),
        ("alert.resolve", f"alert:{alert_id}"),
    ]
    one = rita.client.get(f"/alerts/{alert_id}")
    assert 'name="card" value="full"' not in one.text  # resolved: no form left


def test_an_unknown_alert_is_a_404_to_htmx(rita: Person) -> None:
    assert rita.htmx("/alerts/999/ack", card="brief").status_code == 404


# -- search ------------------------------------------------------------------------------------


def test_search_answers_the_results_part_with_a_shareable_address(
    store: Store, vera: Person
) -> None:
    page = vera.client.get("/search")
    assert 'hx-get="/search" hx-trigger="submit, change" hx-target="#results"' in page.text
    assert 'hx-swap="innerHTML"' in page.text  # the live region stays, its content changes
    assert 'hx-push-url="true"' in page.text
    assert '<div id="results" aria-live="polite">' in page.text
    answer = vera.client.get(
        "/search", params={"q": "boycott", "watch": "", "lang": ""}, headers=HTMX
    )
    assert answer.status_code == 200
    html = _fragment(answer)
    assert '<div id="results"' not in html  # what goes in it
    assert 'data-id="rss:high"' in html
    assert 'data-id="rss:mid"' not in html
    assert "<mark>boycott</mark>" in html
    assert 'href="/search.csv?q=boycott"' in html  # the export follows the filters
    assert "<form" not in html
    assert answer.headers["hx-push-url"] == "/search?q=boycott"  # empty filters left out
    cleared = vera.client.get("/search", headers=HTMX)
    assert cleared.headers["hx-push-url"] == "/search"
    assert 'data-id="' not in _fragment(cleared)
    restore = vera.client.get(
        "/search", params={"q": "boycott"}, headers=HTMX | {"HX-History-Restore-Request": "true"}
    )
    assert "<html" in restore.text  # history restores get the whole page


def test_a_bad_query_is_shown_in_place(vera: Person) -> None:
    answer = vera.client.get("/search", params={"q": 'acme AND "refund'}, headers=HTMX)
    assert answer.status_code == 400
    assert answer.headers["hx-reswap"] == "innerHTML"  # swapped in all the same
    html = _fragment(answer)
    assert "This query cannot be used" in html
    assert "this quote is never closed" in html


def test_older_results_are_appended(store: Store, vera: Person) -> None:
    many = [mention(f"m{i}", "globex many", minutes=10 + i) for i in range(PAGE_SIZE + 5)]
    store.save_batch("rss", many, now=T0)
    first = vera.client.get("/search", params={"q": "many"}, headers=HTMX)
    html = _fragment(first)
    assert html.count('class="mention result') == PAGE_SIZE
    older = re.search(r'<a rel="next" href="([^"]+)" hx-get="([^"]+)" hx-target="closest nav"'
                      r' hx-swap="outerHTML">', html)  # fmt: skip
    assert older is not None
    assert older.group(1) == older.group(2)
    url = older.group(2).replace("&amp;", "&")
    more = vera.client.get(url, headers=HTMX)
    assert more.status_code == 200
    chunk = _fragment(more)
    assert "hx-push-url" not in more.headers  # appending is not a new address
    assert chunk.count('class="mention result') == 5
    assert '<div id="results"' not in chunk  # only what goes in place of the pager
    assert chunk.rstrip().endswith("</nav>")
    assert 'rel="next"' not in chunk  # the end
    assert "Newest results" not in chunk
    whole = vera.client.get(url)  # the same link without JavaScript: a whole page
    assert "<html" in whole.text
    assert "Newest results" in whole.text
