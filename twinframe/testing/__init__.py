"""TestClient: drive an App through app.wsgi or app.asgi with httpx's request API.

Both interfaces are synchronous for the test author. Responses are streamed
(``client.stream(...)`` yields chunks as the app sends them); WSGI requests go
through ``wsgiref.validate``; the ASGI side runs the app on a background event
loop, so lifespan and websockets behave as under a real server.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import httpx

from ..sse import Event, parse_events
from .lifespan import LifespanDriver
from .portal import Portal
from .transports import DEFAULT_APP_TIMEOUT, ASGITransport, WSGITransport
from .websocket import WebSocketRejected, WebSocketTestSession

if TYPE_CHECKING:
    from ..app import App

Interface = Literal["wsgi", "asgi"]

__all__ = [
    "ASGITransport",
    "Interface",
    "TestClient",
    "WSGITransport",
    "WebSocketRejected",
    "WebSocketTestSession",
    "iter_events",
]


def iter_events(response: httpx.Response, *, comments: bool = False) -> Iterator[Event]:
    """The server-sent events of a streamed response, parsed as they arrive.

    Use it on ``client.stream("GET", path)``: each ``Event`` is yielded as soon
    as its blank line arrives. Comment-only blocks (``: ping``) are skipped as a
    browser skips them, unless ``comments`` is true.
    """
    return parse_events(response.iter_lines(), comments=comments)


class TestClient(httpx.Client):
    """A synchronous httpx client wired to ``app.wsgi`` or ``app.asgi``.

    Use it as a context manager to run the app's startup and shutdown hooks.
    ``app_timeout`` bounds every wait for the app on the ASGI side (30 s by
    default): an app that never answers fails the test instead of hanging it.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        app: App,
        interface: Interface = "wsgi",
        base_url: str = "http://testserver",
        app_timeout: float = DEFAULT_APP_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        if interface not in ("wsgi", "asgi"):
            raise ValueError("interface must be 'wsgi' or 'asgi'")
        self.app = app
        self.interface = interface
        self.app_timeout = app_timeout
        self._portal: Portal | None = None
        self._lifespan: LifespanDriver | None = None
        transport: httpx.BaseTransport
        if interface == "wsgi":
            transport = WSGITransport(app.wsgi)
        else:
            transport = ASGITransport(app.asgi, self.portal, app_timeout)
        kwargs.setdefault("follow_redirects", False)
        super().__init__(base_url=base_url, transport=transport, **kwargs)

    @property
    def portal(self) -> Portal:
        """The background event loop the ASGI side runs on (created on first use)."""
        if self._portal is None:
            self._portal = Portal()
        return self._portal

    def __enter__(self) -> TestClient:
        super().__enter__()
        if self.interface == "asgi":
            self._lifespan = LifespanDriver(self.app.asgi, self.portal, self.app_timeout)
            self._lifespan.startup()
        else:
            try:
                self.app.wsgi.startup()
            except Exception as error:
                raise RuntimeError(f"startup failed: {error!r}") from error
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        try:
            if self._lifespan is not None:
                self._lifespan.shutdown()
                self._lifespan = None
            elif self.interface == "wsgi":
                self.app.wsgi.shutdown()
        finally:
            super().__exit__(exc_type, exc, tb)

    def close(self) -> None:
        """Close the client and stop its background loop."""
        super().close()
        if self._portal is not None:
            self._portal.close()
            self._portal = None

    def websocket_connect(
        self,
        path: str,
        subprotocols: list[str] | None = None,
        headers: dict[str, str] | None = None,
        http_response_extension: bool = True,
        timeout: float = 10,
    ) -> WebSocketTestSession:
        """Open a WebSocket to ``path`` on ``app.asgi`` and complete the handshake.

        Returns a session (use it as a context manager); raises ``WebSocketRejected``
        if the app refuses the handshake. ``http_response_extension=False`` plays a
        server without ``websocket.http.response`` (refusals are then plain 403s).
        ``timeout`` bounds every wait for the app, so a test never hangs.
        """
        if self.interface != "asgi":
            raise RuntimeError(
                "websockets are served by app.asgi only; use TestClient(app, 'asgi')"
            )
        return WebSocketTestSession(
            self, path, subprotocols or [], headers or {}, http_response_extension, timeout
        )
