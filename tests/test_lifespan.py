"""Startup/shutdown hooks and App(lifespan=...) on both entrypoints (real servers: servers/).

How each adapter drives them is tested with it: the lifespan messages in
test_asgi.py, startup once per process in test_wsgi.py.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from helpers import hooks_app

from twinframe import App


def test_hooks_run_in_order_around_the_client_block(make_client):
    log: list[str] = []
    client = make_client(hooks_app(log))
    with client:
        assert log == ["start 1 (sync)", "start 2 (async)"]
        assert client.get("/db").text == "connected"
        assert client.get("/db").text == "connected"
        assert log == ["start 1 (sync)", "start 2 (async)"]  # once, not per request
    assert log == ["start 1 (sync)", "start 2 (async)", "stop 1 (async)", "stop 2 (sync)"]


def test_a_second_client_block_starts_the_app_again(make_client):
    log: list[str] = []
    app = hooks_app(log)
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

    app = hooks_app(log, lifespan=lifespan)

    @app.get("/pool")
    async def pool(req) -> str:
        return str(req.app.state.pool)

    with make_client(app) as client:
        assert client.get("/pool").text == "open"
    assert log == [
        "enter",
        "start 1 (sync)",
        "start 2 (async)",
        "stop 1 (async)",
        "stop 2 (sync)",
        "exit",
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


# -- WSGI: once per process, before the first request --------------------------------
