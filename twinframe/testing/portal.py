"""The background event loop the ASGI side of the TestClient runs on, and one app call on it."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

T = TypeVar("T")
Message = dict[str, Any]
ASGIApp = Callable[..., Awaitable[None]]
Receive = Callable[[], Awaitable[Message]]


class Portal:
    """An event loop on a background thread, for running ASGI code from sync tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="twinframe-testclient", daemon=True
        )
        self._thread.start()

    def submit(self, coroutine: Awaitable[T]) -> Future[T]:
        """Schedule ``coroutine`` on the loop; the future holds its result."""
        return asyncio.run_coroutine_threadsafe(_wrap(coroutine), self.loop)

    def call(self, coroutine: Awaitable[T], timeout: float | None = None) -> T:
        """Run ``coroutine`` on the loop and wait for its result."""
        return self.submit(coroutine).result(timeout)

    def queue(self) -> asyncio.Queue[Message]:
        """An asyncio queue made on the loop, fed from the test's thread with ``put``."""
        return self.call(_new_queue())

    def close(self) -> None:
        """Cancel what still runs on the loop, stop it and close it."""

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.loop.shutdown_asyncgens()

        if self.loop.is_running():
            # Best effort: a task that ignores cancellation must not keep the test waiting.
            try:
                self.call(cancel_all(), timeout=5)
            except FutureTimeout:
                pass
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
        self.loop.close()


async def _wrap(awaitable: Awaitable[T]) -> T:
    return await awaitable


async def _new_queue() -> asyncio.Queue[Message]:
    return asyncio.Queue()


class ClientGone(OSError):
    """What the test server raises when the app sends after the client disconnected (ASGI 2.4)."""


class AppCall:
    """One call of an ASGI app on the portal, talked to from the test's thread.

    What the test ``put``s reaches the app's ``receive`` (unless a ``receive`` of
    its own is given); what the app sends waits for ``next()``, which raises the
    app's exception if it raised and returns None once it returned. Every wait
    is bounded by ``timeout`` seconds, so an app that never answers fails the
    test instead of hanging it.
    """

    def __init__(
        self,
        portal: Portal,
        app: ASGIApp,
        scope: MutableMapping[str, Any],
        timeout: float,
        receive: Receive | None = None,
    ) -> None:
        self.portal = portal
        self.timeout = timeout
        self.client_gone = False
        """Set once the test disconnected: the app's later sends raise ``ClientGone``."""
        self.error: BaseException | None = None
        """The exception the app raised, once ``next()`` handed it to the test."""
        self._from_app: queue.Queue[Message | BaseException | None] = queue.Queue()
        self._to_app = portal.queue() if receive is None else None
        self.future = portal.submit(self._run(app, scope, receive or self._receive))

    async def _receive(self) -> Message:
        assert self._to_app is not None
        return await self._to_app.get()

    async def _send(self, message: MutableMapping[str, Any]) -> None:
        if self.client_gone:
            raise ClientGone("the test client has disconnected")
        self._from_app.put(dict(message))

    async def _run(self, app: ASGIApp, scope: MutableMapping[str, Any], receive: Receive) -> None:
        try:
            await app(scope, receive, self._send)
        except BaseException as exc:
            self._from_app.put(exc)
            raise
        finally:
            self._from_app.put(None)

    def put(self, message: Message) -> None:
        """Hand ``message`` to the app's next ``receive()``."""
        assert self._to_app is not None, "this call has a receive of its own"
        self.portal.loop.call_soon_threadsafe(self._to_app.put_nowait, message)

    def next(self, waiting_for: str) -> Message | None:
        """The app's next message, None once it returned; raises what the app raised."""
        try:
            item = self._from_app.get(timeout=self.timeout)
        except queue.Empty:
            self.future.cancel()
            raise TimeoutError(
                f"the ASGI app sent nothing within {self.timeout}s while the test "
                f"waited for {waiting_for}"
            ) from None
        if isinstance(item, BaseException):
            self.error = item
            raise item
        if item is None:
            self._from_app.put(None)  # stay finished for later calls
        return item

    def wait(self, after: str) -> None:
        """Wait for the app to return; raise what it raised unless ``next()`` already did."""
        try:
            self.future.result(timeout=self.timeout)
        except CancelledError:
            pass  # the portal shut down while the app still ran: the client is closing
        except FutureTimeout:
            self.future.cancel()
            raise TimeoutError(
                f"the ASGI app was still running {self.timeout}s after {after}"
            ) from None
        except BaseException as exc:
            if exc is not self.error:
                raise
