"""Headless Chromium for the tests, driven by Playwright with Debian's `chromium` (never a downloaded browser)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Flags that keep Chromium from reaching for the network on its own (updates, sync, QUIC).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium; .ci/run installs it)"
)


@contextmanager
def chromium_browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM is not None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


DESKTOP = {"width": 1280, "height": 900}


class SharedTab:
    """One Chromium tab, opened once per test process and navigated afresh by each test that asks for it.

    A new tab costs about 1.1 s of CPU on this 2-core machine (a renderer process and Playwright's scripts in it)
    before the page even loads; navigating a tab that exists costs about 0.1 s. Each `open` starts as a new tab
    would: the tab has left the last page (about:blank), that page's storage is cleared, and the viewport, the
    colour scheme and the list of requests are set anew.
    """

    def __init__(self, tab: Any) -> None:
        self.tab = tab
        self.requests: list[str] = []  # every URL the tab asked for since the last `open`
        tab.on("request", lambda request: self.requests.append(request.url))

    def open(self, url: str, viewport: dict[str, int] | None = None, color_scheme: str = "light") -> Any:
        self.leave()
        self.tab.set_viewport_size(viewport or DESKTOP)
        self.tab.emulate_media(color_scheme=color_scheme)
        self.requests.clear()
        self.tab.goto(url)
        self.tab.wait_for_load_state("load")
        return self.tab

    def leave(self) -> None:
        """Forget the page shown: its local and session storage (the study page keeps known marks there), then
        the page itself."""
        if self.tab.url != "about:blank":
            self.tab.evaluate("() => { try { localStorage.clear(); sessionStorage.clear(); } catch (e) {} }")
            self.tab.goto("about:blank")
