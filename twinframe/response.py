"""The Response object handlers return, with its constructors and cookie helpers."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterable, Iterable, Mapping
from copy import copy as _shallow_copy
from datetime import datetime
from os import PathLike
from typing import IO, TYPE_CHECKING, Any, TypeGuard, TypeVar
from urllib.parse import quote

from multidict import CIMultiDict

from .cookies import format_set_cookie

R = TypeVar("R", bound="Response")

if TYPE_CHECKING:
    from .request import Request

logger = logging.getLogger("twinframe")

HeadersInput = Mapping[str, str] | Iterable[tuple[str, str]] | None
BodyStream = Iterable[bytes] | AsyncIterable[bytes]

CHUNK_SIZE = 65536
"""Bytes per read of a body (request or file): big enough for few calls, small enough to stream."""

TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"
JSON = "application/json"
OCTET = "application/octet-stream"

# Statuses whose responses carry no body, so no Content-Type or Content-Length.
NO_BODY_STATUSES = frozenset({204, 304})
# Content types twinframe itself sets: known to be valid header values, so
# header_list() needn't check them again on every response.
_KNOWN_CONTENT_TYPES = frozenset({TEXT, HTML, JSON, OCTET, "application/problem+json"})
# One encoder for every Response.json: json.dumps() with non-default options
# builds a new JSONEncoder per call.
_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
# URL characters a Location header may carry as they are (RFC 3986 reserved and
# unreserved, plus "%" so existing escapes survive); anything else is escaped.
_URL_SAFE = "!#$%&'()*+,-./:;=?@[]_~"
_URL_READY = re.compile(r"[!#$%&'()*+,\-./:;=?@\[\]_~0-9A-Za-z]*\Z")
_FORBIDDEN_IN_VALUE = re.compile(r"[\r\n\x00]")


def check_header(name: str, value: str) -> None:
    """Raise ValueError unless ``name: value`` is safe to send (no CR/LF, latin-1 only)."""
    if not _TOKEN.match(name):
        raise ValueError(f"invalid header name {name!r}")
    if _FORBIDDEN_IN_VALUE.search(value):
        raise ValueError(f"header {name!r} has CR, LF or NUL in its value (response splitting)")
    if not value.isascii():
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError(f"header {name!r} has characters outside latin-1") from None


def is_async_stream(stream: BodyStream) -> TypeGuard[AsyncIterable[bytes]]:
    """True for a body stream to iterate with ``async for`` (it has ``__aiter__``)."""
    return hasattr(stream, "__aiter__")


def encode_chunk(chunk: str | bytes) -> bytes:
    """One body-stream chunk as bytes to send (str as UTF-8); b"" is skipped by the senders."""
    if type(chunk) is bytes:
        return chunk
    if isinstance(chunk, str):
        return chunk.encode("utf-8")
    return bytes(chunk)


def log_stream_failure(request: Request) -> None:
    """Log the exception of a body stream that failed after the headers went out."""
    logger.exception("response stream failed mid-way: %s %s", request.method, request.path)


class Response:
    """An HTTP response: ``status``, ``headers`` (a case-insensitive multidict) and ``body``.

    ``body`` may be ``str`` (sent as UTF-8, text/plain by default) or ``bytes``
    (application/octet-stream by default). Use the class-method constructors for
    JSON, HTML, redirects, streams and files.
    """

    # A body iterator, or None when ``body`` holds the whole content.
    body_stream: BodyStream | None = None
    # Known length of ``body_stream`` (files), sent as Content-Length.
    stream_length: int | None = None
    _headers: CIMultiDict[str] | None = None

    def __init__(
        self,
        body: str | bytes = b"",
        status: int = 200,
        headers: HeadersInput = None,
        content_type: str | None = None,
    ) -> None:
        if type(body) is str:
            body = body.encode("utf-8")
            if content_type is None:
                content_type = TEXT
        elif not isinstance(body, bytes):
            if isinstance(body, (bytearray, memoryview)):
                body = bytes(body)
            else:
                raise TypeError(f"Response body must be str or bytes, not {type(body).__name__}")
        if content_type is None and status not in NO_BODY_STATUSES:
            content_type = OCTET
        self.status = status
        self.body: bytes = body
        self.content_type: str | None = content_type
        if headers:
            self._headers = CIMultiDict(headers)

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.content_type or ''}>"

    @property
    def headers(self) -> CIMultiDict[str]:
        """Response headers; ``add`` several values (e.g. Set-Cookie) with ``headers.add``."""
        headers = self._headers
        if headers is None:
            headers = self._headers = CIMultiDict()
        return headers

    # -- constructors ---------------------------------------------------------------

    @classmethod
    def text(cls, text: str, status: int = 200, headers: HeadersInput = None) -> Response:
        """A ``text/plain; charset=utf-8`` response."""
        return cls(text.encode("utf-8"), status, headers, TEXT)

    @classmethod
    def html(cls, html: str, status: int = 200, headers: HeadersInput = None) -> Response:
        """A ``text/html; charset=utf-8`` response."""
        return cls(html.encode("utf-8"), status, headers, HTML)

    @classmethod
    def json(
        cls,
        data: Any,
        status: int = 200,
        headers: HeadersInput = None,
        content_type: str = JSON,
    ) -> Response:
        """A JSON response; ``data`` is serialised with the standard ``json`` module."""
        body = _encode_json(data).encode("utf-8")
        return cls(body, status, headers, content_type)

    @classmethod
    def redirect(cls, url: str, status: int = 303, headers: HeadersInput = None) -> Response:
        """A redirect to ``url`` (303 See Other by default; use 307/308 to keep the method).

        Non-ASCII characters, spaces and controls in ``url`` are percent-encoded
        (UTF-8); existing ``%XX`` escapes and URL delimiters are kept.
        """
        if not 300 <= status <= 399:
            raise ValueError(f"redirect status must be 3xx, got {status}")
        response = cls(b"", status, headers, TEXT)
        response.headers["Location"] = url if _URL_READY.match(url) else quote(url, _URL_SAFE)
        return response

    @classmethod
    def stream(
        cls,
        chunks: BodyStream,
        status: int = 200,
        headers: HeadersInput = None,
        content_type: str = OCTET,
    ) -> Response:
        """A response whose body is sent chunk by chunk from a sync or async iterable.

        Chunks may be ``bytes`` or ``str`` (encoded as UTF-8). A sync iterable is
        iterated in a worker thread under ASGI, so it may block.
        """
        response = cls(b"", status, headers, content_type)
        response.body_stream = chunks
        return response

    @classmethod
    def file(
        cls,
        path: str | PathLike[str],
        *,
        root: str | PathLike[str] | None = None,
        content_type: str | None = None,
        filename: str | None = None,
        headers: HeadersInput = None,
    ) -> Response:
        """Serve a file, with Range (206), ETag and Last-Modified (304) support.

        With ``root``, ``path`` is taken relative to it and any path that escapes
        ``root`` (``..``, absolute paths, symlinks) answers 404. ``filename`` makes
        the browser download it under that name.
        """
        from .files import FileResponse

        return FileResponse(
            path, root=root, content_type=content_type, filename=filename, headers=headers
        )

    # -- cookies --------------------------------------------------------------------

    def set_cookie(
        self,
        name: str,
        value: str,
        *,
        max_age: int | None = None,
        expires: datetime | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = True,
        samesite: str | None = "Lax",
    ) -> None:
        """Add a ``Set-Cookie`` header (HttpOnly and SameSite=Lax unless told otherwise)."""
        self.headers.add(
            "Set-Cookie",
            format_set_cookie(
                name,
                value,
                max_age=max_age,
                expires=expires,
                path=path,
                domain=domain,
                secure=secure,
                httponly=httponly,
                samesite=samesite,
            ),
        )

    def delete_cookie(
        self, name: str, *, path: str | None = "/", domain: str | None = None
    ) -> None:
        """Tell the browser to drop cookie ``name`` (path and domain must match its own)."""
        self.headers.add(
            "Set-Cookie",
            format_set_cookie(
                name,
                "",
                max_age=0,
                expires=datetime(1970, 1, 1),
                path=path,
                domain=domain,
                httponly=False,
                samesite=None,
            ),
        )

    # -- used by the app and the protocol adapters ------------------------------------

    def copy(self: R) -> R:
        """A copy with its own headers (the body is shared): change it without touching this one."""
        clone = _shallow_copy(self)
        if self._headers is not None:
            clone._headers = CIMultiDict(self._headers)
        return clone

    def finalize(self, request: Request) -> Response:
        """The response to send for ``request``: this one, or an adjusted copy (files: Range, 304).

        Never changes ``self``, so a handler may return the same Response object
        to many requests.
        """
        return self

    def header_list(self) -> list[tuple[str, str]]:
        """The headers to send, lower-cased and validated; raises ValueError if unsafe."""
        status = self.status
        content_type = self.content_type
        out: list[tuple[str, str]] = []
        has_length = False
        headers = self._headers
        if headers:
            for name, value in headers.items():
                value = value if type(value) is str else str(value)
                check_header(name, value)
                lower = name.lower()
                if lower == "content-type":
                    content_type = None
                elif lower == "content-length":
                    has_length = True
                out.append((lower, value))
        if content_type is not None:
            if content_type not in _KNOWN_CONTENT_TYPES:
                check_header("content-type", content_type)
            out.append(("content-type", content_type))
        if not has_length and status not in NO_BODY_STATUSES and status >= 200:
            if self.body_stream is None:
                out.append(("content-length", str(len(self.body))))
            elif self.stream_length is not None:
                out.append(("content-length", str(self.stream_length)))
        return out

    def open_body_file(self) -> IO[bytes] | None:
        """The body as a file open at its start, when it runs to the file's end; else None.

        For a server's zero-copy file sending (``wsgi.file_wrapper``); the caller closes it.
        """
        return None

    def close(self) -> None:
        """Release what the body holds (open files, unfinished generators)."""
        stream = self.body_stream
        close = getattr(stream, "close", None) if stream is not None else None
        if close is not None:
            try:
                close()
            except Exception:  # a generator may refuse; nothing useful to do
                pass
