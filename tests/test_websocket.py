"""WebSockets on app.asgi through the TestClient (real servers: servers/test_ws_servers.py)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator

import pytest

from twinframe import App, Forbidden, HTTPError, Response, Router, WebSocket, WebSocketDisconnect
from twinframe.testing import TestClient, WebSocketRejected
from twinframe.testing.scope import asgi_scope
from twinframe.websocket import WebSocketDataError


@pytest.fixture
def clients() -> Iterator[list[TestClient]]:
    made: list[TestClient] = []
    yield made
    for client in made:
        client.close()


def connect_client(clients: list[TestClient], app: App) -> TestClient:
    client = TestClient(app, "asgi")
    clients.append(client)
    return client


def chat_app() -> App:
    app = App()

    @app.websocket("/ws/{room}")
    async def chat(ws: WebSocket, room: str) -> None:
        await ws.accept()
        async for text in ws.iter_text():
            await ws.send_text(f"{room}: {text}")

    @app.websocket("/json")
    async def json_echo(ws: WebSocket) -> None:
        await ws.accept()
        async for value in ws.iter_json():
            await ws.send_json({"got": value})

    @app.websocket("/bytes")
    async def bytes_echo(ws: WebSocket) -> None:
        await ws.accept()
        async for data in ws.iter_bytes():
            await ws.send_bytes(data[::-1])

    return app


def test_text_echo_with_path_param(clients):
    client = connect_client(clients, chat_app())
    with client.websocket_connect("/ws/lobby") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "lobby: hi"
        ws.send_text("again")
        assert ws.receive_text() == "lobby: again"


def test_json_and_binary(clients):
    client = connect_client(clients, chat_app())
    with client.websocket_connect("/json") as ws:
        ws.send_json({"a": [1, 2]})
        assert ws.receive_json() == {"got": {"a": [1, 2]}}
        ws.send_json([1, "x"], binary=True)  # JSON in a binary frame is read too
        assert ws.receive_json() == {"got": [1, "x"]}
    with client.websocket_connect("/bytes") as ws:
        ws.send_bytes(b"\x00\x01\xff")
        assert ws.receive_bytes() == b"\xff\x01\x00"


def test_empty_messages_arrive_empty(clients):
    client = connect_client(clients, chat_app())
    with client.websocket_connect("/bytes") as ws:
        ws.send_bytes(b"")
        assert ws.receive_bytes() == b""
    with client.websocket_connect("/ws/r") as ws:
        ws.send_text("")
        assert ws.receive_text() == "r: "


def test_connection_attributes_and_subprotocol(clients):
    app = App()
    seen: dict[str, object] = {}

    @app.websocket("/info/{n:d}", name="info")
    async def info(ws: WebSocket, n: int) -> None:
        seen.update(
            path=ws.path,
            params=ws.params,
            query=ws.query.get("q"),
            header=ws.headers.get("x-token"),
            cookie=ws.cookies.get("sid"),
            client=ws.client,
            url=ws.url,
            offered=ws.subprotocols,
            app=ws.app is app,
            url_for=ws.url_for("info", n=5),
        )
        ws.state.user = "ann"
        await ws.accept(subprotocol="chat.v2", headers={"X-Server": "twin"})
        await ws.send_json({"user": ws.state.user, "n": n})
        await ws.close()

    client = connect_client(clients, app)
    client.cookies.set("sid", "abc")
    ws = client.websocket_connect(
        "/info/7?q=%C3%A9", subprotocols=["chat.v1", "chat.v2"], headers={"X-Token": "t0k"}
    )
    with ws:
        assert ws.accepted_subprotocol == "chat.v2"
        assert ws.response_headers["x-server"] == "twin"
        assert ws.receive_json() == {"user": "ann", "n": 7}
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1000
    assert seen == {
        "path": "/info/7",
        "params": {"n": 7},
        "query": "é",
        "header": "t0k",
        "cookie": "abc",
        "client": ("127.0.0.1", 50000),
        "url": "ws://testserver/info/7?q=%C3%A9",
        "offered": ["chat.v1", "chat.v2"],
        "app": True,
        "url_for": "/info/5",
    }


def test_accepting_a_subprotocol_the_client_did_not_offer_is_an_error(clients, caplog):
    app = App()

    @app.websocket("/")
    async def handler(ws: WebSocket) -> None:
        await ws.accept(subprotocol="nope")

    client = connect_client(clients, app)
    with caplog.at_level(logging.ERROR, "twinframe"), pytest.raises(WebSocketRejected) as rejected:
        client.websocket_connect("/", subprotocols=["chat"])
    assert rejected.value.status == 500
    assert "was not offered by the client" in caplog.text


def test_client_disconnect_raises_in_receive_and_stops_iterators(clients):
    app = App()
    events: list[object] = []

    @app.websocket("/recv")
    async def recv(ws: WebSocket) -> None:
        await ws.accept()
        try:
            await ws.receive_text()
        except WebSocketDisconnect as exc:
            events.append(("disconnect", exc.code, exc.reason))
            # Sending to a client that has gone is a clear error, never a hang.
            with pytest.raises(WebSocketDisconnect):
                await ws.send_text("anyone?")
            events.append("send refused")

    @app.websocket("/iter")
    async def iterate(ws: WebSocket) -> None:
        await ws.accept()
        async for text in ws.iter_text():
            events.append(text)
        events.append("loop ended")

    client = connect_client(clients, app)
    with client.websocket_connect("/recv") as ws:
        ws.close(1001, "bye")
    with client.websocket_connect("/iter") as ws:
        ws.send_text("one")
        ws.send_text("two")
    assert events == [("disconnect", 1001, "bye"), "send refused", "one", "two", "loop ended"]


def test_send_after_the_handler_closed_is_a_clear_error(clients):
    app = App()
    errors: list[str] = []

    @app.websocket("/")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await ws.close(4000, "done")
        await ws.close()  # closing twice is harmless
        try:
            await ws.send_text("late")
        except RuntimeError as exc:
            errors.append(str(exc))
        with pytest.raises(WebSocketDisconnect):
            await ws.receive_text()

    client = connect_client(clients, app)
    with client.websocket_connect("/") as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert (closed.value.code, closed.value.reason) == (4000, "done")
    assert errors == ["cannot send: this websocket was already closed (code 4000)"]


def test_sending_or_receiving_before_accept_is_an_error(clients):
    app = App()
    errors: list[str] = []

    @app.websocket("/")
    async def handler(ws: WebSocket) -> None:
        for call in (ws.send_text("x"), ws.receive_text()):
            try:
                await call
            except RuntimeError as exc:
                errors.append(str(exc))
        await ws.accept()
        try:
            await ws.accept()
        except RuntimeError as exc:
            errors.append(str(exc))
        await ws.close()

    client = connect_client(clients, app)
    with client.websocket_connect("/"):
        pass
    assert errors == [
        "call await ws.accept() before sending",
        "call await ws.accept() before receiving",
        "accept() on a websocket that is already connected",
    ]


@pytest.mark.parametrize("extension", [True, False])
def test_refusing_the_handshake(clients, extension):
    app = App()

    @app.websocket("/closed")
    async def closed(ws: WebSocket) -> None:
        await ws.close()

    @app.websocket("/teapot")
    async def teapot(ws: WebSocket) -> None:
        raise HTTPError(418, "short and stout", headers={"X-Why": "tea"})

    @app.websocket("/forgot")
    async def forgot(ws: WebSocket) -> None:
        return None  # neither accepted nor closed: refused

    client = connect_client(clients, app)

    def refusal(path: str) -> WebSocketRejected:
        with pytest.raises(WebSocketRejected) as rejected:
            client.websocket_connect(path, http_response_extension=extension)
        return rejected.value

    assert refusal("/closed").status == 403
    assert refusal("/forgot").status == 403
    teapot_refusal = refusal("/teapot")
    missing = refusal("/nowhere")
    if extension:
        assert teapot_refusal.status == 418
        assert teapot_refusal.headers["x-why"] == "tea"
        assert teapot_refusal.headers["content-type"] == "application/problem+json"
        assert json.loads(teapot_refusal.body)["detail"] == "short and stout"
        assert missing.status == 404
    else:  # the server can only say 403
        assert teapot_refusal.status == 403
        assert missing.status == 403


def test_an_http_route_is_not_a_websocket_route(clients):
    app = App()

    @app.get("/page")
    def page(req):
        return "page"

    client = connect_client(clients, app)
    with pytest.raises(WebSocketRejected) as rejected:
        client.websocket_connect("/page")
    assert rejected.value.status == 404


def test_unhandled_exception_closes_1011_logs_and_spares_other_connections(clients, caplog):
    app = App()

    @app.websocket("/boom")
    async def boom(ws: WebSocket) -> None:
        await ws.accept()
        await ws.receive_text()
        raise ValueError("kaput")

    @app.websocket("/echo")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        async for text in ws.iter_text():
            await ws.send_text(text)

    client = connect_client(clients, app)
    with caplog.at_level(logging.ERROR, "twinframe"):
        healthy = client.websocket_connect("/echo")
        doomed = client.websocket_connect("/boom")
        with healthy, doomed:
            doomed.send_text("go")
            with pytest.raises(WebSocketDisconnect) as closed:
                doomed.receive_text()
            assert closed.value.code == 1011
            healthy.send_text("still here")
            assert healthy.receive_text() == "still here"
    assert "unhandled exception in websocket handler for /boom" in caplog.text
    assert "ValueError: kaput" in caplog.text
    assert "kaput" not in closed.value.reason  # nothing internal reaches the client


def test_exception_before_accept_refuses_with_500(clients, caplog):
    app = App()

    @app.websocket("/")
    async def handler(ws: WebSocket) -> None:
        raise KeyError("secret")

    client = connect_client(clients, app)
    with caplog.at_level(logging.ERROR, "twinframe"), pytest.raises(WebSocketRejected) as rejected:
        client.websocket_connect("/")
    assert rejected.value.status == 500
    assert b"secret" not in rejected.value.body
    assert "KeyError: 'secret'" in caplog.text


def test_http_error_after_accept_closes_1008(clients):
    app = App()

    @app.websocket("/")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        raise Forbidden("not in this room")

    client = connect_client(clients, app)
    with client.websocket_connect("/") as ws, pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_text()
    assert (closed.value.code, closed.value.reason) == (1008, "not in this room")


def test_invalid_json_is_catchable_and_closes_1003_when_not_caught(clients):
    app = App()

    @app.websocket("/lenient")
    async def lenient(ws: WebSocket) -> None:
        await ws.accept()
        while True:
            try:
                value = await ws.receive_json()
            except WebSocketDataError as exc:
                await ws.send_json({"error": str(exc)})
                continue
            except WebSocketDisconnect:
                return
            await ws.send_json({"ok": value})

    @app.websocket("/strict")
    async def strict(ws: WebSocket) -> None:
        await ws.accept()
        async for value in ws.iter_json():
            await ws.send_json(value)

    client = connect_client(clients, app)
    with client.websocket_connect("/lenient") as ws:
        ws.send_text("{oops")
        assert ws.receive_json()["error"].startswith("invalid JSON message")
        ws.send_bytes(b"\xff\xfe")
        assert ws.receive_json()["error"].startswith("invalid JSON message")
        ws.send_text("[1]")
        assert ws.receive_json() == {"ok": [1]}
    with client.websocket_connect("/strict") as ws:
        ws.send_text("1")
        assert ws.receive_json() == 1
        ws.send_text("not json")
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1003
        assert closed.value.reason.startswith("invalid JSON message")


def test_wrong_frame_type_closes_1003(clients):
    client = connect_client(clients, chat_app())
    with client.websocket_connect("/ws/r") as ws:
        ws.send_bytes(b"binary where text was expected")
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1003
        # The reason reaches the client: it says what was wrong, word for word.
        assert closed.value.reason == "expected a text message, got a binary one"


@pytest.mark.parametrize("frame", ["text", "bytes"])
def test_message_over_max_message_size_closes_1009(clients, frame):
    app = App(max_message_size=1000)

    @app.websocket("/")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        async for data in ws.iter_bytes() if frame == "bytes" else ws.iter_text():
            await ws.send_text(str(len(data)))

    client = connect_client(clients, app)
    with client.websocket_connect("/") as ws:
        send = ws.send_bytes if frame == "bytes" else ws.send_text
        send(b"x" * 1000 if frame == "bytes" else "é" * 500)  # exactly at the limit (in bytes)
        # The limit counts bytes; the handler reports len() of what it got.
        assert ws.receive_text() == ("1000" if frame == "bytes" else "500")
        send(b"x" * 1001 if frame == "bytes" else "é" * 501)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1009


def test_default_max_message_size_is_one_mib():
    assert App().max_message_size == 1024 * 1024


def test_before_websocket_hooks_authorize(clients):
    app = App()

    @app.before_websocket
    def require_token(ws: WebSocket) -> None:  # sync hooks run in the thread pool
        if ws.query.get("token") != "good":
            raise HTTPError(401, "token required")
        ws.state.user = "ann"

    @app.before_websocket
    async def banned_rooms(ws: WebSocket) -> Response | None:
        if ws.params.get("room") == "vault":
            return Response.text("no entry", status=451)
        if ws.params.get("room") == "attic":
            await ws.close()
        return None

    @app.websocket("/rooms/{room}")
    async def room(ws: WebSocket, room: str) -> None:
        await ws.accept()
        await ws.send_text(f"{ws.state.user} in {room}")
        await ws.close()

    client = connect_client(clients, app)
    with client.websocket_connect("/rooms/hall?token=good") as ws:
        assert ws.receive_text() == "ann in hall"
    with pytest.raises(WebSocketRejected) as rejected:
        client.websocket_connect("/rooms/hall?token=bad")
    assert rejected.value.status == 401
    with pytest.raises(WebSocketRejected) as rejected:
        client.websocket_connect("/rooms/vault?token=good")
    assert (rejected.value.status, rejected.value.body) == (451, b"no entry")
    with pytest.raises(WebSocketRejected) as rejected:
        client.websocket_connect("/rooms/attic?token=good")
    assert rejected.value.status == 403


def test_websocket_routes_on_router_with_prefix_and_url_for(clients):
    router = Router()

    @router.websocket("/feed/{id:d}", name="feed")
    async def feed(ws: WebSocket, id: int) -> None:
        await ws.accept()
        await ws.send_json({"id": id, "type": type(id).__name__})
        await ws.close()

    app = App()
    app.include(router, prefix="/api")
    assert app.url_for("feed", id=3) == "/api/feed/3"
    client = connect_client(clients, app)
    with client.websocket_connect(app.url_for("feed", id=3)) as ws:
        assert ws.receive_json() == {"id": 3, "type": "int"}


def test_sync_websocket_handler_is_refused_at_registration():
    app = App()
    with pytest.raises(TypeError, match="must be 'async def'"):

        @app.websocket("/ws")
        def sync_handler(ws):
            pass


def test_handler_returning_after_accept_closes_1000(clients):
    app = App()

    @app.websocket("/")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text("bye")

    client = connect_client(clients, app)
    with client.websocket_connect("/") as ws:
        assert ws.receive_text() == "bye"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1000


def test_app_state_from_startup_is_visible_in_websocket_handlers():
    app = App()

    @app.on_startup
    async def open_db() -> None:
        app.state.db = {"answer": 42}

    @app.websocket("/")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_json(ws.app.state.db)
        await ws.close()

    with TestClient(app, "asgi") as client, client.websocket_connect("/") as ws:
        assert ws.receive_json() == {"answer": 42}
    client.close()


def test_concurrent_sessions_do_not_cross(clients):
    app = App()

    @app.websocket("/n/{n:d}")
    async def numbered(ws: WebSocket, n: int) -> None:
        await ws.accept()
        async for text in ws.iter_text():
            await asyncio.sleep(0)
            await ws.send_text(f"{n}:{text}")

    client = connect_client(clients, app)
    sessions = [client.websocket_connect(f"/n/{n}") for n in range(20)]
    for round_ in range(3):
        for ws in sessions:
            ws.send_text(str(round_))
        for n, ws in enumerate(sessions):
            assert ws.receive_text() == f"{n}:{round_}"
    for ws in sessions:
        ws.close()


def test_websocket_connect_needs_the_asgi_interface(clients):
    client = TestClient(chat_app(), "wsgi")
    clients.append(client)
    with pytest.raises(RuntimeError, match=r"served by app\.asgi only"):
        client.websocket_connect("/ws/x")


def test_http_request_to_websocket_only_path_is_426(make_client):
    client = make_client(chat_app())
    response = client.get("/ws/lobby")
    assert response.status_code == 426
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "this path accepts WebSocket connections only"
    # Identical on both entrypoints: PEP 3333 forbids the hop-by-hop Upgrade header
    # (docs/websockets.md says why there is none under ASGI either).
    assert "upgrade" not in response.headers
    assert client.post("/json", content=b"{}").status_code == 426


@pytest.mark.parametrize("root_path", ["/api", "/api/"])
def test_root_path_is_normalised_like_http(root_path):
    app = App()
    seen: dict[str, str] = {}

    @app.websocket("/w")
    async def where(ws: WebSocket) -> None:
        seen.update(path=ws.path, root_path=ws.root_path, url=ws.url)
        await ws.close()

    scope = asgi_scope(
        "websocket", b"/api/w", b"", [(b"host", b"h")], scheme="ws", root_path=root_path
    )
    messages = [{"type": "websocket.connect"}]

    async def receive():
        return messages.pop(0) if messages else {"type": "websocket.disconnect", "code": 1000}

    async def send(message):
        pass

    asyncio.run(app.asgi(scope, receive, send))
    assert seen == {"path": "/w", "root_path": "/api", "url": "ws://h/api/w"}


@pytest.mark.parametrize(
    ("scheme", "server", "expected"),
    [
        ("wss", ("example.org", 443), "example.org"),  # wss's default port is left out
        ("wss", ("example.org", 80), "example.org:80"),
        ("ws", ("example.org", 80), "example.org"),  # ws's default is 80, like http
        ("ws", ("example.org", 443), "example.org:443"),
    ],
)
def test_host_without_a_host_header_is_the_servers_address(scheme, server, expected):
    # As for HTTP (tests/test_request.py): with no Host header, ws.host and ws.url
    # name scope["server"], leaving out the scheme's default port.
    app = App()
    seen: dict[str, str] = {}

    @app.websocket("/w")
    async def where(ws: WebSocket) -> None:
        seen.update(host=ws.host, url=ws.url)
        await ws.close()

    scope = asgi_scope("websocket", b"/w", b"", [], scheme=scheme, server=server)
    messages = [{"type": "websocket.connect"}]

    async def receive():
        return messages.pop(0) if messages else {"type": "websocket.disconnect", "code": 1000}

    async def send(message):
        pass

    asyncio.run(app.asgi(scope, receive, send))
    assert seen == {"host": expected, "url": f"{scheme}://{expected}/w"}
