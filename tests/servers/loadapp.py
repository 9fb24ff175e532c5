"""The app tests/servers/test_load.py and test_faults.py serve with real servers.

    gunicorn loadapp:app.wsgi   (sync or gthread workers)
    uvicorn loadapp:app.asgi

Records live in SQLite (``TWINFRAME_LOAD_DB``), one connection per thread, so
every worker process and thread sees every record; each worker's startup hook
creates the table and switches the file to WAL (``setup_database``). ``TWINFRAME_LOAD_DIR`` gets
one marker file per stream that a client abandoned (the generator was closed
before its end), and ``twinframe.log``: every record twinframe's logger emits,
DEBUG included, one ``LEVEL message`` line each (WARNING and above also go to
stderr, the server log, as they would with no handler).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import sqlite3
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from twinframe import App, HTTPError, Response, UnprocessableContent, WebSocket, WebSocketDisconnect

DB_PATH = os.environ.get("TWINFRAME_LOAD_DB", "load.sqlite3")
MARKERS = Path(os.environ.get("TWINFRAME_LOAD_DIR", "."))


def _log_twinframe_to(path: Path) -> None:
    logger = logging.getLogger("twinframe")
    logger.setLevel(logging.DEBUG)
    every = logging.FileHandler(path, encoding="utf-8")  # appends: workers share it
    every.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    loud = logging.StreamHandler(sys.stderr)
    loud.setLevel(logging.WARNING)
    logger.addHandler(every)
    logger.addHandler(loud)


if "TWINFRAME_LOAD_DIR" in os.environ:
    _log_twinframe_to(MARKERS / "twinframe.log")

app = App(max_body_size=16 * 1024)
_local = threading.local()
_calls = itertools.count(1)


@app.on_startup
def setup_database(path: str = DB_PATH, wait: float = 30.0) -> None:
    """Switch the file to WAL (readers never wait for the writer) and create the table.

    Both persist in the file, so this runs once per worker process, not per
    connection. The switch to WAL is retried: when several connections make it
    at once (gunicorn's workers starting together on a new file), SQLite answers
    "database is locked" at once instead of waiting for the busy timeout.
    """
    conn = sqlite3.connect(path, timeout=wait, isolation_level=None)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        conn.execute(
            "CREATE TABLE IF NOT EXISTS records (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
        )
    finally:
        conn.close()


def db() -> sqlite3.Connection:
    """This thread's connection; the busy timeout makes writers wait for each other."""
    conn: sqlite3.Connection | None = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(DB_PATH, timeout=30, isolation_level=None)
        conn.execute("PRAGMA synchronous=NORMAL")
        _local.conn = conn
    return conn


def insert(key: object, value: object) -> None:
    if not isinstance(key, str) or not isinstance(value, str) or not key:
        raise UnprocessableContent("'key' and 'value' must be non-empty strings")
    try:
        db().execute("INSERT INTO records (key, value) VALUES (?, ?)", (key, value))
    except sqlite3.IntegrityError:
        raise HTTPError(409, f"record {key!r} exists") from None


@app.get("/ok")
def ok(req):
    return "ok"


@app.get("/pid")
def pid(req):
    return {"pid": os.getpid()}


@app.post("/records")
def create(req):
    data = req.json
    if not isinstance(data, dict):
        raise UnprocessableContent("expected a JSON object")
    insert(data.get("key"), data.get("value"))
    return Response.json({"key": data["key"]}, status=201)


@app.post("/records/async")
async def create_async(req):
    data = req.json
    if not isinstance(data, dict):
        raise UnprocessableContent("expected a JSON object")
    # SQLite is blocking: the insert goes to a thread (ASGI) or runs inline (WSGI loop).
    await asyncio.get_running_loop().run_in_executor(
        None, insert, data.get("key"), data.get("value")
    )
    return Response.json({"key": data["key"]}, status=201)


@app.post("/records/slow")
def create_slow(req):
    """Takes a while after reading the body: a client may hang up meanwhile."""
    data = req.json
    time.sleep(float(req.query.get("delay", "0.5")))
    insert(data.get("key"), data.get("value"))
    return Response.json({"key": data["key"]}, status=201)


@app.get("/records/{key}")
def read(req, key):
    row = db().execute("SELECT value FROM records WHERE key = ?", (key,)).fetchone()
    if row is None:
        raise HTTPError(404, f"no record {key!r}")
    return {"key": key, "value": row[0]}


@app.get("/count")
def count(req):
    return {"count": db().execute("SELECT COUNT(*) FROM records").fetchone()[0]}


@app.get("/flaky")
def flaky(req):
    """Raises on every tenth call (per worker process)."""
    n = next(_calls)
    if n % 10 == 0:
        raise RuntimeError(f"flaky handler failing on call {n}")
    return {"call": n}


def _mark_abandoned(name: str, sent: int, total: int) -> None:
    if sent < total:
        # Written aside, then renamed: a test polling for the marker never reads it empty.
        marker = MARKERS / f"abandoned-{name}-{os.getpid()}-{time.monotonic_ns()}"
        partial = marker.with_name(f".{marker.name}")
        partial.write_text(str(sent))
        partial.rename(marker)


@app.get("/stream")
def stream(req):
    """``n`` chunks of ``size`` bytes, ``delay`` seconds apart (sync generator)."""
    n, size = int(req.query.get("n", "10")), int(req.query.get("size", "1024"))
    delay = float(req.query.get("delay", "0"))
    name = req.query.get("name", "sync")

    def chunks() -> Iterator[bytes]:
        sent = 0
        try:
            for _ in range(n):
                yield b"x" * size
                sent += 1
                if delay:
                    time.sleep(delay)
        finally:
            _mark_abandoned(name, sent, n)

    return Response.stream(chunks())


@app.get("/astream")
async def astream(req):
    """Like /stream, from an async generator."""
    n, size = int(req.query.get("n", "10")), int(req.query.get("size", "1024"))
    delay = float(req.query.get("delay", "0"))
    name = req.query.get("name", "async")

    async def chunks() -> AsyncIterator[bytes]:
        sent = 0
        try:
            for _ in range(n):
                yield b"x" * size
                sent += 1
                if delay:
                    await asyncio.sleep(delay)
        finally:
            _mark_abandoned(name, sent, n)

    return Response.stream(chunks())


@app.get("/broken-stream")
def broken_stream(req):
    def chunks() -> Iterator[bytes]:
        yield b"partial-"
        raise RuntimeError("stream broke mid-way")

    return Response.stream(chunks())


@app.websocket("/ws/echo")
async def ws_echo(ws: WebSocket):
    await ws.accept()
    try:
        async for text in ws.iter_text():
            await ws.send_text(text)
    except WebSocketDisconnect:
        pass


wsgi = app.wsgi


@app.websocket("/ws/json")
async def ws_json(ws: WebSocket):
    """Echoes JSON; invalid JSON is not caught here, so twinframe closes with 1003."""
    await ws.accept()
    async for value in ws.iter_json():
        await ws.send_json({"echo": value})


@app.websocket("/ws/firehose")
async def ws_firehose(ws: WebSocket):
    """Sends until the client is gone, then leaves a marker saying how it ended."""
    await ws.accept()
    sent = 0
    try:
        while True:
            await ws.send_text("x" * 1024)
            sent += 1
            await asyncio.sleep(0)
    except WebSocketDisconnect as exc:
        (MARKERS / f"firehose-ended-{exc.code}").write_text(str(sent))


@app.websocket("/ws/never-accepts")
async def ws_never_accepts(ws: WebSocket):
    return None  # neither accepted nor closed: twinframe refuses the handshake
