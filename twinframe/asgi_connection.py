"""The adapter contract's connection part under ASGI: ``ASGIConnection``.

What HTTP requests (``asgi.ASGIRequest``) and websockets (``websocket.WebSocket``)
read alike from an ASGI scope: headers, client, scheme, the server's host; and
how ASGI runs code (sync functions in the app's thread pool, coroutines awaited).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .connection import HTTPConnection
from .target import host_and_port

if TYPE_CHECKING:
    from .types import Scope

T = TypeVar("T")

# PERF: header names as the bytes ASGI carries, encoded once per name, not per lookup.
_NAMES: dict[str, bytes] = {}


class ASGIConnection(HTTPConnection):
    """Headers, client, scheme and host read from an ASGI scope (shared by HTTP and WebSocket)."""

    scope: Scope
    _default_scheme = "http"
    _async_inline = True  # PERF: _await just awaits, so the pipeline awaits itself

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self.app.thread_pool.run(fn, *args, **kwargs)

    async def _await(self, awaitable: Awaitable[T]) -> T:
        return await awaitable

    def _set_scope_target(self, scope: Scope) -> None:
        self._set_target(
            scope["path"],
            scope.get("query_string", b"").decode("latin-1"),
            scope.get("raw_path"),
            scope.get("root_path", ""),
            wsgi=False,
        )

    def _mounted_websocket_scope(
        self, scope: Scope, prefix: str, state: dict[str, Any]
    ) -> dict[str, Any]:
        """A copy of ``scope`` for an app mounted at ``prefix``: the prefix joins ``root_path``.

        ``path`` stays whole (ASGI: it includes ``root_path``); ``state`` is the
        mounted app's own lifespan state, a shallow copy per connection.
        """
        root = self.root_path + prefix
        sub = dict(scope)
        sub["root_path"] = root
        sub["path"] = root + self.path[len(prefix) :]
        sub["state"] = dict(state)
        return sub

    def _header(self, name: str) -> str | None:
        # Repeats are joined with ", " as WSGI servers do, and an empty value
        # reads as absent, so both entrypoints see the same thing.
        key = _NAMES.get(name)
        if key is None:
            key = _NAMES[name] = name.encode("latin-1")
        found: bytes | None = None
        for header, value in self.scope["headers"]:
            if header == key and value:
                found = value if found is None else found + b", " + value
        return None if found is None else found.decode("latin-1")

    def _header_items(self) -> list[tuple[str, str]]:
        headers = self.scope["headers"]
        return [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in headers]

    @property
    def client(self) -> tuple[str, int] | None:
        """The peer's (host, port) from the scope, or None."""
        client = self.scope.get("client")
        return (client[0], int(client[1])) if client else None

    @property
    def scheme(self) -> str:
        """``http``/``https`` (``ws``/``wss`` for websockets), from the scope."""
        return str(self.scope.get("scheme", self._default_scheme))

    def _set_peer(self, client: tuple[str, int] | None, scheme: str | None) -> None:
        # A copy: the server may reuse its scope dict; mounted apps see the new one.
        scope = self.scope = dict(self.scope)
        if client is not None:
            scope["client"] = client
        if scheme is not None:
            scope["scheme"] = scheme

    def _server_host(self) -> str:
        server = self.scope.get("server")
        if not server:
            return "localhost"
        return host_and_port(server[0], server[1], self.scheme)
