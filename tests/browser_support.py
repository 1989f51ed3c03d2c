"""Real-browser tests: the app served by uvicorn on a free loopback port, driven by
Playwright in Debian's Chromium (``/usr/bin/chromium``, headless, no sandbox).

Use ``serve(engine, sec)`` as a context manager to get the base URL and ``browser()`` for
a headless Chromium to open pages in. Screenshots for the
docs go through ``screenshot(page, name)``; they are written only when
``YIBAO_SCREENSHOTS`` names a folder, so ordinary test runs leave the tree untouched.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from sqlalchemy import Engine

from yibao.security.context import Security
from yibao.web.app import create_app

CHROMIUM = os.environ.get("YIBAO_CHROMIUM", "/usr/bin/chromium")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
WORKBENCH = {"width": 1366, "height": 768}  # the agency workbench: a common office screen


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve(engine: Engine, sec: Security, policy_book=None) -> Iterator[str]:
    """Serve the app on 127.0.0.1 in a background thread; yields its base URL."""
    app = create_app(engine)
    app.state.security = sec
    if policy_book is not None:
        app.state.policy_book = policy_book
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Chinese browser controls (file pickers, date fields), as people in China see them: the
        # screenshots in docs/ show the pages as they are used (Debian's chromium-l10n).
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--lang=zh-CN"],
            env={**os.environ, "LANGUAGE": "zh_CN"},  # the UI language only: LANG stays (file names)
        )
        try:
            yield chromium
        finally:
            chromium.close()


def screenshot(page, name: str) -> None:
    """Save a full-page screenshot under $YIBAO_SCREENSHOTS (used to refresh docs/screenshots)."""
    folder = os.environ.get("YIBAO_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def kiosk_insert_card(page, base: str, card_number: str, pin: str) -> None:
    """At the kiosk's start screen: the demo card's button, the PIN on the keypad, 确认."""
    page.goto(f"{base}/kiosk")
    page.get_by_role("button", name=card_number).click()
    for digit in pin:
        page.locator(f".k-key[data-key='{digit}']").click()
    page.get_by_role("button", name="确认").click()
    page.wait_for_url(f"{base}/kiosk/home")
