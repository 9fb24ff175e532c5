"""The middleware chain: ``mw(req, call_next)`` links composed once, the first added outermost.

A middleware is a function or an object called as ``mw(req, call_next)``, sync or
``async def``, returning a ``Response``. ``compose`` turns the list into one
``async`` callable, built when the app first serves a request, so a request
through an app without middleware pays nothing for the mechanism.

Each link runs its middleware the way the entrypoint runs code of that kind:

- WSGI: a sync middleware is called directly and its ``call_next`` runs the rest
  of the pipeline in place (it never suspends under WSGI). An async middleware runs
  on the worker thread's event loop; when what follows it is sync code (a sync
  middleware or the routed pipeline) that part runs in a worker thread, outside
  the loop, as WSGI code expects.
- ASGI: an async middleware is awaited on the server's loop. A sync one runs in a
  worker thread of its own pool, and its ``call_next`` hands the rest back to the
  loop and blocks that thread until the response is ready.

Consecutive middleware of one kind share one crossing. A middleware class may set
``inline = True`` to say its ``async __call__`` awaits nothing but ``call_next``:
it then runs in place under WSGI too, without the loop (the built-ins do this).

Whatever a middleware raises becomes a response through the app's error handling
(an ``HTTPError`` its status, anything else a logged 500), so an outer middleware
always receives a response, never an exception.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from .concurrency import ThreadPool, inside_event_loop, run_on_thread_loop
from .request import Request
from .response import Response
from .routing import is_async_callable

__all__ = ["Middleware", "Next", "compose"]

Next = Callable[[Request], Awaitable[Response]]
"""The rest of the chain as the pipeline calls it: ``await call(req)`` gives the Response."""
Middleware = Callable[[Request, Callable[[Request], Any]], Any]
"""``mw(req, call_next) -> Response`` (sync) or ``async def mw(req, call_next) -> Response``."""
OnError = Callable[[Request, Exception], Awaitable[Response]]

_MISSING = object()


def compose(
    middleware: Sequence[Middleware], terminal: Next, on_error: OnError, pool: ThreadPool
) -> Next:
    """One callable running ``middleware`` (outermost first) around ``terminal``.

    ``terminal`` is the routed pipeline (routing, hooks, handler, error handlers);
    ``on_error`` turns a middleware's exception into a response; ``pool`` runs the
    crossings between sync and async code.
    """
    kinds = [
        "sync"
        if not is_async_callable(mw)
        else "inline"
        if getattr(mw, "inline", False)
        else "async"
        for mw in middleware
    ]
    # Where the handler may run in another context than the chain's entry: sync
    # middleware under ASGI (a thread), plain async ones under WSGI (the thread's loop).
    crossing = {"wsgi": "async" in kinds, "asgi": "sync" in kinds}
    call: Next = _Terminal(terminal, crossing) if any(crossing.values()) else terminal
    inner_is_async = False  # the routed pipeline runs sync code: under WSGI, outside a loop
    for index in range(len(middleware) - 1, -1, -1):
        mw, kind = middleware[index], kinds[index]
        if kind == "sync":
            call = _SyncLink(mw, call, on_error, pool)
            inner_is_async = False
        else:
            # Under WSGI a link runs on the thread's loop only below a plain async one.
            below_loop = "async" in kinds[:index]
            call = _AsyncLink(mw, call, inner_is_async, below_loop, on_error, pool)
            inner_is_async = True
    # PERF: without a crossing every step shares one context: nothing to carry over.
    return _Outermost(call) if any(crossing.values()) else call


def _checked(result: Any, mw: Middleware) -> Response:
    if not isinstance(result, Response):
        label = getattr(mw, "__qualname__", None) or type(mw).__qualname__
        raise TypeError(f"middleware {label} returned {type(result).__name__}, not a Response")
    return result


def drive(coroutine: Coroutine[Any, Any, Response]) -> Response:
    """Run a pipeline coroutine that never suspends (WSGI) to its end, from sync code."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("twinframe's pipeline suspended under WSGI; this is a bug")


class _Terminal:
    """The routed pipeline, noting the context its handler ran in (for the stream)."""

    __slots__ = ("asgi", "call", "wsgi")

    def __init__(self, call: Next, crossing: dict[str, bool]) -> None:
        self.call = call
        self.wsgi = crossing["wsgi"]
        self.asgi = crossing["asgi"]

    async def __call__(self, req: Request) -> Response:
        response = await self.call(req)
        if self.wsgi if req._sync_inline else self.asgi:
            req._context = contextvars.copy_context()
        return response


class _Outermost:
    """The chain's entry: afterwards, what the handler saw in ``contextvars`` is set here.

    A sync middleware under ASGI or an async one under WSGI runs the handler in
    another context (a thread, the thread's loop); the response stream is sent
    from this one, and must see the same values.
    """

    __slots__ = ("call",)

    def __init__(self, call: Next) -> None:
        self.call = call

    async def __call__(self, req: Request) -> Response:
        response = await self.call(req)
        context = req._context
        if context is not None:
            for var, value in context.items():
                if var.get(_MISSING) is not value:
                    var.set(value)
        return response


class _SyncLink:
    __slots__ = ("inner", "mw", "on_error", "pool")

    def __init__(self, mw: Middleware, inner: Next, on_error: OnError, pool: ThreadPool) -> None:
        self.mw = mw
        self.inner = inner
        self.on_error = on_error
        self.pool = pool

    async def __call__(self, req: Request) -> Response:
        try:
            if req._sync_inline:  # WSGI: in place; call_next drives the rest in place too
                return _checked(self.mw(req, self._next_in_place), self.mw)
            # ASGI: in a worker thread; call_next blocks it while the loop runs the rest.
            return await self.pool.run(self.run_here, req, asyncio.get_running_loop())
        except Exception as exc:
            return await self.on_error(req, exc)

    def run_here(self, req: Request, loop: asyncio.AbstractEventLoop) -> Response:
        """Run this middleware in the calling worker thread (ASGI)."""
        inner = self.inner

        def call_next(req: Request) -> Response:
            if isinstance(inner, _SyncLink):  # PERF: consecutive sync middleware, one thread
                return _run_sync_link(inner, req, loop)
            return asyncio.run_coroutine_threadsafe(_as_coroutine(inner, req), loop).result()

        return _checked(self.mw(req, call_next), self.mw)

    def _next_in_place(self, req: Request) -> Response:
        return drive(_as_coroutine(self.inner, req))


def _run_sync_link(link: _SyncLink, req: Request, loop: asyncio.AbstractEventLoop) -> Response:
    try:
        return link.run_here(req, loop)
    except Exception as exc:
        return asyncio.run_coroutine_threadsafe(
            _as_coroutine(link.on_error, req, exc), loop
        ).result()


async def _as_coroutine(call: Callable[..., Awaitable[Response]], *args: Any) -> Response:
    return await call(*args)


class _AsyncLink:
    __slots__ = ("in_place", "inline", "inner", "inner_is_async", "mw", "on_error", "pool")

    def __init__(
        self,
        mw: Middleware,
        inner: Next,
        inner_is_async: bool,
        below_loop: bool,
        on_error: OnError,
        pool: ThreadPool,
    ) -> None:
        self.mw = mw
        self.inner = inner
        self.inner_is_async = inner_is_async
        self.inline = bool(getattr(mw, "inline", False))
        # PERF: an inline link never under a loop (WSGI) hands its inner step over as
        # it is: no check per request of where it runs.
        self.in_place = self.inline and not below_loop
        self.on_error = on_error
        self.pool = pool

    async def __call__(self, req: Request) -> Response:
        try:
            if req._async_inline or self.in_place:  # ASGI: on the server's loop; or in place
                result = await self.mw(req, self.inner)
            elif self.inline or inside_event_loop():
                # WSGI, a middleware that awaits only call_next, or an outer async
                # middleware already brought us onto the thread's loop.
                result = await self.mw(req, self._next_wsgi)
            else:  # WSGI: on the worker thread's loop
                result = run_on_thread_loop(self.mw(req, self._next_wsgi))
            return _checked(result, self.mw)
        except Exception as exc:
            return await self.on_error(req, exc)

    async def _next_wsgi(self, req: Request) -> Response:
        if self.inner_is_async or not inside_event_loop():
            return await self.inner(req)
        # Sync code follows, and WSGI code runs outside any loop: in a worker thread.
        # Its async code comes back to this loop (WSGIRequest._await).
        req._loop = asyncio.get_running_loop()
        return await self.pool.run(_drive_call, self.inner, req)


def _drive_call(call: Next, req: Request) -> Response:
    return drive(_as_coroutine(call, req))
