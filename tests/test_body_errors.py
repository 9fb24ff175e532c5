"""Request-body failures the docs promise: a stream read twice, a connection dropping mid-read.

- docs/request.md: ``req.stream()`` can be consumed once;
- a WSGI server's ``wsgi.input.read`` raising ``OSError`` (the connection
  dropped) is a client disconnect: 400 "request body incomplete", logged at
  DEBUG only, never a 500, and the handler does not run.
"""

from __future__ import annotations

import json
import logging

import pytest
from helpers import HANDLERS, recording_app
from raw_drivers import CountingInput, call_wsgi

from twinframe import App


def _twice_app() -> App:
    app = App()

    @app.post("/sync", stream=True)
    def sync_twice(req):
        first = b"".join(req.stream())
        try:
            req.stream()
        except RuntimeError as exc:
            return {"first": first.decode(), "second": str(exc)}
        return {"first": first.decode(), "second": "no error"}

    @app.post("/async", stream=True)
    async def async_twice(req):
        first = b"".join([chunk async for chunk in req.stream()])
        try:
            req.stream()
        except RuntimeError as exc:
            return {"first": first.decode(), "second": str(exc)}
        return {"first": first.decode(), "second": "no error"}

    return app


@pytest.mark.parametrize("url", HANDLERS)
def test_request_stream_consumed_twice_raises(make_client, url):
    def upload():
        yield b"one,"
        yield b"two"

    response = make_client(_twice_app()).post(url, content=upload())
    assert response.status_code == 200, response.text
    assert response.json() == {
        "first": "one,two",
        "second": "the request body stream was already consumed",
    }


class DroppingInput(CountingInput):
    """A ``wsgi.input`` whose connection drops after the first chunk (read raises OSError)."""

    def read(self, size: int = -1) -> bytes:
        if self.bytes_read:
            raise ConnectionResetError(104, "Connection reset by peer")
        return super().read(min(size, 5) if size is not None and size >= 0 else 5)


@pytest.mark.parametrize("path", ["/json", "/form"])
def test_wsgi_input_raising_oserror_is_a_client_disconnect(path, caplog):
    app, calls = recording_app()
    body = b'{"a": "' + b"x" * 100 + b'"}'
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    with caplog.at_level(logging.DEBUG, logger="twinframe"):
        result = call_wsgi(app, "POST", path.encode(), headers, wsgi_input=DroppingInput([body]))
    assert result.status == 400
    assert json.loads(result.body)["detail"] == "request body incomplete"
    assert calls == []
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]
    assert "client disconnected before sending the whole body" in caplog.text


def test_wsgi_input_raising_oserror_mid_stream_is_a_client_disconnect(caplog):
    app = App()
    seen: list[object] = []

    @app.post("/up", stream=True)
    def upload(req):
        try:
            for chunk in req.stream():
                seen.append(chunk)
        except Exception as exc:
            seen.append(type(exc).__name__)
            raise
        return "complete"

    headers = [(b"content-length", b"100")]
    with caplog.at_level(logging.DEBUG, logger="twinframe"):
        result = call_wsgi(app, "POST", b"/up", headers, wsgi_input=DroppingInput([b"z" * 100]))
    assert result.status == 400
    assert json.loads(result.body)["detail"] == "request body incomplete"
    assert seen == [b"zzzzz", "ClientDisconnect"]
    assert not [r for r in caplog.records if r.levelno > logging.DEBUG]


class TricklingInput(CountingInput):
    """A ``wsgi.input`` that returns at most 7 bytes per read, as a slow socket may."""

    def read(self, size: int = -1) -> bytes:
        return super().read(min(size, 7) if size is not None and size >= 0 else 7)


@pytest.mark.parametrize(
    ("path", "content_type", "body", "expected"),
    [
        ("/json", b"application/json", b'{"a": "' + b"x" * 100 + b'"}', {"json": {"a": "x" * 100}}),
        (
            "/form",
            b"application/x-www-form-urlencoded",
            b"a=" + b"y" * 100 + b"&b=2",
            {"form": {"a": "y" * 100, "b": "2"}, "files": {}},
        ),
    ],
)
def test_wsgi_short_reads_still_give_the_whole_body(path, content_type, body, expected):
    # The one-read fast path for small bodies falls back to reading the rest.
    app, calls = recording_app()
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    result = call_wsgi(app, "POST", path.encode(), headers, wsgi_input=TricklingInput([body]))
    assert result.status == 200, result.body
    assert json.loads(result.body) == expected
    assert len(calls) == 1
