"""Startup/shutdown hooks and App(lifespan=...) on both entrypoints (real servers: servers/)."""

from __future__ import annotations

import asyncio
import io
import logging
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

from twinframe import App
from twinframe.testing import TestClient


def recording_app(log: list[str], **kwargs: Any) -> App:
    app = App(**kwargs)

    @app.on_startup
    def sync_start() -> None:
        log.append("start 1 (sync)")

    @app.on_startup
    async def async_start() -> None:
        await asyncio.sleep(0)
        app.state.db = "connected"
        log.append("start 2 (async)")

    @app.on_shutdown
    async def async_stop() -> None:
        log.append("stop 1 (async)")

    @app.on_shutdown
    def sync_stop() -> None:
        log.append("stop 2 (sync)")

    @app.get("/db")
    def db(req) -> str:
        return str(req.app.state.db)

    return app


def test_hooks_run_in_order_around_the_client_block(make_client):
    log: list[str] = []
    client = make_client(recording_app(log))
    with client:
        assert log == ["start 1 (sync)", "start 2 (async)"]
        assert client.get("/db").text == "connected"
        assert client.get("/db").text == "connected"
        assert log == ["start 1 (sync)", "start 2 (async)"]  # once, not per request
    assert log == ["start 1 (sync)", "start 2 (async)", "stop 1 (async)", "stop 2 (sync)"]


def test_a_second_client_block_starts_the_app_again(make_client):
    log: list[str] = []
    app = recording_app(log)
    with make_client(app):
        pass
    with make_client(app):
        pass
    assert log.count("start 1 (sync)") == 2
    assert log.count("stop 2 (sync)") == 2


def test_lifespan_context_manager_wraps_the_hooks(make_client):
    log: list[str] = []

    @asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[None]:
        app.state.pool = "open"
        log.append("enter")
        yield
        log.append("exit")
        app.state.pool = "closed"

    app = recording_app(log, lifespan=lifespan)

    @app.get("/pool")
    async def pool(req) -> str:
        return str(req.app.state.pool)

    with make_client(app) as client:
        assert client.get("/pool").text == "open"
    assert log == [
        "enter", "start 1 (sync)", "start 2 (async)", "stop 1 (async)", "stop 2 (sync)", "exit",
    ]
    assert app.state.pool == "closed"


def test_failing_startup_raises_from_the_client_and_leaves_the_lifespan(make_client, caplog):
    log: list[str] = []

    @asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[None]:
        log.append("enter")
        try:
            yield
        finally:
            log.append("exit")

    app = App(lifespan=lifespan)

    @app.on_startup
    def connect() -> None:
        raise ConnectionError("database unreachable")

    @app.on_shutdown
    def never() -> None:
        log.append("shutdown hook ran")

    with caplog.at_level(logging.ERROR, "twinframe"), pytest.raises(RuntimeError) as failed:
        with make_client(app):
            pass
    assert "database unreachable" in str(failed.value)
    assert log == ["enter", "exit"]  # the context was left, the shutdown hooks never ran
    assert "startup failed" in caplog.text


def test_a_failing_shutdown_hook_is_logged_and_the_others_still_run(make_client, interface, caplog):
    log: list[str] = []
    app = App()

    @app.on_shutdown
    def broken() -> None:
        raise ValueError("flush failed")

    @app.on_shutdown
    def after() -> None:
        log.append("after ran")

    with caplog.at_level(logging.ERROR, "twinframe"):
        if interface == "asgi":  # the server hears lifespan.shutdown.failed; the client says so
            with pytest.raises(RuntimeError, match="flush failed"), make_client(app):
                pass
        else:  # at WSGI process exit there is nobody to tell: it is logged
            with make_client(app):
                pass
    assert log == ["after ran"]
    assert "shutdown hook" in caplog.text and "flush failed" in caplog.text


# -- the ASGI lifespan protocol, message by message ------------------------------------


async def _lifespan_messages(app: App, *requests: str) -> list[dict[str, Any]]:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for kind in requests:
        inbox.put_nowait({"type": kind})
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(dict(message))

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
    await asyncio.wait_for(app.asgi(scope, inbox.get, send), 5)
    return sent


def test_asgi_lifespan_protocol_complete():
    log: list[str] = []
    sent = asyncio.run(
        _lifespan_messages(recording_app(log), "lifespan.startup", "lifespan.shutdown")
    )
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]
    assert len(log) == 4


def test_asgi_lifespan_startup_failed_carries_the_message():
    app = App()

    @app.on_startup
    async def connect() -> None:
        raise ConnectionError("database unreachable")

    sent = asyncio.run(_lifespan_messages(app, "lifespan.startup"))
    assert sent == [
        {"type": "lifespan.startup.failed", "message": "ConnectionError: database unreachable"}
    ]


def test_asgi_lifespan_shutdown_failed_carries_the_message():
    app = App()

    @app.on_shutdown
    def close() -> None:
        raise OSError("disk gone")

    sent = asyncio.run(_lifespan_messages(app, "lifespan.startup", "lifespan.shutdown"))
    assert sent == [
        {"type": "lifespan.startup.complete"},
        {"type": "lifespan.shutdown.failed", "message": "OSError: disk gone"},
    ]


# -- WSGI: once per process, before the first request --------------------------------


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
    startup_lock = app.wsgi._lock = _CountingLock()  # type: ignore[assignment]

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
    app.wsgi._stop()  # don't leave an atexit hook behind in the test process


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
    app.wsgi._stop()


def test_no_startup_means_no_shutdown_under_wsgi():
    log: list[str] = []
    app = recording_app(log)
    app.wsgi._stop()  # process exit before any request: nothing started, nothing to stop
    assert log == []


def test_client_without_block_still_starts_wsgi_lazily():
    log: list[str] = []
    app = recording_app(log)
    client = TestClient(app, "wsgi")
    assert client.get("/db").text == "connected"
    assert log == ["start 1 (sync)", "start 2 (async)"]
    client.close()
    app.wsgi._stop()
    assert log[-1] == "stop 2 (sync)"
