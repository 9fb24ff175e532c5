"""Calling a mounted WSGI application and turning its answer into a twinframe Response.

The same code serves both entrypoints: under ``app.wsgi`` it runs on the
server's worker thread, under ``app.asgi`` in the app's bounded thread pool
(``req._call`` decides). The response's body stays the application's iterable,
pulled one chunk at a time as the server sends, so memory stays flat however
long the body is.

PEP 3333 rules kept here: headers count as sent only once the first non-empty
chunk is produced (until then ``start_response(..., exc_info)`` may replace
them); a second ``start_response`` without ``exc_info`` is an error; the
iterable's ``close()`` is called exactly once however the response ends;
``wsgi.file_wrapper`` hands real files to the server's zero-copy path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import IO, Any

from multidict import CIMultiDict

from .closing import close_if_closable
from .files import CHUNK_SIZE
from .response import Response

logger = logging.getLogger("twinframe")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class MountError(RuntimeError):
    """A mounted application broke its protocol (answered twice, never answered...)."""


class FileWrapper:
    """``wsgi.file_wrapper`` for mounted apps: iterates a file in blocks, closes it once.

    twinframe recognises it in the returned iterable and lets the server send
    the file with its own zero-copy wrapper where there is one.
    """

    def __init__(self, filelike: IO[bytes], block_size: int = CHUNK_SIZE) -> None:
        self.filelike = filelike
        self.block_size = block_size

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        data = self.filelike.read(self.block_size)
        if not data:
            raise StopIteration
        return bytes(data)

    def close(self) -> None:
        """Close the wrapped file (PEP 3333: the iterable's close() closes the file)."""
        close_if_closable(self.filelike)


class InputStream:
    """A ``wsgi.input`` over a chunk source: ``fetch()`` gives the next chunk, None at the end.

    Holds at most one chunk beyond what the app has read, so a large upload
    reaches the app as it arrives, with flat memory.
    """

    def __init__(self, fetch: Callable[[], bytes | None]) -> None:
        self._fetch = fetch
        self._buffer = bytearray()
        self._done = False

    def _fill(self, size: int) -> None:
        while not self._done and (size < 0 or len(self._buffer) < size):
            chunk = self._fetch()
            if chunk is None:
                self._done = True
            else:
                self._buffer += chunk

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all that is left for -1/None); b"" at the end."""
        if size is None or size < 0:
            self._fill(-1)
            size = len(self._buffer)
        else:
            self._fill(size)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def readline(self, size: int | None = -1) -> bytes:
        """One line, with its newline (at most ``size`` bytes)."""
        limit = -1 if size is None else size
        while b"\n" not in self._buffer and not self._done:
            if 0 <= limit <= len(self._buffer):
                break
            self._fill(len(self._buffer) + 1)
        end = self._buffer.find(b"\n") + 1 or len(self._buffer)
        if limit >= 0:
            end = min(end, limit)
        data = bytes(self._buffer[:end])
        del self._buffer[:end]
        return data

    def readlines(self, hint: int = -1) -> list[bytes]:
        """The remaining lines."""
        return list(iter(self.readline, b""))

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")


class _Start:
    """The ``start_response`` handed to the mounted app: records status and headers."""

    __slots__ = ("headers", "sent", "status", "written")

    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.sent = False
        self.written: list[bytes] = []

    def __call__(
        self, status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None:
            if self.sent:
                # PEP 3333: too late to change the headers; re-raise the app's error.
                raise exc_info[1].with_traceback(exc_info[2])
        elif self.status is not None:
            raise MountError("the mounted WSGI app called start_response twice without exc_info")
        if not isinstance(status, str) or len(status) < 4 or not status[:3].isdigit():
            raise MountError(f"the mounted WSGI app gave an invalid status line {status!r}")
        if not isinstance(headers, list) or not all(
            type(h) is tuple and len(h) == 2 and type(h[0]) is str and type(h[1]) is str
            for h in headers
        ):
            raise MountError("the mounted WSGI app's headers must be a list of (str, str)")
        self.status = int(status[:3])
        self.headers = headers
        return self.write

    def write(self, data: bytes) -> None:
        # The legacy write() callable: kept until the body is sent (PEP 3333 allows
        # buffering only this way; apps that stream should return an iterable).
        if type(data) is not bytes:
            raise MountError(f"write() takes bytes, not {type(data).__name__}")
        self.written.append(data)


class _Body:
    """The rest of a mounted app's iterable: yields its chunks, closes it exactly once."""

    __slots__ = ("_first", "_iterator", "_result", "closed")

    def __init__(self, first: list[bytes], iterator: Iterator[bytes], result: Iterable[bytes]):
        self._first = first
        self._iterator = iterator
        self._result = result
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._first:
            return self._first.pop(0)
        chunk = next(self._iterator)
        if type(chunk) is not bytes:
            raise MountError(f"the mounted WSGI app yielded {type(chunk).__name__}, not bytes")
        return chunk

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        close_if_closable(self._result)


class MountedResponse(Response):
    """A mounted app's response: its status and headers as given, its body streamed."""

    _file: IO[bytes] | None = None
    source: Response | None = None
    """A mounted twinframe App's own response, whose file the server may send."""

    def open_body_file(self) -> IO[bytes] | None:
        # A FileWrapper around a real file goes to the server's wsgi.file_wrapper.
        if self.source is not None:
            return self.source.open_body_file()
        file, self._file = self._file, None
        return file


def response_from(status: int, headers: Iterable[tuple[str, str]]) -> MountedResponse:
    """A Response carrying exactly the mounted app's status and headers (nothing added)."""
    response = MountedResponse(b"", status)
    response.content_type = None
    response._headers = CIMultiDict(headers)
    return response


def call_wsgi(app: WSGIApp, environ: dict[str, Any]) -> Response:
    """Call ``app`` and run it until its headers count as sent; the rest streams.

    Blocking: the caller runs it on the right thread (``req._call``). Raises
    when the app fails or breaks PEP 3333 before its headers are out.
    """
    start = _Start()
    environ["wsgi.file_wrapper"] = FileWrapper
    result = app(environ, start)
    try:
        if type(result) is FileWrapper and start.status is not None and not start.written:
            response = response_from(start.status, start.headers)
            fileno = getattr(result.filelike, "fileno", None)
            seekable = getattr(result.filelike, "seekable", None)
            if fileno is not None and seekable is not None and seekable():
                response._file = result.filelike
            response.body_stream = _Body([], iter(result), result)
            return response
        iterator = iter(result)
        first = start.written
        exhausted = False
        while not first:
            chunk = next(iterator, None)
            if chunk is None:
                exhausted = True
                break
            if type(chunk) is not bytes:
                raise MountError(f"the mounted WSGI app yielded {type(chunk).__name__}, not bytes")
            if chunk:
                first.append(chunk)
        if start.status is None:
            raise MountError("the mounted WSGI app returned without calling start_response")
        start.sent = True
        response = response_from(start.status, start.headers)
        if exhausted or (not _has_more(result, first)):
            response.body = b"".join(first)
            close_if_closable(result)
        else:
            response.body_stream = _Body(first, iterator, result)
        return response
    except BaseException:
        close_if_closable(result)
        raise


def _has_more(result: Iterable[bytes], first: list[bytes]) -> bool:
    # PERF: a one-item list (the usual [body]) is answered as a plain body, with
    # its Content-Length, instead of a stream of one chunk.
    return not (type(result) is list and len(result) == 1 and result[0] is first[0])
