"""The blog's live index (examples/blog_live.py) through the TestClient, on both
entrypoints: the index page wires the script, the stream sends new posts as they are
created, resumes after Last-Event-ID, and ends at once under a one-request-at-a-time
WSGI server."""

from __future__ import annotations

import io
import re
import sys
import threading
from collections.abc import Callable, Iterator
from wsgiref.util import setup_testing_defaults

import pytest

from examples import blog_db
from examples.blog import create_app
from examples.blog_db import Database
from twinframe import App
from twinframe.sse import parse_events
from twinframe.testing import TestClient, iter_events

SECRET = "test-secret-of-at-least-32-characters!"


@pytest.fixture
def token(blog_database: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An API token of the author's account (creating posts needs one)."""
    monkeypatch.setattr(blog_db, "_SCRYPT_N", 2**8)  # a quick hash: this is no login test
    db = Database(blog_database)
    try:
        db.setup()
        return db.create_token(db.create_user("ada", "correct horse battery"))
    finally:
        db.close()


@pytest.fixture
def app(blog_database: str, token: str) -> App:
    # blog_database: each test runs on SQLite and on PostgreSQL.
    return create_app(blog_database, SECRET)


@pytest.fixture
def client(make_client: Callable[[App], TestClient], app: App, token: str) -> Iterator[TestClient]:
    with make_client(app, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def test_the_first_index_page_is_live(client):
    empty = client.get("/").text
    assert '<ul class="posts" data-live="/live/posts?after=0"></ul>' in empty
    assert '<script src="/static/live.js" defer></script>' in empty
    for n in range(3):
        client.post("/api/posts", json={"title": f"t{n}", "body": "b"})
    page = client.get("/").text
    assert 'data-live="/live/posts?after=3"' in page
    script = client.get("/static/live.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "new EventSource(list.dataset.live)" in script.text


def test_new_posts_arrive_as_events(client):
    client.post("/api/posts", json={"title": "old", "body": "b"})
    created: list[int] = []
    with client.stream("GET", "/live/posts") as response:
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        events = iter_events(response)
        # Posted while the stream is open, from another thread (another worker, say).
        writer = threading.Thread(
            target=lambda: created.append(
                client.post("/api/posts", json={"title": "<new>", "body": "b"}).json()["id"]
            )
        )
        writer.start()
        event = next(events)
        writer.join(10)
    assert event.event == "post" and event.id == str(created[0]) == "2"
    assert '"title":"<new>"' in event.data and '"url":"/posts/2"' in event.data


def test_resumes_after_last_event_id_or_the_page_newest(client):
    for n in range(4):
        client.post("/api/posts", json={"title": f"t{n}", "body": "b"})
    for headers, query, first in [({"Last-Event-ID": "2"}, "", "3"), ({}, "?after=1", "2")]:
        with client.stream("GET", "/live/posts" + query, headers=headers) as response:
            assert next(iter_events(response)).id == first


def test_under_a_one_request_at_a_time_wsgi_server_the_stream_ends_at_once(app, token):
    """gunicorn's sync worker sets wsgi.multithread false: the stream sends what is new
    and ends; the browser comes back after `retry` with Last-Event-ID."""
    client = TestClient(app, "wsgi", headers={"Authorization": f"Bearer {token}"})
    with client:
        client.post("/api/posts", json={"title": "one", "body": "b"})
        client.post("/api/posts", json={"title": "two", "body": "b"})
        environ: dict[str, object] = {
            "PATH_INFO": "/live/posts",
            "QUERY_STRING": "after=1",
            "wsgi.multithread": False,
            "wsgi.errors": sys.stderr,
            "wsgi.input": io.BytesIO(),
        }
        setup_testing_defaults(environ)
        started: list[str] = []
        body = app.wsgi(environ, lambda status, headers, exc_info=None: started.append(status))
        try:
            text = b"".join(body).decode()
        finally:
            body.close()  # type: ignore[attr-defined]
    assert started == ["200 OK"]
    assert text.startswith("retry: 1000\n\n")
    events = list(parse_events(re.split(r"\r\n|\r|\n", text)))
    assert [(e.event, e.id) for e in events] == [("post", "2")]
