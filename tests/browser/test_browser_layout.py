"""Every page on a phone, in dark and in light: nothing wider than the screen (no sideways
scrolling at 2 a.m.), the colour scheme followed, screenshots kept."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import pytest
from browser_support import PASSWORD, Browsing, LiveServer, history, live_server, mention
from playwright.sync_api import expect

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

PAGES = ["/", "/live", "/search?q=acme", "/inbox", "/alerts", "/settings", "/admin/audit"]
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("layout")) as found:
        long_word = "https://news.example.com/" + "a-very-long-path-segment-" * 12
        found.deliver(
            *history(),
            mention(
                "wide", f"Acme {long_word} " + "Acme " * 80, author=None or history()[0].author
            ),
        )
        yield found


def phone(browsing: Browsing, scheme: str) -> Page:
    context = browsing.browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        color_scheme=scheme,  # type: ignore[arg-type]
        locale="en-GB",
        timezone_id="UTC",
    )
    browsing.contexts.append(context)  # closed with the others
    return context.new_page()


def sign_in(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/login?{urlencode({'next': '/'})}")
    page.get_by_label("Email").fill(server.email("ada"))
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("button[type=submit]").click()
    expect(page).to_have_url(f"{server.url}/")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_fits_a_phone_in_both_colour_schemes(
    server: LiveServer, browsing: Browsing, scheme: str
) -> None:
    page = phone(browsing, scheme)
    sign_in(page, server)
    too_wide = []
    for path in PAGES:
        page.goto(f"{server.url}{path}")
        page.wait_for_load_state("load")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        if width > PHONE["width"] + 1:
            culprits = page.evaluate(
                """(limit) => [...document.querySelectorAll('body *')]
                    .filter(e => e.getBoundingClientRect().right > limit + 1)
                    .slice(0, 3).map(e => e.tagName + '.' + e.className)""",
                PHONE["width"],
            )
            too_wide.append(f"{path}: {width}px ({', '.join(culprits)})")
        browsing.shot(page, f"{scheme} {path}")
    assert too_wide == []
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    channels = [int(c) for c in background[background.index("(") + 1 : -1].split(",")[:3]]
    assert (sum(channels) / 3 < 80) == (scheme == "dark"), background
