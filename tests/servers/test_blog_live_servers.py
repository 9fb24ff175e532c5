"""The blog's live index under real servers: two headless Chromium pages (one logs in
and creates posts through the form, the other shows them within seconds, never
reloading) under gunicorn gthread with two worker processes (so a post is usually
created in another process than the one holding the stream) and under uvicorn; a
plain HTTP client reading the stream under gunicorn gevent; and gunicorn's sync
worker, where the stream ends at once and leaves the worker free."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect
from realserver import GUNICORN_BASE_ARGS, UVICORN_BASE_ARGS, Server

from examples.blog_db import Database
from twinframe.testing import iter_events

pytestmark = pytest.mark.servers

BLOG = "examples.blog:app"
BROWSER_SERVERS = {
    "gunicorn-gthread": [*GUNICORN_BASE_ARGS, "-w", "2", "--threads", "8", f"{BLOG}.wsgi"],
    "uvicorn": [*UVICORN_BASE_ARGS, f"{BLOG}.asgi"],
}
TIMEOUT_MS = 15_000
AUTHOR, PASSWORD = "ada", "correct horse battery"


def _start(
    server_factory: Callable[..., Server], tmp_path: Path, args: list[str]
) -> tuple[Server, dict[str, str]]:
    """The blog on a new SQLite file with the author's account; API auth headers."""
    path = str(tmp_path / "blog.sqlite3")
    db = Database(path)
    try:
        db.setup()
        token = db.create_token(db.create_user(AUTHOR, PASSWORD))
    finally:
        db.close()
    server = server_factory(args, env={"BLOG_DB": path}, timeout=60)
    return server, {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("name", list(BROWSER_SERVERS))
def test_a_post_created_in_one_page_appears_in_another(
    server_factory: Callable[..., Server], tmp_path: Path, browser: Browser, name: str
) -> None:
    server, auth = _start(server_factory, tmp_path, BROWSER_SERVERS[name])
    created = httpx.post(
        server.url + "/api/posts", json={"title": "Already there", "body": "b"}, headers=auth
    )
    assert created.status_code == 201
    reader = browser.new_context().new_page()
    writer = browser.new_context().new_page()
    errors: list[str] = []
    for page in (reader, writer):
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.set_default_timeout(TIMEOUT_MS)
    reader.goto(server.url + "/")
    expect(reader.locator("ul.posts li")).to_have_count(1)

    writer.goto(server.url + "/login")
    writer.fill("input[name=name]", AUTHOR)
    writer.fill("input[name=password]", PASSWORD)
    writer.click("form button[type=submit]")
    expect(writer.locator("header .user")).to_have_text(AUTHOR)
    for title in ("Live <one>", "Live two"):
        writer.goto(server.url + "/new")
        writer.fill("input[name=title]", title)
        writer.fill("textarea[name=body]", "Written in another page.")
        writer.click("text=Publish")
        expect(writer.locator("article h1")).to_have_text(title)
        # The reader never reloads: the post arrives over its EventSource.
        expect(reader.locator("ul.posts li").first).to_contain_text(title)
    expect(reader.locator("ul.posts li")).to_have_count(3)
    assert reader.locator("ul.posts b").count() == 0  # titles shown as text, never as HTML
    assert reader.locator("ul.posts li a").first.get_attribute("href") == "/posts/3"
    assert errors == []
    assert "Traceback" not in server.output, server.output


def test_a_plain_client_reads_the_stream_under_gevent(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    server, auth = _start(
        server_factory, tmp_path, [*GUNICORN_BASE_ARGS, "-k", "gevent", f"{BLOG}.wsgi"]
    )
    with httpx.stream("GET", server.url + "/live/posts", timeout=15) as response:
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        events = iter_events(response)
        # Other connections are served meanwhile: the stream holds one greenlet.
        for n in range(2):
            created = httpx.post(
                server.url + "/api/posts",
                json={"title": f"gevent {n}", "body": "b"},
                headers=auth,
                timeout=15,
            )
            assert created.status_code == 201
            event = next(events)
            assert (event.event, event.id) == ("post", str(created.json()["id"]))
            assert f'"title":"gevent {n}"' in event.data
    assert "Traceback" not in server.output, server.output


def test_under_the_sync_worker_the_stream_ends_and_the_worker_is_free(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    server, auth = _start(server_factory, tmp_path, [*GUNICORN_BASE_ARGS, f"{BLOG}.wsgi"])
    post = {"title": "one", "body": "b"}
    assert httpx.post(server.url + "/api/posts", json=post, headers=auth).status_code == 201
    answer = httpx.get(server.url + "/live/posts?after=0", timeout=15)
    assert answer.text.startswith("retry: 1000\n\n")
    assert [e.id for e in iter_events(answer)] == ["1"]
    assert httpx.get(server.url + "/", timeout=15).status_code == 200  # the one worker is free
