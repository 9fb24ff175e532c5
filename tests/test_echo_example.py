"""examples/echo.py and the streaming idioms it recommends, on both entrypoints."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from wsgiref.validate import validator

import pytest

from examples.echo import app as echo_app
from twinframe import App, Response
from twinframe.testing.scope import asgi_scope


def test_echo_returns_the_body_streamed(make_client):
    client = make_client(echo_app)
    body = bytes(range(256)) * 1000
    response = client.post("/echo", content=body, headers={"content-type": "image/png"})
    assert response.status_code == 200
    assert response.content == body
    assert response.headers["content-type"] == "image/png"
    assert "content-length" not in response.headers  # streamed, not buffered


def test_echo_accepts_put_as_curl_upload_file_sends(make_client):
    # `curl -T file URL` (the docstring's example) sends a PUT.
    response = make_client(echo_app).put("/echo", content=b"uploaded")
    assert response.status_code == 200
    assert response.content == b"uploaded"


class PieceInput:
    """A ``wsgi.input`` that hands out one piece per read, as a socket would, logging each."""

    def __init__(self, pieces: list[bytes], log: list[tuple[str, bytes]]) -> None:
        self.pieces, self.log = list(pieces), log

    def read(self, size: int = -1) -> bytes:
        if not self.pieces:
            return b""
        piece = self.pieces.pop(0)
        self.log.append(("read", piece))
        return piece

    def readline(self, size: int = -1) -> bytes:
        return self.read(size)

    def readlines(self, hint: int = -1) -> list[bytes]:
        return [self.read()]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.read, b"")


def _echo_over_wsgi(path: str, pieces: list[bytes]) -> list[tuple[str, bytes]]:
    log: list[tuple[str, bytes]] = []
    environ = {
        **{"REQUEST_METHOD": "POST", "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": ""},
        **{"SERVER_NAME": "testserver", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1"},
        "CONTENT_LENGTH": str(sum(map(len, pieces))),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": PieceInput(pieces, log),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    result = validator(echo_app.wsgi)(environ, lambda status, headers, exc_info=None: None)
    try:
        for chunk in result:
            if chunk:
                log.append(("sent", chunk))
    finally:
        result.close()
    return log


def _echo_over_asgi(path: str, pieces: list[bytes]) -> list[tuple[str, bytes]]:
    log: list[tuple[str, bytes]] = []
    queue = list(pieces)
    scope = asgi_scope("http", path.encode(), b"", [], method="POST")

    async def run() -> None:
        done = asyncio.Event()

        async def receive() -> dict[str, object]:
            if queue:
                piece = queue.pop(0)
                log.append(("read", piece))
                return {"type": "http.request", "body": piece, "more_body": bool(queue)}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, object]) -> None:
            if message["type"] == "http.response.body":
                if message.get("body"):
                    log.append(("sent", message["body"]))  # type: ignore[arg-type]
                if not message.get("more_body"):
                    done.set()

        await asyncio.wait_for(echo_app.asgi(scope, receive, send), 10)

    asyncio.run(run())
    return log


@pytest.mark.parametrize(("path", "transform"), [("/echo", bytes), ("/echo/upper", bytes.upper)])
def test_echo_of_a_chunked_upload_arrives_chunk_by_chunk(interface, path, transform):
    # The docstring's promise: each chunk is sent back before the next is read, so
    # memory holds a chunk or two. The server side hands out one piece per read
    # (wsgi.input) or message (receive()), and the log shows the order of both.
    pieces = [b"first ", b"second ", b"third"]
    echo = _echo_over_wsgi if interface == "wsgi" else _echo_over_asgi
    log = echo(path, pieces)
    expected: list[tuple[str, bytes]] = []
    for piece in pieces:
        expected += [("read", piece), ("sent", transform(piece))]
    assert log == expected


def test_echo_of_a_chunked_upload_through_the_test_client(make_client):
    client = make_client(echo_app)
    pieces = [b"first ", b"second ", b"third"]
    with client.stream("POST", "/echo/upper", content=iter(pieces)) as response:
        assert response.status_code == 200
        assert b"".join(response.iter_bytes()) == b"FIRST SECOND THIRD"


def test_empty_body_echoes_nothing(make_client):
    response = make_client(echo_app).post("/echo", content=b"")
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize("handler_kind", ["sync", "async"])
def test_sync_generator_over_req_stream_works_from_either_handler_kind(make_client, handler_kind):
    # A sync generator reading req.stream() runs in a worker thread under ASGI,
    # whether the handler that returned it was sync or async.
    app = App()

    def upper(req):
        def chunks():
            for chunk in req.stream():
                yield chunk.upper()

        return Response.stream(chunks())

    async def upper_async(req):
        return upper(req)

    app.post("/up", stream=True)(upper if handler_kind == "sync" else upper_async)
    response = make_client(app).post("/up", content=b"abc" * 5000)
    assert response.status_code == 200
    assert response.content == b"ABC" * 5000
