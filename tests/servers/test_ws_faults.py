"""WebSocket faults under a real uvicorn, from the outside (``websockets`` client):
invalid JSON, an oversized message, a client vanishing while the server sends,
a handler that never accepts. After each, the server keeps serving."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from realserver import UVICORN_BASE_ARGS, start_server
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

pytestmark = pytest.mark.servers

UVICORN = [*UVICORN_BASE_ARGS, "servers.loadapp:app.asgi"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("ws-faults")
    env = {"TWINFRAME_LOAD_DB": str(directory / "ws.sqlite3"), "TWINFRAME_LOAD_DIR": str(directory)}
    running = start_server(UVICORN, directory, env=env, ready_path="/ok", timeout=60)
    running.dir = directory
    try:
        yield running
    finally:
        running.stop()


def url(server, path: str) -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


async def still_echoing(server) -> None:
    async with connect(url(server, "/ws/echo")) as ws:
        await ws.send("alive")
        assert await ws.recv() == "alive"
    assert httpx.get(server.url + "/ok").text == "ok"


def test_invalid_json_closes_1003(server):
    async def talk() -> int | None:
        async with connect(url(server, "/ws/json")) as ws:
            await ws.send('{"ok": true}')
            assert json.loads(await ws.recv()) == {"echo": {"ok": True}}
            await ws.send("{broken")
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            return ws.close_code

    assert asyncio.run(talk()) == 1003
    asyncio.run(still_echoing(server))


def test_oversized_message_closes_1009(server):
    async def talk() -> int | None:
        async with connect(url(server, "/ws/echo"), max_size=None) as ws:
            await ws.send("x" * (1024 * 1024 + 1))  # App(max_message_size) defaults to 1 MiB
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            return ws.close_code

    assert asyncio.run(talk()) == 1009
    asyncio.run(still_echoing(server))


def test_client_vanishing_mid_send(server):
    async def vanish() -> None:
        ws = await connect(url(server, "/ws/firehose"))
        for _ in range(20):
            await ws.recv()
        ws.transport.abort()  # no close frame: the TCP connection just drops

    asyncio.run(vanish())
    deadline = time.monotonic() + 10
    while not list(server.dir.glob("firehose-ended-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    ended = list(server.dir.glob("firehose-ended-*"))
    assert ended, "the sending handler never learned the client was gone"
    assert int(ended[0].read_text()) >= 20
    asyncio.run(still_echoing(server))
    assert "Traceback" not in server.output


def test_handler_that_never_accepts_is_refused(server):
    async def talk() -> int:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url(server, "/ws/never-accepts")):
                pass
        return refused.value.response.status_code

    assert asyncio.run(talk()) == 403
    asyncio.run(still_echoing(server))
