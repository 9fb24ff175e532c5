"""WebSocketTestSession: a websocket between a test and ``app.asgi``."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import httpx

from ..websocket import WebSocketDisconnect
from .portal import AppCall, Message
from .scope import asgi_scope, server_address, split_target

if TYPE_CHECKING:
    from . import TestClient


class WebSocketRejected(Exception):
    """The app refused a test client's websocket handshake.

    ``status`` is the HTTP status the client got (403 when the app just closed),
    ``body`` and ``headers`` the refusal response (empty for a plain close).
    """

    def __init__(
        self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}
        detail = body.decode("utf-8", "replace")[:200]
        message = f"websocket handshake rejected with HTTP {status}"
        super().__init__(message + (f": {detail}" if detail else ""))


class WebSocketTestSession:
    """A websocket between a test and ``app.asgi``, made by ``TestClient.websocket_connect``.

    ``send_text/bytes/json`` deliver messages to the handler, ``receive_text/bytes/json``
    return what it sent (``WebSocketDisconnect`` with the code once it closed),
    ``close()`` disconnects and waits for the handler to finish.
    """

    __test__ = False

    def __init__(
        self,
        client: TestClient,
        path: str,
        subprotocols: list[str],
        headers: dict[str, str],
        http_response_extension: bool,
        timeout: float,
    ) -> None:
        self.timeout = timeout
        self.accepted_subprotocol: str | None = None
        self.response_headers: dict[str, str] = {}
        self.close_code: int | None = None
        """The code the app closed with, once it did."""
        self.close_reason = ""
        scope = _websocket_scope(client, path, subprotocols, headers, http_response_extension)
        self._call = AppCall(client.portal, client.app.asgi, scope, timeout)
        self._call.put({"type": "websocket.connect"})
        self._handshake()

    def _next(self) -> Message | None:
        return self._call.next("a message from the websocket handler")

    def _handshake(self) -> None:
        first = self._next()
        if first is None:
            raise RuntimeError("the app returned without accepting or refusing the websocket")
        kind = first["type"]
        if kind == "websocket.accept":
            self.accepted_subprotocol = first.get("subprotocol")
            self.response_headers = _decode_headers(first.get("headers"))
            return
        self._call.client_gone = True
        if kind == "websocket.close":
            self._wait_for_app()
            raise WebSocketRejected(403)
        if kind == "websocket.http.response.start":
            body = b""
            while True:
                message = self._next()
                if message is None or message["type"] != "websocket.http.response.body":
                    break
                body += message.get("body", b"")
                if not message.get("more_body", False):
                    break
            self._wait_for_app()
            headers = _decode_headers(first.get("headers"))
            raise WebSocketRejected(int(first["status"]), body, headers)
        raise RuntimeError(f"the app sent {kind!r} before accepting the websocket")

    def _wait_for_app(self) -> None:
        self._call.wait("the connection closed")

    # -- the test's side of the conversation ---------------------------------------------

    def send_text(self, text: str) -> None:
        """Send a text message to the handler."""
        self._send({"type": "websocket.receive", "text": text})

    def send_bytes(self, data: bytes) -> None:
        """Send a binary message to the handler."""
        self._send({"type": "websocket.receive", "bytes": bytes(data)})

    def send_json(self, value: Any, binary: bool = False) -> None:
        """Send ``value`` as JSON (a text message, or binary with ``binary=True``)."""
        text = json.dumps(value)
        if binary:
            self.send_bytes(text.encode())
        else:
            self.send_text(text)

    def _send(self, message: Message) -> None:
        if self._call.client_gone:
            raise RuntimeError("this websocket session is closed")
        self._call.put(message)

    def receive(self) -> str | bytes:
        """The handler's next message; ``WebSocketDisconnect`` (with its code) once it closed."""
        if self.close_code is not None:
            raise WebSocketDisconnect(self.close_code, self.close_reason)
        message = self._next()
        if message is None:
            raise RuntimeError("the websocket handler returned without closing the socket")
        if message["type"] == "websocket.close":
            self.close_code = int(message.get("code", 1000))
            self.close_reason = message.get("reason") or ""
            raise WebSocketDisconnect(self.close_code, self.close_reason)
        text = message.get("text")
        return text if text is not None else bytes(message.get("bytes") or b"")

    def receive_text(self) -> str:
        """The handler's next message, which must be text."""
        data = self.receive()
        if not isinstance(data, str):
            raise TypeError(f"expected a text message, got binary {data[:40]!r}")
        return data

    def receive_bytes(self) -> bytes:
        """The handler's next message, which must be binary."""
        data = self.receive()
        if not isinstance(data, bytes):
            raise TypeError(f"expected a binary message, got text {data[:40]!r}")
        return data

    def receive_json(self) -> Any:
        """The handler's next message parsed as JSON."""
        return json.loads(self.receive())

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Disconnect (if still open) and wait for the handler to finish."""
        if not self._call.client_gone:
            self._call.client_gone = True
            if self.close_code is None:
                self._call.put({"type": "websocket.disconnect", "code": code, "reason": reason})
        self._wait_for_app()

    def __enter__(self) -> WebSocketTestSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _websocket_scope(
    client: TestClient,
    path: str,
    subprotocols: list[str],
    headers: dict[str, str],
    extension: bool,
) -> dict[str, Any]:
    url: httpx.URL = client.base_url.join(path)
    raw_path, query = split_target(url)
    raw_headers = [
        (b"host", url.netloc or b"testserver"),
        (b"connection", b"upgrade"),
        (b"upgrade", b"websocket"),
        (b"sec-websocket-version", b"13"),
        (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
    ]
    if subprotocols:
        offered = ", ".join(subprotocols).encode("latin-1")
        raw_headers.append((b"sec-websocket-protocol", offered))
    cookies = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    if cookies:
        raw_headers.append((b"cookie", cookies.encode("latin-1")))
    raw_headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    return asgi_scope(
        "websocket",
        raw_path,
        query,
        raw_headers,
        scheme="wss" if url.scheme in ("https", "wss") else "ws",
        server=server_address(url),
        subprotocols=list(subprotocols),
        extensions={"websocket.http.response": {}} if extension else {},
    )


def _decode_headers(raw: Iterable[tuple[bytes, bytes]] | None) -> dict[str, str]:
    return {bytes(k).decode("latin-1"): bytes(v).decode("latin-1") for k, v in raw or ()}
