"""Drive app.wsgi and app.asgi directly, below the TestClient, with spec checks.

The TestClient goes through httpx, which normalises what it sends (dot
segments, header encoding, Content-Length). The hardening and fuzz tests need
to hand the entrypoints exactly the hostile input a server could pass on, and
to check the exact protocol traffic coming back:

- ``call_wsgi`` runs ``app.wsgi`` under ``wsgiref.validate`` (PEP 3333 checks).
- ``call_asgi`` runs ``app.asgi`` with a spec-checking driver: exactly one
  ``http.response.start`` (int status 100-599, a list of (bytes, bytes) header
  pairs), then ``http.response.body`` messages, the last with ``more_body``
  false, nothing after it; and the app returns without raising.

Both return a ``RawResult``; ``check_framing`` asserts the body matches the
Content-Length the app announced.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_to_bytes
from wsgiref.validate import validator

from twinframe import App
from twinframe.testing.scope import asgi_scope


@dataclass
class RawResult:
    """What one request produced: status, headers (lower-case str names), body bytes."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    # Set when the app's body stream raised after the response had started
    # (a real server then cuts the connection).
    stream_error: BaseException | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    body_bytes_read: int = 0
    # How often the app asked for body bytes: wsgi.input.read() calls (a CountingInput
    # only, else None) or receive() calls.
    body_reads: int | None = None

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


class CountingInput:
    """A ``wsgi.input`` that serves ``chunks`` and counts what the app read.

    With ``endless=True`` the last chunk repeats forever (a body growing without end).
    """

    def __init__(self, chunks: list[bytes], endless: bool = False) -> None:
        self._chunks = list(chunks)
        self._endless = endless
        self._buffer = b""
        self.bytes_read = 0
        self.reads = 0

    def _more(self) -> bool:
        if self._chunks:
            chunk = (
                self._chunks.pop(0)
                if not (self._endless and len(self._chunks) == 1)
                else self._chunks[0]
            )
            self._buffer += chunk
            return True
        return False

    def read(self, size: int = -1) -> bytes:
        self.reads += 1
        if size is None or size < 0:
            while self._more() and not self._endless:
                pass
            size = len(self._buffer)
        while len(self._buffer) < size and self._more():
            pass
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        self.bytes_read += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        return self.read(size if size is not None and size >= 0 else 65536)

    def readlines(self, hint: int = -1) -> list[bytes]:
        return [self.read()]

    def __iter__(self) -> Iterator[bytes]:
        return iter(lambda: self.read(65536), b"")


def _split(target: bytes) -> tuple[bytes, bytes]:
    raw_path, _, query = target.partition(b"?")
    return raw_path, query


def call_wsgi(
    app: App,
    method: str = "GET",
    target: bytes = b"/",
    headers: list[tuple[bytes, bytes]] | None = None,
    body: bytes = b"",
    wsgi_input: Any = None,
    input_terminated: bool = False,
    validate: bool = True,
    root_path: str = "",
    http_version: str = "1.1",
    server: tuple[str, int | str | None] | None = ("testserver", 80),
    scheme: str = "http",
) -> RawResult:
    """One request through ``app.wsgi`` under ``wsgiref.validate``, as a server would pass it.

    ``validate=False`` skips the validator, to pass what it refuses (e.g. a bad
    CONTENT_LENGTH) as a lax server might. ``root_path`` is the mount prefix the
    app is served under: SCRIPT_NAME, taken off the front of ``target``'s path.
    ``http_version`` goes into SERVER_PROTOCOL (``"2"``: ``HTTP/2``). ``server`` is
    SERVER_NAME and SERVER_PORT; None leaves both out, as no PEP 3333 server does
    (the validator refuses it: pass ``validate=False``); a None port is an empty
    SERVER_PORT, as a lax server may pass. ``scheme`` is ``wsgi.url_scheme``.
    """
    raw_path, query = _split(target)
    full_path = unquote_to_bytes(raw_path).decode("latin-1")
    assert full_path.startswith(root_path), "the target must start with root_path"
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": root_path,
        "PATH_INFO": full_path[len(root_path) :],
        "QUERY_STRING": query.decode("latin-1"),
        "RAW_URI": target.decode("latin-1"),
        "SERVER_PROTOCOL": "HTTP/" + http_version,
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": wsgi_input if wsgi_input is not None else io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if server is not None:
        port = "" if server[1] is None else str(server[1])
        environ["SERVER_NAME"], environ["SERVER_PORT"] = server[0], port
    if input_terminated:
        environ["wsgi.input_terminated"] = True
    for name, value in headers or []:
        key = name.decode("latin-1").upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        text = value.decode("latin-1")
        environ[key] = f"{environ[key]},{text}" if key in environ else text
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(
        status: str, response_headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Any:
        started.append((status, response_headers))
        return lambda data: None

    given = environ["wsgi.input"]  # the validator wraps it
    result = (validator(app.wsgi) if validate else app.wsgi)(environ, start_response)
    chunks: list[bytes] = []
    error: BaseException | None = None
    try:
        for chunk in result:
            chunks.append(chunk)
    except Exception as exc:  # the server would cut the connection here
        error = exc
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    assert len(started) == 1, f"start_response called {len(started)} times"
    status, response_headers = started[0]
    counted = getattr(environ["wsgi.input"], "bytes_read", 0)
    reads = getattr(given, "reads", None)
    return RawResult(
        int(status.split(" ", 1)[0]),
        [(k.lower(), v) for k, v in response_headers],
        b"".join(chunks),
        error,
        body_bytes_read=counted,
        body_reads=reads,
    )


class ASGIProtocolError(AssertionError):
    """The app broke the ASGI HTTP message rules."""


def call_asgi(
    app: App,
    method: str = "GET",
    target: bytes = b"/",
    headers: list[tuple[bytes, bytes]] | None = None,
    body: bytes = b"",
    chunks: list[bytes] | None = None,
    endless: bool = False,
    disconnect_early: bool = False,
    path: str | None = None,
    root_path: str = "",
    http_version: str = "1.1",
    server: tuple[str, int | None] | None = ("testserver", 80),
    scheme: str = "http",
) -> RawResult:
    """One request through ``app.asgi`` with every sent message checked against the spec.

    ``chunks`` sends the body in pieces (``more_body``); ``endless`` repeats the
    last piece forever; ``disconnect_early`` sends ``http.disconnect`` once the
    pieces run out instead of finishing the body. ``root_path`` is the mount
    prefix (the scope's ``root_path``; ``target`` includes it, as in ASGI's ``path``).
    ``http_version`` is the scope's (``"1.1"``, ``"2"``); ``server`` its ``server``
    (None: the server's address is unknown, as ASGI allows), ``scheme`` its ``scheme``.
    """
    raw_path, query = _split(target)
    # Servers decode invalid UTF-8 as U+FFFD ("surrogateescape" isn't allowed in a str path):
    # the builder's default.
    scope = asgi_scope(
        "http",
        raw_path,
        query,
        headers or [],
        method=method,
        path=path,
        root_path=root_path,
        http_version=http_version,
        server=server,
        scheme=scheme,
    )
    pieces = list(chunks) if chunks is not None else [body]
    messages: list[dict[str, Any]] = []
    state = {"read": 0, "done": False, "receives": 0}

    async def run() -> BaseException | None:
        response_done = asyncio.Event()

        async def receive() -> dict[str, Any]:
            state["receives"] += 1
            if pieces:
                piece = pieces[0] if endless and len(pieces) == 1 else pieces.pop(0)
                state["read"] += len(piece)
                more = bool(pieces) or disconnect_early
                return {"type": "http.request", "body": piece, "more_body": more}
            if not disconnect_early:
                await response_done.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            _check_message(message, messages)
            messages.append(dict(message))
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                response_done.set()

        try:
            await app.asgi(scope, receive, send)
        except Exception as exc:
            return exc
        return None

    error = asyncio.run(run())
    if not messages:
        if disconnect_early and error is None:
            # The client left mid-body: answering nobody is right (status 0 says so).
            return RawResult(0, [], b"", None, messages, state["read"])
        raise ASGIProtocolError(f"the app sent nothing (raised {error!r})")
    start = messages[0]
    finished = not messages[-1].get("more_body", False) and len(messages) > 1
    if error is not None and finished:
        raise ASGIProtocolError(f"the app raised after completing the response: {error!r}")
    if error is None and not finished:
        raise ASGIProtocolError("the app returned without finishing the response body")
    return RawResult(
        int(start["status"]),
        [
            (bytes(k).decode("latin-1"), bytes(v).decode("latin-1"))
            for k, v in start.get("headers", [])
        ],
        b"".join(bytes(m.get("body", b"")) for m in messages[1:]),
        error,
        messages,
        state["read"],
        state["receives"],
    )


def _check_message(message: dict[str, Any], sent: list[dict[str, Any]]) -> None:
    kind = message.get("type")
    if not sent:
        if kind != "http.response.start":
            raise ASGIProtocolError(f"first message must be http.response.start, got {kind!r}")
        status = message.get("status")
        if type(status) is not int or not 100 <= status <= 599:
            raise ASGIProtocolError(f"bad status {status!r}")
        headers = message.get("headers", [])
        if not isinstance(headers, (list, tuple)):
            raise ASGIProtocolError("headers must be a list")
        for pair in headers:
            if len(pair) != 2 or not all(isinstance(x, bytes) for x in pair):
                raise ASGIProtocolError(f"header {pair!r} is not a pair of bytes")
            name, value = pair
            if name != name.lower() or not name or any(c in value for c in b"\r\n\x00"):
                raise ASGIProtocolError(f"bad header {pair!r}")
        return
    if kind != "http.response.body":
        raise ASGIProtocolError(f"expected http.response.body, got {kind!r}")
    if sent[-1]["type"] == "http.response.body" and not sent[-1].get("more_body", False):
        raise ASGIProtocolError("message sent after the response body was complete")
    if not isinstance(message.get("body", b""), bytes) or not isinstance(
        message.get("more_body", False), bool
    ):
        raise ASGIProtocolError(f"bad body message {message!r}")


def check_framing(result: RawResult, method: str) -> None:
    """Assert the response is well framed: Content-Length matches, no body where none belongs."""
    length = result.header("content-length")
    if method == "HEAD" or result.status in (204, 304) or result.status < 200:
        assert result.body == b"", f"{result.status} to {method} carries a body"
        return
    if length is not None and result.stream_error is None:
        assert int(length) == len(result.body), (
            f"Content-Length {length} but {len(result.body)} bytes"
        )


Caller = Callable[..., RawResult]
CALLERS: dict[str, Caller] = {"wsgi": call_wsgi, "asgi": call_asgi}
