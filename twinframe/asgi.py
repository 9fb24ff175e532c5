"""The ASGI 3 adapter: scope/receive -> Request or WebSocket, Response -> send; lifespan.

The pipeline (``twinframe.pipeline``) does the rest. Sync handlers run in the
app's bounded thread pool; async ones are awaited.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from .after_response import run_after_response
from .asgi_connection import ASGIConnection
from .concurrency import anext_or
from .errors import ClientDisconnect, PayloadTooLarge
from .pipeline import dispatch, dispatch_websocket
from .request import Request
from .response import Response
from .sending import close_unsent, encode_chunk, is_async_stream, log_stream_failure
from .websocket import WebSocket

if TYPE_CHECKING:
    from .contract import Application
    from .types import Message, Receive, Scope, Send

T = TypeVar("T")
logger = logging.getLogger("twinframe")


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

    def _start_body(self) -> Awaitable[Message]:
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
        self._body = parts[0] if len(parts) == 1 else b"".join(parts)
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

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # Sync code may read req.stream(): it fetches the chunks on this loop.
        self._loop = asyncio.get_running_loop()
        return await self.app.thread_pool.run(fn, *args, **kwargs)


class ASGIAdapter:
    """The app as an ASGI 3 callable; ``uvicorn module:app.asgi`` serves it."""

    def __init__(self, app: Application) -> None:
        self.app = app

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
        await dispatch_websocket(self.app, WebSocket(self.app, scope, receive, send))

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
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
