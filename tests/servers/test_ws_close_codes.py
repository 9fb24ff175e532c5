"""The websocket close codes twinframe sends, as every tested ASGI server delivers them.

twinframe closes on its own with 1003 (a message that is not valid JSON), 1009
(a message over ``App(max_message_size)``), 1008 (an ``HTTPError`` 4xx raised
after ``accept()``) and 1011 (a handler crash); a handler's own
``ws.close(code, reason)`` with any code the spec allows must reach the client
unchanged. Each server runs tests/wsapp.py once for the module; the client is
the ``websockets`` library, which reads the close frame the server wrote.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from realserver import (
    GRANIAN_BASE_ARGS,
    GUNICORN_BASE_ARGS,
    UVICORN_BASE_ARGS,
    Server,
    start_server,
)
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

pytestmark = pytest.mark.servers

SERVERS = {
    "uvicorn-websockets": [*UVICORN_BASE_ARGS, "--ws", "websockets", "wsapp:app.asgi"],
    "uvicorn-wsproto": [*UVICORN_BASE_ARGS, "--ws", "wsproto", "wsapp:app.asgi"],
    "hypercorn": ["hypercorn", "--bind", "127.0.0.1:{port}", "wsapp:app.asgi"],
    "granian": [*GRANIAN_BASE_ARGS, "--interface", "asgi", "wsapp:app.asgi"],
    "gunicorn-asgi": [*GUNICORN_BASE_ARGS, "-k", "asgi", "wsapp:app.asgi"],
    "gunicorn-uvicorn-worker": [
        *GUNICORN_BASE_ARGS,
        *("-k", "uvicorn_worker.UvicornWorker", "wsapp:app.asgi"),
    ],
}
# Every code a server may send in a close frame (RFC 6455 section 7.4 and the
# IANA registry): the registered ones, then the library (3xxx) and private (4xxx) ranges.
HANDLER_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014]
HANDLER_CODES += [3000, 3999, 4000, 4999]


@pytest.fixture(scope="module", params=list(SERVERS))
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    running = start_server(SERVERS[request.param], tmp_path_factory.mktemp("close"), timeout=60)
    try:
        yield running
    finally:
        running.stop()


async def _closed_with(
    server: Server, path: str, send: str | None = None
) -> tuple[int | None, str | None]:
    """Open ``path``, send ``send`` (if any), read until the server closes: (code, reason)."""
    async with connect(f"ws://127.0.0.1:{server.port}{path}", max_size=None) as ws:
        if send is not None:
            await ws.send(send)
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        return ws.close_code, ws.close_reason


def closed_with(
    server: Server, path: str, send: str | None = None
) -> tuple[int | None, str | None]:
    return asyncio.run(_closed_with(server, path, send))


def test_invalid_json_closes_1003_with_the_parse_error(server: Server) -> None:
    code, reason = closed_with(server, "/json", "{not json")
    assert code == 1003
    assert reason is not None and reason.startswith("invalid JSON message: ")


def test_oversized_message_closes_1009(server: Server) -> None:
    # wsapp's App(max_message_size=64 KiB).
    assert closed_with(server, "/echo", "x" * (64 * 1024 + 1)) == (
        1009,
        "message larger than 65536 bytes",
    )


def test_http_error_after_accept_closes_1008_with_its_detail(server: Server) -> None:
    assert closed_with(server, "/forbidden-after-accept", "hi") == (1008, "not in this room")


def test_handler_crash_closes_1011(server: Server) -> None:
    assert closed_with(server, "/boom", "trigger") == (1011, "")
    assert "RuntimeError: handler bug (wsapp test)" in server.output


def test_handler_close_codes_pass_through(server: Server) -> None:
    got = {code: closed_with(server, f"/close/{code}") for code in HANDLER_CODES}
    assert got == {code: (code, f"closing with {code}") for code in HANDLER_CODES}


# The servers that offer the ASGI websocket.http.response extension send twinframe's
# refusal status; the others can only refuse with 403.
REFUSAL_STATUS_SHOWN = {"gunicorn-asgi": False}


def test_refused_handshakes_show_the_status_where_the_server_allows(
    server: Server, request: pytest.FixtureRequest
) -> None:
    name = request.node.callspec.params["server"]
    shown = REFUSAL_STATUS_SHOWN.get(name, True)

    async def status_of(path: str) -> int:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"ws://127.0.0.1:{server.port}{path}"):
                pass
        return int(refused.value.response.status_code)

    assert asyncio.run(status_of("/private")) == (401 if shown else 403)
    assert asyncio.run(status_of("/nowhere")) == (404 if shown else 403)
