"""WebSockets on ``app.asgi``: the ``WebSocket`` object handlers receive.

``twinframe.asgi`` builds one per ``websocket`` scope and hands it to the
pipeline (``twinframe.pipeline.dispatch_websocket``), which routes it, runs the
hooks and the handler, and maps errors onto the protocol.

A websocket handler is ``async def handler(ws, **params)`` registered with
``@app.websocket(pattern)``. It calls ``await ws.accept()``, exchanges
messages, and returns (the socket is then closed with 1000). Errors map to
the protocol like this:

- before ``accept()``: closing, raising ``HTTPError`` or any exception rejects
  the handshake (an HTTP status when the server supports the
  ``websocket.http.response`` extension, else 403);
- after ``accept()``: ``WebSocketDataError`` -> close 1003, a too-large
  message -> 1009, ``HTTPError`` 4xx -> 1008, anything else -> 1011 (logged).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from .asgi_connection import ASGIConnection
from .response import Response, check_header, problem_response

if TYPE_CHECKING:
    from .contract import Application
    from .types import Message, Receive, Scope, Send

T = TypeVar("T")
logger = logging.getLogger("twinframe")

# The connection's phases (``ws._phase``); the pipeline reads them too.
CONNECTING, CONNECTED, CLOSED = "connecting", "connected", "closed"
_MAX_REASON_BYTES = 123  # RFC 6455 5.5: a control frame payload is at most 125 bytes


def _sendable_close_code(code: int) -> bool:
    """A code an endpoint may put in a close frame (RFC 6455 7.4.1, 7.4.2; IANA 1012-1014).

    1004 is reserved, 1005/1006/1015 only report what happened locally, and
    1016-2999 are for future RFCs.
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


_HTTP_RESPONSE = "websocket.http.response"


class WebSocketDisconnect(Exception):
    """The connection is over: raised by ``receive_*`` (and ``send_*``) once the client has gone.

    ``code`` is the close code (1000 normal, 1001 going away, 1006 dropped,
    1009 message too big...), ``reason`` the close reason ("" if none).
    """

    def __init__(self, code: int = 1000, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"websocket closed with code {code}" + (f": {reason}" if reason else ""))


class WebSocketDataError(ValueError):
    """A received message is not what the handler asked for (invalid JSON, binary for text).

    The connection stays open, so a handler may catch it and carry on; if the
    handler lets it escape, twinframe closes the socket with 1003 (unsupported data).
    """

    code = 1003


def fit_reason(text: str) -> str:
    """``text`` cut to fit a close frame (at most 123 UTF-8 bytes, "..." marking a cut)."""
    data = text.encode("utf-8")
    if len(data) <= _MAX_REASON_BYTES:
        return text
    return data[: _MAX_REASON_BYTES - 3].decode("utf-8", "ignore") + "..."


class WebSocket(ASGIConnection):
    """One WebSocket connection: path, params, query, headers, cookies, plus messages.

    ``accept()`` first, then ``receive_text/bytes/json`` and ``send_text/bytes/json``
    (or ``async for`` over ``iter_text/iter_bytes/iter_json``); ``close()`` when done.
    A message larger than ``App(max_message_size=...)`` closes the socket with 1009.
    """

    _default_scheme = "ws"
    _rejected = False

    def __init__(self, app: Application, scope: Scope, receive: Receive, send: Send) -> None:
        self.app = app
        self.scope = scope
        self._receive = receive
        self._send = send
        self.params = {}
        self._set_scope_target(scope)
        self._phase = CONNECTING
        self._closed_by_client = False
        self.accepted_subprotocol: str | None = None
        """The subprotocol passed to ``accept()``, or None."""
        self.close_code: int | None = None
        """The close code once the connection is closed (by either side), else None."""
        self.close_reason = ""

    def __repr__(self) -> str:
        return f"<WebSocket {self.path} {self._phase}>"

    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offered (``Sec-WebSocket-Protocol``), in its order."""
        return list(self.scope.get("subprotocols") or ())

    @property
    def accepted(self) -> bool:
        """True once ``accept()`` succeeded (it stays True after close)."""
        return self._phase != CONNECTING and not self._rejected

    @property
    def closed(self) -> bool:
        """True once either side has closed the connection."""
        return self._phase == CLOSED

    # -- handshake ------------------------------------------------------------------

    async def accept(
        self,
        subprotocol: str | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> None:
        """Complete the handshake, choosing ``subprotocol`` (one the client offered) if given.

        ``headers`` are added to the handshake response.
        """
        if self._phase != CONNECTING:
            raise RuntimeError(f"accept() on a websocket that is already {self._phase}")
        if subprotocol is not None and subprotocol not in self.subprotocols:
            raise ValueError(
                f"subprotocol {subprotocol!r} was not offered by the client "
                f"(offered: {self.subprotocols})"
            )
        pairs = headers.items() if isinstance(headers, Mapping) else (headers or ())
        raw_headers = []
        for name, value in pairs:
            check_header(name, value)
            raw_headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        await self._send_or_disconnect(
            {"type": "websocket.accept", "subprotocol": subprotocol, "headers": raw_headers}
        )
        self._phase = CONNECTED
        self.accepted_subprotocol = subprotocol

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection with ``code`` and ``reason`` (at most 123 UTF-8 bytes).

        ``code`` is one a close frame may carry (RFC 6455 7.4): 1000-1003,
        1007-1014, or 3000-4999 for libraries and applications; any other raises
        ``ValueError``. Should the server refuse the code, the connection is closed
        with 1000 and the same reason instead (logged as a warning).
        Before ``accept()`` this rejects the handshake (the client sees HTTP 403).
        Closing an already closed socket does nothing.
        """
        if len(reason.encode("utf-8")) > _MAX_REASON_BYTES:
            raise ValueError(f"a close reason is at most {_MAX_REASON_BYTES} UTF-8 bytes")
        if not _sendable_close_code(code):
            raise ValueError(
                f"close code {code} cannot be sent: use 1000-1003, 1007-1014 or 3000-4999"
            )
        if self._phase == CLOSED:
            return
        if self._phase == CONNECTING:
            self._rejected = True
        self._phase = CLOSED
        self.close_code, self.close_reason = code, reason
        try:
            try:
                await self._send({"type": "websocket.close", "code": code, "reason": reason})
            except OSError:
                raise
            except Exception as exc:
                if code == 1000:
                    raise
                # A server that takes fewer codes than the spec allows: every server
                # takes 1000, and the reason still says what happened.
                logger.warning(
                    "the server refused websocket close code %d (%r); closing with 1000", code, exc
                )
                self.close_code = 1000
                await self._send({"type": "websocket.close", "code": 1000, "reason": reason})
        except OSError:
            # ASGI 2.4: the server raises an OSError once the client has gone; the
            # socket is closed either way.
            self._closed_by_client = True

    async def _reject(
        self, status: int, detail: str | None, headers: Mapping[str, str] | None
    ) -> None:
        """Refuse the handshake with an HTTP status where the server lets us, else close (403)."""
        await self._reject_with(problem_response(status, detail, headers, self._header("accept")))

    async def _reject_with(self, response: Response) -> None:
        if _HTTP_RESPONSE not in (self.scope.get("extensions") or {}):
            await self.close()
            return
        if response.body_stream is not None:
            raise TypeError("a websocket handshake can only be refused with a fixed-body Response")
        header_list = response.header_list()
        self._rejected = True
        self._phase = CLOSED
        self.close_code = 1000
        start: Message = {
            "type": "websocket.http.response.start",
            "status": response.status,
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in header_list],
        }
        try:
            await self._send(start)
            await self._send({"type": "websocket.http.response.body", "body": response.body})
        except OSError:
            self._closed_by_client = True

    # -- receiving --------------------------------------------------------------------

    async def receive(self) -> str | bytes:
        """The next message: ``str`` for a text frame, ``bytes`` for a binary one.

        Raises ``WebSocketDisconnect`` when the connection is (or gets) closed.
        """
        if self._phase == CONNECTING:
            raise RuntimeError("call await ws.accept() before receiving")
        if self._phase == CLOSED:
            raise WebSocketDisconnect(self.close_code or 1005, self.close_reason)
        message = await self._receive()
        kind = message["type"]
        if kind == "websocket.receive":
            text = message.get("text")
            data: str | bytes = text if text is not None else (message.get("bytes") or b"")
            limit = self.app.max_message_size
            if len(data) > limit // 4 and _size(data) > limit:
                reason = f"message larger than {limit} bytes"
                await self.close(1009, reason)
                raise WebSocketDisconnect(1009, reason)
            return data
        if kind == "websocket.disconnect":
            self._phase = CLOSED
            self._closed_by_client = True
            self.close_code = int(message.get("code") or 1005)
            self.close_reason = message.get("reason") or ""
            raise WebSocketDisconnect(self.close_code, self.close_reason)
        raise RuntimeError(f"unexpected ASGI message {kind!r} on an open websocket")

    async def receive_text(self) -> str:
        """The next message as text; ``WebSocketDataError`` if the client sent binary."""
        data = await self.receive()
        if not isinstance(data, str):
            raise WebSocketDataError("expected a text message, got a binary one")
        return data

    async def receive_bytes(self) -> bytes:
        """The next message as bytes; ``WebSocketDataError`` if the client sent text."""
        data = await self.receive()
        if not isinstance(data, bytes):
            raise WebSocketDataError("expected a binary message, got a text one")
        return data

    async def receive_json(self) -> Any:
        """The next message (text, or UTF-8 binary) parsed as JSON.

        Invalid JSON raises ``WebSocketDataError``: catch it to answer the client
        and keep going; left uncaught, it closes the socket with 1003.
        """
        data = await self.receive()
        try:
            return json.loads(data)
        except RecursionError:
            raise WebSocketDataError("JSON message is nested too deeply") from None
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise WebSocketDataError(f"invalid JSON message: {exc}") from None

    def iter_text(self) -> AsyncIterator[str]:
        """``async for text in ws.iter_text()``: messages until the client disconnects."""
        return _until_client_leaves(self.receive_text)

    def iter_bytes(self) -> AsyncIterator[bytes]:
        """``async for data in ws.iter_bytes()``: messages until the client disconnects."""
        return _until_client_leaves(self.receive_bytes)

    def iter_json(self) -> AsyncIterator[Any]:
        """``async for value in ws.iter_json()``: parsed messages until the client disconnects."""
        return _until_client_leaves(self.receive_json)

    # -- sending ----------------------------------------------------------------------

    async def send_text(self, text: str) -> None:
        """Send a text message."""
        if not isinstance(text, str):
            raise TypeError(f"send_text() takes a str, not {type(text).__name__}")
        await self._send_message({"type": "websocket.send", "text": text})

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"send_bytes() takes bytes, not {type(data).__name__}")
        await self._send_message({"type": "websocket.send", "bytes": bytes(data)})

    async def send_json(self, value: Any) -> None:
        """Send ``value`` as a JSON text message."""
        await self.send_text(json.dumps(value, separators=(",", ":")))

    async def _send_message(self, message: Message) -> None:
        if self._phase == CONNECTING:
            raise RuntimeError("call await ws.accept() before sending")
        if self._phase == CLOSED:
            if self._closed_by_client:
                raise WebSocketDisconnect(self.close_code or 1006, self.close_reason)
            raise RuntimeError(
                f"cannot send: this websocket was already closed (code {self.close_code})"
            )
        await self._send_or_disconnect(message)

    async def _send_or_disconnect(self, message: Message) -> None:
        try:
            await self._send(message)
        except OSError as exc:
            self._phase = CLOSED
            self._closed_by_client = True
            self.close_code = self.close_code or 1006
            raise WebSocketDisconnect(self.close_code, self.close_reason) from exc


async def _until_client_leaves(receive: Callable[[], Awaitable[T]]) -> AsyncIterator[T]:
    try:
        while True:
            yield await receive()
    except WebSocketDisconnect:
        return


def _size(data: str | bytes) -> int:
    return len(data.encode("utf-8")) if isinstance(data, str) else len(data)
