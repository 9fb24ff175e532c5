"""The WSGI adapter (twinframe/wsgi.py): what only app.wsgi does.

Startup once per process before the first request (shutdown at exit), and a
server whose ``wsgi.input`` refuses the body framing.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
import textwrap
import threading
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from helpers import hooks_app, recording_app
from raw_drivers import CountingInput, call_wsgi

from twinframe import App
from twinframe.testing import TestClient

# -- startup and shutdown: once per process -----------------------------------------


def _call_wsgi(app: App, path: str = "/") -> tuple[str, bytes]:
    environ: dict[str, Any] = {"PATH_INFO": path, "wsgi.input": io.BytesIO()}
    setup_testing_defaults(environ)
    status: list[str] = []
    body = b"".join(app.wsgi(environ, lambda s, h, e=None: status.append(s)))
    return status[0], body


class _CountingLock:
    """A lock that counts the threads that asked for it, so a test can wait for them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._asked = threading.Condition()
        self.waiters = 0

    def __enter__(self) -> None:
        with self._asked:
            self.waiters += 1
            self._asked.notify_all()
        self._lock.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()

    def wait_for(self, count: int, timeout: float) -> bool:
        with self._asked:
            return self._asked.wait_for(lambda: self.waiters >= count, timeout)


def test_wsgi_starts_once_before_the_first_request_even_under_a_thread_stampede():
    app = App()
    runs: list[str] = []
    threads = 32
    # Every thread asks for the adapter's startup lock while the first one runs the
    # hook: the hook holds on until all of them are queued behind it, so the race
    # for "who starts the app" really happens.
    startup_lock = app.wsgi.lifecycle._lock = _CountingLock()  # type: ignore[assignment]

    @app.on_startup
    def slow_start() -> None:
        assert startup_lock.wait_for(threads, timeout=10), "the other threads never arrived"
        runs.append(threading.current_thread().name)
        app.state.ready = True

    @app.get("/")
    def index(req) -> str:
        return "ready" if req.app.state.ready else "half-initialised"

    barrier = threading.Barrier(threads)
    results: list[tuple[str, bytes]] = []
    lock = threading.Lock()

    def hit() -> None:
        barrier.wait()
        result = _call_wsgi(app)
        with lock:
            results.append(result)

    workers = [threading.Thread(target=hit) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10)
    assert len(runs) == 1
    assert results == [("200 OK", b"ready")] * threads
    app.wsgi.shutdown()  # don't leave an atexit hook behind in the test process


def test_wsgi_failing_startup_answers_500_to_every_request_and_logs(caplog):
    app = App()
    attempts: list[int] = []

    @app.on_startup
    def connect() -> None:
        attempts.append(1)
        raise ConnectionError("database unreachable")

    @app.get("/")
    def index(req) -> str:
        return "served half-initialised"

    with caplog.at_level(logging.ERROR, "twinframe"):
        for _ in range(3):
            status, body = _call_wsgi(app)
            assert status.startswith("500")
            assert b"half-initialised" not in body and b"unreachable" not in body
    assert attempts == [1]  # not retried per request
    assert "startup failed; every request will answer 500" in caplog.text
    assert "database unreachable" in caplog.text
    assert caplog.text.count("refusing GET /: startup failed") == 3


def test_wsgi_startup_and_shutdown_can_be_called_ahead(caplog):
    log: list[str] = []
    app = hooks_app(log)
    app.wsgi.startup()
    app.wsgi.startup()  # once per process
    assert log == ["start 1 (sync)", "start 2 (async)"]
    app.wsgi.shutdown()
    assert log[-1] == "stop 2 (sync)"

    failing = App()

    @failing.on_startup
    def connect() -> None:
        raise ConnectionError("database unreachable")

    with caplog.at_level(logging.ERROR, "twinframe"), pytest.raises(ConnectionError):
        failing.wsgi.startup()
    with pytest.raises(ConnectionError):  # still failed: it is not retried
        failing.wsgi.startup()
    failing.wsgi.shutdown()


def test_wsgi_shutdown_runs_at_process_exit(tmp_path):
    marker = tmp_path / "events.txt"
    script = textwrap.dedent(
        f"""
        import io, sys
        from wsgiref.util import setup_testing_defaults
        from twinframe import App

        app = App()
        def note(text):
            with open({str(marker)!r}, "a") as f:
                f.write(text + "\\n")

        @app.on_startup
        async def start():
            note("startup")

        @app.on_shutdown
        async def stop():
            note("shutdown")

        @app.get("/")
        def index(req):
            note("request")
            return "ok"

        environ = {{"wsgi.input": io.BytesIO()}}
        setup_testing_defaults(environ)
        b"".join(app.wsgi(environ, lambda *a: None))
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=30)
    assert marker.read_text().split() == ["startup", "request", "shutdown"]


def test_wsgi_async_startup_resources_live_on_the_first_threads_loop():
    app = App()

    @app.on_startup
    async def start() -> None:
        app.state.loop = asyncio.get_running_loop()

    @app.get("/")
    async def index(req) -> str:
        return "same" if asyncio.get_running_loop() is req.app.state.loop else "other"

    # The thread that ran startup serves async handlers on the very same loop.
    assert _call_wsgi(app) == ("200 OK", b"same")
    app.wsgi.shutdown()


def test_no_startup_means_no_shutdown_under_wsgi():
    log: list[str] = []
    app = hooks_app(log)
    app.wsgi.shutdown()  # process exit before any request: nothing started, nothing to stop
    assert log == []


def test_client_without_block_still_starts_wsgi_lazily():
    log: list[str] = []
    app = hooks_app(log)
    client = TestClient(app, "wsgi")
    assert client.get("/db").text == "connected"
    assert log == ["start 1 (sync)", "start 2 (async)"]
    client.close()
    app.wsgi.shutdown()
    assert log[-1] == "stop 2 (sync)"


# -- wsgi.input ---------------------------------------------------------------------


class RefusingInput(CountingInput):
    """A ``wsgi.input`` whose server-side parser refuses the body framing mid-read."""

    def read(self, size: int = -1) -> bytes:
        raise _ServerParseError("Invalid chunk size: 'zz'")


class _ServerParseError(Exception):
    """Like gunicorn's InvalidChunkSize: not an OSError, raised from wsgi.input.read()."""


def test_wsgi_input_refusing_the_framing_is_400(caplog):
    # WSGI only: ASGI servers refuse bad framing before the app sees a message.
    app, calls = recording_app()
    headers = [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]
    with caplog.at_level(logging.DEBUG, logger="twinframe"):
        result = call_wsgi(
            app, "POST", b"/json", headers, wsgi_input=RefusingInput([]), input_terminated=True
        )
    assert result.status == 400
    assert json.loads(result.body)["detail"] == "malformed request body framing"
    assert calls == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
