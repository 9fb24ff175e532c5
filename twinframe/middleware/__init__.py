"""Middleware that run inside the shared pipeline, the same under app.wsgi and app.asgi.

Install with ``app.add_middleware(mw)`` or ``App(middleware=[...])``; the first is
the outermost. See docs/middleware.md.
"""

from ..chain import Middleware
from ..session import Flash, Session
from .cors import CORS
from .crossorigin import CrossOriginProtection
from .gzip import GZip
from .proxyheaders import ProxyHeaders
from .requestid import RequestID, current_request_id
from .sessions import Sessions
from .trustedhost import TrustedHost

__all__ = [
    "CORS",
    "CrossOriginProtection",
    "Flash",
    "GZip",
    "Middleware",
    "ProxyHeaders",
    "RequestID",
    "Session",
    "Sessions",
    "TrustedHost",
    "current_request_id",
]
