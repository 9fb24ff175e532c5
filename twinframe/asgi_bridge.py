"""Calling a mounted ASGI application and turning its answer into a twinframe Response.

The same code serves both entrypoints: under ``app.asgi`` on the server's loop
with the server's ``receive``; under ``app.wsgi`` on the worker thread's own
loop (the one async handlers use), with a ``receive`` that reads ``wsgi.input``.
The app runs as a task; once two of its messages wait unsent, its next send
waits until the Response's body stream takes one, so at most three chunks are
held however long the body is (the server's own sending paces the app).

Also here: the lifespan of mounted ASGI apps, run inside twinframe's own.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from .response import Response
from .types import Message, Receive, Scope, Send
from .wsgi_bridge import MountError, response_from

logger = logging.getLogger("twinframe")

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _Channel:
    """Carries the app's messages to the body stream; the app waits once two are unsent."""

    def __init__(self) -> None:
        self.complete: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.items: deque[Message] = deque()
        self.error: BaseException | None = None
        self.finished = False  # the app's task ended
        self.gone = False  # nobody reads any more: sends fail as for a gone client
        self._getter: asyncio.Future[None] | None = None
        self._putter: asyncio.Future[None] | None = None

    @staticmethod
    def _wake(waiter: asyncio.Future[None] | None) -> None:
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def send(self, message: Message) -> None:
        if self.gone:
            raise OSError("the client is gone")  # what servers raise (ASGI spec 2.4)
        self.items.append(message)
        self._wake(self._getter)
        # PERF: up to two messages wait without suspending the app (a response
        # start and a whole body go through in one turn); past that it waits.
        while len(self.items) > 2 and not self.gone:
            self._putter = asyncio.get_running_loop().create_future()
            await self._putter

    def task_done(self, task: asyncio.Future[None]) -> None:
        self.finished = True
        if not task.cancelled() and task.exception() is not None:
            self.error = task.exception()
        self._wake(self._getter)

    async def get(self) -> Message | None:
        """The app's next message; None once it has finished (or failed) without one."""
        while not self.items:
            if self.finished:
                return None
            self._getter = asyncio.get_running_loop().create_future()
            await self._getter
        message = self.items.popleft()
        self._wake(self._putter)
        return message

    def finish(self) -> None:
        """The response is complete: a waiting ``receive`` now says ``http.disconnect``."""
        self._wake(self.complete)

    def close(self) -> None:
        self.gone = True
        self.items.clear()
        self._wake(self._putter)
        self._wake(self.complete)

    def receive_from(self, chunks: AsyncIterator[bytes]) -> Receive:
        """An ASGI ``receive`` over body chunks. Past the body it waits for the
        response to end, then says ``http.disconnect``, as servers do."""
        done = False

        async def receive() -> Message:
            nonlocal done
            if done:
                await asyncio.shield(self.complete)
                return {"type": "http.disconnect"}
            try:
                chunk = await chunks.__anext__()
            except StopAsyncIteration:
                done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            except Exception:  # the client left mid-body (or sent a broken one)
                done = True
                return {"type": "http.disconnect"}
            return {"type": "http.request", "body": chunk, "more_body": True}

        return receive


def _body_of(message: Message, started: bool) -> tuple[bytes, bool]:
    """The body bytes and more_body of an ``http.response.body`` message; raises if invalid."""
    kind = message.get("type")
    if kind != "http.response.body":
        if kind == "http.response.start" and started:
            raise MountError("the mounted ASGI app sent http.response.start twice")
        raise MountError(f"the mounted ASGI app sent an unexpected message {kind!r}")
    body = message.get("body", b"")
    if not isinstance(body, (bytes, bytearray)):
        raise MountError(f"the mounted ASGI app sent a body of {type(body).__name__}")
    return bytes(body), bool(message.get("more_body", False))


def _start_of(message: Message | None) -> tuple[int, list[tuple[str, str]]]:
    if message is None:
        raise MountError("the mounted ASGI app returned without sending http.response.start")
    if message.get("type") != "http.response.start":
        kind = message.get("type")
        raise MountError(f"the mounted ASGI app sent {kind!r} before http.response.start")
    status = message.get("status")
    if type(status) is not int:
        raise MountError(f"the mounted ASGI app sent status {status!r}")
    try:
        headers = [
            (bytes(k).decode("latin-1"), bytes(v).decode("latin-1"))
            for k, v in message.get("headers", ())
        ]
    except (TypeError, ValueError):
        raise MountError("the mounted ASGI app's headers must be (bytes, bytes) pairs") from None
    return status, headers


async def call_asgi(
    app: ASGIApp,
    scope: Scope,
    receive: Receive | None,
    chunks: AsyncIterator[bytes] | None = None,
) -> Response:
    """Start ``app`` and wait for its response start and first body message.

    ``receive`` is the server's; without one, the app receives ``chunks``.
    The returned Response streams the rest. Raises if the app fails, or ends
    or sends something invalid, before that point.
    """
    channel = _Channel()
    # With the server's receive, the server's loop runs whatever the app does
    # after its last message; with ours (under WSGI), the body stream must.
    own = receive is None
    if receive is None:
        assert chunks is not None
        receive = channel.receive_from(chunks)
    task = asyncio.ensure_future(app(scope, receive, channel.send))
    task.add_done_callback(channel.task_done)
    try:
        status, headers = _start_of(await _next(channel))
        message = await _next(channel)
        if message is None:
            raise MountError("the mounted ASGI app returned before sending its body")
        body, more = _body_of(message, True)
    except BaseException:
        await _stop(task, channel)
        raise
    response = response_from(status, headers)
    if not more:
        channel.finish()
        if not task.done():
            await asyncio.sleep(0)  # the app's turn to return after its last message
        if task.done() or not own:
            # PERF: the whole answer is in: a plain body. What the app still does
            # (background tasks) runs on the server's loop; failures are logged.
            task.add_done_callback(_log_late_failure)
            response.body = body
            return response
    # Under WSGI nothing else runs the worker thread's loop: the stream's end
    # awaits the app, as a server would.
    response.body_stream = _stream(task, channel, body, more, own)
    return response


def _log_late_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("mounted ASGI app failed after its response", exc_info=task.exception())


async def _next(channel: _Channel) -> Message | None:
    message = await channel.get()
    if message is None and channel.error is not None:
        raise channel.error
    return message


async def _stream(
    task: asyncio.Future[None], channel: _Channel, first: bytes, more: bool, own: bool
) -> AsyncIterator[bytes]:
    finished = not more
    try:
        if first:
            yield first
        while not finished:
            message = await _next(channel)
            if message is None:
                raise MountError("the mounted ASGI app returned before finishing its body")
            body, more = _body_of(message, True)
            if not more:
                channel.finish()
            if body:
                yield body
            finished = not more
        task.add_done_callback(_log_late_failure)
        if own:
            await asyncio.wait({task})  # background work after the last message
    finally:
        if not finished:
            await _stop(task, channel)


async def _stop(task: asyncio.Future[None], channel: _Channel) -> None:
    """Stop the app's task (the response is abandoned) and wait for it to end."""
    channel.close()
    if not task.done():
        task.cancel()
    try:
        await task
    except BaseException:
        pass  # its failure, if any, is reported by whoever abandoned the response


class Lifespan:
    """Runs a mounted ASGI app's lifespan protocol: startup now, shutdown later.

    ``state`` is the lifespan state the app fills (ASGI's ``scope["state"]``);
    each request to the app gets a shallow copy of it, as servers do.
    """

    def __init__(self, app: ASGIApp, label: str) -> None:
        self.app = app
        self.label = label
        self.state: dict[str, Any] = {}
        self.supported = False
        self._task: asyncio.Future[None] | None = None
        self._inbox: asyncio.Queue[Message] | None = None
        self._outbox: asyncio.Queue[Message] | None = None

    async def startup(self) -> None:
        """Send ``lifespan.startup`` and wait for the answer; raises if startup failed."""
        self.state = {}
        inbox: asyncio.Queue[Message] = asyncio.Queue()
        outbox: asyncio.Queue[Message] = asyncio.Queue()
        self._inbox, self._outbox = inbox, outbox
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }

        async def send(message: Message) -> None:
            await outbox.put(message)

        task = self._task = asyncio.ensure_future(self.app(scope, inbox.get, send))
        await inbox.put({"type": "lifespan.startup"})
        answer = await self._answer(task, outbox)
        if answer is None:
            # ASGI: an app that raises on the lifespan scope doesn't support it.
            logger.debug("mounted app %s has no lifespan", self.label)
            return
        if answer.get("type") == "lifespan.startup.failed":
            await _stop(task, _Channel())
            raise RuntimeError(f"mounted app {self.label} failed to start: {answer.get('message')}")
        if answer.get("type") != "lifespan.startup.complete":
            # An app that ignores the scope type: it has no lifespan to run.
            logger.warning(
                "mounted app %s answered lifespan.startup with %r: run without a lifespan",
                self.label,
                answer.get("type"),
            )
            await _stop(task, _Channel())
            return
        self.supported = True

    async def shutdown(self) -> None:
        """Send ``lifespan.shutdown`` and wait for the app to finish; raises if it failed."""
        task, inbox, outbox = self._task, self._inbox, self._outbox
        self._task = None
        if not self.supported or task is None or inbox is None or outbox is None:
            return
        self.supported = False
        if task.done() or task.get_loop() is not asyncio.get_running_loop():
            # Its loop is gone (a WSGI worker thread's loop closed): nothing to resume.
            logger.warning("mounted app %s: lifespan ended before shutdown", self.label)
            return
        await inbox.put({"type": "lifespan.shutdown"})
        answer = await self._answer(task, outbox)
        await _stop(task, _Channel())
        if answer is not None and answer.get("type") == "lifespan.shutdown.failed":
            raise RuntimeError(
                f"mounted app {self.label} failed to shut down: {answer.get('message')}"
            )

    @staticmethod
    async def _answer(task: asyncio.Future[None], outbox: asyncio.Queue[Message]) -> Message | None:
        getter = asyncio.ensure_future(outbox.get())
        waiting: set[asyncio.Future[Any]] = {task, getter}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            return getter.result()
        getter.cancel()
        if not task.cancelled() and task.exception() is not None:
            logger.debug("mounted app lifespan raised", exc_info=task.exception())
        return None


__all__ = ["Lifespan", "MountError", "call_asgi"]
