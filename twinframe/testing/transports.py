"""httpx transports that hand requests straight to a WSGI or an ASGI app (no sockets)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.validate import validator

import httpx

from .portal import AppCall, ASGIApp, Message, Portal
from .scope import BODY_CHUNK, asgi_scope, server_address, split_target, wsgi_environ

DEFAULT_APP_TIMEOUT = 30.0
"""Seconds the ASGI side waits for the app's next message before failing the test."""


class _ChunkStream(httpx.SyncByteStream):
    def __init__(self, chunks: Iterator[bytes], on_close: Callable[[], None]) -> None:
        self._chunks = chunks
        self._on_close = on_close

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks

    def close(self) -> None:
        self._on_close()


def _streamed_upload(request: httpx.Request) -> Iterator[bytes] | None:
    """The body's chunks when the test sends a generator or a multipart stream, else None.

    Such bodies are handed to the app as they are produced, like a real server
    does, so streaming-upload handlers can be tested chunk by chunk and an app
    that refuses a body early never pulls the rest of it.
    """
    if isinstance(request.stream, httpx.ByteStream):
        return None
    return iter(request.stream)  # type: ignore[arg-type]


class _UploadInput:
    """``wsgi.input`` over a streamed upload: reads pull chunks from the test's generator."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = bytearray()
        self._done = False

    def _fill(self, size: int) -> None:
        while not self._done and (size < 0 or len(self._buffer) < size):
            chunk = next(self._chunks, None)
            if chunk is None:
                self._done = True
            else:
                self._buffer += chunk

    def read(self, size: int = -1) -> bytes:
        self._fill(size if size is not None else -1)
        if size is None or size < 0:
            size = len(self._buffer)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def readline(self, size: int = -1) -> bytes:
        while b"\n" not in self._buffer and not self._done:
            self._fill(len(self._buffer) + 1)
        end = self._buffer.find(b"\n") + 1 or len(self._buffer)
        if size is not None and size >= 0:
            end = min(end, size)
        return self.read(end)

    def readlines(self, hint: int = -1) -> list[bytes]:
        return list(iter(self.readline, b""))

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")


class WSGITransport(httpx.BaseTransport):
    """An httpx transport that calls a WSGI app (wrapped in ``wsgiref.validate``)."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], validate: bool = True) -> None:
        self.app = validator(wsgi_app) if validate else wsgi_app

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        upload = _streamed_upload(request)
        wsgi_input = _UploadInput(upload) if upload is not None else io.BytesIO(request.read())
        environ = wsgi_environ(request, wsgi_input)
        started: dict[str, Any] = {}

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            started["status"] = int(status.split(" ", 1)[0])
            started["headers"] = headers
            return lambda data: None

        result = self.app(environ, start_response)
        iterator = iter(result)
        first: list[bytes] = []
        try:
            if "status" not in started:  # a generator app starts the response on first next()
                first.append(next(iterator))
        except StopIteration:
            pass

        def chunks() -> Iterator[bytes]:
            yield from first
            yield from iterator

        def close() -> None:
            close_result = getattr(result, "close", None)
            if close_result is not None:
                close_result()

        return httpx.Response(
            started["status"], headers=started["headers"], stream=_ChunkStream(chunks(), close)
        )


class ASGITransport(httpx.BaseTransport):
    """An httpx transport that runs an ASGI app on a background loop and streams its response.

    ``timeout`` bounds each wait for the app (its response start, each body
    message, its return after the response is closed): an app that never
    answers fails the test with a ``TimeoutError`` instead of hanging it.
    """

    def __init__(
        self, asgi_app: ASGIApp, portal: Portal, timeout: float = DEFAULT_APP_TIMEOUT
    ) -> None:
        self.app = asgi_app
        self.portal = portal
        self.timeout = timeout

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        upload = _streamed_upload(request)
        body = request.read() if upload is None else b""
        raw_path, query = split_target(request.url)
        scope = asgi_scope(
            "http",
            raw_path,
            query,
            list(request.headers.raw),
            method=request.method,
            scheme=request.url.scheme,
            server=server_address(request.url),
        )
        loop = self.portal.loop
        disconnected = asyncio.Event()
        pieces = [body[i : i + BODY_CHUNK] for i in range(0, len(body), BODY_CHUNK)] or [b""]

        async def receive() -> Message:
            if upload is not None and pieces:
                # Pull the test's generator in a worker thread: it may block.
                chunk = await loop.run_in_executor(None, next, upload, None)
                if chunk is None:
                    pieces.clear()
                    return {"type": "http.request", "body": b"", "more_body": False}
                return {"type": "http.request", "body": bytes(chunk), "more_body": True}
            if pieces:
                chunk = pieces.pop(0)
                return {"type": "http.request", "body": chunk, "more_body": bool(pieces)}
            await disconnected.wait()
            return {"type": "http.disconnect"}

        call = AppCall(self.portal, self.app, scope, self.timeout, receive)
        target = f"{request.method} {request.url.path}"

        def disconnect() -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(disconnected.set)

        start = call.next(f"the response to {target}")
        if start is None:
            raise RuntimeError("the ASGI app returned without sending a response")
        if start["type"] != "http.response.start":
            raise RuntimeError(f"the ASGI app sent {start['type']!r} before http.response.start")

        def chunks() -> Iterator[bytes]:
            while True:
                message = call.next(f"the body of {target}")
                if message is None:
                    return
                if message["type"] == "http.response.body":
                    if message.get("body"):
                        yield bytes(message["body"])
                    if not message.get("more_body", False):
                        disconnect()
                        return

        def close() -> None:
            # As an ASGI 2.4 server does once the client has gone: http.disconnect
            # for the next receive(), OSError for any later send().
            call.client_gone = True
            disconnect()
            call.wait(f"the response to {target} was closed")

        return httpx.Response(
            start["status"],
            headers=[(bytes(k), bytes(v)) for k, v in start.get("headers", [])],
            stream=_ChunkStream(chunks(), close),
        )
