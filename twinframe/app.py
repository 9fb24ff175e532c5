"""The App: routes, hooks, error handlers, and the one request pipeline both entrypoints share."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from types import SimpleNamespace
from typing import Any, Literal, TypeVar
from urllib.parse import quote

from .asgi import ASGIAdapter
from .concurrency import ThreadPool
from .errors import (
    ClientDisconnect,
    HTTPError,
    MethodNotAllowed,
    NotFound,
    UpgradeRequired,
    problem_response,
)
from .request import PATH_SAFE, Request
from .response import NO_BODY_STATUSES, TEXT, Response
from .routing import WEBSOCKET, Handler, Matcher, Router, is_async_callable
from .wsgi import WSGIAdapter

logger = logging.getLogger("twinframe")

F = TypeVar("F", bound=Callable[..., Any])
Lifespan = Callable[["App"], AbstractAsyncContextManager[Any]]
ErrorKey = int | type[BaseException]



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
        self._before: list[tuple[Handler, bool]] = []
        self._after: list[tuple[Handler, bool]] = []
        self._before_websocket: list[tuple[Handler, bool]] = []
        self._startup: list[Handler] = []
        self._shutdown: list[Handler] = []
        self._lifespan_cm: AbstractAsyncContextManager[Any] | None = None
        self._error_handlers: dict[ErrorKey, tuple[Handler, bool]] = {}
        self._matcher: Matcher | None = None
        self.wsgi = WSGIAdapter(self)
        """The WSGI (PEP 3333) entrypoint: ``gunicorn module:app.wsgi``."""
        self.asgi = ASGIAdapter(self)
        """The ASGI 3 entrypoint: ``uvicorn module:app.asgi``."""

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

    @property
    def matcher(self) -> Matcher:
        """The compiled route table (built on first use, rebuilt after new routes)."""
        matcher = self._matcher
        if matcher is None:
            matcher = self._matcher = Matcher(self.routes)
        return matcher

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

    async def startup(self) -> None:
        """Run the startup hooks and enter the ``lifespan`` context; raises if one fails."""
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
        """Run the shutdown hooks, then leave the ``lifespan`` context."""
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
        self.thread_pool.shutdown()
        if errors:
            raise errors[0]

    # -- the pipeline ---------------------------------------------------------------

    async def dispatch(self, req: Request) -> tuple[Response, list[tuple[str, str]]]:
        """Answer ``req``: route, hooks, handler, error handling. Never raises.

        Returns the response and its validated header list, ready for the adapter to send.
        """
        response: Response | None = None
        try:
            if req._error is not None:
                raise req._error
            matcher = self._matcher or self.matcher  # the property builds it the first time
            found = matcher.match(req.method, req.path)
            if found is None:
                response = self._unrouted(req)
            else:
                route, params = found
                req.route = route
                req.params = params
                if not route.stream:
                    # Before the hooks, so they may read the body (docs/hooks.md
                    # says what that costs an auth hook, and how to avoid it).
                    receiving = req._start_body()
                    while receiving is not None:
                        receiving = req._continue_body(await receiving)
                if self._before:
                    for hook, is_async in self._before:
                        result = await req._invoke(hook, is_async, req)
                        if result is not None:
                            response = self._to_response(result, hook)
                            break
                if response is None:
                    handler = route.handler
                    # _invoke's fast paths, minus _invoke's own coroutine: that coroutine
                    # measured ~0.3 us, 8% of a hello request.
                    is_async = route.is_async
                    if is_async and req._async_inline:
                        result = await handler(req, **params)
                    elif not is_async and req._sync_inline:
                        result = handler(req, **params)
                    else:
                        result = await req._invoke(handler, is_async, req, **params)
                    response = self._to_response(result, handler)
        except Exception as exc:
            response = await self._handle_error(req, exc)
        if self._after:
            try:
                for hook, is_async in self._after:
                    result = await req._invoke(hook, is_async, req, response)
                    if result is not None:
                        response = self._to_response(result, hook)
            except Exception as exc:
                response = await self._handle_error(req, exc)
        try:
            if not 200 <= response.status <= 599:
                raise ValueError(f"response status {response.status!r} is not a final HTTP status")
            response = response.finalize(req)
            if response.status in NO_BODY_STATUSES or req.method == "HEAD":
                return await self._without_body(req, response)
            return response, response.header_list()
        except Exception as exc:
            logger.exception("invalid response from %s %s", req.method, req.path)
            response.close()
            response = self._internal_error(req, exc)
            return response, response.header_list()

    @staticmethod
    async def _without_body(
        req: Request, response: Response
    ) -> tuple[Response, list[tuple[str, str]]]:
        """A bodiless copy of ``response`` and its headers (the handler's object stays intact).

        204 and 304 have no body, so no Content-Type either; a HEAD answer keeps the
        GET headers (Content-Length included). A stream is closed unread, the way
        this protocol runs code: an async one awaited, a sync one via ``_call``.
        """
        response = response.copy()
        if response.status in NO_BODY_STATUSES:
            response.content_type = None
        headers = response.header_list()
        stream = response.body_stream
        response.body = b""
        if stream is not None:
            aclose = getattr(stream, "aclose", None)
            try:
                if aclose is not None:
                    await req._await(aclose())
                else:
                    await req._call(response.close)
            except Exception:
                logger.exception("closing an unsent response stream failed")
            response.body_stream = None
        return response, headers

    def _unrouted(self, req: Request) -> Response:
        path = req.path
        matcher = self.matcher
        allowed = matcher.allowed_methods(path)
        if allowed:
            if allowed == {WEBSOCKET}:
                raise UpgradeRequired("this path accepts WebSocket connections only")
            methods = allowed - {WEBSOCKET}
            if "GET" in methods:
                methods.add("HEAD")
            methods.add("OPTIONS")
            if req.method == "OPTIONS":
                return Response(status=204, headers={"Allow": ", ".join(sorted(methods))})
            raise MethodNotAllowed(methods)
        if path != "/":
            alternative = path[:-1] if path.endswith("/") else path + "/"
            # "//host" would be read by browsers as another site: never redirect there.
            if not alternative.startswith("//") and (
                matcher.allowed_methods(alternative) - {WEBSOCKET}
            ):
                location = quote(req.root_path + alternative, safe=PATH_SAFE)
                if req.query_string:
                    # query_string holds the raw bytes as latin-1 characters: quote those bytes.
                    raw_query = req.query_string.encode("latin-1")
                    location += "?" + quote(raw_query, safe=PATH_SAFE + "?%")
                return Response.redirect(location, 308)
        raise NotFound("nothing is served at this path")

    @staticmethod
    def _to_response(result: Any, source: Any) -> Response:
        kind = type(result)
        if kind is Response or isinstance(result, Response):
            return result  # type: ignore[no-any-return]
        if kind is str:
            return Response(result.encode("utf-8"), 200, None, TEXT)
        if kind is dict or kind is list:
            return Response.json(result)
        if kind is bytes:
            return Response(result)
        if result is None:
            return Response(status=204)
        if kind is tuple and 2 <= len(result) <= 3 and _is_status(result[1]):
            status = int(result[1])
            if not 200 <= status <= 599:
                label = getattr(source, "__qualname__", repr(source))
                raise ValueError(f"{label}() returned status {status}; use 200-599")
            body = result[0]
            # A Response object may be returned to many requests: adjust a copy.
            response = (
                body.copy()
                if isinstance(body, Response)
                else App._to_response(body, source) if body is not None else Response()
            )
            response.status = status
            if response.status in (204, 304):
                response.content_type = None
            if len(result) == 3 and result[2]:
                response.headers.update(result[2])
            return response
        # Subclasses (OrderedDict, str enums, bytearray...) take the slower checks.
        if isinstance(result, str):
            return Response(str(result).encode("utf-8"), 200, None, TEXT)
        if isinstance(result, (dict, list)):
            return Response.json(result)
        if isinstance(result, (bytes, bytearray, memoryview)):
            return Response(bytes(result))
        label = getattr(source, "__qualname__", repr(source))
        raise TypeError(
            f"{label}() returned {kind.__name__}; return a Response, str, bytes, dict, list, "
            "None, or a (body, status[, headers]) tuple"
        )

    def _find_error_handler(self, exc: Exception) -> tuple[ErrorKey, Handler, bool] | None:
        handlers = self._error_handlers
        if not handlers or isinstance(exc, ClientDisconnect):
            return None
        if isinstance(exc, HTTPError):
            if exc.status in handlers:
                return (exc.status, *handlers[exc.status])
            # An HTTPError is an answer, not a crash: a handler for Exception (or
            # another base class outside HTTPError) is for failures and leaves it alone.
            for cls in type(exc).__mro__:
                if cls in handlers and issubclass(cls, HTTPError):
                    return (cls, *handlers[cls])
            return None
        for cls in type(exc).__mro__:
            if cls in handlers:
                return (cls, *handlers[cls])
        if 500 in handlers:
            return (500, *handlers[500])
        return None

    async def _handle_error(self, req: Request, exc: Exception) -> Response:
        found = self._find_error_handler(exc)
        if found is not None:
            key, handler, is_async = found
            if key == 500 and not isinstance(exc, HTTPError):
                # A custom 500 page must not hide the failure from the logs.
                logger.error("unhandled exception in %s %s", req.method, req.path, exc_info=exc)
            try:
                result = await req._invoke(handler, is_async, req, exc)
                if result is not None:  # None: the handler declines, the default rendering answers
                    return self._error_handler_response(result, handler, exc)
            except Exception as failure:
                logger.exception("error handler %r failed while handling %r", handler, exc)
                return self._internal_error(req, failure)
        if isinstance(exc, HTTPError):
            return problem_response(exc.status, exc.detail, exc.headers, req._header("accept"))
        if isinstance(exc, ClientDisconnect):
            logger.debug(
                "client disconnected before sending the whole body: %s %s", req.method, req.path
            )
            return problem_response(400, "request body incomplete", None, req._header("accept"))
        logger.error("unhandled exception in %s %s", req.method, req.path, exc_info=exc)
        return self._internal_error(req, exc)

    def _error_handler_response(self, result: Any, handler: Handler, exc: Exception) -> Response:
        response = self._to_response(result, handler)
        if response is result:
            response = response.copy()  # the handler may return one object to many errors
        status = exc.status if isinstance(exc, HTTPError) else 500
        if not isinstance(result, (Response, tuple)):
            # A bare body from an error handler answers with the error's status, not 200.
            response.status = status
        if isinstance(exc, HTTPError):
            # Keep what the error requires (Allow on 405, WWW-Authenticate on 401...).
            for name, value in exc.headers.items():
                response.headers.setdefault(name, value)
        return response

    def _internal_error(self, req: Request, exc: BaseException | None = None) -> Response:
        detail = None
        if self.debug and exc is not None:
            detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return problem_response(500, detail, None, req._header("accept"))


def _is_status(value: Any) -> bool:
    # bool is an int subclass, but (body, True) is a mistake, not a status.
    return isinstance(value, int) and not isinstance(value, bool)
