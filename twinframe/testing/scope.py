"""What a test request looks like to the app: the WSGI environ and the ASGI scope."""

from __future__ import annotations

import sys
from typing import Any
from urllib.parse import unquote_to_bytes

import httpx

from ..files import CHUNK_SIZE

BODY_CHUNK = CHUNK_SIZE
"""How much of a request body reaches the app per ASGI message (a server's typical read)."""

CLIENT = ("127.0.0.1", 50000)
"""The peer address every test request comes from."""


def server_address(url: httpx.URL) -> tuple[str, int]:
    """The (host, port) the request was sent to, with the scheme's default port."""
    secure = url.scheme in ("https", "wss")
    return url.host or "testserver", url.port or (443 if secure else 80)


def split_target(url: httpx.URL) -> tuple[bytes, bytes]:
    """The raw path and query string of ``url``, as sent on the wire."""
    raw_path, _, query = url.raw_path.partition(b"?")
    return raw_path, query


def asgi_scope(
    scope_type: str,
    raw_path: bytes,
    query: bytes,
    headers: list[tuple[bytes, bytes]],
    *,
    scheme: str = "http",
    server: tuple[str, int] | None = ("testserver", 80),
    client: tuple[str, int] | None = CLIENT,
    path: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An ASGI 3 ``http`` or ``websocket`` scope, as a server builds it from a request.

    ``path`` defaults to ``raw_path`` percent-decoded as UTF-8 (invalid bytes become
    U+FFFD, as servers do); ``extra`` adds keys (``method``, ``subprotocols``...).
    """
    return {
        "type": scope_type,
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": scheme,
        "path": path if path is not None else unquote_to_bytes(raw_path).decode("utf-8", "replace"),
        "raw_path": raw_path,
        "query_string": query,
        "root_path": "",
        "headers": [(name.lower(), value) for name, value in headers],
        "client": client,
        "server": server,
        "state": {},
        **extra,
    }


def wsgi_environ(request: httpx.Request, wsgi_input: Any) -> dict[str, Any]:
    """A PEP 3333 environ for ``request``, its body read from ``wsgi_input``."""
    raw_path, query = split_target(request.url)
    host, port = server_address(request.url)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(raw_path).decode("latin-1"),
        "QUERY_STRING": query.decode("latin-1"),
        "SERVER_NAME": host,
        "SERVER_PORT": str(port),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": CLIENT[0],
        "REMOTE_PORT": str(CLIENT[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": request.url.scheme,
        "wsgi.input": wsgi_input,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
        # Like gunicorn: the target as sent, so the app can check its escapes.
        "RAW_URI": request.url.raw_path.decode("latin-1"),
    }
    # Header bytes reach a WSGI app as latin-1 characters (PEP 3333), and
    # repeated headers joined with commas, as servers do.
    for raw_name, raw_value in request.headers.raw:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ
