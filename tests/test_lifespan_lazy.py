"""``app.asgi`` under a server that sends no lifespan events: twinframe starts the app itself.

The driver here is a bare ASGI caller that never opens a ``lifespan`` scope
(as ``uvicorn --lifespan off`` and Granian's ``asginl`` do; the real servers
are in servers/test_lifespan_off.py). Startup runs once, before the first
request, with concurrent first requests waiting; a failed startup answers 500
(websockets close 1011), logged once; shutdown runs once, at the end of the
loop or on SIGTERM/SIGINT, before the server hears the signal.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

import pytest
from helpers import hooks_app

from twinframe import App, WebSocket
from twinframe.testing.scope import asgi_scope

LAZY_WARNING = "the ASGI server sent no lifespan events"


async def get(app: App, path: str = "/") -> tuple[int, bytes]:
    """One GET through ``app.asgi``, with no lifespan scope ever opened."""
    scope = asgi_scope("http", path.encode(), b"", [], method="GET")
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app.asgi(scope, receive, send)
    return int(sent[0]["status"]), b"".join(m.get("body", b"") for m in sent[1:])


async def websocket_close(app: App, path: str = "/ws") -> list[dict[str, Any]]:
    """Open a websocket and return what the app sent until it closed."""
    scope = asgi_scope("websocket", path.encode(), b"", [], scheme="ws")
    incoming = [{"type": "websocket.connect"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        await asyncio.Event().wait()  # the client says nothing more
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asyncio.wait_for(app.asgi(scope, receive, send), 10)
    return sent


def lazy_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if LAZY_WARNING in r.getMessage()]


def counting_app(events: list[str], fail: bool = False) -> App:
    app = App()

    @app.on_startup
    async def start() -> None:
        events.append("startup")
        await asyncio.sleep(0.05)  # the other first requests arrive meanwhile
        if fail:
            raise ConnectionError("database unreachable (lazy test)")
        app.state.loop = asyncio.get_running_loop()
        app.state.ready = "ready"

    @app.on_shutdown
    async def stop() -> None:
        events.append("shutdown")
        # On the loop startup ran on: loop-bound resources can be closed.
        assert asyncio.get_running_loop() is app.state.loop

    @app.get("/")
    def index(req) -> str:
        return str(req.app.state.ready)

    @app.websocket("/ws")
    async def ws_handler(ws: WebSocket) -> None:
        await ws.accept()
        await ws.close(4000, "served")

    return app


def test_startup_runs_once_before_the_first_requests_which_wait_for_it(caplog):
    events: list[str] = []
    app = counting_app(events)

    async def serve() -> list[tuple[int, bytes]]:
        # 20 first requests at once, then more after startup.
        first = await asyncio.gather(*(get(app) for _ in range(20)))
        assert events == ["startup"]
        return first + [await get(app) for _ in range(3)]

    with caplog.at_level(logging.WARNING, "twinframe"):
        answers = asyncio.run(serve())
    assert answers == [(200, b"ready")] * 23
    # The loop's end (asyncio.run cancels what is left) ran the shutdown hooks, once.
    assert events == ["startup", "shutdown"]
    (warning,) = lazy_records(caplog)
    assert warning.levelno == logging.WARNING
    assert "shutdown runs on SIGTERM/SIGINT" in warning.getMessage()


def test_a_websocket_first_starts_the_app_too():
    events: list[str] = []
    app = counting_app(events)
    sent = asyncio.run(websocket_close(app))
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.close"]
    assert sent[-1]["code"] == 4000
    assert events == ["startup", "shutdown"]


def test_failed_startup_answers_500_and_closes_websockets_1011_logged_once(caplog):
    events: list[str] = []
    app = counting_app(events, fail=True)

    async def serve() -> tuple[list[tuple[int, bytes]], list[dict[str, Any]]]:
        answers = list(await asyncio.gather(*(get(app) for _ in range(5))))
        answers.append(await get(app))
        return answers, await websocket_close(app)

    with caplog.at_level(logging.INFO, "twinframe"):
        answers, sent = asyncio.run(serve())
    assert [status for status, _ in answers] == [500] * 6
    assert all(b"unreachable" not in body for _, body in answers)  # nothing leaks
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.close"]
    assert sent[-1]["code"] == 1011
    assert events == ["startup"]  # not retried, and no shutdown for an app never started
    failures = [r for r in caplog.records if "startup failed; every request" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].exc_info is not None
    assert "database unreachable (lazy test)" in caplog.text
    refusals = [r for r in caplog.records if r.getMessage().startswith("refusing ")]
    assert len(refusals) == 7  # each refused request is logged, the traceback once


def test_a_server_that_sends_lifespan_keeps_driving_it(caplog):
    events: list[str] = []
    app = counting_app(events)

    async def serve() -> list[tuple[int, bytes]]:
        to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        lifespan = asyncio.create_task(
            app.asgi({"type": "lifespan", "asgi": {"version": "3.0"}}, to_app.get, from_app.put)
        )
        await to_app.put({"type": "lifespan.startup"})
        assert (await from_app.get())["type"] == "lifespan.startup.complete"
        answers = list(await asyncio.gather(*(get(app) for _ in range(5))))
        assert events == ["startup"]
        await to_app.put({"type": "lifespan.shutdown"})
        assert (await from_app.get())["type"] == "lifespan.shutdown.complete"
        await lifespan
        return answers

    with caplog.at_level(logging.WARNING, "twinframe"):
        answers = asyncio.run(serve())
    assert answers == [(200, b"ready")] * 5
    assert events == ["startup", "shutdown"]  # the server's, once each; nothing at loop end
    assert lazy_records(caplog) == []


def test_after_a_shutdown_the_next_request_starts_the_app_again():
    # A server restarted in the same process (a new loop, a reused TestClient):
    # the shutdown at the end of the first loop re-arms the start before the next request.
    events: list[str] = []
    app = counting_app(events)
    assert asyncio.run(get(app)) == (200, b"ready")
    assert events == ["startup", "shutdown"]  # at the end of its loop
    assert asyncio.run(get(app)) == (200, b"ready")
    assert events == ["startup", "shutdown", "startup", "shutdown"]


def test_sigterm_runs_shutdown_first_then_the_server_gets_the_signal():
    events: list[str] = []
    app = counting_app(events)

    def server_handler(signum: int, frame: object) -> None:
        events.append(f"server got {signal.Signals(signum).name}")

    async def serve() -> None:
        assert await get(app) == (200, b"ready")
        signal.raise_signal(signal.SIGTERM)
        for _ in range(200):
            if "server got SIGTERM" in events:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"the server never got the signal: {events}")

    original = signal.signal(signal.SIGTERM, server_handler)  # the "server's" own handler
    try:
        asyncio.run(serve())
        # The server's handler is back in place, and shutdown does not run twice.
        assert signal.getsignal(signal.SIGTERM) is server_handler
    finally:
        signal.signal(signal.SIGTERM, original)
    assert events == ["startup", "shutdown", "server got SIGTERM"]


def test_an_app_without_hooks_starts_nothing_and_warns_nothing(caplog):
    app = App()

    @app.get("/")
    def index(req) -> str:
        return "hi"

    handlers = [signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)]
    with caplog.at_level(logging.DEBUG, "twinframe"):
        assert asyncio.run(get(app)) == (200, b"hi")
    assert caplog.records == []
    assert [signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)] == handlers


def test_the_test_client_without_a_with_block_starts_the_app_on_its_first_request(make_client):
    log: list[str] = []
    app = hooks_app(log)
    client = make_client(app)
    assert client.get("/db").text == "connected"
    assert client.get("/db").text == "connected"
    assert log == ["start 1 (sync)", "start 2 (async)"]
    if client.interface == "asgi":
        client.close()  # its loop ends: shutdown runs there
    else:
        app.wsgi.shutdown()  # else at process exit
    assert log == ["start 1 (sync)", "start 2 (async)", "stop 1 (async)", "stop 2 (sync)"]


def test_after_a_server_driven_shutdown_the_next_request_starts_the_app_again():
    # A server that ran lifespan startup and shutdown, then a request served in the
    # same process without lifespan (a restarted server, another test client): the
    # app is started again before that request, not served half torn down.
    events: list[str] = []
    app = counting_app(events)

    async def serve_lifespan() -> list[str]:
        incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
        sent: list[str] = []

        async def receive() -> dict[str, Any]:
            return incoming.pop(0)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message["type"])

        await app.asgi({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
        return sent

    sent = asyncio.run(serve_lifespan())
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert events == ["startup", "shutdown"]
    assert asyncio.run(get(app)) == (200, b"ready")
    assert events == ["startup", "shutdown", "startup", "shutdown"]
