"""TestClient: drive an App through app.wsgi or app.asgi with httpx's request API.

Both interfaces are synchronous for the test author. Responses are streamed
(``client.stream(...)`` yields chunks as the app sends them); WSGI requests go
through ``wsgiref.validate``; the ASGI side runs the app on a background event
loop, so lifespan and websockets behave as under a real server.
"""

from __future__ import annotations

import asyncio
import io
import json
import queue
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from concurrent.futures import Future
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import unquote, unquote_to_bytes
from wsgiref.validate import validator

import httpx

from .websocket import WebSocketDisconnect

if TYPE_CHECKING:
    from .app import App

T = TypeVar("T")
Interface = Literal["wsgi", "asgi"]


class _Portal:
    """An event loop on a background thread, for running ASGI code from sync tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="twinframe-testclient", daemon=True
        )
        self._thread.start()

    def submit(self, coroutine: Awaitable[T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(_wrap(coroutine), self.loop)

    def call(self, coroutine: Awaitable[T], timeout: float | None = None) -> T:
        return self.submit(coroutine).result(timeout)

    def close(self) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.loop.shutdown_asyncgens()

        if self.loop.is_running():
            try:
                self.call(cancel_all(), timeout=5)
            except Exception:
                pass
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
        self.loop.close()


async def _wrap(awaitable: Awaitable[T]) -> T:
    return await awaitable


class _ChunkStream(httpx.SyncByteStream):
    def __init__(self, chunks: Iterator[bytes], on_close: Callable[[], None]) -> None:
        self._chunks = chunks
        self._on_close = on_close

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks

    def close(self) -> None:
        self._on_close()


def _split_target(request: httpx.Request) -> tuple[bytes, bytes]:
    raw_path, _, query = request.url.raw_path.partition(b"?")
    return raw_path, query


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
        raw_path, query = _split_target(request)
        url = request.url
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(raw_path).decode("latin-1"),
            "QUERY_STRING": query.decode("latin-1"),
            "SERVER_NAME": url.host or "testserver",
            "SERVER_PORT": str(url.port or (443 if url.scheme == "https" else 80)),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "REMOTE_PORT": "50000",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": url.scheme,
            "wsgi.input": wsgi_input,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,
        }
        # Like gunicorn: the target as sent, so the app can check its escapes.
        environ["RAW_URI"] = request.url.raw_path.decode("latin-1")
        # Header bytes reach a WSGI app as latin-1 characters (PEP 3333), and
        # repeated headers joined with commas, as servers do.
        for raw_name, raw_value in request.headers.raw:
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
            environ[key] = f"{environ[key]},{value}" if key in environ else value
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
    """An httpx transport that runs an ASGI app on a background loop and streams its response."""

    def __init__(self, asgi_app: Callable[..., Awaitable[None]], portal: _Portal) -> None:
        self.app = asgi_app
        self.portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        upload = _streamed_upload(request)
        body = request.read() if upload is None else b""
        raw_path, query = _split_target(request)
        url = request.url
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": url.scheme,
            "path": unquote(raw_path.decode("ascii")),
            "raw_path": raw_path,
            "query_string": query,
            "root_path": "",
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "client": ("127.0.0.1", 50000),
            "server": (
                url.host or "testserver",
                url.port or (443 if url.scheme == "https" else 80),
            ),
            "state": {},
        }
        messages: queue.Queue[dict[str, Any] | BaseException | None] = queue.Queue()
        loop = self.portal.loop
        disconnected = asyncio.Event()
        pieces = [body[i : i + 65536] for i in range(0, len(body), 65536)] or [b""]

        async def receive() -> dict[str, Any]:
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

        async def send(message: dict[str, Any]) -> None:
            messages.put(dict(message))

        async def run() -> None:
            try:
                await self.app(scope, receive, send)
            except BaseException as exc:
                messages.put(exc)
                raise
            finally:
                messages.put(None)

        future = self.portal.submit(run())

        def disconnect() -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(disconnected.set)

        def next_message() -> dict[str, Any] | None:
            item = messages.get()
            if isinstance(item, BaseException):
                raise item
            return item

        start = next_message()
        if start is None:
            raise RuntimeError("the ASGI app returned without sending a response")
        if start["type"] != "http.response.start":
            raise RuntimeError(f"the ASGI app sent {start['type']!r} before http.response.start")

        def chunks() -> Iterator[bytes]:
            while True:
                message = next_message()
                if message is None:
                    return
                if message["type"] == "http.response.body":
                    if message.get("body"):
                        yield bytes(message["body"])
                    if not message.get("more_body", False):
                        disconnect()
                        return

        def close() -> None:
            disconnect()
            try:
                future.result(timeout=10)
            except Exception:
                pass

        return httpx.Response(
            start["status"],
            headers=[(bytes(k), bytes(v)) for k, v in start.get("headers", [])],
            stream=_ChunkStream(chunks(), close),
        )


class _LifespanDriver:
    """Runs the ASGI lifespan protocol against the app on the portal's loop."""

    def __init__(self, asgi_app: Callable[..., Awaitable[None]], portal: _Portal) -> None:
        self.app = asgi_app
        self.portal = portal
        self.to_app: asyncio.Queue[dict[str, Any]] | None = None
        self.from_app: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.task: Future[None] | None = None

    def _exchange(self, message_type: str, timeout: float = 30) -> dict[str, Any]:
        assert self.to_app is not None
        to_app = self.to_app
        self.portal.loop.call_soon_threadsafe(to_app.put_nowait, {"type": message_type})
        reply = self.from_app.get(timeout=timeout)
        if reply is None:
            raise RuntimeError(
                f"the app ended the lifespan protocol before answering {message_type}"
            )
        return reply

    def startup(self) -> None:
        async def make_queue() -> asyncio.Queue[dict[str, Any]]:
            return asyncio.Queue()

        self.to_app = self.portal.call(make_queue())
        to_app = self.to_app

        async def receive() -> dict[str, Any]:
            return await to_app.get()

        async def send(message: dict[str, Any]) -> None:
            self.from_app.put(dict(message))

        async def run() -> None:
            try:
                scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
                await self.app(scope, receive, send)
            finally:
                self.from_app.put(None)

        self.task = self.portal.submit(run())
        reply = self._exchange("lifespan.startup")
        if reply["type"] == "lifespan.startup.failed":
            raise RuntimeError(f"startup failed: {reply.get('message', '')}")

    def shutdown(self) -> None:
        reply = self._exchange("lifespan.shutdown")
        if self.task is not None:
            self.task.result(timeout=30)
        if reply["type"] == "lifespan.shutdown.failed":
            raise RuntimeError(f"shutdown failed: {reply.get('message', '')}")


class TestClient(httpx.Client):
    """A synchronous httpx client wired to ``app.wsgi`` or ``app.asgi``.

    Use it as a context manager to run the app's startup and shutdown hooks.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        app: App,
        interface: Interface = "wsgi",
        base_url: str = "http://testserver",
        **kwargs: Any,
    ) -> None:
        if interface not in ("wsgi", "asgi"):
            raise ValueError("interface must be 'wsgi' or 'asgi'")
        self.app = app
        self.interface = interface
        self._portal: _Portal | None = None
        self._lifespan: Any = None
        transport: httpx.BaseTransport
        if interface == "wsgi":
            transport = WSGITransport(app.wsgi)
        else:
            transport = ASGITransport(app.asgi, self.portal)
        kwargs.setdefault("follow_redirects", False)
        super().__init__(base_url=base_url, transport=transport, **kwargs)

    @property
    def portal(self) -> _Portal:
        """The background event loop the ASGI side runs on (created on first use)."""
        if self._portal is None:
            self._portal = _Portal()
        return self._portal

    def __enter__(self) -> TestClient:
        super().__enter__()
        if self.interface == "asgi":
            self._lifespan = _LifespanDriver(self.app.asgi, self.portal)
            self._lifespan.startup()
        else:
            self.app.wsgi._start()
            error = self.app.wsgi._startup_error
            if error is not None:
                raise RuntimeError(f"startup failed: {error!r}") from error
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        try:
            if self._lifespan is not None:
                self._lifespan.shutdown()
                self._lifespan = None
            elif self.interface == "wsgi" and self.app.wsgi._started:
                self.app.wsgi._stop()
        finally:
            super().__exit__(exc_type, exc, tb)

    def close(self) -> None:
        """Close the client and stop its background loop."""
        super().close()
        if self._portal is not None:
            self._portal.close()
            self._portal = None

    def websocket_connect(
        self,
        path: str,
        subprotocols: list[str] | None = None,
        headers: dict[str, str] | None = None,
        http_response_extension: bool = True,
        timeout: float = 10,
    ) -> WebSocketTestSession:
        """Open a WebSocket to ``path`` on ``app.asgi`` and complete the handshake.

        Returns a session (use it as a context manager); raises ``WebSocketRejected``
        if the app refuses the handshake. ``http_response_extension=False`` plays a
        server without ``websocket.http.response`` (refusals are then plain 403s).
        ``timeout`` bounds every wait for the app, so a test never hangs.
        """
        if self.interface != "asgi":
            raise RuntimeError(
                "websockets are served by app.asgi only; use TestClient(app, 'asgi')"
            )
        return WebSocketTestSession(
            self, path, subprotocols or [], headers or {}, http_response_extension, timeout
        )


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


class _ClientGone(OSError):
    """What the test server raises when the app sends after the client disconnected (ASGI 2.4)."""


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
        self._client_closed = False
        self._portal = client.portal
        self._from_app: queue.Queue[dict[str, Any] | BaseException | None] = queue.Queue()
        scope = self._scope(client, path, subprotocols, headers, http_response_extension)

        async def make_queue() -> asyncio.Queue[dict[str, Any]]:
            return asyncio.Queue()

        to_app = self._to_app = self._portal.call(make_queue())

        async def receive() -> dict[str, Any]:
            return await to_app.get()

        async def send(message: MutableMapping[str, Any]) -> None:
            if self._client_closed:
                raise _ClientGone("the test client has disconnected")
            self._from_app.put(dict(message))

        async def run() -> None:
            try:
                await client.app.asgi(scope, receive, send)
            except BaseException as exc:
                self._from_app.put(exc)
                raise
            finally:
                self._from_app.put(None)

        self._task = self._portal.submit(run())
        self._put({"type": "websocket.connect"})
        self._handshake()

    @staticmethod
    def _scope(
        client: TestClient,
        path: str,
        subprotocols: list[str],
        headers: dict[str, str],
        extension: bool,
    ) -> dict[str, Any]:
        url = client.base_url.join(path)
        raw_path, _, query = url.raw_path.partition(b"?")
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
        raw_headers += [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()
        ]
        secure = url.scheme in ("https", "wss")
        return {
            "type": "websocket",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": "wss" if secure else "ws",
            "path": unquote(raw_path.decode("ascii")),
            "raw_path": raw_path,
            "query_string": query,
            "root_path": "",
            "headers": raw_headers,
            "client": ("127.0.0.1", 50000),
            "server": (url.host or "testserver", url.port or (443 if secure else 80)),
            "subprotocols": list(subprotocols),
            "state": {},
            "extensions": {"websocket.http.response": {}} if extension else {},
        }

    def _put(self, message: dict[str, Any]) -> None:
        self._portal.loop.call_soon_threadsafe(self._to_app.put_nowait, message)

    def _next(self) -> dict[str, Any] | None:
        try:
            item = self._from_app.get(timeout=self.timeout)
        except queue.Empty:
            raise TimeoutError(
                f"the websocket handler sent nothing within {self.timeout}s"
            ) from None
        if isinstance(item, BaseException):
            raise item
        if item is None:
            self._from_app.put(None)  # stay finished for later calls
        return item

    def _handshake(self) -> None:
        first = self._next()
        if first is None:
            raise RuntimeError("the app returned without accepting or refusing the websocket")
        kind = first["type"]
        if kind == "websocket.accept":
            self.accepted_subprotocol = first.get("subprotocol")
            self.response_headers = _decode_headers(first.get("headers"))
            return
        self._client_closed = True
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
        try:
            self._task.result(timeout=self.timeout)
        except TimeoutError:
            self._task.cancel()
            raise TimeoutError(
                f"the websocket handler was still running {self.timeout}s "
                "after the connection closed"
            ) from None

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

    def _send(self, message: dict[str, Any]) -> None:
        if self._client_closed:
            raise RuntimeError("this websocket session is closed")
        self._put(message)

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
        if not self._client_closed:
            self._client_closed = True
            if self.close_code is None:
                self._put({"type": "websocket.disconnect", "code": code, "reason": reason})
        self._wait_for_app()

    def __enter__(self) -> WebSocketTestSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _decode_headers(raw: Iterable[tuple[bytes, bytes]] | None) -> dict[str, str]:
    return {bytes(k).decode("latin-1"): bytes(v).decode("latin-1") for k, v in raw or ()}
