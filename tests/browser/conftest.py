"""Fixtures of the browser tests: Debian's chromium driven by Playwright, one browser per
module, fresh contexts (cookies) per person, screenshots kept as artefacts.

Chromium is never downloaded (no ``playwright install``): the tests use the ``chromium`` on
the PATH (Debian's package) and skip, with the command that installs it, where it is
missing, except in CI (``TOCSIN_REQUIRE_SERVICES=1``), where that is a failure.

Screenshots go to ``$TOCSIN_TEST_ARTIFACTS/browser/<module>/<test>/`` when that is set, else
to the test's ``tmp_path``; each is named after its step (``01-signed-out.png``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from browser_support import NAV_TIMEOUT_MS, Browsing, chromium_path

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium, started once per test module."""
    executable = chromium_path()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=NAV_TIMEOUT_MS)

    root = hasattr(os, "geteuid") and os.geteuid() == 0
    args = ["--no-sandbox"] if root else []
    with sync_playwright() as playwright:
        found = playwright.chromium.launch(
            executable_path=executable, args=[*args, "--disable-gpu"], timeout=60_000
        )
        try:
            yield found
        finally:
            found.close()


def _artefacts(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    base = os.environ.get("TOCSIN_TEST_ARTIFACTS")
    if not base:
        return tmp_path
    module = Path(str(request.node.path)).stem
    test = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
    folder = Path(base) / "browser" / module / test
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browsing(
    browser: Browser, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Browsing]:
    """Pages for this test; afterwards, no page may have opened a dialog nor thrown an
    uncaught error."""
    found = Browsing(browser, _artefacts(request, tmp_path))
    try:
        yield found
    finally:
        found.close()
    assert not found.dialogs, f"a page opened a dialog: {found.dialogs}"
    assert not found.errors, f"a page's script failed: {found.errors}"
