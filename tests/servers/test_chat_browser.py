"""The chat page in a real headless browser (Debian's chromium, driven by playwright).

The ``browser`` fixture (tests/servers/conftest.py) launches the system chromium.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, Page, expect
from realserver import UVICORN_BASE_ARGS, Server

pytestmark = pytest.mark.servers

TIMEOUT_MS = 15_000


def _join(page: Page, url: str, name: str, room: str) -> None:
    page.goto(url)
    page.fill("#name", name)
    page.fill("#room", room)
    page.click("#join button")
    expect(page.locator("#text")).to_be_enabled(timeout=TIMEOUT_MS)
    expect(page.locator("#status")).to_have_text(f"You are {name} in #{room}.")


def test_two_browser_pages_chat(server_factory: Callable[..., Server], browser: Browser) -> None:
    server = server_factory([*UVICORN_BASE_ARGS, "examples.chat:app.asgi"])
    alice = browser.new_context().new_page()
    bob = browser.new_context().new_page()
    errors: list[str] = []
    for page in (alice, bob):
        page.on("pageerror", lambda exc: errors.append(str(exc)))
    _join(alice, server.url, "alice", "lounge")
    _join(bob, server.url, "bob", "lounge")
    expect(alice.locator("#log .notice").last).to_contain_text(
        "bob joined #lounge", timeout=TIMEOUT_MS
    )

    alice.fill("#text", "hello <b>bob</b>")
    alice.press("#text", "Enter")
    message = bob.locator("#log .message").last
    expect(message).to_contain_text("alice: hello <b>bob</b>", timeout=TIMEOUT_MS)
    assert bob.locator("#log b").count() == 0  # shown as text, never as HTML
    expect(alice.locator("#log .message").last).to_contain_text("alice: hello <b>bob</b>")
    expect(alice.locator("#text")).to_have_value("")

    # A third page joining later sees the message in the history.
    carol = browser.new_context().new_page()
    _join(carol, server.url, "carol", "lounge")
    expect(carol.locator("#log .message").first).to_contain_text("alice: hello <b>bob</b>")
    expect(carol.locator("#rooms")).to_contain_text("#lounge (3)", timeout=TIMEOUT_MS)
    assert errors == []
