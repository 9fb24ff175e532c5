"""The app tests/servers/test_sse_servers.py serves with real servers.

    gunicorn servers.sseapp:app.wsgi  (gthread or gevent workers)
    uvicorn servers.sseapp:app.asgi

Responses go through the GZip middleware (for clients that accept gzip).
``TWINFRAME_SSE_DIR`` (set by the tests) is where the producers look for their
release files and leave markers: ``stopped-NAME`` (the producer's ``finally``
ran; its text is how many events it produced) and ``after-NAME`` (an
after-response function ran; its text says which).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from twinframe import App, Event, Request, Response
from twinframe.middleware import GZip

DIR = Path(os.environ.get("TWINFRAME_SSE_DIR", "."))
RELEASE_TIMEOUT = 20.0

app = App()
app.add_middleware(GZip())  # streams pass through it, compressed and flushed per event


@app.get("/ok")
def ok(req: Request) -> str:
    return "ok"


def _params(req: Request) -> tuple[str, int, float, bool]:
    query = req.query
    return (
        query.get("name", "events"),
        int(query.get("n", "3")),
        float(query.get("delay", "0")),
        "gate" in query,
    )


@app.get("/events")
def events(req: Request) -> Response:
    """``n`` events (ids from Last-Event-ID + 1), ``delay`` s apart; with ``gate``, the
    second waits for the file ``release-NAME``. ``kind=async`` for an async producer."""
    name, count, delay, gate = _params(req)
    first = int(req.last_event_id or 0) + 1
    ping = float(req.query.get("ping", "15"))
    release = DIR / f"release-{name}"
    stopped = DIR / f"stopped-{name}"

    def sync_events() -> Iterator[Event]:
        produced = 0
        try:
            for n in range(first, first + count):
                if n == first + 1 and gate:
                    deadline = time.monotonic() + RELEASE_TIMEOUT
                    while not release.exists() and time.monotonic() < deadline:
                        time.sleep(0.02)
                elif n > first and delay:
                    time.sleep(delay)
                produced += 1
                yield Event({"n": n}, event="tick", id=str(n))
        finally:
            stopped.write_text(str(produced))

    async def async_events() -> AsyncIterator[Event]:
        produced = 0
        try:
            for n in range(first, first + count):
                if n == first + 1 and gate:
                    deadline = time.monotonic() + RELEASE_TIMEOUT
                    while not release.exists() and time.monotonic() < deadline:
                        await asyncio.sleep(0.02)
                elif n > first and delay:
                    await asyncio.sleep(delay)
                produced += 1
                yield Event({"n": n}, event="tick", id=str(n))
        finally:
            stopped.write_text(str(produced))

    producer = async_events() if req.query.get("kind") == "async" else sync_events()
    return Response.sse(producer, ping=ping)


@app.get("/after")
def after(req: Request) -> str:
    """Registers a failing, a sync and an async function for after the response."""
    name = req.query.get("name", "after")

    def broken() -> None:
        raise RuntimeError("after-response work failed on purpose")

    def sync_work(marker: Path) -> None:
        marker.write_text("sync")

    async def async_work(marker: Path) -> None:
        await asyncio.sleep(0.01)
        marker.write_text("async")

    req.after_response(broken)
    req.after_response(sync_work, DIR / f"after-{name}-sync")
    req.after_response(async_work, DIR / f"after-{name}-async")
    return "answered"
