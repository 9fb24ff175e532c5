"""Real-server fixtures: servers started as subprocesses, each stopped by pid after the test;
a headless browser (Debian's chromium, driven by playwright) for the page tests.

Playwright's own browser download can't work offline, so ``browser`` launches the
system chromium through ``executable_path``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright
from realserver import Server, start_server
from system_programs import chromium_path

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # tests may run as root, where chromium refuses its sandbox
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start real servers for a test; every one is stopped by pid afterwards."""
    servers: list[Server] = []

    def factory(args: list[str], **kwargs: object) -> Server:
        server = start_server(args, tmp_path, **kwargs)  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()


@pytest.fixture
def browser() -> Iterator[Browser]:
    """A headless chromium, closed after the test."""
    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
