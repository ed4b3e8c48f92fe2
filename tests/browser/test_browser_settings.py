"""Settings in a real browser (Debian's chromium, Playwright): a lead adds a watch, the
preview following the query as it is typed (htmx, no page load) with hostile text inert; a
mistake comes back at its field with what was typed; the watch lands in tocsin.toml with its
comments kept, and an admin edits a channel without ever seeing its URL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import pytest
from browser_support import PASSWORD, Browsing, LiveServer, inert_problems, live_server, mention
from playwright.sync_api import expect

from tocsin.config import load_settings
from tocsin.workspace import init_workspace

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

CHANNEL = """
[[channels]]
name = "ops"
urls = ["json://127.0.0.1:9/very-secret-token"]
"""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("workspace")
    init_workspace(folder, organisation="Acme")
    with (folder / "tocsin.toml").open("a") as handle:
        handle.write(CHANNEL)
    return folder


@pytest.fixture(scope="module")
def server(workspace: Path) -> Iterator[LiveServer]:
    with live_server(workspace, workspace=workspace) as found:
        found.store.save_batch(
            "rss",
            [
                mention("recall-1", "Acme recall: my kettle caught fire <img src=x "
                        "onerror=\"window.__pwned=1\">"),
                mention("other", "Nothing to do with it"),
            ],
            now=found.clock.now(),
        )  # fmt: skip
        yield found


def sign_in(page: Page, server: LiveServer, who: str, next_path: str) -> None:
    page.goto(f"{server.url}/login?{urlencode({'next': next_path})}")
    page.get_by_label("Email").fill(server.email(who))
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("button[type=submit]").click()
    expect(page).to_have_url(f"{server.url}{next_path}")


def save(page: Page) -> None:
    """Press the form's Save button (the page speaks the workspace's first language)."""
    page.locator("form.entry:not(.danger) button[type=submit]").click()


def test_a_watch_is_tried_then_added_from_the_browser(
    server: LiveServer, browsing: Browsing, workspace: Path
) -> None:
    page = browsing.page()
    sign_in(page, server, "ada", "/settings/watches/new")
    page.evaluate("() => { window.__sameDocument = true; }")
    page.locator("#f-name").fill("recall")
    page.locator("#f-query").fill("acme AND recall")
    preview = page.locator("#preview")
    expect(preview).to_contain_text("my kettle caught fire")
    expect(preview).not_to_contain_text("Nothing to do with it")
    assert page.evaluate("() => window.__sameDocument") is True  # htmx, no page load
    assert inert_problems(page) == []
    browsing.shot(page, "watch preview")

    page.locator("#f-query").fill("acme AND (")
    expect(preview.locator("pre.error")).to_contain_text("^")
    save(page)
    expect(page.locator(".field.invalid pre.error")).to_contain_text("^")
    expect(page.locator("#f-query")).to_have_value("acme AND (")  # what was typed is kept
    expect(page.locator("#f-name")).to_have_value("recall")
    browsing.shot(page, "watch refused")
    assert 'name = "recall"' not in (workspace / "tocsin.toml").read_text()

    page.locator("#f-query").fill("acme AND recall")
    page.locator("input[name=tags][value=crisis]").check()
    save(page)
    expect(page).to_have_url(f"{server.url}/settings?saved=recall#watches")
    expect(page.locator("#watches")).to_contain_text("acme AND recall")
    browsing.shot(page, "watch saved")
    text = (workspace / "tocsin.toml").read_text()
    assert "# Sources: where to listen." in text
    recall = next(w for w in load_settings(workspace, env={}).watches if w.name == "recall")
    assert (recall.query, recall.tags) == ("acme AND recall", ["crisis"])


def test_an_admin_edits_a_channel_without_seeing_its_url(
    server: LiveServer, browsing: Browsing, workspace: Path
) -> None:
    page = browsing.page()
    sign_in(page, server, "ada", "/settings/channels/ops/edit")
    assert "very-secret-token" not in page.content()
    page.locator("#f-language").select_option("fr")
    save(page)
    expect(page).to_have_url(f"{server.url}/settings?saved=ops#channels")
    assert "very-secret-token" not in page.content()
    text = (workspace / "tocsin.toml").read_text()
    assert "very-secret-token" in text  # kept: the empty field changed nothing
    assert 'language = "fr"' in text
    browsing.shot(page, "channel saved")
