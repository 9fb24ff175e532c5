"""The pipeline both entrypoints share: an HTTP request and a websocket, side by side.

``dispatch(app, req)`` answers an HTTP request: the middleware chain
(``twinframe.chain``, when the app has middleware), the target check, routing, the
body read, ``before_request`` hooks, the handler, the return-value conversion,
error handlers, ``after_request`` hooks and the response's last checks.
``dispatch_websocket(app, ws)`` runs a websocket: routing, ``before_websocket``
hooks, the handler, and the mapping of errors onto the handshake or a close code.

Neither knows WSGI or ASGI: the adapters (``wsgi.py``, ``asgi.py``) build the
Request or WebSocket, call in here, and send what comes back. What they supply
to it is the adapter contract, ``twinframe.contract``. A feature added here
works under both entrypoints.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any
from urllib.parse import quote

from . import bridging
from .connection import HTTPConnection
from .contract import Application, ErrorKey
from .errors import (
    BadRequest,
    ClientDisconnect,
    HTTPError,
    MethodNotAllowed,
    NotFound,
    UpgradeRequired,
)
from .mounting import Mount
from .request import Request
from .response import NO_BODY_STATUSES, TEXT, Response, problem_response
from .routing import WEBSOCKET, Handler
from .sending import close_unsent
from .target import PATH_SAFE
from .websocket import (
    CLOSED,
    CONNECTING,
    WebSocket,
    WebSocketDataError,
    WebSocketDisconnect,
    fit_reason,
)

logger = logging.getLogger("twinframe")
# What dispatch(..., routed_only=True) returns in place of a header list.
_FOR_MIDDLEWARE: list[tuple[str, str]] = []
_NOT_FOUND = "nothing is served at this path"


async def invoke(
    conn: HTTPConnection, fn: Handler, is_async: bool, /, *args: Any, **kwargs: Any
) -> Any:
    """Call a handler, hook or error handler, sync or async, as ``conn``'s protocol runs it.

    Sync code: called directly under WSGI, in the thread pool under ASGI; async
    code: awaited under ASGI, on the worker thread's loop under WSGI.
    """
    if is_async:
        if conn._async_inline:
            return await fn(*args, **kwargs)
        return await conn._await(fn(*args, **kwargs))
    if conn._sync_inline:
        return fn(*args, **kwargs)
    return await conn._call(fn, *args, **kwargs)


def _check_host(conn: HTTPConnection) -> None:
    """400 for more than one ``Host`` header, before routing (RFC 9112 section 3.2).

    Checked for every request, so the answer does not depend on whether the
    handler reads ``req.host``. Both adapters join repeated headers with ", "
    (WSGI servers do it before the app sees them), and a host name has no comma.
    """
    # PERF: one header lookup and a substring test; the full Host syntax check
    # stays lazy in ``req.host``.
    host = conn._header("host")
    if host is not None and "," in host:
        raise BadRequest("more than one Host header")


# -- HTTP ------------------------------------------------------------------------------


async def dispatch(
    app: Application, req: Request, routed_only: bool = False
) -> tuple[Response, list[tuple[str, str]]]:
    """Answer ``req``: middleware, route, hooks, handler, error handling. Never raises.

    Returns the response and its validated header list, ready for the adapter to send.
    ``routed_only`` (the middleware chain's innermost step, ``routed``) skips the
    middleware and returns the finalized response with no header list.
    """
    response: Response | None
    chain = app._chain
    if chain is not None and not routed_only:
        response = await chain(req)  # the middleware; the innermost calls routed()
    else:
        response = None
        result: Any = None
        mounted = False
        try:
            if req._error is not None:
                raise req._error
            _check_host(req)
            # PERF: the attribute, not the property (which builds the matcher the first time).
            matcher = app._matcher or app.matcher
            found = matcher.match(req.method, req.path)
            if found is None:
                # PERF: an app without mounts pays one attribute read, only when unrouted.
                mount = app.mount_for(req.path) if app._mount_table else None
                if mount is None:
                    response = _unrouted(app, req)
                else:
                    # Hooks are for this app's routes; middleware wraps mounts too.
                    mounted = True
                    response = await _serve_mount(mount, req)
            else:
                route, params = found
                req.route = route
                req.params = params
                if not route.stream:
                    # Before the hooks, so they may read the body (docs/hooks.md
                    # says what that costs an auth hook, and how to avoid it).
                    # PERF: the pipeline awaits the server's receive() itself (ASGI),
                    # or nothing at all (WSGI reads in place): no coroutine of our own.
                    receiving = req._start_body()
                    while receiving is not None:
                        receiving = req._continue_body(await receiving)
                if app._before:  # PERF: no loop set-up for the common app without hooks
                    for hook, is_async in app._before:
                        result = await invoke(req, hook, is_async, req)
                        if result is not None:
                            response = to_response(result, hook)
                            break
                if response is None:
                    handler = route.handler
                    # PERF: invoke()'s fast paths, minus invoke's own coroutine: that
                    # coroutine measured ~0.3 us, 8% of a hello request.
                    is_async = route.is_async
                    if is_async and req._async_inline:
                        result = await handler(req, **params)
                    elif not is_async and req._sync_inline:
                        result = handler(req, **params)
                    else:
                        result = await invoke(req, handler, is_async, req, **params)
                    response = to_response(result, handler)
        except Exception as exc:
            response = await _handle_error(app, req, exc)
        if app._after and not mounted:
            try:
                for hook, is_async in app._after:
                    result = await invoke(req, hook, is_async, req, response)
                    if result is not None:
                        response = to_response(result, hook)
            except Exception as exc:
                response = await _handle_error(app, req, exc)
        if routed_only:
            # For the middleware: a file's Range or 304 applies before they see it.
            try:
                finished = response.finalize(req)
                # Middleware change what they get: a Response object a handler or hook
                # returns to many requests must not collect their headers. (After
                # hooks reassign ``result``: with them, copy whatever came.)
                if finished is result or (finished is response and app._after):
                    finished = response.copy()
                return finished, _FOR_MIDDLEWARE
            except Exception as exc:
                return await _handle_error(app, req, exc), _FOR_MIDDLEWARE
    try:
        if not 200 <= response.status <= 599:
            raise ValueError(f"response status {response.status!r} is not a final HTTP status")
        response = response.finalize(req)
        if response.status in NO_BODY_STATUSES or req.method == "HEAD":
            return await _without_body(req, response)
        return response, response.header_list()
    except Exception as exc:
        logger.exception("invalid response from %s %s", req.method, req.path)
        response.close()
        response = _internal_error(app, req, exc)
        return response, response.header_list()


async def routed(app: Application, req: Request) -> Response:
    """The routed pipeline without the sending part: the middleware chain's innermost step."""
    response, _ = await dispatch(app, req, routed_only=True)
    return response


async def handle_error(app: Application, req: Request, exc: Exception) -> Response:
    """``exc`` as a response, through the app's error handlers (what a middleware raised)."""
    return await _handle_error(app, req, exc)


async def _serve_mount(mount: Mount, req: Request) -> Response:
    """The mounted app's answer; a twinframe App answers through this pipeline itself."""
    if mount.kind != "twinframe":
        return await bridging.serve(mount, req)
    sub_req = req._for_app(mount.app, mount.prefix)
    response, headers = await dispatch(mount.app, sub_req)
    return bridging.as_sent(response, headers)


def websocket_mount(app: Application, ws: WebSocket) -> Mount | None:
    """The mount a websocket goes to: one covering its path when no websocket route
    of ``app`` matches it (and its target is valid), else None."""
    if not app._mount_table or ws._error is not None:
        return None
    if app.matcher.match(WEBSOCKET, ws.path) is not None:
        return None
    return app.mount_for(ws.path)


async def _without_body(req: Request, response: Response) -> tuple[Response, list[tuple[str, str]]]:
    """A bodiless copy of ``response`` and its headers (the handler's object stays intact).

    204 and 304 have no body, so no Content-Type either; a HEAD answer keeps the
    GET headers (Content-Length included). A stream is closed unread.
    """
    response = response.copy()
    if response.status in NO_BODY_STATUSES:
        response.content_type = None
    headers = response.header_list()
    if response.body_stream is not None:
        try:
            await close_unsent(req, response)
        except Exception:
            logger.exception("closing an unsent response stream failed")
        response.body_stream = None
    response.body = b""
    return response, headers


def _unrouted(app: Application, req: Request) -> Response:
    """The answer for a request no route matched: 204 to OPTIONS, 405, a 308 to the
    path with or without its trailing slash, else 404 (or 426 for a websocket path)."""
    path = req.path
    matcher = app.matcher
    # PERF: most 404s start with a segment no route has: one dict lookup then
    # answers for the path and its trailing-slash twin, instead of two tree walks.
    nowhere = matcher.leads_nowhere(path)
    allowed = set() if nowhere else matcher.allowed_methods(path)
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
    if path != "/" and not nowhere:
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
    if not app._error_handlers:
        # PERF: what _handle_error() answers for a NotFound when the app has no error
        # handlers, without building and raising the exception (a third of a 404's cost).
        return problem_response(404, _NOT_FOUND, None, req._header("accept"))
    raise NotFound(_NOT_FOUND)


def to_response(result: Any, source: Any) -> Response:
    """What a handler, hook or error handler returned, as a Response (``source`` names
    the culprit in the error for a value that is none of the accepted kinds)."""
    # PERF: exact-type checks first (the common returns), isinstance only after.
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
            else to_response(body, source)
            if body is not None
            else Response()
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


def _is_status(value: Any) -> bool:
    # bool is an int subclass, but (body, True) is a mistake, not a status.
    return isinstance(value, int) and not isinstance(value, bool)


def _find_error_handler(app: Application, exc: Exception) -> tuple[ErrorKey, Handler, bool] | None:
    handlers = app._error_handlers
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


async def _handle_error(app: Application, req: Request, exc: Exception) -> Response:
    found = _find_error_handler(app, exc)
    if found is not None:
        key, handler, is_async = found
        if key == 500 and not isinstance(exc, HTTPError):
            # A custom 500 page must not hide the failure from the logs.
            logger.error("unhandled exception in %s %s", req.method, req.path, exc_info=exc)
        try:
            result = await invoke(req, handler, is_async, req, exc)
            if result is not None:  # None: the handler declines, the default rendering answers
                return _error_handler_response(result, handler, exc)
        except Exception as failure:
            logger.exception("error handler %r failed while handling %r", handler, exc)
            return _internal_error(app, req, failure)
    if isinstance(exc, HTTPError):
        return problem_response(exc.status, exc.detail, exc.headers, req._header("accept"))
    if isinstance(exc, ClientDisconnect):
        logger.debug(
            "client disconnected before sending the whole body: %s %s", req.method, req.path
        )
        return problem_response(400, "request body incomplete", None, req._header("accept"))
    logger.error("unhandled exception in %s %s", req.method, req.path, exc_info=exc)
    return _internal_error(app, req, exc)


def _error_handler_response(result: Any, handler: Handler, exc: Exception) -> Response:
    response = to_response(result, handler)
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


def _internal_error(app: Application, req: Request, exc: BaseException | None = None) -> Response:
    detail = None
    if app.debug and exc is not None:
        detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return problem_response(500, detail, None, req._header("accept"))


# -- websocket -------------------------------------------------------------------------


async def dispatch_websocket(app: Application, ws: WebSocket) -> None:
    """Run websocket ``ws`` to its end: route, hooks, handler; errors become a refused
    handshake (before ``accept()``) or a close code (after). Never raises."""
    try:
        await _run_websocket(app, ws)
    except WebSocketDisconnect as exc:
        logger.debug("websocket %s: client gone (%s)", ws.path, exc.code)
    except WebSocketDataError as exc:
        if ws._phase == CONNECTING:
            await _finish(ws._reject(400, str(exc), None))
        else:
            logger.debug("websocket %s: closing on bad data: %s", ws.path, exc)
            await _finish(ws.close(exc.code, fit_reason(str(exc))))
    except HTTPError as exc:
        if ws._phase == CONNECTING:
            await _finish(ws._reject(exc.status, exc.detail, exc.headers))
        else:
            code = 1008 if exc.status < 500 else 1011
            await _finish(ws.close(code, fit_reason(exc.detail or exc.title)))
    except Exception as exc:
        logger.error("unhandled exception in websocket handler for %s", ws.path, exc_info=exc)
        if ws._phase == CONNECTING:
            await _finish(ws._reject(500, None, None))
        else:
            await _finish(ws.close(1011))
    else:
        # A handler that returns ends the conversation: 1000 after accept, 403 before.
        await _finish(ws.close())


async def _run_websocket(app: Application, ws: WebSocket) -> None:
    if ws._error is not None:
        raise ws._error
    _check_host(ws)
    found = app.matcher.match(WEBSOCKET, ws.path)
    if found is None:
        raise NotFound("no websocket route at this path")
    route, params = found
    ws.route = route
    ws.params = params
    for hook, is_async in app._before_websocket:
        result = await invoke(ws, hook, is_async, ws)
        if isinstance(result, Response):
            if ws._phase != CONNECTING:
                raise RuntimeError(
                    f"before_websocket hook {hook!r} returned a Response after accept()"
                )
            await ws._reject_with(result)
            return
        if result is not None:
            raise TypeError(
                f"before_websocket hook {hook!r} returned {type(result).__name__}; "
                "return None or a Response"
            )
        if ws._phase == CLOSED:
            return  # the hook closed (refused) the connection
    await route.handler(ws, **params)


async def _finish(closing: Any) -> None:
    # Closing after an error must not raise a second error from a gone client.
    try:
        await closing
    except (OSError, WebSocketDisconnect):
        pass
