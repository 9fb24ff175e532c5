"""Hand-written WSGI and ASGI callables: the reference every framework is compared to.

They do the same job as the framework apps (route by path, parse the query
string, the JSON body, the form bodies, the cookies and the path parameter,
serialise JSON, answer 404 with a problem+json body), with nothing in between.
The multipart body goes through python-multipart's callback parser, gathering
only what the answer needs: the least a correct app on that parser can do.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from python_multipart.multipart import MultipartParser, parse_options_header

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


def _form(body: bytes) -> Answer:
    return _json(dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True)))


def _upload(content_type: str, body: bytes) -> Answer:
    boundary = parse_options_header(content_type)[1][b"boundary"]
    parts: list[tuple[list[bytes], list[bytes]]] = []  # (header bytes, data chunks)

    def on_part_begin() -> None:
        parts.append(([], []))

    def on_header_value(buf: bytes, start: int, end: int) -> None:
        parts[-1][0].append(buf[start:end])

    def on_part_data(buf: bytes, start: int, end: int) -> None:
        parts[-1][1].append(buf[start:end])

    callbacks = {
        "on_part_begin": on_part_begin,
        "on_header_value": on_header_value,
        "on_part_data": on_part_data,
    }
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    parser.write(body)
    parser.finalize()
    title = filename = None
    size = 0
    for headers, data in parts:
        options = parse_options_header(headers[0])[1]
        if b"filename" in options:
            filename = options[b"filename"].decode()
            size = sum(map(len, data))
        elif options.get(b"name") == b"title":
            title = b"".join(data).decode()
    return _json({"title": title, "filename": filename, "size": size})


def _cookies(header: str) -> Answer:
    cookies = {}
    for pair in header.split(";"):
        name, _, value = pair.partition("=")
        cookies.setdefault(name.strip(), value.strip())
    answer = {
        "count": len(cookies),
        "session": cookies.get("sessionid"),
        "theme": cookies.get("theme"),
    }
    return _json(answer)


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
            if method == "POST" and path in ("/echo", "/form", "/upload"):
                length = int(environ.get("CONTENT_LENGTH") or 0)
                body = environ["wsgi.input"].read(length)
                if path == "/echo":
                    answer = _json(json.loads(body))
                elif path == "/form":
                    answer = _form(body)
                else:
                    answer = _upload(environ["CONTENT_TYPE"], body)
            elif path == "/search" and method == "GET":
                answer = _search(environ.get("QUERY_STRING", ""))
            elif path == "/cookies" and method == "GET":
                answer = _cookies(environ.get("HTTP_COOKIE", ""))
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
            if method == "POST" and path in ("/echo", "/form", "/upload"):
                chunks = []
                while True:
                    message = await receive()
                    chunks.append(message.get("body", b""))
                    if not message.get("more_body"):
                        break
                body = b"".join(chunks)
                if path == "/echo":
                    answer = _json(json.loads(body))
                elif path == "/form":
                    answer = _form(body)
                else:
                    content_type = next(v for k, v in scope["headers"] if k == b"content-type")
                    answer = _upload(content_type.decode("latin-1"), body)
            elif path == "/search" and method == "GET":
                answer = _search(scope["query_string"].decode("latin-1"))
            elif path == "/cookies" and method == "GET":
                cookie = next((v for k, v in scope["headers"] if k == b"cookie"), b"")
                answer = _cookies(cookie.decode("latin-1"))
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
