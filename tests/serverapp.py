"""The app tests/servers/test_http_servers.py serves with real servers.

    gunicorn serverapp:app.wsgi     (through ./gunicorn.conf.py)
    gunicorn serverapp:wsgi         (the plain alternative, no config needed)
    uvicorn serverapp:app.asgi

``TWINFRAME_TEST_DIR`` (set by the tests) holds the files ``/files/...`` serves
and the release markers ``/stream/...`` waits for.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from twinframe import App, Request, Response

DATA_DIR = os.environ.get("TWINFRAME_TEST_DIR", ".")
MAX_BODY = 64 * 1024
RELEASE_TIMEOUT = 10.0
RENDEZVOUS_TIMEOUT = 15.0

app = App(max_body_size=MAX_BODY)
wsgi = app.wsgi  # the plain alternative to gunicorn.conf.py: `gunicorn serverapp:wsgi`

# How many times the WSGI server's wsgi.file_wrapper was used (per worker process).
file_wrapper_calls = 0


@app.before_request
def spy_on_file_wrapper(req: Request) -> None:
    """Count uses of the server's wsgi.file_wrapper so tests can see twinframe takes that path."""
    environ: dict[str, Any] | None = getattr(req, "environ", None)
    if environ is None or "wsgi.file_wrapper" not in environ:
        return
    # gunicorn checks isinstance(result, environ["wsgi.file_wrapper"]): keep it a subclass.
    original = environ["wsgi.file_wrapper"]

    class CountingFileWrapper(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any) -> None:
            global file_wrapper_calls
            file_wrapper_calls += 1
            super().__init__(*args)

    environ["wsgi.file_wrapper"] = CountingFileWrapper


@app.get("/")
def hello(req: Request) -> str:
    return "Hello, World!"


@app.get("/file-wrapper-calls")
def file_wrapper_count(req: Request) -> dict[str, int]:
    return {"calls": file_wrapper_calls}


@app.post("/echo")
async def echo(req: Request) -> Any:
    return req.json


@app.get("/items/{id:d}")
def item(req: Request, id: int) -> dict[str, Any]:
    return {"id": id, "type": type(id).__name__}


@app.get("/users/{name}")
async def user(req: Request, name: str) -> dict[str, str]:
    return {"name": name}


@app.get("/loop")
async def which_loop(req: Request) -> dict[str, int]:
    await asyncio.sleep(0.01)
    return {"thread": threading.get_ident(), "loop": id(asyncio.get_running_loop())}


def _released(token: str) -> bool:
    """Wait until the test creates the marker file ``token``; False on timeout."""
    marker = os.path.join(DATA_DIR, token)
    deadline = time.monotonic() + RELEASE_TIMEOUT
    while not os.path.exists(marker):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@app.get("/stream/{token}")
def stream(req: Request, token: str) -> Response:
    """First chunk at once; the second only after the test creates the marker file."""

    def chunks() -> Iterator[bytes]:
        yield b"first;"
        yield b"second;" if _released(token) else b"timeout;"
        yield b"last"

    return Response.stream(chunks(), content_type="text/plain")


@app.get("/astream/{token}")
async def astream(req: Request, token: str) -> Response:
    """The async-generator version of ``/stream``."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b"first;"
        released = await asyncio.to_thread(_released, token)
        yield b"second;" if released else b"timeout;"
        yield b"last"

    return Response.stream(chunks(), content_type="text/plain")


@app.get("/files/{name}")
def files(req: Request, name: str) -> Response:
    return Response.file(name, root=DATA_DIR)


@app.post("/upload")
def upload(req: Request) -> dict[str, Any]:
    """A pre-read route: the body is complete before the handler runs."""
    return {
        "length": len(req.body),
        "sha256": hashlib.sha256(req.body).hexdigest(),
        "content_length": req.content_length,
    }


@app.get("/get-body")
async def get_body(req: Request) -> dict[str, Any]:
    """A GET that reports its body: framed ones are read, unframed HTTP/1.x ones have none."""
    return {"body": req.body.decode(), "content_length": req.content_length}


@app.post("/upload-stream", stream=True)
async def upload_stream(req: Request) -> dict[str, Any]:
    digest = hashlib.sha256()
    length = 0
    async for chunk in req.stream():
        digest.update(chunk)
        length += len(chunk)
    return {"length": length, "sha256": digest.hexdigest()}


@app.post("/echo-stream", stream=True)
def echo_stream(req: Request) -> Response:
    """The body back as it arrives (a sync handler: both entrypoints stream it)."""
    return Response.stream(req.stream(), content_type="application/octet-stream")


_barriers: dict[str, threading.Barrier] = {}
_barriers_lock = threading.Lock()


@app.get("/rendezvous/{name}/{count:d}")
def rendezvous(req: Request, name: str, count: int) -> dict[str, Any]:
    """Answer only once ``count`` requests for ``name`` are inside this handler at once.

    So ``count`` answers of ``"met": true`` prove ``count`` requests were in flight
    together; ``"met": false`` after RENDEZVOUS_TIMEOUT says they were not.
    """
    with _barriers_lock:
        barrier = _barriers.setdefault(name, threading.Barrier(count))
    try:
        barrier.wait(RENDEZVOUS_TIMEOUT)
        met = True
    except threading.BrokenBarrierError:
        met = False
    client = req.client
    return {"met": met, "peer_port": client[1] if client else None, "n": req.query.get("n")}
