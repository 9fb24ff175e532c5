"""examples/echo.py and the streaming idioms it recommends, on both entrypoints."""

from __future__ import annotations

import pytest

from examples.echo import app as echo_app
from twinframe import App, Response


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


def test_echo_of_a_chunked_upload_arrives_chunk_by_chunk(make_client):
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
