"""Middleware that run inside the shared pipeline, the same under app.wsgi and app.asgi.

Install with ``app.add_middleware(mw)`` or ``App(middleware=[...])``; the first is
the outermost. See docs/middleware.md.
"""

from ..chain import Middleware
from ..session import Flash, Session
from .crossorigin import CrossOriginProtection
from .sessions import Sessions

__all__ = [
    "CrossOriginProtection",
    "Flash",
    "Middleware",
    "Session",
    "Sessions",
]
