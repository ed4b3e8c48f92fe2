"""Helpers of the browser tests: a real HTTP server (uvicorn serving `create_app` in a thread
on 127.0.0.1, a free port) over a SQLite store the tests fill directly, people to sign in,
mentions delivered as the pipeline delivers them, and the checks that a page is inert.

The server's socket is bound and listening before its thread starts, so a browser can
connect at once (no polling); the Live page's subscriptions are counted under a condition
variable, so a test waits for the stream to be open before publishing (no sleeps).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import sys
import threading
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import uvicorn

from tocsin.clock import FakeClock
from tocsin.config import Settings, load_settings
from tocsin.configfile import ConfigFile
from tocsin.mention import Author, Mention, Metrics, Sentiment
from tocsin.store import Store
from tocsin.store.triage import TriageStore
from tocsin.web import auth, create_app
from tocsin.web.broadcast import Broadcaster, Subscription

with warnings.catch_warnings():
    # apprise (channel URLs) imports imghdr, deprecated in 3.11: pyproject ignores that
    # warning, but `pytest -W error` overrides the ignore. Import it here, silenced, once.
    warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
    import imghdr  # noqa: F401

_WEB_TESTS = str(Path(__file__).resolve().parent.parent / "web")
if _WEB_TESTS not in sys.path:  # the accounts helpers live beside the web tests
    sys.path.insert(0, _WEB_TESTS)
import accounts_helpers  # noqa: E402  (tests/web: add_user, PASSWORD, CHEAP_HASHER)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Dialog, Page

PASSWORD = accounts_helpers.PASSWORD
SECRET = "browser-test-secret"
WAIT_S = 30.0
"""Longest wait for anything (a loaded 2-core machine can be slow, never this slow)."""

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
"""The server's (fake, frozen) clock: now, so the browser's own clock agrees with it."""

SETTINGS: dict[str, Any] = {
    "organisation": {"name": "Acme", "languages": ["en"], "timezone": "Europe/Paris"},
    "watches": [
        {"name": "acme", "query": "acme", "tags": ["brand"]},
        {"name": "globex", "query": "globex", "tags": ["competitor"]},
    ],
    "channels": [{"name": "ops", "urls": ["json://127.0.0.1:9/hook"]}],
    "people": [{"name": "alice", "channels": ["ops"]}],
    "oncall": [{"name": "comms", "business": ["alice"], "rota": ["alice"]}],
}
PEOPLE = {
    "ada": ("admin", "Ada"),
    "rita": ("responder", "Rita"),
    "vera": ("viewer", "Vera"),
}


class CountingBroadcaster(Broadcaster):
    """The app's broadcaster, counting subscriptions so a test can wait for a stream."""

    def __init__(self) -> None:
        super().__init__()
        self._opened = 0
        self._changed = threading.Condition()

    @property
    def opened(self) -> int:
        """How many subscriptions were ever opened."""
        with self._changed:
            return self._opened

    def subscribe(self, watches: Iterable[str] = ()) -> Subscription:
        sub = super().subscribe(watches)
        with self._changed:
            self._opened += 1
            self._changed.notify_all()
        return sub

    def wait_opened(self, more_than: int, timeout: float = WAIT_S) -> None:
        """Wait until more than `more_than` subscriptions were opened (AssertionError after
        `timeout` seconds)."""
        with self._changed:
            ok = self._changed.wait_for(lambda: self._opened > more_than, timeout)
        assert ok, f"no Live stream subscribed within {timeout:.0f} s"


@dataclass
class LiveServer:
    """A running web app: its base URL and what it runs on."""

    url: str
    store: Store
    clock: FakeClock
    settings: Settings
    broadcaster: CountingBroadcaster
    people: dict[str, auth.User] = field(default_factory=dict)

    def deliver(self, *mentions: Mention) -> None:
        """What `tocsin run` does with a stored batch: save it, put what needs a person in
        the inbox, and publish it to the Live page."""
        now = self.clock.now()
        self.store.save_batch(mentions[0].source, list(mentions), now=now)
        TriageStore(self.store).ingest(mentions, now)
        self.broadcaster.publish(mentions)

    def email(self, name: str) -> str:
        return self.people[name].email


class _ThreadServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # pytest owns the signals


@contextlib.contextmanager
def live_server(
    tmp: Path, config: dict[str, Any] | None = None, *, workspace: Path | None = None
) -> Iterator[LiveServer]:
    """Serve a fresh workspace's app on 127.0.0.1 (a free port) for the block's duration:
    settings from `config`, or from the tocsin.toml of `workspace`, which the Settings pages
    then write.

    Passwords are checked with the tests' cheap argon2 parameters (the hashes are made with
    them, so a sign-in never rehashes with the expensive defaults)."""
    store = Store.open(f"sqlite:///{tmp / 'tocsin.db'}")
    store.upgrade()
    file = ConfigFile(workspace, env={}) if workspace is not None else None
    if workspace is not None:
        settings = load_settings(workspace, env={})
    else:
        settings = Settings.model_validate(config or SETTINGS)
    clock = FakeClock(NOW)
    broadcaster = CountingBroadcaster()
    app = create_app(
        settings, store, secret=SECRET, clock=clock, broadcaster=broadcaster, config=file
    )
    server = LiveServer("", store, clock, settings, broadcaster)
    for name, (role, display) in PEOPLE.items():
        server.people[name] = accounts_helpers.add_user(
            store, f"{name}@example.org", role, name=display
        )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server.url = f"http://127.0.0.1:{port}"
    uv = _ThreadServer(
        uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            ws="none",
            server_header=False,
            timeout_graceful_shutdown=5,
        )
    )
    thread = threading.Thread(
        target=uv.run, kwargs={"sockets": [sock]}, name="browser-test-server", daemon=True
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(auth, "HASHER", accounts_helpers.CHEAP_HASHER)
        thread.start()
        try:
            yield server
        finally:
            uv.should_exit = True
            thread.join(WAIT_S)
            sock.close()
            store.close()
    assert not thread.is_alive(), "the test web server did not stop"


NAV_TIMEOUT_MS = 30_000
"""Playwright's timeout for every wait (generous: a loaded 2-core machine is slow)."""
MISSING = "Debian's chromium is not installed: apt-get install chromium"


def _required() -> bool:
    return os.environ.get("TOCSIN_REQUIRE_SERVICES") == "1"


def chromium_path() -> str:
    """Debian's chromium, or skip (fail in CI) with how to install it."""
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None
    )
    if found is None:
        if _required():
            pytest.fail(f"{MISSING} (CI requires the browser tests: .ci/run installs it)")
        pytest.skip(MISSING)
    return found


@dataclass
class Browsing:
    """The browser contexts of one test (one per person), and its screenshots."""

    browser: Browser
    artefacts: Path
    contexts: list[BrowserContext] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    shots: int = 0

    def page(self) -> Page:
        """A page in a fresh context: no cookies, its own session. Any dialog (alert,
        confirm, prompt) opened by a page is recorded, dismissed, and fails the test, as
        does an uncaught error in a page's scripts."""
        context = self.browser.new_context(
            viewport={"width": 1280, "height": 900}, locale="en-GB", timezone_id="UTC"
        )
        context.set_default_timeout(NAV_TIMEOUT_MS)
        context.set_default_navigation_timeout(NAV_TIMEOUT_MS)
        self.contexts.append(context)
        page = context.new_page()
        page.on("dialog", self._dialog)
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: {exc}"))
        return page

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _console(self, message: ConsoleMessage) -> None:
        self.console.append(f"{message.type}: {message.text}")

    def shot(self, page: Page, step: str) -> Path:
        """Save a screenshot of `page` named after `step` (numbered in order)."""
        self.shots += 1
        name = re.sub(r"[^a-z0-9]+", "-", step.lower()).strip("-")
        path = self.artefacts / f"{self.shots:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        for context in self.contexts:
            context.close()
        self.contexts.clear()


# -- data --------------------------------------------------------------------------------------


def mention(native: str, text: str, *, minutes_ago: int = 1, **fields: Any) -> Mention:
    """A negative, matched RSS mention published `minutes_ago` before the server's clock."""
    at = NOW - timedelta(minutes=minutes_ago)
    values: dict[str, Any] = {
        "id": f"rss:{native}",
        "source": "rss",
        "url": f"https://news.example.com/{native}",
        "text": text,
        "published_at": at,
        "seen_at": at,
        "author": Author(
            handle="jdoe", name="Jane Doe", followers=5200, url="https://news.example.com/jd"
        ),
        "metrics": Metrics(likes=3),
        "watches": ("acme",),
        "lang": "en",
        "sentiment": Sentiment("negative", -0.8),
        "priority": 72.0,
        "priority_factors": {"sentiment": 24.0, "reach": 30.0, "urgency": 18.0},
        "reach": 5200,
        "raw": {},
    }
    values.update(fields)
    return Mention(**values)


def history(count: int = 60) -> list[Mention]:
    """A day of ordinary mentions of both watches (the Overview's charts need points)."""
    tones = [Sentiment("negative", -0.5), Sentiment("neutral", 0.0), Sentiment("positive", 0.6)]
    found = []
    for i in range(count):
        watch = "acme" if i % 3 else "globex"
        found.append(
            mention(
                f"past-{i}",
                f"{watch} past mention {i}",
                minutes_ago=20 + i * 23,
                watches=(watch,),
                sentiment=tones[i % 3],
                priority=10.0,
                priority_factors={"reach": 10.0},
            )
        )
    return found


# -- checks in the browser ---------------------------------------------------------------------

INERT_PROBLEMS_JS = """
() => {
  const problems = [];
  const allowed = new Set(['http:', 'https:']);
  for (const el of document.querySelectorAll('*')) {
    for (const attr of Array.from(el.attributes)) {
      const name = attr.name.toLowerCase();
      if (name.startsWith('on')) {
        problems.push(`${el.tagName} has an event handler ${name}=${attr.value}`);
      }
      if (['href', 'src', 'action', 'formaction', 'xlink:href', 'srcdoc', 'data',
           'poster', 'background', 'ping'].includes(name)) {
        let protocol = '';
        try { protocol = new URL(attr.value, document.baseURI).protocol; }
        catch (err) { protocol = 'unparsable:'; }
        if (!allowed.has(protocol)) {
          problems.push(`${el.tagName} ${name} uses ${protocol} (${attr.value})`);
        }
      }
    }
  }
  for (const script of document.scripts) {
    const src = script.getAttribute('src') || '';
    if (!src.startsWith('/static/')) {
      problems.push(`a script not from /static/: src=${src} text=${script.textContent}`);
    }
  }
  const foreign = 'iframe, frame, object, embed, base, img, svg, math, video, audio, '
    + 'meta[http-equiv], form:not([action^="/"])';
  for (const el of document.querySelectorAll(foreign)) {
    problems.push(`unexpected element ${el.outerHTML.slice(0, 120)}`);
  }
  return problems;
}
"""
"""Everything on a page that could run or lead somewhere other than http(s): event handler
attributes, non-http(s) links and sources (resolved as the browser resolves them, so
``JaVaScRiPt:``, leading spaces and tabs are caught), scripts not from ``/static/``, and
elements none of tocsin's pages use (images, frames, SVG...) — which only hostile text
parsed as HTML could add."""


def inert_problems(page: Any) -> list[str]:
    problems: list[str] = page.evaluate(INERT_PROBLEMS_JS)
    if page.evaluate("() => typeof window.__pwned") != "undefined":
        problems.append(f"window.__pwned was set to {page.evaluate('() => window.__pwned')!r}")
    return problems
