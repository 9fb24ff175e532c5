"""Bridges between sync and async code, used by the protocol adapters.

- Under WSGI, async handlers run on an event loop owned by the worker thread:
  created on first use, reused for every later request on that thread.
- Under ASGI, sync handlers run in a bounded thread pool so they never block
  the server's event loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import queue
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from . import gevent_loop

T = TypeVar("T")
logger = logging.getLogger("twinframe")
D = TypeVar("D")

_local = threading.local()


def is_async_callable(obj: Any) -> bool:
    """True for ``async def`` functions and objects whose ``__call__`` is one."""
    while hasattr(obj, "func") and hasattr(obj, "args"):  # functools.partial
        obj = obj.func
    return inspect.iscoroutinefunction(obj) or inspect.iscoroutinefunction(
        getattr(obj, "__call__", None)  # noqa: B004 - we want the method itself
    )


def thread_loop() -> asyncio.AbstractEventLoop:
    """This thread's own event loop (created once, kept for the thread's lifetime).

    Under gevent's monkeypatching it is the process's one gevent-driven loop
    (see ``twinframe.gevent_loop``).
    """
    shared = gevent_loop.active()
    if shared is not None:
        return shared.loop
    owner: _LoopOwner | None = getattr(_local, "owner", None)
    if owner is None or owner.loop.is_closed():
        owner = _local.owner = _LoopOwner()
    return owner.loop


def keep_thread_loop() -> object | None:
    """A handle that keeps this thread's loop open after the thread ends, until dropped.

    The WSGI adapter holds it from startup to shutdown: work started at startup
    (a mounted ASGI app's lifespan, a lifespan context's connections) stays on
    that loop, and shutdown resumes it there, even when the thread that started
    it has ended (gunicorn's gthread workers end theirs before the process exits).
    None under gevent, whose one loop lives as long as the process.
    """
    if gevent_loop.active() is not None:
        return None
    thread_loop()
    return getattr(_local, "owner", None)


class _LoopOwner:
    """Holds a thread's loop; the thread-local drops it when the thread ends, closing the loop.

    Servers that start a thread per request would otherwise leave one unclosed
    loop (a selector and a socket pair) per thread until garbage collection.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def __del__(self) -> None:
        loop = self.loop
        if not loop.is_closed() and not loop.is_running():
            loop.close()


def inside_event_loop() -> bool:
    """True when the caller runs inside an event loop, where blocking on async work deadlocks.

    Under gevent the process's one loop looks running to every greenlet, so
    only its driver greenlet counts as inside it.
    """
    shared = gevent_loop.active()
    if shared is not None:
        return shared.is_driver()
    return asyncio._get_running_loop() is not None


def run_on_thread_loop(awaitable: Awaitable[T]) -> T:
    """Run ``awaitable`` to completion on this thread's loop (from sync code)."""
    shared = gevent_loop.active()
    if shared is not None:
        return shared.run(awaitable)
    loop = thread_loop()
    if loop.is_running():
        raise RuntimeError("cannot run async code from sync code already inside this thread's loop")
    return loop.run_until_complete(awaitable)


class ThreadPool:
    """A bounded pool of worker threads for sync code called from async code."""

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _get(self) -> ThreadPoolExecutor:
        executor = self._executor
        if executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(
                        self.max_workers, thread_name_prefix="twinframe"
                    )
                executor = self._executor
        return executor

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call ``fn`` in a worker thread and await its result (context variables carried over)."""
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        call = functools.partial(context.run, fn, *args, **kwargs)
        return await loop.run_in_executor(self._get(), call)

    async def iterate(self, iterator: Iterator[T]) -> AsyncIterator[T]:
        """Iterate a blocking iterator from async code, one item per worker-thread call.

        However it ends (exhausted, failed, cancelled), the iterator is closed in a
        worker thread once no step of it is still running there.
        """
        done = object()
        step: Future[Any] | None = None
        try:
            while True:
                context = contextvars.copy_context()
                step = self._get().submit(context.run, _next_or, iterator, done)
                item = await asyncio.wrap_future(step)
                if item is done:
                    return
                yield item
        finally:
            if step is not None and not step.done():
                # Cancelled while a step runs in its thread: closing the iterator
                # now would fail ("generator already executing") or pull a file
                # from under the read, so let the step finish first.
                try:
                    await asyncio.shield(asyncio.wrap_future(step))
                except Exception:
                    pass  # the stream is being abandoned; its error has no one to reach
            close = getattr(iterator, "close", None)
            if close is not None:
                await self.run(close)

    def shutdown(self) -> None:
        """Stop the worker threads (they are re-created if needed again)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


def _next_or(iterator: Iterator[T], default: object) -> T | object:
    # next() with a default, as a plain function executor.submit() can type.
    return next(iterator, default)


async def iterate_in_thread(iterator: Iterator[T]) -> AsyncIterator[T]:
    """Iterate a blocking iterator from async code, in a thread of its own.

    For long-lived producers (event streams) that would otherwise hold a pool
    thread for their whole life. The thread starts with the first item and
    closes the iterator itself once the consumer stops (exhausted, closed,
    cancelled): the consumer never waits for a step still blocked in the
    iterator; that step finishes, then the iterator is closed. Under gevent the
    thread is a greenlet.
    """
    loop = asyncio.get_running_loop()
    # Looked up at call time: gevent's monkeypatching replaces both.
    steps: queue.SimpleQueue[asyncio.Future[Any] | None] = queue.SimpleQueue()
    context = contextvars.copy_context()
    thread = threading.Thread(
        target=context.run,
        args=(_produce, iterator, steps, loop),
        name="twinframe-producer",
        daemon=True,
    )
    thread.start()
    try:
        while True:
            step: asyncio.Future[Any] = loop.create_future()
            steps.put(step)
            item = await step
            if item is _EXHAUSTED:
                return
            yield item
    finally:
        steps.put(None)  # the thread closes the iterator after its current step


_EXHAUSTED = object()


def _produce(
    iterator: Iterator[Any],
    steps: queue.SimpleQueue[asyncio.Future[Any] | None],
    loop: asyncio.AbstractEventLoop,
) -> None:
    """The producer thread of ``iterate_in_thread``: one ``next()`` per requested step."""
    try:
        while (step := steps.get()) is not None:
            try:
                item = next(iterator, _EXHAUSTED)
            except BaseException as exc:  # handed to the consumer, which raises it
                _settle_threadsafe(loop, step, None, exc)
                return
            _settle_threadsafe(loop, step, item, None)
            if item is _EXHAUSTED:
                return
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                logger.exception("closing an abandoned stream producer failed")


def _settle_threadsafe(
    loop: asyncio.AbstractEventLoop,
    step: asyncio.Future[Any],
    item: Any,
    error: BaseException | None,
) -> None:
    def settle() -> None:
        if step.done():  # cancelled: the consumer has gone
            return
        if error is not None:
            step.set_exception(error)
        else:
            step.set_result(item)

    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:
        pass  # the loop is closed: nobody is waiting for this item any more


def iterate_on_thread_loop(iterator: AsyncIterator[T]) -> Iterator[T]:
    """Iterate an async iterator from sync code, on this thread's loop."""
    loop = thread_loop()
    shared = gevent_loop.active()
    run: Callable[[Awaitable[Any]], Any] = loop.run_until_complete if shared is None else shared.run
    done = object()
    try:
        while (item := run(anext_or(iterator, done))) is not done:
            yield item
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None and not loop.is_closed():
            run(aclose())


async def anext_or(iterator: AsyncIterator[T], default: D) -> T | D:
    """The next item of ``iterator``, or ``default`` once it is exhausted (a coroutine,
    so it can be handed to another loop or thread: ``anext()`` returns an awaitable)."""
    try:
        return await iterator.__anext__()
    except StopAsyncIteration:
        return default
