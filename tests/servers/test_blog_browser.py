"""The blog in a real headless browser: log in, write a post through the form, see it.

The browser sends what real browsers send (Sec-Fetch-Site, Origin, the session
cookie), so this also shows CrossOriginProtection letting same-origin forms through.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from realserver import GUNICORN_BASE_ARGS, UVICORN_BASE_ARGS, Server

from examples.blog_db import Database

pytestmark = pytest.mark.servers

TIMEOUT_MS = 15_000
AUTHOR, PASSWORD = "ada", "correct horse battery"
COMMANDS = {
    "gunicorn-w2": [*GUNICORN_BASE_ARGS, "-w", "2", "examples.blog:app.wsgi"],
    "uvicorn": [*UVICORN_BASE_ARGS, "examples.blog:app.asgi"],
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_log_in_write_a_post_and_see_it(
    server_factory: Callable[..., Server], browser: Browser, tmp_path: Path, name: str
) -> None:
    path = str(tmp_path / "blog.sqlite3")
    db = Database(path)
    try:
        db.setup()
        db.create_user(AUTHOR, PASSWORD)
    finally:
        db.close()
    server = server_factory(COMMANDS[name], env={"BLOG_DB": path}, timeout=60)
    page = browser.new_context().new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    failed: list[tuple[int, str, str]] = []  # every 4xx/5xx the browser got (CSS, icon...)
    page.on(
        "response",
        lambda r: failed.append((r.status, r.request.method, r.url)) if r.status >= 400 else None,
    )
    page.set_default_timeout(TIMEOUT_MS)

    page.goto(server.url)
    expect(page.locator("main p").first).to_have_text("No posts yet.")
    # The stylesheet came through app.static and applies (CSP 'self' allows it).
    assert page.evaluate("getComputedStyle(document.body).margin") == "0px"

    page.click("text=Log in")
    page.fill("input[name=name]", AUTHOR)
    page.fill("input[name=password]", "wrong password")
    page.click("form button[type=submit]")
    expect(page.locator(".error")).to_have_text("Wrong name or password.")
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    expect(page.locator(".flash")).to_have_text(f"Logged in as {AUTHOR}")
    expect(page.locator("header .user")).to_have_text(AUTHOR)

    page.click("text=New post")
    page.fill("input[name=title]", "Hello from <Chromium>")
    page.fill("textarea[name=body]", "First paragraph.\n\nSecond <b>paragraph</b>.")
    page.click("text=Publish")
    expect(page.locator(".flash")).to_have_text("Post created")
    expect(page.locator("article h1")).to_have_text("Hello from <Chromium>")
    expect(page.locator("article p:not(.meta)")).to_have_text(
        ["First paragraph.", "Second <b>paragraph</b>."]
    )
    assert page.locator("article b").count() == 0  # shown as text, never as HTML

    page.click("header .brand")
    expect(page.locator(".posts li a")).to_have_text(["Hello from <Chromium>"])
    page.reload()
    expect(page.locator(".flash")).to_have_count(0)  # the flash was shown once

    page.click("text=Log out")
    expect(page.locator(".flash")).to_have_text("Logged out")
    expect(page.locator("text=New post")).to_have_count(0)
    expect(page.locator(".posts li a")).to_have_text(["Hello from <Chromium>"])  # still public
    assert errors == []
    assert failed == [(400, "POST", f"{server.url}/login")]  # the wrong password, nothing else
