"""Websocket error paths: how each failure maps to a close code or a refused handshake.

The module docstring of ``twinframe.websocket`` states the mapping; each test
here pins one line of it. Most go through the TestClient; the ones that need a
server misbehaving (a send raising ``OSError``) or a raw request target drive
``app.asgi`` directly with ``run_websocket``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from twinframe import App, HTTPError, Response, WebSocket, WebSocketDisconnect
from twinframe.testing import TestClient, WebSocketRejected
from twinframe.testing.scope import asgi_scope
from twinframe.websocket import WebSocketDataError


def connect(app: App) -> TestClient:
    return TestClient(app, "asgi")


def run_websocket(
    app: App,
    raw_path: bytes = b"/",
    incoming: list[dict[str, Any]] | None = None,
    fail_sends: bool = False,
    extension: bool = True,
    fail_types: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """One websocket connection through ``app.asgi``; returns the messages the app sent.

    ``incoming`` follows the connect message (then the client disconnects with
    1000 once the app asks for more). ``fail_sends=True`` plays an ASGI 2.4
    server whose connection has gone: every ``websocket.send`` raises ``OSError``;
    ``fail_types`` names other message types that raise it the same way.
    """
    extensions = {"websocket.http.response": {}} if extension else {}
    scope = asgi_scope("websocket", raw_path, b"", [(b"host", b"h")], scheme="ws")
    scope["extensions"] = extensions
    queue: list[dict[str, Any]] = [{"type": "websocket.connect"}, *(incoming or [])]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return queue.pop(0) if queue else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict[str, Any]) -> None:
        if (fail_sends and message["type"] == "websocket.send") or message["type"] in fail_types:
            raise OSError("connection reset by peer")
        sent.append(message)

    asyncio.run(asyncio.wait_for(app.asgi(scope, receive, send), 10))
    return sent


def closed_with(session: Any) -> tuple[int, str]:
    with pytest.raises(WebSocketDisconnect) as closed:
        session.receive_text()
    return closed.value.code, closed.value.reason


def test_http_error_5xx_after_accept_closes_1011_and_4xx_closes_1008():
    app = App()

    @app.websocket("/{status:d}")
    async def fail(ws: WebSocket, status: int) -> None:
        await ws.accept()
        raise HTTPError(status, f"failed with {status}")

    client = connect(app)
    try:
        for status, code in [(503, 1011), (500, 1011), (409, 1008), (499, 1008)]:
            with client.websocket_connect(f"/{status}") as session:
                assert closed_with(session) == (code, f"failed with {status}")
    finally:
        client.close()


def test_close_reasons_longer_than_123_bytes_are_truncated_on_a_character_boundary():
    app = App()

    @app.websocket("/{kind}")
    async def fail(ws: WebSocket, kind: str) -> None:
        await ws.accept()
        if kind == "ascii":
            raise HTTPError(400, "x" * 300)
        raise HTTPError(503, "x" + "é" * 100)  # 201 UTF-8 bytes

    client = connect(app)
    try:
        with client.websocket_connect("/ascii") as session:
            code, reason = closed_with(session)
        assert code == 1008
        assert reason == "x" * 120 + "..."
        with client.websocket_connect("/utf8") as session:
            code, reason = closed_with(session)
        assert code == 1011
        # 120 bytes would split an "é": the cut keeps whole characters.
        assert reason == "x" + "é" * 59 + "..."
        assert len(reason.encode("utf-8")) <= 123
    finally:
        client.close()


def test_closing_with_a_reason_over_123_bytes_is_an_error_in_the_handler():
    app = App()
    errors: list[str] = []

    @app.websocket("/")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        try:
            await ws.close(4000, "é" * 62)  # 124 bytes
        except ValueError as exc:
            errors.append(str(exc))
        await ws.close(4000, "é" * 61 + "x")  # 123 bytes: allowed

    client = connect(app)
    try:
        with client.websocket_connect("/") as session:
            assert closed_with(session) == (4000, "é" * 61 + "x")
    finally:
        client.close()
    assert errors == ["a close reason is at most 123 UTF-8 bytes"]


@pytest.mark.parametrize("returned", ["yes", 1, {"ok": True}, True])
def test_before_websocket_hook_returning_other_than_none_or_response_is_a_type_error(
    returned, caplog
):
    app = App()
    ran: list[str] = []

    @app.before_websocket
    def hook(ws: WebSocket) -> Any:
        return returned

    @app.websocket("/")
    async def handler(ws: WebSocket) -> None:
        ran.append("handler")
        await ws.accept()

    client = connect(app)
    try:
        with caplog.at_level(logging.ERROR, "twinframe"):
            with pytest.raises(WebSocketRejected) as rejected:
                client.websocket_connect("/")
    finally:
        client.close()
    assert rejected.value.status == 500
    assert ran == []
    assert "TypeError" in caplog.text
    assert f"returned {type(returned).__name__}; return None or a Response" in caplog.text


def test_before_websocket_hook_returning_a_response_after_accept_is_an_error(caplog):
    app = App()

    @app.before_websocket
    async def hook(ws: WebSocket) -> Response:
        await ws.accept()
        return Response.text("too late")

    @app.websocket("/")
    async def handler(ws: WebSocket) -> None:
        await ws.send_text("handler ran")

    client = connect(app)
    try:
        with caplog.at_level(logging.ERROR, "twinframe"):
            with client.websocket_connect("/") as session:
                assert closed_with(session)[0] == 1011
    finally:
        client.close()
    assert "returned a Response after accept()" in caplog.text


@pytest.mark.parametrize("extension", [True, False])
def test_data_error_before_accept_refuses_with_400(extension, caplog):
    app = App()

    @app.before_websocket
    def check_room(ws: WebSocket) -> None:
        if not ws.query.get("room", "").isalnum():
            raise WebSocketDataError("room must be letters and digits")

    @app.websocket("/")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await ws.close()

    client = connect(app)
    try:
        with caplog.at_level(logging.DEBUG, "twinframe"):
            with pytest.raises(WebSocketRejected) as rejected:
                client.websocket_connect("/?room=a;b", http_response_extension=extension)
        with client.websocket_connect("/?room=ab") as session:
            assert closed_with(session)[0] == 1000
    finally:
        client.close()
    if extension:
        assert rejected.value.status == 400
        assert json.loads(rejected.value.body)["detail"] == "room must be letters and digits"
    else:  # a server without the extension can only say 403
        assert rejected.value.status == 403
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize(
    ("raw_path", "status", "detail"),
    [
        (b"/rooms/../admin", 400, "request path has '.' or '..' segments"),
        (b"/rooms/./a", 400, "request path has '.' or '..' segments"),
        (b"/rooms/%zz", 400, "invalid percent-encoding in the request path"),
        (b"/rooms/%e9", 400, "request path is not valid UTF-8"),
        (b"/rooms/" + b"a" * 9000, 414, "request target longer than 8192 characters"),
    ],
)
def test_bad_request_target_on_a_websocket_path_is_refused_not_routed(raw_path, status, detail):
    app = App()
    routed: list[str] = []

    @app.websocket("/{rest:path}")
    async def anything(ws: WebSocket, rest: str) -> None:
        routed.append(rest)
        await ws.accept()
        await ws.close()

    sent = run_websocket(app, raw_path)
    assert routed == []
    assert sent[0]["type"] == "websocket.http.response.start"
    assert sent[0]["status"] == status
    assert json.loads(sent[1]["body"])["detail"] == detail
    # The same app routes a good target.
    assert run_websocket(app, b"/rooms/a")[0]["type"] == "websocket.accept"
    assert routed == ["rooms/a"]


def test_receive_bytes_on_a_text_frame_raises_and_the_connection_stays_open():
    app = App()

    @app.websocket("/")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        try:
            await ws.receive_bytes()
        except WebSocketDataError as exc:
            await ws.send_text(f"error: {exc}")
        await ws.send_bytes(await ws.receive_bytes())
        await ws.receive_bytes()  # text again, not caught: closes 1003

    client = connect(app)
    try:
        with client.websocket_connect("/") as session:
            session.send_text("text, not bytes")
            assert session.receive_text() == "error: expected a binary message, got a text one"
            session.send_bytes(b"\x00bytes")
            assert session.receive_bytes() == b"\x00bytes"
            session.send_text("again")
            assert closed_with(session) == (1003, "expected a binary message, got a text one")
    finally:
        client.close()


def test_a_send_failing_with_oserror_becomes_websocket_disconnect(caplog):
    app = App()
    seen: list[object] = []

    @app.websocket("/")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        try:
            await ws.send_text("hello?")
        except WebSocketDisconnect as exc:
            seen.append(("disconnect", exc.code, exc.reason, ws.closed))
        # Once gone, later sends say so too instead of reaching the server again.
        try:
            await ws.send_bytes(b"again")
        except WebSocketDisconnect as exc:
            seen.append(("again", exc.code))
        await ws.send_text("uncaught")  # escapes the handler: client gone, not an error

    with caplog.at_level(logging.DEBUG, "twinframe"):
        sent = run_websocket(app, fail_sends=True)
    assert seen == [("disconnect", 1006, "", True), ("again", 1006)]
    assert [m["type"] for m in sent] == ["websocket.accept"]  # no close sent to a gone client
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_accepted_and_closed_properties_through_the_life_of_a_connection():
    app = App()
    states: dict[str, list[tuple[bool, bool]]] = {}

    @app.websocket("/talk")
    async def talk(ws: WebSocket) -> None:
        log = states.setdefault("talk", [])
        log.append((ws.accepted, ws.closed))
        await ws.accept()
        log.append((ws.accepted, ws.closed))
        await ws.close()
        log.append((ws.accepted, ws.closed))

    @app.websocket("/refuse")
    async def refuse(ws: WebSocket) -> None:
        await ws.close()
        states["refuse"] = [(ws.accepted, ws.closed)]

    @app.websocket("/client-leaves")
    async def client_leaves(ws: WebSocket) -> None:
        await ws.accept()
        try:
            await ws.receive_text()
        except WebSocketDisconnect:
            states["client-leaves"] = [(ws.accepted, ws.closed)]

    run_websocket(app, b"/talk")
    run_websocket(app, b"/refuse")
    run_websocket(app, b"/client-leaves", [{"type": "websocket.disconnect", "code": 1001}])
    assert states == {
        "talk": [(False, False), (True, False), (True, True)],
        "refuse": [(False, True)],
        "client-leaves": [(True, True)],
    }


# -- close codes: what may be sent, and a server that takes fewer ------------------------


def _refusing_server_run(
    app: App, refused: set[int], incoming: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Like run_websocket, for a server whose ``websocket.close`` raises for ``refused`` codes."""
    scope = asgi_scope("websocket", b"/", b"", [(b"host", b"h")], scheme="ws")
    queue: list[dict[str, Any]] = [{"type": "websocket.connect"}, *incoming]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return queue.pop(0) if queue else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "websocket.close" and message["code"] in refused:
            raise ValueError(f"invalid close code {message['code']}")  # as a strict server might
        sent.append(message)

    asyncio.run(asyncio.wait_for(app.asgi(scope, receive, send), 10))
    return sent


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1011, 1012, 1013, 1014, 3000, 4999])
def test_a_handler_close_code_the_spec_allows_is_sent_as_is(code):
    app = App()

    @app.websocket("/")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await ws.close(code, "bye")

    sent = run_websocket(app)
    assert sent[-1] == {"type": "websocket.close", "code": code, "reason": "bye"}


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 1016, 2999, 5000])
def test_a_close_code_no_close_frame_may_carry_is_a_value_error(code):
    app = App()
    raised: list[BaseException] = []

    @app.websocket("/")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        try:
            await ws.close(code)
        except ValueError as exc:
            raised.append(exc)
            await ws.close(4000, "after the error")

    sent = run_websocket(app)
    assert [str(e) for e in raised] == [
        f"close code {code} cannot be sent: use 1000-1003, 1007-1014 or 3000-4999"
    ]
    assert sent[-1] == {"type": "websocket.close", "code": 4000, "reason": "after the error"}


def test_a_server_refusing_a_close_code_gets_1000_with_the_same_reason(caplog):
    app = App(max_message_size=10)
    seen: list[tuple[int | None, str]] = []

    @app.websocket("/")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        try:
            await ws.receive_text()
        finally:
            seen.append((ws.close_code, ws.close_reason))

    with caplog.at_level(logging.WARNING, "twinframe"):
        # twinframe's own 1009 for a message over max_message_size, refused by the server.
        sent = _refusing_server_run(app, {1009}, [{"type": "websocket.receive", "text": "x" * 11}])
    assert sent[-1] == {
        "type": "websocket.close",
        "code": 1000,
        "reason": "message larger than 10 bytes",
    }
    assert seen == [(1000, "message larger than 10 bytes")]
    assert "the server refused websocket close code 1009" in caplog.text
    assert "invalid close code 1009" in caplog.text


def test_a_server_refusing_1000_too_is_an_error_of_the_server(caplog):
    app = App()

    @app.websocket("/")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await ws.close(1013, "later")

    with caplog.at_level(logging.WARNING, "twinframe"):
        sent = _refusing_server_run(app, {1013, 1000}, [])
    assert [m["type"] for m in sent] == ["websocket.accept"]  # no close it took
    assert "unhandled exception in websocket handler" in caplog.text
    assert "ValueError: invalid close code 1000" in caplog.text


# -- found by mutation testing (CONTRIBUTING.md): codes, reasons and messages -------------


def test_codes_and_reasons_seen_by_the_handler_after_either_side_closed():
    app = App(max_message_size=100)
    seen: dict[str, object] = {}

    @app.websocket("/client-closes")
    async def client_closes(ws: WebSocket) -> None:
        await ws.accept(subprotocol="v2")
        seen["subprotocol"] = ws.accepted_subprotocol
        for step in ("receive", "receive again", "send"):
            try:
                if step == "send":
                    await ws.send_text("anyone?")
                else:
                    await ws.receive_text()
            except WebSocketDisconnect as exc:
                seen[step] = (exc.code, exc.reason)
        seen["state"] = (ws.close_code, ws.close_reason)

    @app.websocket("/no-code")
    async def no_code(ws: WebSocket) -> None:
        await ws.accept()
        try:
            await ws.receive()
        except WebSocketDisconnect as exc:
            seen["no code"] = (exc.code, exc.reason, str(exc))

    @app.websocket("/too-big")
    async def too_big(ws: WebSocket) -> None:
        await ws.accept()
        try:
            await ws.receive_bytes()
        except WebSocketDisconnect as exc:
            seen["too big"] = (exc.code, exc.reason)
        try:
            await ws.receive_bytes()
        except WebSocketDisconnect as exc:
            seen["after too big"] = (exc.code, exc.reason)

    scope_extra = {"subprotocols": ["v1", "v2"]}
    gone = {"type": "websocket.disconnect", "code": 1001, "reason": "bye"}
    scope = asgi_scope("websocket", b"/client-closes", b"", [], scheme="ws", **scope_extra)
    sent: list[dict[str, Any]] = []
    queue: list[dict[str, Any]] = [{"type": "websocket.connect"}, gone]

    async def receive() -> dict[str, Any]:
        return queue.pop(0) if queue else gone

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app.asgi(scope, receive, send))
    assert sent[0] == {"type": "websocket.accept", "subprotocol": "v2", "headers": []}
    run_websocket(app, b"/no-code", [{"type": "websocket.disconnect"}])
    closed = run_websocket(app, b"/too-big", [{"type": "websocket.receive", "bytes": b"x" * 101}])
    assert closed[-1] == {
        "type": "websocket.close",
        "code": 1009,
        "reason": "message larger than 100 bytes",
    }
    assert seen == {
        "subprotocol": "v2",
        "receive": (1001, "bye"),
        "receive again": (1001, "bye"),
        "send": (1001, "bye"),
        "state": (1001, "bye"),
        "no code": (1005, "", "websocket closed with code 1005"),
        "too big": (1009, "message larger than 100 bytes"),
        "after too big": (1009, "message larger than 100 bytes"),
    }


def test_websocket_disconnect_defaults_and_message():
    assert (WebSocketDisconnect().code, WebSocketDisconnect().reason) == (1000, "")
    assert str(WebSocketDisconnect()) == "websocket closed with code 1000"
    assert str(WebSocketDisconnect(4001, "kicked")) == "websocket closed with code 4001: kicked"


def test_sent_messages_are_exact():
    app = App()

    @app.websocket("/")
    async def talk(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_bytes(bytearray(b"\x00raw"))
        await ws.send_json({"a": [1, 2], "b": "é"})
        await ws.close()  # default code and reason

    sent = run_websocket(app)
    assert sent[1:] == [
        {"type": "websocket.send", "bytes": b"\x00raw"},
        {"type": "websocket.send", "text": '{"a":[1,2],"b":"\\u00e9"}'},
        {"type": "websocket.close", "code": 1000, "reason": ""},
    ]


def test_wrong_argument_types_to_send_say_what_was_passed():
    app = App()
    errors: list[str] = []

    @app.websocket("/")
    async def talk(ws: WebSocket) -> None:
        await ws.accept()
        for call in (lambda: ws.send_text(b"bytes"), lambda: ws.send_bytes("text")):
            try:
                await call()
            except TypeError as exc:
                errors.append(str(exc))
        await ws.close()

    run_websocket(app)
    assert errors == ["send_text() takes a str, not bytes", "send_bytes() takes bytes, not str"]


def test_a_reason_of_exactly_123_bytes_is_kept_whole():
    app = App()

    @app.websocket("/")
    async def fail(ws: WebSocket) -> None:
        await ws.accept()
        raise HTTPError(400, "r" * 123)

    sent = run_websocket(app)
    assert sent[-1] == {"type": "websocket.close", "code": 1008, "reason": "r" * 123}


def test_a_refused_handshake_answers_in_the_format_the_client_accepts():
    app = App()

    @app.websocket("/")
    async def refuse(ws: WebSocket) -> None:
        raise HTTPError(403, "members only")

    scope = asgi_scope("websocket", b"/", b"", [(b"accept", b"text/plain")], scheme="ws")
    scope["extensions"] = {"websocket.http.response": {}}
    sent: list[dict[str, Any]] = []
    queue: list[dict[str, Any]] = [{"type": "websocket.connect"}]

    async def receive() -> dict[str, Any]:
        return queue.pop(0) if queue else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app.asgi(scope, receive, send))
    assert sent[0]["status"] == 403
    assert (b"content-type", b"text/plain; charset=utf-8") in sent[0]["headers"]
    assert sent[1]["body"] == b"403 Forbidden: members only\n"


def test_a_hook_refusing_with_a_streamed_response_is_an_error(caplog):
    app = App()

    @app.before_websocket
    def refuse(ws: WebSocket) -> Response:
        return Response.stream(iter([b"no"]))

    @app.websocket("/")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()

    with caplog.at_level(logging.ERROR, "twinframe"):
        sent = run_websocket(app)
    assert sent[0]["status"] == 500
    assert "can only be refused with a fixed-body Response" in caplog.text


def test_nested_json_too_deep_is_a_data_error_with_a_clear_reason():
    app = App()

    @app.websocket("/")
    async def strict(ws: WebSocket) -> None:
        await ws.accept()
        await ws.receive_json()

    sent = run_websocket(app, incoming=[{"type": "websocket.receive", "text": "[" * 100_000}])
    assert sent[-1] == {
        "type": "websocket.close",
        "code": 1003,
        "reason": "JSON message is nested too deeply",
    }


def test_subprotocol_close_code_and_reason_read_none_none_empty_while_open():
    app = App()
    seen: list[tuple[str | None, int | None, str]] = []

    @app.websocket("/")
    async def handler(ws: WebSocket) -> None:
        seen.append((ws.accepted_subprotocol, ws.close_code, ws.close_reason))
        await ws.accept()  # no subprotocol chosen
        seen.append((ws.accepted_subprotocol, ws.close_code, ws.close_reason))
        await ws.close(4000, "done")
        seen.append((ws.accepted_subprotocol, ws.close_code, ws.close_reason))

    run_websocket(app)
    assert seen == [(None, None, ""), (None, None, ""), (None, 4000, "done")]


@pytest.mark.parametrize("code", [1001, 1011, 4000])
def test_a_server_refusing_any_code_but_1000_gets_1000_with_the_same_reason(code, caplog):
    app = App()
    seen: list[tuple[int | None, str]] = []

    @app.websocket("/")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await ws.close(code, "restarting")
        seen.append((ws.close_code, ws.close_reason))

    with caplog.at_level(logging.WARNING, "twinframe"):
        sent = _refusing_server_run(app, {code}, [])
    assert sent[1:] == [{"type": "websocket.close", "code": 1000, "reason": "restarting"}]
    assert seen == [(1000, "restarting")]
    assert f"the server refused websocket close code {code}" in caplog.text


def test_a_send_after_a_close_the_gone_client_never_got_says_the_client_is_gone(caplog):
    app = App()
    seen: list[tuple[int, str]] = []

    @app.websocket("/")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await ws.close(4000, "bye")  # the server raises OSError: the client has gone
        try:
            await ws.send_text("late")  # a client-gone error, not "already closed"
        except WebSocketDisconnect as exc:
            seen.append((exc.code, exc.reason))

    with caplog.at_level(logging.DEBUG, "twinframe"):
        sent = run_websocket(app, fail_types=frozenset({"websocket.close"}))
    assert seen == [(4000, "bye")]
    assert [m["type"] for m in sent] == ["websocket.accept"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("extension", [True, False])
def test_a_refused_handshake_reads_closed_not_accepted_code_1000_and_sends_nothing_more(
    extension,
):
    app = App()
    kept: list[WebSocket] = []

    @app.before_websocket
    def refuse(ws: WebSocket) -> Response:
        kept.append(ws)  # as a registry of connections would
        return Response.text("no entry", status=451)

    @app.websocket("/")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()

    sent = run_websocket(app, extension=extension)
    ws = kept[0]
    # The same on a server with or without the HTTP-response extension.
    assert (ws.accepted, ws.closed, ws.close_code) == (False, True, 1000)
    if extension:  # the HTTP answer and nothing after it (no websocket.close)
        assert [m["type"] for m in sent] == [
            "websocket.http.response.start",
            "websocket.http.response.body",
        ]
        assert (sent[0]["status"], sent[1]["body"]) == (451, b"no entry")
    else:
        assert sent == [{"type": "websocket.close", "code": 1000, "reason": ""}]


def test_a_send_on_a_refusal_the_gone_client_never_got_says_the_client_is_gone():
    app = App()
    kept: list[WebSocket] = []

    @app.before_websocket
    def refuse(ws: WebSocket) -> Response:
        kept.append(ws)
        return Response.text("no entry", status=451)

    @app.websocket("/")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()

    async def broadcast(ws: WebSocket) -> tuple[str, object]:
        try:
            await ws.send_text("news")
        except WebSocketDisconnect as exc:
            return ("gone", exc.code)
        except RuntimeError as exc:
            return ("error", str(exc))
        return ("sent", None)

    run_websocket(app, fail_types=frozenset({"websocket.http.response.start"}))
    assert asyncio.run(broadcast(kept[0])) == ("gone", 1000)
    # When the refusal did reach the client, the same send is the handler's mistake.
    kept.clear()
    run_websocket(app)
    with pytest.raises(RuntimeError, match=r"already closed \(code 1000\)"):
        asyncio.run(kept[0].send_text("news"))


def test_an_unexpected_asgi_message_on_an_open_websocket_closes_1011_naming_it(caplog):
    app = App()

    @app.websocket("/")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await ws.receive_text()

    with caplog.at_level(logging.ERROR, "twinframe"):
        # A misbehaving server sends a second connect message.
        sent = run_websocket(app, incoming=[{"type": "websocket.connect"}])
    assert sent[-1] == {"type": "websocket.close", "code": 1011, "reason": ""}
    assert (
        "RuntimeError: unexpected ASGI message 'websocket.connect' on an open websocket"
        in caplog.text
    )


def test_a_bad_request_target_under_a_mount_is_refused_not_passed_to_the_mounted_app():
    reached: list[str] = []

    async def mounted(scope: dict[str, Any], receive: Any, send: Any) -> None:
        # A plain ASGI app: it does no target checks of its own.
        assert scope["type"] == "websocket"
        await receive()
        reached.append(scope["path"])
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1000})

    app = App()
    app.mount("/sub", mounted, interface="asgi")
    sent = run_websocket(app, b"/sub/%zz")
    assert reached == []
    assert sent[0]["type"] == "websocket.http.response.start"
    assert sent[0]["status"] == 400
    assert json.loads(sent[1]["body"])["detail"] == "invalid percent-encoding in the request path"
    # A good target under the prefix reaches the mounted app.
    assert run_websocket(app, b"/sub/a")[0]["type"] == "websocket.accept"
    assert reached == ["/sub/a"]


def test_a_path_with_no_websocket_route_is_refused_404_saying_so():
    app = App()

    @app.websocket("/chat")
    async def chat(ws: WebSocket) -> None:
        await ws.accept()
        await ws.close()

    sent = run_websocket(app, b"/elsewhere")
    assert sent[0]["type"] == "websocket.http.response.start"
    assert sent[0]["status"] == 404
    assert json.loads(sent[1]["body"])["detail"] == "no websocket route at this path"


def test_hooks_and_the_handler_see_the_matched_route():
    app = App()
    seen: list[tuple[str, str]] = []

    @app.before_websocket
    def hook(ws: WebSocket) -> None:
        seen.append(("hook", ws.route.name))

    @app.websocket("/rooms/{room}", name="room")
    async def room(ws: WebSocket, room: str) -> None:
        seen.append(("handler", ws.route.pattern))
        await ws.accept()
        await ws.close()

    assert run_websocket(app, b"/rooms/a")[0]["type"] == "websocket.accept"
    assert seen == [("hook", "room"), ("handler", "/rooms/{room}")]


def test_the_debug_log_of_a_gone_client_names_the_path_and_the_close_code(caplog):
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await ws.receive_text()  # the client disconnects with 1001

    with caplog.at_level(logging.DEBUG, "twinframe"):
        run_websocket(app, b"/ws", [{"type": "websocket.disconnect", "code": 1001}])
    gone = [r.getMessage() for r in caplog.records if "client gone" in r.getMessage()]
    assert gone == ["websocket /ws: client gone (1001)"]


def test_the_debug_log_of_a_bad_data_close_names_the_path_and_the_reason(caplog):
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        raise WebSocketDataError("room must be letters and digits")

    with caplog.at_level(logging.DEBUG, "twinframe"):
        sent = run_websocket(app, b"/ws")
    assert sent[-1]["type"] == "websocket.close"
    bad = [r.getMessage() for r in caplog.records if "bad data" in r.getMessage()]
    assert bad == ["websocket /ws: closing on bad data: room must be letters and digits"]
