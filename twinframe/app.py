"""The App: routes, hooks, error handlers, limits, lifespan, and its two entrypoints.

The App holds what is registered; the pipeline that runs it for each request
or websocket is ``twinframe.pipeline``, reached through ``app.wsgi`` and
``app.asgi`` (``twinframe.wsgi``, ``twinframe.asgi``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from os import PathLike
from types import SimpleNamespace
from typing import Any, Literal, TypeVar

from . import bridging, mounting, pipeline
from .asgi import ASGIAdapter
from .chain import Middleware, Next, compose
from .concurrency import ThreadPool
from .contract import ErrorKey
from .matching import Matcher
from .routing import Handler, Route, Router, is_async_callable
from .static import StaticFiles
from .wsgi import WSGIAdapter

logger = logging.getLogger("twinframe")

F = TypeVar("F", bound=Callable[..., Any])
Lifespan = Callable[["App"], AbstractAsyncContextManager[Any]]


class App(Router):
    """A twinframe application: register routes with decorators, serve ``app.wsgi`` or ``app.asgi``.

    ``debug=True`` puts tracebacks in 500 responses (never in production).
    ``max_body_size`` bounds a request body read before the handler (413 past it);
    ``max_query_params`` and ``max_form_fields`` bound parsing work (400/413 past them);
    ``max_url_length`` bounds the decoded path plus query string (414 past it);
    ``max_message_size`` bounds one received WebSocket message (closed with 1009 past it);
    ``max_threads`` sizes the pool that runs sync handlers under ASGI.
    ``lifespan`` is an optional ``app -> async context manager`` entered at startup
    and left at shutdown (around the ``on_startup``/``on_shutdown`` hooks).
    ``middleware`` is a list of ``mw(req, call_next)`` callables, the first outermost
    (see ``add_middleware``).
    """

    def __init__(
        self,
        *,
        debug: bool = False,
        max_body_size: int = 1024 * 1024,
        max_query_params: int = 1000,
        max_form_fields: int = 1000,
        max_url_length: int = 8192,
        max_message_size: int = 1024 * 1024,
        max_threads: int = 40,
        lifespan: Lifespan | None = None,
        converters: Mapping[str, Callable[..., Any]] | None = None,
        middleware: Sequence[Middleware] = (),
    ) -> None:
        super().__init__(converters)
        self.debug = debug
        self.max_body_size = max_body_size
        self.max_query_params = max_query_params
        self.max_form_fields = max_form_fields
        self.max_url_length = max_url_length
        self.max_message_size = max_message_size
        self.state = SimpleNamespace()
        self.lifespan = lifespan
        self.thread_pool = ThreadPool(max_threads)
        # Sync middleware under ASGI wait in these threads while the rest of the chain
        # runs: a pool of their own, so they never hold the threads handlers need.
        self._middleware_pool = ThreadPool(max_threads)
        self._before: list[tuple[Handler, bool]] = []
        self._after: list[tuple[Handler, bool]] = []
        self._before_websocket: list[tuple[Handler, bool]] = []
        self._startup: list[Handler] = []
        self._shutdown: list[Handler] = []
        self._lifespan_cm: AbstractAsyncContextManager[Any] | None = None
        self._running = False  # between a successful startup() and shutdown(), by anyone
        self._error_handlers: dict[ErrorKey, tuple[Handler, bool]] = {}
        self._matcher: Matcher | None = None
        self._mount_table: list[mounting.Mount] = []  # longest prefix first
        self._middleware: list[Middleware] = []
        self._chain: Next | None = None  # the composed middleware; None: no middleware
        self.wsgi = WSGIAdapter(self)
        """The WSGI (PEP 3333) entrypoint: ``gunicorn module:app.wsgi``."""
        self.asgi = ASGIAdapter(self)
        """The ASGI 3 entrypoint: ``uvicorn module:app.asgi``."""
        for mw in middleware:
            self.add_middleware(mw)

    def __repr__(self) -> str:
        return f"<App {len(self.routes)} routes>"

    def run(
        self,
        host: str = "127.0.0.1",
        port: int = 8000,
        interface: Literal["wsgi", "asgi"] = "wsgi",
        reload: bool = False,
    ) -> None:
        """Serve the app with the development server until Ctrl-C (see ``twinframe.server``).

        ``interface="wsgi"`` uses the standard library's wsgiref (threaded), ``"asgi"``
        uses uvicorn; ``reload=True`` restarts on source changes. Not for production.
        """
        from .server import run

        run(self, host=host, port=port, interface=interface, reload=reload)

    # -- registration ---------------------------------------------------------------

    def _routes_changed(self) -> None:
        self._matcher = None
        self._mount_table = mounting.sorted_mounts(self.mounts)

    @property
    def _twinframe_app(self) -> App:
        # Lets mount() tell a twinframe App (served natively) from other apps.
        return self

    def mount_for(self, path: str) -> mounting.Mount | None:
        """The mount that answers ``path`` (relative to this app) when no route does, or None."""
        return mounting.find(self._mount_table, path) if self._mount_table else None

    @property
    def matcher(self) -> Matcher:
        """The compiled route table (built on first use, rebuilt after new routes)."""
        matcher = self._matcher
        if matcher is None:
            matcher = self._matcher = Matcher(self.routes)
        return matcher

    def static(
        self,
        prefix: str,
        directory: str | PathLike[str],
        *,
        max_age: int | None = 3600,
        name: str = "static",
    ) -> Route:
        """Serve the files under ``directory`` at ``prefix`` (``app.static("/static", "public")``).

        ``GET prefix/<path>`` answers with the file (content type, ETag and
        Last-Modified with 304, Range, HEAD), ``Cache-Control: public,
        max-age=<max_age>``, and the precompressed ``<path>.gz`` beside it for
        clients that accept gzip. Paths outside the directory, hidden files and
        directories answer 404. ``url_for(name, path="style.css")`` builds a URL.
        """
        if not prefix.startswith("/") or (prefix.endswith("/") and prefix != "/"):
            raise ValueError(f"static prefix {prefix!r} must start with '/' and not end with '/'")
        handler = StaticFiles(directory, max_age=max_age)
        return self.add_route(prefix.rstrip("/") + "/{path:path}", handler, ("GET",), name)

    def add_middleware(self, mw: Middleware) -> None:
        """Wrap every HTTP request in ``mw(req, call_next)`` (sync or ``async def``).

        The first added is the outermost. ``call_next(req)`` runs the rest (inner
        middleware, routing, hooks, handler, error handlers) and gives back the
        ``Response`` (awaited in an async middleware); the middleware returns a
        ``Response``, that one or its own. Errors have become responses by then;
        what the middleware itself raises becomes one too (an ``HTTPError`` its
        status, anything else a logged 500). A middleware with a
        ``before_websocket(ws)`` method also gets it registered as a websocket hook.
        See docs/middleware.md.
        """
        self._middleware.append(mw)
        # PERF: composed here, at registration: a request only reads self._chain.
        self._chain = compose(
            self._middleware,
            functools.partial(pipeline.routed, self),
            functools.partial(pipeline.handle_error, self),
            self._middleware_pool,
        )
        websocket_hook = getattr(mw, "before_websocket", None)
        if websocket_hook is not None:
            self.before_websocket(websocket_hook)

    @property
    def middleware(self) -> tuple[Middleware, ...]:
        """The installed middleware, outermost first."""
        return tuple(self._middleware)

    def before_request(self, hook: F) -> F:
        """Decorator: ``hook(req)`` runs before each routed handler.

        A non-None return value answers the request instead of the handler.
        """
        self._before.append((hook, is_async_callable(hook)))
        return hook

    def after_request(self, hook: F) -> F:
        """Decorator: ``hook(req, resp)`` runs on every response; a non-None return replaces it."""
        self._after.append((hook, is_async_callable(hook)))
        return hook

    def before_websocket(self, hook: F) -> F:
        """Decorator: ``hook(ws)`` runs before each routed websocket handler, before ``accept()``.

        Refuse the connection by raising ``HTTPError`` (its status reaches the
        client where the server supports it, else 403), returning a ``Response``,
        or (async hooks) ``await ws.close()``; return None to let it through.
        """
        self._before_websocket.append((hook, is_async_callable(hook)))
        return hook

    def errorhandler(self, key: ErrorKey) -> Callable[[F], F]:
        """Decorator: ``handler(req, exc)`` answers for a status code or an exception class."""
        is_exception_class = isinstance(key, type) and issubclass(key, BaseException)
        if not isinstance(key, int) and not is_exception_class:
            raise TypeError(f"errorhandler takes a status code or an exception class, not {key!r}")

        def decorator(handler: F) -> F:
            self._error_handlers[key] = (handler, is_async_callable(handler))
            return handler

        return decorator

    def on_startup(self, hook: F) -> F:
        """Decorator: run ``hook()`` (sync or async) once before serving, in registration order."""
        self._startup.append(hook)
        return hook

    def on_shutdown(self, hook: F) -> F:
        """Decorator: run ``hook()`` (sync or async) once when the server stops."""
        self._shutdown.append(hook)
        return hook

    # -- lifespan (driven by the adapters) -------------------------------------------

    @property
    def _has_lifespan(self) -> bool:
        """True when startup or shutdown has work: hooks, a ``lifespan`` context, mounts."""
        return bool(self._startup or self._shutdown or self.lifespan is not None or self.mounts)

    async def startup(self) -> None:
        """Start the mounted apps, enter the ``lifespan`` context, run the startup hooks.

        Raises if one fails (after stopping what had started).
        """
        if self.mounts:
            await bridging.startup(self.mounts)
        try:
            await self._start_own()
        except BaseException:
            if self.mounts:
                await bridging.shutdown(self.mounts)
            raise
        self._running = True

    async def _start_own(self) -> None:
        if self.lifespan is not None:
            cm = self.lifespan(self)
            await cm.__aenter__()
            self._lifespan_cm = cm
        try:
            for hook in self._startup:
                result = hook()
                if isinstance(result, Awaitable):
                    await result
        except BaseException as exc:
            # Give the lifespan context its chance to release what it opened.
            entered, self._lifespan_cm = self._lifespan_cm, None
            if entered is not None:
                await entered.__aexit__(type(exc), exc, exc.__traceback__)
            raise

    async def shutdown(self) -> None:
        """Run the shutdown hooks, leave the ``lifespan`` context, stop the mounted apps."""
        self._running = False
        errors: list[BaseException] = []
        for hook in self._shutdown:
            try:
                result = hook()
                if isinstance(result, Awaitable):
                    await result
            except Exception as exc:
                logger.exception("shutdown hook %r failed", hook)
                errors.append(exc)
        cm, self._lifespan_cm = self._lifespan_cm, None
        if cm is not None:
            await cm.__aexit__(None, None, None)
        if self.mounts:
            errors += await bridging.shutdown(self.mounts)
        self.thread_pool.shutdown()
        self._middleware_pool.shutdown()
        if errors:
            raise errors[0]
