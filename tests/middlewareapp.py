"""The app tests/servers/test_middleware_servers.py serves with gunicorn and uvicorn.

Every built-in middleware is installed, as a deployment would stack them::

    gunicorn middlewareapp:app.wsgi
    uvicorn middlewareapp:app.asgi

``TWINFRAME_TEST_DIR`` (set by the tests) holds the release markers the
``/stream/{token}`` routes wait for. The access log goes to stderr (the server's log).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from twinframe import App, Request, Response
from twinframe.middleware import (
    CORS,
    CrossOriginProtection,
    GZip,
    ProxyHeaders,
    RequestID,
    Sessions,
    TrustedHost,
)

DATA_DIR = os.environ.get("TWINFRAME_TEST_DIR", ".")
RELEASE_TIMEOUT = 10.0
ORIGIN = "https://app.example.com"
TEXT = "A line the GZip middleware compresses well. " * 50

logging.basicConfig(level=logging.INFO, format="%(name)s %(request_id)s %(message)s")
log = logging.getLogger("middlewareapp")

app = App(
    middleware=[
        ProxyHeaders(trusted=["127.0.0.1"]),
        TrustedHost(["127.0.0.1", "localhost", "shop.example.com"]),
        RequestID(access_log=True),
        CORS(allow_origins=[ORIGIN], allow_credentials=True),
        GZip(),
        Sessions("a-test-secret-key-of-at-least-32-bytes"),
        CrossOriginProtection(),
    ]
)


@app.get("/")
def hello(req: Request) -> str:
    log.info("hello handler")
    return "Hello, World!"


@app.get("/text")
async def text(req: Request) -> str:
    return TEXT


@app.get("/where")
def where(req: Request) -> dict[str, Any]:
    return {"client": req.client, "scheme": req.scheme, "host": req.host, "url": req.url}


@app.post("/visit")
def visit(req: Request) -> dict[str, int]:
    req.session["visits"] = req.session.get("visits", 0) + 1
    return {"visits": req.session["visits"]}


@app.get("/visits")
async def visits(req: Request) -> dict[str, int]:
    return {"visits": req.session.get("visits", 0)}


def _released(token: str) -> bool:
    marker = os.path.join(DATA_DIR, token)
    deadline = time.monotonic() + RELEASE_TIMEOUT
    while not os.path.exists(marker):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@app.get("/stream/{token}")
def stream(req: Request, token: str) -> Response:
    """An event stream: the first event at once, the next after the test's marker."""

    def events() -> Iterator[str]:
        yield "data: first\n\n"
        yield "data: second\n\n" if _released(token) else "data: timeout\n\n"

    return Response.stream(events(), content_type="text/event-stream")


@app.get("/astream/{token}")
async def astream(req: Request, token: str) -> Response:
    async def events() -> AsyncIterator[str]:
        yield "data: first\n\n"
        released = await asyncio.to_thread(_released, token)
        yield "data: second\n\n" if released else "data: timeout\n\n"

    return Response.stream(events(), content_type="text/event-stream")
