"""The blog's live index: posts created anywhere appear on open index pages at once.

The index page opens an ``EventSource`` on ``/live/posts`` (examples/static/live.js);
the stream sends a ``post`` event for every post newer than the last one the
page has, and the script puts it at the top of the list.

How a new post is noticed: the stream asks the database for posts newer than the
last id it sent, once a second. That needs the SQLite file alone (PostgreSQL
works the same way) and works across every worker process and server the blog
runs on: a post created through one gunicorn worker appears on a page served by
another, with no broker to run (an in-process notification would reach only the
process that created the post; Redis pub/sub would be one more service). The
query reads the primary-key index (``WHERE id > ?``), and in WAL mode readers
never wait for the writer, so a poll per open page per second costs next to
nothing at a blog's scale.

Each open stream holds what serves it: a thread under gunicorn gthread, a
greenlet under gevent, a thread under uvicorn (the poll is a sync generator that
sleeps; docs/streaming.md). A server that runs one request at a time per process
(WSGI ``wsgi.multithread`` false: gunicorn's sync worker) must not be held, so
there the stream sends what is new and ends, and the browser reconnects after
``retry`` with ``Last-Event-ID``: the same events, one request per second.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from examples.blog_db import Database
from twinframe import App, Event, Request, Response

POLL_SECONDS = 1.0
RECONNECT_MS = 1000
MAX_PER_POLL = 50


def _holds_streams(req: Request) -> bool:
    """False under a WSGI server that serves one request at a time per process."""
    environ: dict[str, Any] | None = getattr(req, "environ", None)
    return environ is None or bool(environ.get("wsgi.multithread", True))


def add_live_index(
    app: App, db: Database, post_url: Callable[[int], str], poll: float = POLL_SECONDS
) -> None:
    """Add ``GET /live/posts``: a server-sent ``post`` event per new post (JSON id, title,
    url, created_at), ids after ``Last-Event-ID`` (or ``?after=``, else the newest now)."""

    @app.get("/live/posts", name="live_posts")
    def live_posts(req: Request) -> Response:
        last = _start_id(req, db)
        holds = _holds_streams(req)

        def events() -> Iterator[Event]:
            nonlocal last
            while True:
                for post in db.posts_after(last, MAX_PER_POLL):
                    last = post["id"]
                    data = {
                        "id": post["id"],
                        "title": post["title"],
                        "url": post_url(post["id"]),
                        "created_at": post["created_at"],
                    }
                    yield Event(data, event="post", id=str(last))
                if not holds:
                    return  # the browser comes back after RECONNECT_MS
                time.sleep(poll)

        return Response.sse(events(), retry=RECONNECT_MS)


def _start_id(req: Request, db: Database) -> int:
    for value in (req.last_event_id, req.query.get("after")):
        if value and value.isdigit() and len(value) < 19:
            return int(value)
    newest = db.list_posts(1, 0)
    return int(newest[0]["id"]) if newest else 0
