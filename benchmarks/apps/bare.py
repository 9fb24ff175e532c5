"""Hand-written WSGI and ASGI callables: the reference every framework is compared to.

They do the same job as the framework apps (route by path, parse the query
string, the JSON body and the path parameter, serialise JSON, answer 404 with a
problem+json body), with nothing in between.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from ..scenarios import DYNAMIC_ROUTES, dynamic_patterns

HANDLERS = {"wsgi": "plain function", "asgi": "async function"}

Answer = tuple[str, str, bytes]  # status line, content type, body
HELLO: Answer = ("200 OK", "text/plain; charset=utf-8", b"Hello, World!")


def _json(data: Any, status: str = "200 OK", content_type: str = "application/json") -> Answer:
    return status, content_type, json.dumps(data).encode()


def _search(query_string: str) -> Answer:
    params = parse_qsl(query_string, keep_blank_values=True)
    single = dict(params)
    tags = [value for name, value in params if name == "tag"]
    return _json({"q": single.get("q"), "tags": tags, "limit": int(single.get("limit", "20"))})


def _not_found(accept: str) -> Answer:
    if accept and "json" not in accept and "*/*" not in accept and "text/" in accept:
        return "404 Not Found", "text/plain; charset=utf-8", b"404 Not Found\n"
    problem = {"type": "about:blank", "title": "Not Found", "status": 404}
    return _json(problem, "404 Not Found", "application/problem+json")


def _route(prefixes: frozenset[str], method: str, path: str) -> Answer | None:
    """Hello and the dynamic routes; None when neither matches."""
    if path == "/":
        return HELLO if method == "GET" else None
    parts = path.split("/")
    if len(parts) == 3 and parts[1] in prefixes and method == "GET":
        ident = parts[2]
        if ident.isdigit():
            return _json({"id": int(ident)})
    return None


def build_wsgi(routes: int = DYNAMIC_ROUTES) -> Callable[..., Iterable[bytes]]:
    """A bare WSGI callable serving every scenario."""
    prefixes = frozenset(dynamic_patterns(routes))

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO") or "/"
        answer = _route(prefixes, method, path)
        if answer is None:
            if path == "/echo" and method == "POST":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                answer = _json(json.loads(environ["wsgi.input"].read(length)))
            elif path == "/search" and method == "GET":
                answer = _search(environ.get("QUERY_STRING", ""))
            else:
                answer = _not_found(environ.get("HTTP_ACCEPT", ""))
        status, content_type, body = answer
        start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [body]

    return app


def build_asgi(routes: int = DYNAMIC_ROUTES) -> Callable[..., Any]:
    """A bare ASGI callable serving every scenario."""
    prefixes = frozenset(dynamic_patterns(routes))

    async def app(
        scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        method = scope["method"]
        path = scope["path"]
        answer = _route(prefixes, method, path)
        if answer is None:
            if path == "/echo" and method == "POST":
                chunks = []
                while True:
                    message = await receive()
                    chunks.append(message.get("body", b""))
                    if not message.get("more_body"):
                        break
                answer = _json(json.loads(b"".join(chunks)))
            elif path == "/search" and method == "GET":
                answer = _search(scope["query_string"].decode("latin-1"))
            else:
                accept = next((v for k, v in scope["headers"] if k == b"accept"), b"")
                answer = _not_found(accept.decode("latin-1"))
        status, content_type, body = answer
        await send(
            {
                "type": "http.response.start",
                "status": int(status[:3]),
                "headers": [
                    (b"content-type", content_type.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app
