"""The adapter contract: what the shared pipeline needs, stated as typed Protocols.

The pipeline (``twinframe.pipeline``) never touches WSGI or ASGI. It works on
Request and WebSocket objects, and asks them, through the members below, for
what only the protocol adapter knows:

- ``Connection``: how this protocol runs code (a sync function: directly under
  WSGI, in the thread pool under ASGI; a coroutine: on the worker thread's own
  loop under WSGI, awaited under ASGI), the request headers, the client and
  the scheme. Every request and websocket supplies it.
- ``RequestBody``: reading the body of an HTTP request, either whole before
  the handler or as a stream.
- ``Application``: what requests, adapters and the pipeline read from the App
  (limits, hooks, the compiled routes, lifespan). ``twinframe.App`` is the
  one implementation; typing against this Protocol keeps the modules below
  ``app.py`` free of an import of it (no import cycle).

The adapters are the only implementations: ``twinframe.wsgi.WSGIRequest`` and
``twinframe.asgi.ASGIRequest`` implement ``RequestBody`` (and so
``Connection``), ``twinframe.websocket.WebSocket`` implements ``Connection``
(its ASGI part through ``twinframe.asgi_connection``). ``HTTPConnection`` and
``Request`` declare these Protocols as their bases for the type checker only,
so ``mypy --strict`` fails if an adapter leaves a member out. Members are
underscored: they are for the pipeline and the adapters, not for handlers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import SimpleNamespace
from typing import Any, Protocol, TypeVar

from .concurrency import ThreadPool
from .matching import Matcher
from .mounting import Mount
from .routing import Handler, Route

T = TypeVar("T")

ErrorKey = int | type[BaseException]
"""What an error handler is registered for: a status code or an exception class."""


class Connection(Protocol):
    """What an adapter supplies for every connection, HTTP request or websocket."""

    # PEP 3333 calls sync code directly (``_call`` would just call it), ASGI awaits
    # coroutines directly (``_await`` would just await): the pipeline then does it
    # itself. PERF: one coroutine less per handler call (~8% of a hello request).
    _sync_inline: bool
    _async_inline: bool

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a sync function the way this protocol wants (directly, or in a thread)."""
        ...

    async def _await(self, awaitable: Awaitable[T]) -> T:
        """Run an awaitable the way this protocol wants (awaited, or on the thread's loop)."""
        ...

    def _header(self, name: str) -> str | None:
        """One request header by lower-case name; repeats joined with ", "; empty as None."""
        ...

    def _header_items(self) -> list[tuple[str, str]]:
        """All request headers as (lower-case name, latin-1 value) pairs."""
        ...

    @property
    def client(self) -> tuple[str, int] | None:
        """The peer's (host, port), or None when the server doesn't say."""
        ...

    @property
    def scheme(self) -> str:
        """``http`` or ``https`` (``ws``/``wss`` for websockets)."""
        ...

    def _server_host(self) -> str:
        """The server's own name and port, for a request without a Host header."""
        ...

    def _set_peer(self, client: tuple[str, int] | None, scheme: str | None) -> None:
        """Make ``client`` and ``scheme`` report these values from now on (None: unchanged).

        What a trusted proxy said the client was (``twinframe.middleware.ProxyHeaders``).
        """
        ...


class RequestBody(Connection, Protocol):
    """What an adapter supplies for an HTTP request on top of ``Connection``: its body."""

    def _start_body(self) -> Awaitable[Any] | None:
        """Start reading the whole body into ``_body``, before the handler (routes
        without ``stream=True``).

        Returns None once the body is in (WSGI reads in place), else what to await
        (ASGI: the next message); the pipeline hands its result to ``_continue_body``
        until that returns None. PERF: the pipeline awaits the server directly,
        with no coroutine of twinframe's own per request. PayloadTooLarge past
        ``app.max_body_size``, ClientDisconnect if the body is cut short.
        """
        ...

    def _continue_body(self, received: Any) -> Awaitable[Any] | None:
        """Take what ``_start_body``'s awaitable gave; return the next one to await, or None."""
        ...

    def _body_end_known(self) -> bool:
        """True when the body can be read to its end without a Content-Length
        (ASGI messages; a WSGI input the server marks terminated)."""
        ...

    def _iter_body(self) -> Iterator[bytes]:
        """The body as it arrives, for ``for chunk in req.stream()`` in sync code."""
        ...

    def _aiter_body(self) -> AsyncIterator[bytes]:
        """The body as it arrives, for ``async for chunk in req.stream()``."""
        ...

    # -- for mounted apps (twinframe.bridging) ------------------------------------------

    async def _mounted_environ(self, prefix: str) -> dict[str, Any]:
        """A WSGI environ for a WSGI app mounted at ``prefix`` (moved into SCRIPT_NAME)."""
        ...

    def _mounted_scope(self, prefix: str, state: dict[str, Any]) -> dict[str, Any]:
        """An ASGI http scope for an ASGI app mounted at ``prefix`` (moved into
        root_path), with ``state`` (its lifespan state) copied in."""
        ...

    def _mounted_receive(self) -> Callable[[], Awaitable[Any]] | None:
        """The server's ``receive`` to hand a mounted ASGI app, or None when it must
        receive the body chunks instead (under WSGI)."""
        ...

    def _for_app(self, app: Any, prefix: str) -> Any:
        """This request as the twinframe App ``app`` mounted at ``prefix`` sees it."""
        ...


class Application(Protocol):
    """What requests, websockets, the adapters and the pipeline read from the App."""

    debug: bool
    max_body_size: int
    max_query_params: int
    max_form_fields: int
    max_url_length: int
    max_message_size: int
    state: SimpleNamespace
    thread_pool: ThreadPool
    routes: list[Route]
    _matcher: Matcher | None
    _before: list[tuple[Handler, bool]]
    _after: list[tuple[Handler, bool]]
    _before_websocket: list[tuple[Handler, bool]]
    _error_handlers: dict[ErrorKey, tuple[Handler, bool]]
    _mount_table: list[Mount]

    def mount_for(self, path: str) -> Mount | None:
        """The mount that answers ``path`` when no route does, or None."""
        ...

    # The composed middleware (twinframe.chain.compose): ``await _chain(req)`` gives
    # the Response; None without middleware. Typed loosely: chain imports request.
    _chain: Callable[[Any], Awaitable[Any]] | None

    @property
    def matcher(self) -> Matcher:
        """The compiled route table."""
        ...

    def url_for(self, name: str, /, **params: Any) -> str:
        """The path of route ``name`` with ``params`` filled in."""
        ...

    _running: bool  # started (by a server's lifespan, an adapter or a parent app)

    @property
    def _has_lifespan(self) -> bool:
        """True when startup or shutdown has work to do."""
        ...

    async def startup(self) -> None:
        """Run the startup hooks and enter the lifespan context."""
        ...

    async def shutdown(self) -> None:
        """Run the shutdown hooks, then leave the lifespan context."""
        ...
