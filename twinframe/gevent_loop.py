"""Async code under gevent's monkeypatching (``gunicorn -k gevent``).

Under WSGI, twinframe runs async handlers, hooks and streams on an event loop
owned by the worker thread. With gevent every connection is a greenlet and all
of them share one OS thread, while asyncio allows one running loop per OS
thread: a greenlet that suspends inside ``loop.run_until_complete`` (waiting on
I/O) lets another greenlet in, which then finds the loop already running.

So once gevent has patched ``threading``, the process gets one asyncio loop
driven by a dedicated greenlet for its whole life. Its selector is gevent's, so
while the loop waits the other greenlets run. A greenlet that needs async code
submits the coroutine to that loop and waits on a gevent ``AsyncResult``,
yielding to the others meanwhile; async handlers of concurrent requests thus
run concurrently on the one loop, and loop-bound resources created by startup
hooks stay usable by every request.
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import sys
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")

_shared: GeventLoop | None = None


def active() -> GeventLoop | None:
    """The process's gevent-driven loop if gevent monkeypatched ``threading``, else None."""
    global _shared
    if _shared is not None:
        return _shared
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None or not monkey.is_module_patched("threading"):
        return None
    _shared = GeventLoop()
    return _shared


class GeventLoop:
    """One asyncio loop run by a greenlet; others submit coroutines and wait cooperatively."""

    def __init__(self) -> None:
        gevent: Any = importlib.import_module("gevent")
        selectors: Any = importlib.import_module("gevent.selectors")
        self._event: Any = importlib.import_module("gevent.event")
        self.loop: asyncio.AbstractEventLoop = asyncio.SelectorEventLoop(selectors.GeventSelector())
        self._getcurrent: Any = gevent.getcurrent
        self._driver: Any = gevent.spawn(self.loop.run_forever)

    def is_driver(self) -> bool:
        """True in the greenlet that runs the loop (async code), False in the others."""
        return self._getcurrent() is self._driver

    def run(self, awaitable: Awaitable[T]) -> T:
        """Run ``awaitable`` on the shared loop; the calling greenlet yields until it is done."""
        if self.is_driver():
            raise RuntimeError("cannot run async code from sync code already inside the event loop")
        result: Any = self._event.AsyncResult()
        # The caller's context variables travel with the coroutine, as under a thread loop.
        context = contextvars.copy_context()

        def start() -> None:
            task = context.run(asyncio.ensure_future, awaitable, loop=self.loop)
            task.add_done_callback(lambda done: _settle(done, result))

        self.loop.call_soon_threadsafe(start)
        return result.get()  # type: ignore[no-any-return]


def _settle(task: asyncio.Task[Any], result: Any) -> None:
    if task.cancelled():
        result.set_exception(asyncio.CancelledError())
    elif task.exception() is not None:
        result.set_exception(task.exception())
    else:
        result.set(task.result())
