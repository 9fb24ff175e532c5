"""The ASGI adapter (twinframe/asgi.py): what only app.asgi does.

The HTTP messages against the ASGI 3 spec, driven message by message with
asgiref's communicator (body chunks, disconnects, raw_path, root_path, client
and server), cookies split over several headers, and the lifespan protocol.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator
from helpers import hooks_app

from twinframe import App, Response
from twinframe.testing import TestClient
from twinframe.testing.scope import asgi_scope


def _scope(path: str = "/", method: str = "GET", **extra: Any) -> dict[str, Any]:
    """An http scope for ``path`` as a server at example.org builds it; ``extra`` overrides."""
    options: dict[str, Any] = {
        "raw_path": path.encode("utf-8"),
        "headers": [(b"host", b"example.org")],
        "client": ("10.0.0.1", 4321),
        "server": ("example.org", 80),
        **extra,
    }
    raw_path, headers = options.pop("raw_path"), options.pop("headers")
    return asgi_scope("http", raw_path, b"", headers, path=path, method=method, **options)


async def _collect(communicator: ApplicationCommunicator) -> list[dict[str, Any]]:
    """The messages of one response: up to the body message without more_body."""
    messages = []
    while True:
        message = await communicator.receive_output(5)
        messages.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            return messages


Message = dict[str, Any]


async def _request(app: App, scope: dict[str, Any], *bodies: Message) -> list[Message]:
    communicator = ApplicationCommunicator(app.asgi, scope)
    for body in bodies or ({"type": "http.request", "body": b""},):
        await communicator.send_input(body)
    messages = await _collect(communicator)
    await communicator.wait(5)
    return messages


def _check_well_formed(messages: list[dict[str, Any]]) -> bytes:
    """One start, then body messages, the last one with more_body False; returns the body."""
    assert messages, "the app sent nothing"
    start, *bodies = messages
    assert start["type"] == "http.response.start"
    assert isinstance(start["status"], int)
    for name, value in start["headers"]:
        assert isinstance(name, bytes) and isinstance(value, bytes)
        assert name == name.lower()
    assert bodies, "no http.response.body message"
    for message in bodies:
        assert message["type"] == "http.response.body"
        assert isinstance(message.get("body", b""), bytes)
    for message in bodies[:-1]:
        assert message.get("more_body") is True
    assert bodies[-1].get("more_body", False) is False
    return b"".join(message.get("body", b"") for message in bodies)


def _headers(start: dict[str, Any]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in start["headers"]}


def _echo_app() -> App:
    app = App()
    calls: list[str] = []
    app.state.calls = calls

    @app.post("/echo")
    def echo(req):
        calls.append("echo")
        return {"size": len(req.body), "text": req.text}

    @app.post("/echo-async")
    async def echo_async(req):
        calls.append("echo-async")
        return {"size": len(req.body), "text": req.text}

    @app.post("/stream-in", stream=True)
    async def stream_in(req):
        calls.append("stream-in")
        sizes = [len(chunk) async for chunk in req.stream()]
        return {"chunks": sizes}

    @app.get("/where")
    def where(req):
        return {"path": req.path, "url": req.url, "root_path": req.root_path}

    @app.get("/streamed")
    def streamed(req):
        return Response.stream(iter([b"one ", "two ", b"", b"three"]), content_type="text/plain")

    @app.get("/streamed-async")
    async def streamed_async(req):
        async def gen():
            for part in (b"a", b"b", b"c"):
                await asyncio.sleep(0)
                yield part

        return Response.stream(gen())

    @app.get("/nothing")
    def nothing(req):
        return None

    return app


def test_more_body_chunks_are_reassembled():
    app = _echo_app()
    parts = [b"hello ", b"", b"chunked ", "wörld".encode()]
    bodies = [{"type": "http.request", "body": p, "more_body": True} for p in parts]
    bodies.append({"type": "http.request", "body": b"!", "more_body": False})
    for path in ("/echo", "/echo-async"):
        messages = asyncio.run(_request(app, _scope(path, "POST"), *bodies))
        body = json.loads(_check_well_formed(messages))
        assert messages[0]["status"] == 200
        text = "hello chunked wörld!"
        assert body == {"size": len(text.encode()), "text": text}


def test_more_body_chunks_reach_a_streaming_handler_one_by_one():
    app = _echo_app()
    bodies = [{"type": "http.request", "body": b"x" * n, "more_body": True} for n in (3, 5, 7)]
    bodies.append({"type": "http.request", "body": b"", "more_body": False})
    messages = asyncio.run(_request(app, _scope("/stream-in", "POST"), *bodies))
    assert json.loads(_check_well_formed(messages)) == {"chunks": [3, 5, 7]}


def test_missing_body_key_and_no_more_body_key_mean_empty_and_done():
    app = _echo_app()
    messages = asyncio.run(_request(app, _scope("/echo", "POST"), {"type": "http.request"}))
    assert json.loads(_check_well_formed(messages)) == {"size": 0, "text": ""}


@pytest.mark.parametrize("path", ["/echo", "/echo-async", "/stream-in"])
def test_disconnect_before_the_body_completes(path, caplog):
    app = _echo_app()

    async def run() -> list[dict[str, Any]]:
        communicator = ApplicationCommunicator(app.asgi, _scope(path, "POST"))
        partial = {"type": "http.request", "body": b"partial", "more_body": True}
        await communicator.send_input(partial)
        await communicator.send_input({"type": "http.disconnect"})
        await communicator.wait(5)  # returns normally: no exception escapes the app
        messages = []
        while not communicator.output_queue.empty():
            messages.append(communicator.output_queue.get_nowait())
        return messages

    messages = asyncio.run(run())
    # The body was never complete, so a pre-reading handler never ran; nobody to answer.
    if path != "/stream-in":
        assert app.state.calls == []
    assert messages == []
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_app_still_serves_after_a_disconnect():
    app = _echo_app()

    async def cut_short() -> None:
        communicator = ApplicationCommunicator(app.asgi, _scope("/echo", "POST"))
        await communicator.send_input({"type": "http.request", "body": b"x", "more_body": True})
        await communicator.send_input({"type": "http.disconnect"})
        await communicator.wait(5)

    asyncio.run(cut_short())
    messages = asyncio.run(
        _request(app, _scope("/echo", "POST"), {"type": "http.request", "body": b"ok"})
    )
    assert json.loads(_check_well_formed(messages)) == {"size": 2, "text": "ok"}


def test_raw_path_with_invalid_utf8_is_400():
    app = _echo_app()
    # Servers decode the path with errors="replace", so 'path' holds U+FFFD;
    # raw_path tells the truth.
    scope = _scope("/where", raw_path=b"/wh%FFere")
    scope["path"] = "/wh\ufffdere"
    messages = asyncio.run(_request(app, scope))
    body = json.loads(_check_well_formed(messages))
    assert messages[0]["status"] == 400
    assert body["status"] == 400
    assert "UTF-8" in body["detail"]
    assert _headers(messages[0])["content-type"] == "application/problem+json"


def test_a_real_replacement_character_is_fine():
    app = App()

    @app.get("/{word}")
    def word(req, word):
        return word

    scope = _scope("/a\ufffdb", raw_path=b"/a%EF%BF%BDb")
    messages = asyncio.run(_request(app, scope))
    assert messages[0]["status"] == 200
    assert _check_well_formed(messages).decode() == "a\ufffdb"


def test_raw_path_percent_encoding_is_decoded_once():
    app = App()

    @app.get("/files/{name}")
    def file(req, name):
        return name

    scope = _scope("/files/a b%2Fc", raw_path=b"/files/a%20b%252Fc")
    messages = asyncio.run(_request(app, scope))
    assert messages[0]["status"] == 200
    assert _check_well_formed(messages) == b"a b%2Fc"


@pytest.mark.parametrize(
    ("path", "root_path", "routed"),
    [
        ("/api/where", "/api", "/where"),  # ASGI: path includes root_path; stripped for routing
        ("/api", "/api", "/"),
        ("/where", "/api", "/where"),  # older servers leave it out of path: used as is
        ("/api/where", "/api/", "/where"),
    ],
)
def test_root_path(path, root_path, routed):
    app = App()

    @app.get("/where")
    def where(req):
        return {"path": req.path, "url": req.url, "root_path": req.root_path}

    @app.get("/")
    def index(req):
        return {"path": req.path, "url": req.url, "root_path": req.root_path}

    messages = asyncio.run(_request(app, _scope(path, root_path=root_path)))
    assert messages[0]["status"] == 200
    body = json.loads(_check_well_formed(messages))
    assert body["path"] == routed
    assert body["root_path"] == "/api"
    assert body["url"] == "http://example.org/api" + routed


def test_root_path_only_on_a_segment_boundary():
    app = App()

    @app.get("/apiary")
    def apiary(req):
        return req.path

    messages = asyncio.run(_request(app, _scope("/apiary", root_path="/api")))
    assert messages[0]["status"] == 200
    assert _check_well_formed(messages) == b"/apiary"


def test_root_path_in_trailing_slash_redirect():
    app = App()

    @app.get("/docs")
    def docs(req):
        return "docs"

    messages = asyncio.run(_request(app, _scope("/app/docs/", root_path="/app")))
    assert messages[0]["status"] == 308
    assert _headers(messages[0])["location"] == "/app/docs"
    _check_well_formed(messages)


@pytest.mark.parametrize("path", ["/where", "/nothing", "/missing", "/streamed", "/streamed-async"])
def test_response_messages_are_well_formed(path):
    messages = asyncio.run(_request(_echo_app(), _scope(path)))
    body = _check_well_formed(messages)
    status = messages[0]["status"]
    headers = _headers(messages[0])
    if path == "/nothing":
        assert status == 204 and body == b""
        assert "content-length" not in headers
    elif path == "/missing":
        assert status == 404
        assert int(headers["content-length"]) == len(body)
    elif path == "/streamed":
        assert body == b"one two three"
        assert len(messages) >= 3  # really streamed, not buffered into one message
        assert "content-length" not in headers
    elif path == "/streamed-async":
        assert body == b"abc"
    else:
        assert int(headers["content-length"]) == len(body)
        assert json.loads(body)["url"] == "http://example.org/where"


def test_head_sends_headers_and_an_empty_body():
    messages = asyncio.run(_request(_echo_app(), _scope("/where", "HEAD")))
    assert _check_well_formed(messages) == b""
    get = asyncio.run(_request(_echo_app(), _scope("/where")))
    assert _headers(messages[0])["content-length"] == _headers(get[0])["content-length"]


def test_scope_client_and_server():
    app = App()

    @app.get("/peer")
    def peer(req):
        return {"client": req.client, "host": req.host, "scheme": req.scheme}

    scope = _scope("/peer", headers=[], scheme="https", server=("srv.local", 8443))
    body = json.loads(_check_well_formed(asyncio.run(_request(app, scope))))
    assert body == {"client": ["10.0.0.1", 4321], "host": "srv.local:8443", "scheme": "https"}
    scope = _scope("/peer", headers=[], client=None, server=None)
    body = json.loads(_check_well_formed(asyncio.run(_request(app, scope))))
    assert body == {"client": None, "host": "localhost", "scheme": "http"}


# -- cookies split over several headers ---------------------------------------------


def test_cookies_split_over_several_headers_under_asgi():
    # HTTP/2 and 3 clients may send one cookie per header (RFC 9113 8.2.3); only
    # ASGI servers can pass those on separately (WSGI has one HTTP_COOKIE).
    app = App()

    @app.get("/")
    def cookies(req):
        return req.cookies

    client = TestClient(app, "asgi")
    split = [("Cookie", "a=1; b=2"), ("Cookie", "c=3"), ("Cookie", "a=9")]
    response = client.get("/", headers=split)
    assert response.json() == {"a": "1", "b": "2", "c": "3"}


# -- the lifespan protocol ----------------------------------------------------------


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
    sent = asyncio.run(_lifespan_messages(hooks_app(log), "lifespan.startup", "lifespan.shutdown"))
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
