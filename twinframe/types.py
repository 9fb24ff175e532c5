"""The protocol types the adapters speak: ASGI's Scope/Message/Receive/Send, WSGI's Environ.

Only ``wsgi.py``, ``asgi.py`` and ``websocket.py`` deal in these; the pipeline
sees Request and WebSocket objects.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

Scope = MutableMapping[str, Any]
"""An ASGI connection scope (``type``, ``path``, ``headers``...)."""
Message = MutableMapping[str, Any]
"""One ASGI event, received or sent (``{"type": "http.request", ...}``)."""
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Environ = dict[str, Any]
"""A WSGI (PEP 3333) request environ."""


class StartResponse(Protocol):
    """PEP 3333's ``start_response(status, headers[, exc_info])``."""

    def __call__(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = ..., /
    ) -> Any: ...
