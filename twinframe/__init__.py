"""twinframe: one app object, served as WSGI (``app.wsgi``) and ASGI (``app.asgi``)."""

from .app import App
from .errors import (
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    HTTPError,
    InternalServerError,
    LengthRequired,
    MethodNotAllowed,
    NotAcceptable,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    UnprocessableContent,
    UnsupportedMediaType,
    UpgradeRequired,
    URITooLong,
)
from .forms import UploadedFile
from .request import Request
from .response import Response
from .routing import Route, Router
from .sse import Event
from .websocket import WebSocket, WebSocketDataError, WebSocketDisconnect

__version__ = "0.1.0"

__all__ = [
    "App",
    "BadRequest",
    "Conflict",
    "Event",
    "Forbidden",
    "Gone",
    "HTTPError",
    "InternalServerError",
    "LengthRequired",
    "MethodNotAllowed",
    "NotAcceptable",
    "NotFound",
    "PayloadTooLarge",
    "Request",
    "Response",
    "Route",
    "Router",
    "ServiceUnavailable",
    "TooManyRequests",
    "URITooLong",
    "Unauthorized",
    "UnprocessableContent",
    "UnsupportedMediaType",
    "UpgradeRequired",
    "UploadedFile",
    "WebSocket",
    "WebSocketDataError",
    "WebSocketDisconnect",
]
