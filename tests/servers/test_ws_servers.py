"""WebSockets and lifespan under real servers: uvicorn (with the `websockets` client), gunicorn.

The app is tests/wsapp.py; hooks append ``<event> <pid>`` lines to events.log in
the directory named by TWINFRAME_LIFESPAN_DIR.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from realserver import GUNICORN_BASE_ARGS, UVICORN_BASE_ARGS
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

pytestmark = pytest.mark.servers

UVICORN = [*UVICORN_BASE_ARGS, "--lifespan=on", "wsapp:app.asgi"]


def events(directory: Path) -> list[tuple[str, int]]:
    log = directory / "events.log"
    if not log.exists():
        return []
    lines = log.read_text().splitlines()
    return [(event, int(pid)) for event, pid in (line.split() for line in lines)]


@pytest.fixture
def uvicorn_server(server_factory, tmp_path):
    return server_factory(UVICORN, env={"TWINFRAME_LIFESPAN_DIR": str(tmp_path)})


def ws_url(server, path: str) -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 60))


def test_text_and_binary_echo(uvicorn_server):
    async def talk() -> None:
        async with connect(ws_url(uvicorn_server, "/echo")) as ws:
            await ws.send("héllo")
            assert await ws.recv() == "héllo"
            payload = bytes(range(256)) * 100
            await ws.send(payload)
            assert await ws.recv() == payload

    run(talk())


def test_json_messages(uvicorn_server):
    async def talk() -> None:
        async with connect(ws_url(uvicorn_server, "/json")) as ws:
            await ws.send('{"a": [1, 2]}')
            assert await ws.recv() == '{"echo":{"a":[1,2]},"n":1}'
            await ws.send('"second"')
            assert await ws.recv() == '{"echo":"second","n":2}'
            await ws.send("{not json")
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003

    run(talk())


def test_subprotocol_negotiation(uvicorn_server):
    async def negotiate(offered: list[str] | None) -> tuple[str | None, str]:
        async with connect(ws_url(uvicorn_server, "/proto"), subprotocols=offered) as ws:
            return ws.subprotocol, str(await ws.recv())

    assert run(negotiate(["chat.v1", "chat.v2"])) == ("chat.v2", "chat.v2")
    assert run(negotiate(["chat.v1"])) == ("chat.v1", "chat.v1")
    assert run(negotiate(None)) == (None, "none")


@pytest.mark.parametrize("code", [1000, 1001, 4000, 4321])
def test_server_close_codes(uvicorn_server, code):
    async def talk() -> tuple[int | None, str | None]:
        async with connect(ws_url(uvicorn_server, f"/close/{code}")) as ws:
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            return ws.close_code, ws.close_reason

    assert run(talk()) == (code, f"closing with {code}")


def test_handler_exception_closes_1011_and_is_logged(uvicorn_server):
    async def talk() -> int | None:
        async with connect(ws_url(uvicorn_server, "/boom")) as ws:
            await ws.send("trigger")
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            return ws.close_code

    assert run(talk()) == 1011
    deadline = time.monotonic() + 5
    while "handler bug (wsapp test)" not in uvicorn_server.output and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "unhandled exception in websocket handler for /boom" in uvicorn_server.output
    assert "RuntimeError: handler bug (wsapp test)" in uvicorn_server.output
    run(_echo_still_works(uvicorn_server))


async def _echo_still_works(server) -> None:
    async with connect(ws_url(server, "/echo")) as ws:
        await ws.send("alive")
        assert await ws.recv() == "alive"


def test_refused_handshakes(uvicorn_server):
    async def status_of(path: str) -> int:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_url(uvicorn_server, path)):
                pass
        return refused.value.response.status_code

    # uvicorn advertises websocket.http.response, so the real status reaches the client.
    assert run(status_of("/private")) == 401
    assert run(status_of("/nowhere")) == 404

    async def allowed() -> str:
        async with connect(ws_url(uvicorn_server, "/private?token=letmein")) as ws:
            return str(await ws.recv())

    assert run(allowed()) == "welcome"


def test_http_request_to_websocket_path_is_426(uvicorn_server):
    response = httpx.get(uvicorn_server.url + "/echo")
    assert response.status_code == 426


def test_client_disconnect_mid_stream(uvicorn_server):
    async def listen_then_leave() -> None:
        async with connect(ws_url(uvicorn_server, "/ticker")) as ws:
            for i in range(5):
                assert await ws.recv() == f"tick {i}"
        # leaving the block closes from the client side while the server is sending

    run(listen_then_leave())
    deadline = time.monotonic() + 5
    while True:
        report = httpx.get(uvicorn_server.url + "/ticker-report").json()
        if report or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert report["outcome"] == "disconnect"
    assert report["code"] in (1000, 1005, 1006)
    assert report["sent"] >= 5
    run(_echo_still_works(uvicorn_server))


def test_100_concurrent_connections_nothing_lost_or_crossed(uvicorn_server):
    clients, messages = 100, 20

    async def client(n: int) -> list[str]:
        async with connect(ws_url(uvicorn_server, f"/chat/c{n}")) as ws:
            replies = []
            for i in range(messages):
                await ws.send(f"m{i}")
                replies.append(str(await ws.recv()))
            return replies

    async def everyone() -> list[list[str]]:
        return await asyncio.gather(*(client(n) for n in range(clients)))

    results = run(everyone())
    for n, replies in enumerate(results):
        assert replies == [f"c{n}|m{i}" for i in range(messages)]


# -- lifespan under real servers ---------------------------------------------------------


def test_uvicorn_runs_startup_and_shutdown(server_factory, tmp_path):
    server = server_factory(UVICORN, env={"TWINFRAME_LIFESPAN_DIR": str(tmp_path)})
    assert httpx.get(server.url + "/pid").json()["started_in"] == server.proc.pid
    assert events(tmp_path) == [("startup", server.proc.pid)]
    # uvicorn re-raises the signal it caught after a graceful shutdown (exit -15).
    assert server.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    assert events(tmp_path) == [("startup", server.proc.pid), ("shutdown", server.proc.pid)]


def test_uvicorn_refuses_to_start_when_startup_fails(tmp_path):
    from realserver import start_server

    server = start_server(
        UVICORN,
        tmp_path,
        env={"TWINFRAME_FAIL_STARTUP": "1", "TWINFRAME_LIFESPAN_DIR": str(tmp_path)},
        wait=False,
    )
    try:
        code = server.proc.wait(30)
    finally:
        server.stop()
    assert code != 0
    assert "ConnectionError: database unreachable (wsapp test)" in server.output
    assert events(tmp_path) == []


# gthread takes at most --worker-connections at once, so 16 concurrent clients reach both workers.
GUNICORN = [
    *GUNICORN_BASE_ARGS,
    *("-w", "2", "--threads", "4", "--worker-connections", "4"),
    "wsapp:app.wsgi",
]


def test_gunicorn_starts_once_per_worker_and_shuts_down_on_sigterm(server_factory, tmp_path):
    # The slow startup hook widens the window in which a worker's threads race for it.
    server = server_factory(
        GUNICORN,
        env={"TWINFRAME_LIFESPAN_DIR": str(tmp_path), "TWINFRAME_SLOW_STARTUP": "0.3"},
        ready_path="/",
    )
    with ThreadPoolExecutor(16) as pool:
        url = server.url + "/pid?sleep=0.2"
        answers = list(pool.map(lambda _: httpx.get(url, timeout=30).json(), range(48)))
    served_by = {answer["pid"] for answer in answers}
    assert all(answer["started_in"] == answer["pid"] for answer in answers)
    assert len(served_by) == 2  # both workers took requests
    started = Counter(pid for event, pid in events(tmp_path) if event == "startup")
    assert started == {pid: 1 for pid in served_by}  # exactly once in each worker process
    assert server.stop(signal.SIGTERM) == 0
    stopped = Counter(pid for event, pid in events(tmp_path) if event == "shutdown")
    assert stopped == {pid: 1 for pid in served_by}


def test_gunicorn_worker_with_failed_startup_answers_500(server_factory, tmp_path):
    server = server_factory(
        [*GUNICORN_BASE_ARGS, "-w", "1", "wsapp:app.wsgi"],
        env={"TWINFRAME_FAIL_STARTUP": "1"},
    )
    for _ in range(3):
        response = httpx.get(server.url + "/")
        assert response.status_code == 500
        assert "unreachable" not in response.text
    server.stop()
    assert "startup failed; every request will answer 500" in server.output
    assert "ConnectionError: database unreachable (wsapp test)" in server.output


def test_uvicorn_logs_show_no_unexpected_errors(uvicorn_server):
    run(_echo_still_works(uvicorn_server))
    uvicorn_server.stop()
    assert "Traceback" not in uvicorn_server.output
