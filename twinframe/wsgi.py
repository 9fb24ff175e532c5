"""The WSGI (PEP 3333) adapter: environ -> Request, Response -> start_response.

The shared pipeline (``twinframe.pipeline.dispatch``) is a coroutine; under WSGI it never
suspends (sync code is called directly, async code runs on the worker thread's
own event loop), so it is driven here with a single ``send(None)``.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Iterable,
    Iterator,
)
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import quote

from . import gevent_loop
from .after_response import run_after_response
from .closing import close_if_closable
from .concurrency import (
    iterate_on_thread_loop,
    keep_thread_loop,
    run_on_thread_loop,
    thread_loop,
)
from .errors import BadRequest, ClientDisconnect, PayloadTooLarge
from .files import CHUNK_SIZE
from .lifecycle import Lifecycle
from .pipeline import dispatch
from .request import BODILESS_METHODS, Request
from .response import Response
from .sending import encode_chunk, is_async_stream, log_stream_failure
from .status import STATUS_LINES, status_line
from .target import PATH_SAFE, host_and_port
from .wsgi_bridge import InputStream

if TYPE_CHECKING:
    from .contract import Application
    from .types import Environ, StartResponse

T = TypeVar("T")
logger = logging.getLogger("twinframe")

# SERVER_PROTOCOL values of HTTP/1.x, where a body needs Content-Length or
# Transfer-Encoding (RFC 9112 section 6.3); Granian names HTTP/1.0 "HTTP/1".
_HTTP1 = frozenset({"HTTP/1.1", "HTTP/1.0", "HTTP/1"})
# PERF: environ keys for header names, built once per name, not per lookup.
_ENVIRON_KEYS = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}


async def _coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable


def _decoded(raw: str) -> str:
    """A PEP 3333 path (bytes as latin-1 characters) as text: UTF-8, bad bytes as U+FFFD."""
    return raw if raw.isascii() else raw.encode("latin-1").decode("utf-8", "replace")


def _server_port(environ: Environ) -> int | None:
    """SERVER_PORT as a number; None when it is not one.

    Waitress on a Unix socket puts the socket's path there: no port to show in
    ``req.host`` or to hand a mounted ASGI app (whose scope allows None).
    """
    port = environ.get("SERVER_PORT")
    return int(port) if isinstance(port, str) and port.isascii() and port.isdigit() else None


def _environ_key(name: str) -> str:
    key = _ENVIRON_KEYS.get(name)
    if key is None:
        key = _ENVIRON_KEYS[name] = "HTTP_" + name.upper().replace("-", "_")
    return key


class WSGIRequest(Request):
    """A Request read from a WSGI environ (``req.environ`` holds the original)."""

    _sync_inline = True  # PERF: _call just calls, so the pipeline calls itself

    def __init__(self, app: Application, environ: Environ) -> None:
        self.app = app
        self.environ = environ
        self.method = environ["REQUEST_METHOD"]
        self.params = {}
        # gunicorn (RAW_URI) and uWSGI/Apache (REQUEST_URI) also pass the target as sent.
        self._set_target(
            environ.get("PATH_INFO") or "/",
            environ.get("QUERY_STRING", ""),
            environ.get("RAW_URI") or environ.get("REQUEST_URI"),
            environ.get("SCRIPT_NAME", ""),
            wsgi=True,
        )

    def _header(self, name: str) -> str | None:
        return self.environ.get(_environ_key(name)) or None

    def _header_items(self) -> list[tuple[str, str]]:
        items = [
            (key[5:].replace("_", "-").lower(), value)
            for key, value in self.environ.items()
            if key.startswith("HTTP_")
        ]
        for name in ("content-type", "content-length"):
            value = self.environ.get(_ENVIRON_KEYS[name])
            if value:
                items.append((name, value))
        return items

    @property
    def client(self) -> tuple[str, int] | None:
        """The peer's (host, port), from REMOTE_ADDR / REMOTE_PORT."""
        host = self.environ.get("REMOTE_ADDR")
        if not host:
            return None
        port = self.environ.get("REMOTE_PORT")
        return host, int(port) if port and str(port).isdigit() else 0

    @property
    def scheme(self) -> str:
        """``http`` or ``https``, from ``wsgi.url_scheme``."""
        return str(self.environ.get("wsgi.url_scheme", "http"))

    def _set_peer(self, client: tuple[str, int] | None, scheme: str | None) -> None:
        environ = self.environ
        if client is not None:
            environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = client[0], str(client[1])
        if scheme is not None:
            environ["wsgi.url_scheme"] = scheme

    def _server_host(self) -> str:
        environ = self.environ
        return host_and_port(
            environ.get("SERVER_NAME", "localhost"), _server_port(environ), self.scheme
        )

    # -- body -------------------------------------------------------------------------

    def _read_chunks(self) -> Iterator[bytes]:
        """The body in chunks: Content-Length bytes, or a terminated input to its end.

        Limits are the caller's: ``_body_limit()`` refused an over-long
        Content-Length already, and streamed bodies have none.
        """
        stream = self.environ["wsgi.input"]
        length = self.content_length
        if length is None:
            # Without Content-Length, PEP 3333 only allows reading when the server
            # says the input is terminated (e.g. gunicorn with chunked bodies).
            if self.environ.get("wsgi.input_terminated"):
                while chunk := self._read(stream, CHUNK_SIZE):
                    yield chunk
            return
        yield from self._read_exactly(stream, length)

    @staticmethod
    def _read(stream: Any, size: int) -> bytes:
        try:
            return bytes(stream.read(size))
        except (OSError, ValueError) as exc:  # the server saw the connection drop
            raise ClientDisconnect() from exc
        except Exception as exc:
            # The server's own parser refused the body framing (e.g. gunicorn's
            # InvalidChunkSize): the client sent garbage, not a server fault.
            logger.info("request body framing refused by the server: %r", exc)
            raise BadRequest("malformed request body framing") from None

    def _read_exactly(self, stream: Any, remaining: int) -> Iterator[bytes]:
        """The next ``remaining`` bytes in chunks; an early end means the client left."""
        while remaining > 0:
            chunk = self._read(stream, min(remaining, CHUNK_SIZE))
            if not chunk:
                raise ClientDisconnect()
            remaining -= len(chunk)
            yield chunk

    def _body_end_known(self) -> bool:
        # PEP 3333: without a length, only an input the server marks terminated may be read.
        return bool(self.environ.get("wsgi.input_terminated"))

    def _start_body(self) -> None:
        # Reads block under WSGI anyway: read in place, no coroutine to await.
        environ = self.environ
        if environ.get("CONTENT_LENGTH"):
            length = self._body_length()  # 400/413 for a bad one, before reading
            # PERF: a body that fits one chunk (most do) in one read: no generator.
            if 0 < length <= CHUNK_SIZE:
                chunk = self._read(environ["wsgi.input"], length)
                if len(chunk) == length:
                    self._body = chunk
                    return
                if not chunk:
                    raise ClientDisconnect()
                rest = self._read_exactly(environ["wsgi.input"], length - len(chunk))
                self._body = chunk + b"".join(rest)
            else:
                self._body = b"".join(self._read_chunks())
        elif environ.get("wsgi.input_terminated"):
            if (
                self.method in BODILESS_METHODS
                and environ.get("SERVER_PROTOCOL") in _HTTP1
                and "HTTP_TRANSFER_ENCODING" not in environ
            ):
                # PERF: a GET or HEAD whose HTTP/1.x framing says there is no body
                # (request.BODILESS_METHODS), so the input is not read. Under Granian
                # that read releases the GIL and blocks on its runtime even for a
                # bodiless GET: 55% of a hello's Python time (py-spy).
                self._body = b""
                return
            # A terminated input without a length: gunicorn marks every request so;
            # under HTTP/2 a body needs neither header, so it is read to its end.
            self._body = self._read_to_end(self.app.max_body_size)
        else:
            self._has_no_body()  # no length, input not terminated: 411 if chunked
            self._body = b""

    def _continue_body(self, received: Any) -> None:
        # Never called: _start_body reads in place and returns None.
        raise AssertionError("WSGI reads the body in _start_body")

    def _read_to_end(self, limit: int) -> bytes:
        stream = self.environ["wsgi.input"]
        chunk = self._read(stream, CHUNK_SIZE)
        if not chunk:
            return b""  # PERF: the common answer (a GET under gunicorn): no list, no join
        chunks = []
        total = 0
        while chunk:
            total += len(chunk)
            if total > limit:
                raise PayloadTooLarge(f"request body exceeds the {limit}-byte limit")
            chunks.append(chunk)
            chunk = self._read(stream, CHUNK_SIZE)
        return b"".join(chunks)

    def _iter_body(self) -> Iterator[bytes]:
        return self._read_chunks()

    async def _aiter_body(self) -> AsyncIterator[bytes]:
        for chunk in self._read_chunks():
            yield chunk

    # -- for mounted apps (twinframe.bridging) -------------------------------------------

    async def _mounted_environ(self, prefix: str) -> Environ:
        return self._environ_for(prefix)

    def _environ_for(self, prefix: str) -> Environ:
        # PEP 3333: the prefix moves from PATH_INFO to SCRIPT_NAME (both raw, latin-1).
        environ = dict(self.environ)
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + prefix
        environ["PATH_INFO"] = (environ.get("PATH_INFO") or "")[len(prefix) :]
        # Read as twinframe reads (Content-Length, or a terminated input), so the
        # app may read() to the end under any server.
        chunks = self._read_chunks()
        environ["wsgi.input"] = InputStream(lambda: next(chunks, None))
        environ["wsgi.input_terminated"] = True
        return environ

    def _mounted_scope(self, prefix: str, state: dict[str, Any]) -> dict[str, Any]:
        environ = self.environ
        root = _decoded(environ.get("SCRIPT_NAME", "").rstrip("/")) + prefix
        rest = self.path[len(prefix) :]
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        raw_path = (
            raw.split("?", 1)[0].encode("latin-1")
            if raw
            else quote(root + rest, safe=PATH_SAFE).encode("ascii")
        )
        protocol = environ.get("SERVER_PROTOCOL", "HTTP/1.1")
        client = self.client
        return {
            "type": "http",
            # 2.4: the app learns of a gone client from a failing send(), as here.
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": protocol.partition("/")[2] or "1.1",
            "method": self.method,
            "scheme": self.scheme,
            "path": root + rest,
            "raw_path": raw_path,
            "query_string": self.query_string.encode("latin-1"),
            "root_path": root,
            "headers": [
                (name.encode("latin-1"), value.encode("latin-1"))
                for name, value in self._header_items()
            ],
            "client": list(client) if client else None,
            "server": [environ.get("SERVER_NAME", "localhost"), _server_port(environ)],
            "state": dict(state),
            "extensions": {},
        }

    def _mounted_receive(self) -> None:
        return None  # no server receive() under WSGI: the app receives the body chunks

    def _for_app(self, app: Application, prefix: str) -> WSGIRequest:
        return WSGIRequest(app, self._environ_for(prefix))

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return fn(*args, **kwargs)

    async def _await(self, awaitable: Awaitable[T]) -> T:
        loop = self._loop
        if loop is not None and loop.is_running():
            # An async middleware moved the routed part to a worker thread while the
            # server thread's loop waits for it: async code runs there, so what it
            # leaves running (a mounted ASGI app, a stream's state) is on the loop
            # the response is later sent from.
            return asyncio.run_coroutine_threadsafe(_coroutine(awaitable), loop).result()
        return run_on_thread_loop(awaitable)


class WSGIAdapter:
    """The app as a WSGI callable; ``gunicorn module:app.wsgi`` serves it."""

    def __init__(self, app: Application) -> None:
        self.app = app
        self.lifecycle = Lifecycle(app)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_kept: object | None = None  # keep_thread_loop()'s handle, startup to shutdown

    @property
    def _twinframe_app(self) -> Application:
        # Lets mount() serve app.wsgi / app.asgi natively, as the App itself.
        return self.app

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        lifecycle = self.lifecycle
        if not lifecycle.started:
            lifecycle.start(self._run_startup, self._run_shutdown)
        req = WSGIRequest(self.app, environ)
        context: contextvars.Context | None = None
        if lifecycle.error is not None:
            response = lifecycle.refusal(req)
            headers = response.header_list()
        else:
            # PERF: the pipeline never suspends under WSGI: one send() runs it to the
            # end, with no event loop involved.
            pipeline = dispatch(self.app, req)
            # With middleware, each request (and its stream) runs in a context of its
            # own, so what a middleware sets in contextvars never leaks to the next.
            context = contextvars.copy_context() if self.app._chain is not None else None
            try:
                if context is None:
                    pipeline.send(None)
                else:
                    context.run(pipeline.send, None)
            except StopIteration as done:
                response, headers = done.value
            else:
                pipeline.close()
                raise RuntimeError("twinframe's pipeline suspended under WSGI; this is a bug")
        # PERF: the table lookup inline; status_line() only for a status outside it.
        start_response(STATUS_LINES.get(response.status) or status_line(response.status), headers)
        if response.body_stream is None:
            if req._after_response is None:
                return [response.body]
            return _ResponseBody(iter((response.body,)), req, context)
        file_wrapper = environ.get("wsgi.file_wrapper")
        if file_wrapper is not None and req._after_response is None:
            # (With after_response work the body must be an iterable of ours, whose
            # close() runs it: no zero-copy file sending then.)
            fileobj = response.open_body_file()
            if fileobj is not None:
                return file_wrapper(fileobj, CHUNK_SIZE)  # type: ignore[no-any-return]
        # Always ours for a stream: its producer may call req.after_response() too.
        chunks = _iterate(response, req)
        body = chunks if context is None else _in_context(context, chunks)
        return _ResponseBody(body, req, context)

    # -- startup/shutdown: once per process, before the first request ----------------

    def startup(self) -> None:
        """Run the app's startup now rather than at the first request (once per process).

        Raises the startup's exception if it failed (requests then answer 500).
        Servers and the TestClient call it; a plain WSGI server needn't.
        """
        self.lifecycle.start(self._run_startup, self._run_shutdown)
        error = self.lifecycle.error
        if error is not None:
            raise error

    def shutdown(self) -> None:
        """Run the shutdown hooks once, if startup ran (else at process exit)."""
        self.lifecycle.stop(self._run_shutdown)

    def _run_startup(self) -> None:
        # Async hooks run on this thread's loop; shutdown reuses it if it is still usable.
        self._loop = thread_loop()
        # Kept open until shutdown, even if this thread ends first (gunicorn gthread).
        self._loop_kept = keep_thread_loop()
        try:
            run_on_thread_loop(self.app.startup())
        except BaseException:
            self._loop_kept = None  # nothing to shut down on it
            raise

    def _run_shutdown(self) -> None:
        if gevent_loop.active() is not None:
            # Under gevent the process's one loop never stops running: submit to it.
            self._loop_kept = None
            run_on_thread_loop(self.app.shutdown())
            return
        loop = self._loop
        own_loop = loop is None or loop.is_closed() or loop.is_running()
        if own_loop:
            loop = asyncio.new_event_loop()
        assert loop is not None
        try:
            loop.run_until_complete(self.app.shutdown())
        finally:
            if own_loop:
                loop.close()
            # Its thread may be gone: dropping the handle then closes the loop.
            self._loop_kept = None


class _ResponseBody:
    """The response iterable: the server's ``close()`` (PEP 3333) ends the body, then
    runs the work the handler scheduled with ``req.after_response()``, once the
    client has the whole response."""

    __slots__ = ("_chunks", "_context", "_req")

    def __init__(
        self, chunks: Iterator[bytes], req: Request, context: contextvars.Context | None
    ) -> None:
        self._chunks = chunks
        self._req = req
        self._context = context  # the request's own (with middleware), as for its stream

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        try:
            close_if_closable(self._chunks)
        finally:
            if self._req._after_response is not None:
                work = run_after_response(self._req)
                if self._context is None:
                    _run_inline(work)
                else:
                    self._context.run(_run_inline, work)


def _run_inline(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine of the shared core to its end; under WSGI it never suspends."""
    try:
        coroutine.send(None)
    except StopIteration:
        return
    coroutine.close()
    raise RuntimeError("twinframe's core suspended under WSGI; this is a bug")


def _iterate(response: Response, req: Request) -> Generator[bytes, None, None]:
    stream = response.body_stream
    assert stream is not None
    try:
        chunks: Iterable[Any] = (
            iterate_on_thread_loop(stream.__aiter__())
            if is_async_stream(stream)
            else cast("Iterable[Any]", stream)
        )
        for chunk in chunks:
            data = encode_chunk(chunk)
            if data:
                yield data
    except Exception:
        # Headers are out: the server cuts the connection when this propagates.
        log_stream_failure(req)
        raise
    finally:
        response.close()


def _in_context(
    context: contextvars.Context, chunks: Generator[bytes, None, None]
) -> Iterator[bytes]:
    """``chunks``, each one produced inside ``context`` (the request's own)."""
    try:
        while True:
            try:
                yield context.run(next, chunks)
            except StopIteration:
                return
    finally:
        context.run(chunks.close)
