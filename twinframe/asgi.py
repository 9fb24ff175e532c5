"""The ASGI 3 adapter: scope/receive -> Request or WebSocket, Response -> send; lifespan.

The pipeline (``twinframe.pipeline``) does the rest. Sync handlers run in the
app's bounded thread pool; async ones are awaited.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from .after_response import run_after_response
from .asgi_connection import ASGIConnection
from .bridging import forward_websocket
from .concurrency import anext_or
from .errors import ClientDisconnect, PayloadTooLarge
from .lifecycle import Lifecycle
from .pipeline import dispatch, dispatch_websocket, websocket_mount
from .request import BODILESS_METHODS, Request
from .response import Response
from .sending import close_unsent, encode_chunk, is_async_stream, log_stream_failure
from .target import default_port
from .websocket import WebSocket
from .wsgi_bridge import InputStream

if TYPE_CHECKING:
    from .contract import Application
    from .types import Message, Receive, Scope, Send

T = TypeVar("T")
logger = logging.getLogger("twinframe")

_ENVIRON_KEYS = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}
# The scope's http_version values where a body needs Content-Length or
# Transfer-Encoding (RFC 9112 section 6.3); HTTP/2 and 3 frame it themselves.
_HTTP1 = frozenset({"1.1", "1.0"})


def _latin1(path: str) -> str:
    """A decoded path as PEP 3333 wants it: its UTF-8 bytes as latin-1 characters."""
    return path if path.isascii() else path.encode("utf-8").decode("latin-1")


class ASGIRequest(ASGIConnection, Request):
    """A Request read from an ASGI HTTP scope (``req.scope`` holds the original)."""

    _loop: asyncio.AbstractEventLoop | None = None
    _body_done = False
    _received = 0  # body bytes received so far
    _disconnected = False  # the server said http.disconnect: nobody to answer
    # While _start_body/_continue_body gather the body: the limit, the pieces so far.
    _body_max = 0
    _body_parts: list[bytes]

    def __init__(self, app: Application, scope: Scope, receive: Receive) -> None:
        self.app = app
        self.scope = scope
        self._receive = receive
        self.method = scope["method"]
        self.params = {}
        self._set_scope_target(scope)

    # -- body -------------------------------------------------------------------------

    def _take(self, message: Message, limit: int | None) -> bytes:
        """The body bytes one received message carries (b"" for none), noting the end."""
        kind = message["type"]
        if kind == "http.request":
            chunk: bytes = message.get("body", b"")
            if not message.get("more_body", False):
                self._body_done = True
            if chunk:
                self._received += len(chunk)
                if limit is not None and self._received > limit:
                    raise PayloadTooLarge(f"request body exceeds the {limit}-byte limit")
            return chunk
        if kind == "http.disconnect":
            self._disconnected = True
            raise ClientDisconnect()
        return b""

    async def _next_chunk(self, limit: int | None) -> bytes | None:
        """The next non-empty piece of the body, or None once it is complete."""
        while not self._body_done:
            chunk = self._take(await self._receive(), limit)
            if chunk:
                return chunk
        return None

    async def _chunks(self, limit: int | None) -> AsyncIterator[bytes]:
        while (chunk := await self._next_chunk(limit)) is not None:
            yield chunk

    def _start_body(self) -> Awaitable[Message] | None:
        scope = self.scope
        if self.method in BODILESS_METHODS and scope.get("http_version") in _HTTP1:
            for name, _ in scope["headers"]:
                if name == b"content-length" or name == b"transfer-encoding":
                    break
            else:
                # PERF: a GET or HEAD whose HTTP/1.x framing says there is no body
                # (request.BODILESS_METHODS), so no receive():
                # under Granian each one is a task on its runtime and a thread taking
                # the GIL to hand the message back; under uvicorn a few us of Python.
                self._body = b""
                self._body_done = True
                return None
        self._body_max = self._body_limit()
        self._body_parts = []
        return self._receive()

    def _continue_body(self, message: Message) -> Awaitable[Message] | None:
        chunk = self._take(message, self._body_max)
        if chunk:
            self._body_parts.append(chunk)
        if not self._body_done:
            return self._receive()
        parts = self._body_parts
        # PERF: none (every GET) or one part (most bodies) without a join.
        self._body = parts[0] if len(parts) == 1 else b"".join(parts) if parts else b""
        return None

    def _aiter_body(self) -> AsyncIterator[bytes]:
        return self._chunks(None)

    def _iter_body(self) -> Iterator[bytes]:
        # Called from a sync handler in a worker thread: fetch each chunk on the loop.
        loop = self._loop
        if loop is None:
            raise RuntimeError("req.stream() in sync code must run inside a handler")
        chunks = self._chunks(None)
        while True:
            future = asyncio.run_coroutine_threadsafe(anext_or(chunks, None), loop)
            chunk = future.result()
            if chunk is None:
                return
            yield chunk

    # -- for mounted apps (twinframe.bridging) -------------------------------------------

    async def _mounted_environ(self, prefix: str) -> dict[str, Any]:
        # Built on the loop, read from a worker thread: wsgi.input fetches each
        # chunk on this loop as the app reads, so the body streams through.
        # PERF: the first piece is received here, before the thread: a body of one
        # message (most of them, and every GET) needs no trip back to the loop.
        first = await self._next_chunk(None)
        scope = self.scope
        loop = self._loop = asyncio.get_running_loop()
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.method,
            "SCRIPT_NAME": _latin1(self.root_path + prefix),
            "PATH_INFO": _latin1(self.path[len(prefix) :]),
            "QUERY_STRING": self.query_string,
            "SERVER_PROTOCOL": "HTTP/" + scope.get("http_version", "1.1"),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": self.scheme,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,
        }
        server = scope.get("server")
        # No server (the scope may leave it out), or a unix socket's (path, None):
        # the scheme's default port, so a URL rebuilt from them (PEP 3333) is right.
        port = default_port(self.scheme)
        environ["SERVER_NAME"], environ["SERVER_PORT"] = (
            (str(server[0]), str(server[1] or port)) if server else ("localhost", port)
        )
        client = scope.get("client")
        if client:
            environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = str(client[0]), str(client[1])
        for name, value in self._header_items():
            key = _ENVIRON_KEYS.get(name) or "HTTP_" + name.upper().replace("-", "_")
            # Repeated headers are joined, as WSGI servers do.
            environ[key] = environ[key] + "," + value if key in environ else value
        pending = [first] if first is not None else []

        def fetch() -> bytes | None:
            if pending:
                return pending.pop()
            if self._body_done:
                return None
            future = asyncio.run_coroutine_threadsafe(self._next_chunk(None), loop)
            return future.result()

        environ["wsgi.input"] = InputStream(fetch)
        return environ

    def _mounted_scope(self, prefix: str, state: dict[str, Any]) -> dict[str, Any]:
        return self._mounted_websocket_scope(self.scope, prefix, state)

    def _mounted_receive(self) -> Receive:
        # Nothing has read the body (mounts come before that): the app reads it
        # from the server itself.
        return self._receive

    def _for_app(self, app: Application, prefix: str) -> ASGIRequest:
        return ASGIRequest(app, self._mounted_scope(prefix, {}), self._receive)

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # Sync code may read req.stream(): it fetches the chunks on this loop.
        self._loop = asyncio.get_running_loop()
        return await self.app.thread_pool.run(fn, *args, **kwargs)


class ASGIAdapter:
    """The app as an ASGI 3 callable; ``uvicorn module:app.asgi`` serves it."""

    def __init__(self, app: Application) -> None:
        self.app = app
        self.lifecycle = Lifecycle(app)
        """Startup and shutdown run by twinframe itself when the server sends no lifespan."""
        self._unstarted = True  # neither the server (lifespan) nor we have started the app
        self._warned = False

    @property
    def _twinframe_app(self) -> Application:
        # Lets mount() serve app.wsgi / app.asgi natively, as the App itself.
        return self.app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "websocket":
                await self._websocket(scope, receive, send)
            elif kind == "lifespan":
                await self._lifespan(receive, send)
            else:
                raise RuntimeError(f"twinframe does not handle ASGI scope type {kind!r}")
            return
        # PERF: HTTP is served here rather than in a method of its own: one coroutine
        # less per request.
        req = ASGIRequest(self.app, scope, receive)
        # PERF: one attribute test per request once the app has started.
        if self._unstarted and not await self._start_lazily():
            response = self.lifecycle.refusal(req)
            headers = response.header_list()
        else:
            response, headers = await dispatch(self.app, req)
        try:
            if req._disconnected:
                # The client left before its request was complete: sending would only
                # make the server raise (ASGI spec) or write to a closed socket.
                await close_unsent(req, response)
                return
            try:
                await send(
                    {
                        "type": "http.response.start",
                        "status": response.status,
                        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
                    }
                )
                if response.body_stream is None:
                    await send({"type": "http.response.body", "body": response.body})
                    return
            except OSError:
                # ASGI 2.4: send() raises OSError once the client has gone.
                logger.debug("client went away before the response: %s %s", req.method, req.path)
                await close_unsent(req, response)
                return
            await self._send_stream(req, response, send)
        finally:
            # After the final body message (or the client's leaving): the work the
            # handler scheduled with req.after_response().
            if req._after_response is not None:
                await run_after_response(req)

    async def _send_stream(self, req: ASGIRequest, response: Response, send: Send) -> None:
        stream = response.body_stream
        assert stream is not None
        source: Any
        if is_async_stream(stream):
            source = chunks = stream.__aiter__()
        else:
            # A sync generator may read req.stream() from its worker thread, even
            # when an async handler returned it: it fetches chunks on this loop.
            req._loop = asyncio.get_running_loop()
            source = iter(stream)  # type: ignore[arg-type]
            chunks = self.app.thread_pool.iterate(source)

        async def pump() -> None:
            async for chunk in chunks:
                data = encode_chunk(chunk)
                if data:
                    await _send_body(send, data, True)
            await _send_body(send, b"", False)

        try:
            if req._body_done or req._body is not None:
                # The body is consumed, so the only message left is http.disconnect:
                # watch for it and stop producing for a client that has gone.
                await _stop_on_disconnect(pump(), req._receive)
            else:
                await pump()
        except ClientDisconnect:
            logger.debug("client went away during the response: %s %s", req.method, req.path)
        except Exception:
            log_stream_failure(req)
            raise
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                # For a sync stream this closes it in a worker thread (ThreadPool.iterate).
                await aclose()
            if source is not stream:  # else just closed
                await close_unsent(req, response)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return  # the client left before the handshake
        ws = WebSocket(self.app, scope, receive, send)
        if self._unstarted and not await self._start_lazily():
            self.lifecycle.refuse(f"websocket {ws.path}")
            await ws.accept()
            await ws.close(1011)
            return
        mount = websocket_mount(self.app, ws)
        if mount is not None:
            await forward_websocket(mount, ws, message)
            return
        await dispatch_websocket(self.app, ws)

    async def _start_lazily(self) -> bool:
        """Start the app before its first request when the server sent no lifespan events.

        Runs once per process; concurrent first requests wait for it. False when
        startup failed: the request is then refused (500, or close 1011).
        """
        lifecycle = self.lifecycle
        if self.app._running and not lifecycle.started:
            return True  # started by someone else: the app it is mounted in, the WSGI side
        if not self.app._has_lifespan:
            # Nothing to start or stop: serve as if started (no task, handler or warning).
            self._unstarted = False
            return True
        if not lifecycle.started and not lifecycle.starting and not self._warned:
            self._warned = True
            logger.warning(
                "the ASGI server sent no lifespan events: running startup before the first "
                "request; shutdown runs on SIGTERM/SIGINT or when the process exits"
            )
        await lifecycle.start_async()
        if lifecycle.error is not None:
            return False
        # Started: later requests skip this until a shutdown (TestClient reuse) resets it.
        self._unstarted = False
        lifecycle.on_stop = self._mark_unstarted
        return True

    def _mark_unstarted(self) -> None:
        self._unstarted = True

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # The server drives startup and shutdown: requests never start the app.
                self._unstarted = False
                try:
                    await self.app.startup()
                except BaseException as exc:
                    logger.exception("startup failed")
                    reason = f"{type(exc).__name__}: {exc}"
                    await send({"type": "lifespan.startup.failed", "message": reason})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.app.shutdown()
                except BaseException as exc:
                    reason = f"{type(exc).__name__}: {exc}"
                    await send({"type": "lifespan.shutdown.failed", "message": reason})
                    return
                await send({"type": "lifespan.shutdown.complete"})
                self._unstarted = True
                return


async def _send_body(send: Send, data: bytes, more: bool) -> None:
    try:
        await send({"type": "http.response.body", "body": data, "more_body": more})
    except OSError as exc:
        # ASGI 2.4: send() raises OSError once the client has gone (not a stream failure).
        raise ClientDisconnect() from exc


async def _stop_on_disconnect(work: Awaitable[None], receive: Receive) -> None:
    """Run ``work``; if the client disconnects first, cancel it and raise ClientDisconnect."""

    async def watch() -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    work_task = asyncio.ensure_future(work)
    watch_task = asyncio.ensure_future(watch())
    try:
        done, _ = await asyncio.wait({work_task, watch_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (work_task, watch_task):
            if not task.done():
                task.cancel()
        await asyncio.gather(work_task, watch_task, return_exceptions=True)
    if work_task in done:
        work_task.result()
    else:
        raise ClientDisconnect()
