"""The Response object handlers return, its constructors and cookie helpers; the file
response (``Response.file``); and the rendering of errors as RFC 9457 problems."""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import AsyncIterable, Iterable, Mapping
from datetime import datetime
from email.utils import formatdate, parsedate_to_datetime
from json.encoder import c_encode_basestring, c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from os import PathLike
from typing import IO, TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from multidict import CIMultiDict

from .cookies import format_set_cookie
from .errors import NotFound
from .files import FileChunks, guess_content_type, parse_range, safe_path
from .sse import EVENT_STREAM, EventSource, EventStream
from .status import status_phrase

R = TypeVar("R", bound="Response")

if TYPE_CHECKING:
    from .request import Request

HeadersInput = Mapping[str, str] | Iterable[tuple[str, str]] | None
BodyStream = Iterable[bytes] | AsyncIterable[bytes]

TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"
JSON = "application/json"
OCTET = "application/octet-stream"
PROBLEM = "application/problem+json"
_PROBLEM_HEAD = '{"type":"about:blank","title":'
# PERF: what json.dumps() of a lone str returns (ensure_ascii: the C escaper), without
# the dumps() -> JSONEncoder.encode() calls around it: a third of a 404's problem body.
_dumps = encode_basestring_ascii

# Statuses whose responses carry no body, so no Content-Type or Content-Length.
NO_BODY_STATUSES = frozenset({204, 304})
# PERF: content types twinframe itself sets are known to be valid header values, so
# header_list() needn't check them again on every response.
_KNOWN_CONTENT_TYPES = frozenset({TEXT, HTML, JSON, OCTET, PROBLEM})
# PERF: one encoder for every Response.json: json.dumps() with non-default options
# builds a new JSONEncoder per call.
_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
if c_make_encoder is not None:
    # PERF: JSONEncoder.encode() still builds a C encoder on each call (a quarter of
    # a small JSON response's encoding): build it once. Without a circular-reference
    # check, which needs a dict shared by every call (unsafe across threads), a
    # circular structure fails with RecursionError instead of ValueError: either
    # way an exception, and a 500. The output is the same (tests/test_response.py).
    _encode_chunks = c_make_encoder(
        None,  # no markers: no circular-reference check
        json.JSONEncoder().default,  # TypeError for what JSON can't hold
        c_encode_basestring,  # ensure_ascii=False
        None,  # no indent
        ":",
        ",",
        False,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan, as json.dumps
    )

    def _encode_json(data: Any) -> str:  # type: ignore[misc]
        return "".join(_encode_chunks(data, 0))


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
    def sse(
        cls,
        events: EventSource,
        *,
        ping: float | None = 15.0,
        retry: int | None = None,
        headers: HeadersInput = None,
    ) -> Response:
        """A ``text/event-stream`` of server-sent events, each sent as soon as it is produced.

        ``events`` is a sync or async iterable of ``Event``, ``str`` (the data) or
        ``dict``/``list`` (JSON data). After ``ping`` seconds without an event a
        ``: ping`` comment keeps proxies and browsers connected (None: never).
        ``retry`` (milliseconds) tells the browser how long to wait before
        reconnecting. A sync iterable runs in a thread of its own, so it may block.
        See docs/streaming.md.
        """
        response = cls(b"", 200, headers, EVENT_STREAM)
        own = response.headers
        own.setdefault("Cache-Control", "no-cache")
        own.setdefault("X-Accel-Buffering", "no")  # nginx: pass each event on at once
        response.body_stream = EventStream(events, ping, retry)
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
        # PERF: a __dict__ copy, a third of copy.copy()'s time (call_next copies responses).
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
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


class FileResponse(Response):
    """A file sent from disk; build it with ``Response.file``."""

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        root: str | PathLike[str] | None = None,
        content_type: str | None = None,
        filename: str | None = None,
        headers: HeadersInput = None,
    ) -> None:
        full = safe_path(root, path) if root is not None else os.fspath(path)
        try:
            stat = os.stat(full)
        except (OSError, ValueError):
            raise NotFound("no such file") from None
        if not os.path.isfile(full):
            raise NotFound("no such file")
        if content_type is None:
            content_type = guess_content_type(filename or full, OCTET)
        super().__init__(b"", 200, headers, content_type)
        self.path = full
        self.size = stat.st_size
        self.mtime = stat.st_mtime
        self.etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
        self.offset = 0
        self.length = self.size
        h = self.headers
        h.setdefault("Last-Modified", formatdate(self.mtime, usegmt=True))
        h.setdefault("ETag", self.etag)
        h.setdefault("Accept-Ranges", "bytes")
        if filename is not None:
            # Plain-ASCII name for old clients; filename* carries the real one.
            fallback = "".join(
                c if " " <= c <= "~" and c not in '"\\' else "?" if c > "~" else ""
                for c in filename
            )
            h.setdefault(
                "Content-Disposition",
                f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}",
            )
        self._set_range(0, self.size)

    def _set_range(self, offset: int, length: int) -> None:
        self.offset, self.length = offset, length
        self.body_stream = FileChunks(self.path, offset, length)
        self.stream_length = length

    def _not_modified(self, req: Request) -> bool:
        if_none_match = req._header("if-none-match")
        if if_none_match is not None:
            tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
            return "*" in tags or self.etag in tags
        if_modified_since = req._header("if-modified-since")
        if if_modified_since:
            try:
                since = parsedate_to_datetime(if_modified_since).timestamp()
            except (TypeError, ValueError, IndexError):
                return False
            return int(self.mtime) <= since
        return False

    def finalize(self, req: Request) -> Response:
        """A 304, 206 or 416 copy according to the request's conditional and Range headers."""
        if req.method not in ("GET", "HEAD") or self.status != 200:
            return self
        if self._not_modified(req):
            response = self.copy()
            response.status = 304
            response.content_type = None
            response.body_stream = None
            response.stream_length = None
            for name in ("Content-Type", "Content-Length", "Content-Disposition", "Accept-Ranges"):
                response.headers.popall(name, None)
            return response
        range_header = req._header("range")
        if not range_header or not self._if_range_holds(req):
            return self
        span = parse_range(range_header, self.size)
        if span is None:
            return self  # unparseable or multiple ranges: the whole file (RFC 9110 allows it)
        response = self.copy()
        if span == (-1, -1):
            response.status = 416
            response.body_stream = None
            response.stream_length = None
            response.headers["Content-Range"] = f"bytes */{self.size}"
            return response
        start, end = span
        response.status = 206
        response.headers["Content-Range"] = f"bytes {start}-{end}/{self.size}"
        response._set_range(start, end - start + 1)
        return response

    def _if_range_holds(self, req: Request) -> bool:
        if_range = req._header("if-range")
        if not if_range:
            return True
        if if_range.startswith('"') or if_range.startswith("W/"):
            return if_range == self.etag
        try:
            return int(self.mtime) <= parsedate_to_datetime(if_range).timestamp()
        except (TypeError, ValueError, IndexError):
            return False

    def open_body_file(self) -> IO[bytes] | None:
        """The file open at the range start, when the range runs to its end (else None)."""
        if self.body_stream is None or self.offset + self.length != self.size:
            return None
        file = open(self.path, "rb")  # the WSGI server closes it
        file.seek(self.offset)
        return file


_ZERO_Q = re.compile(r"(?:^|;)\s*q\s*=\s*0(?:\.0*)?\s*(?:;|$)", re.IGNORECASE)


# PERF: clients send the same few Accept values over and over: remember the answers
# (a pure function of the header; bounded, so odd values can't grow it).
@functools.lru_cache(maxsize=512)
def _wants_plain_text(accept: str | None) -> bool:
    # Clients that accept text (curl -H "Accept: text/plain", some browsers'
    # fetches) but no JSON type and no wildcard get a plain-text error.
    if not accept:
        return False
    text = False
    for media_range in accept.split(","):
        media, _, params = media_range.partition(";")
        if _ZERO_Q.search(params):
            continue  # q=0 means "not this one"
        media = media.strip().lower()
        if media in ("*/*", "application/*") or "json" in media:
            return False
        if media.startswith("text/"):
            text = True
    return text


def problem_response(
    status: int,
    detail: str | None = None,
    headers: Mapping[str, str] | None = None,
    accept: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    """Build the RFC 9457 ``application/problem+json`` response for an error status.

    Falls back to ``text/plain`` when the ``accept`` header only admits text.
    """
    title = status_phrase(status)
    if _wants_plain_text(accept):
        plain = f"{status} {title}" + (f": {detail}" if detail else "") + "\n"
        response = Response(plain, status=status, content_type="text/plain; charset=utf-8")
    elif extra:
        problem: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
        if detail:
            problem["detail"] = detail
        problem.update(extra)
        body = json.dumps(problem, separators=(",", ":")).encode()
        response = Response(body, status=status, content_type=PROBLEM)
    else:
        # PERF: the same bytes as json.dumps(problem, separators=(",", ":")), which
        # builds an encoder per call (most of an error response's cost); the strings
        # go straight through the escaper dumps() would use (tests/test_errors.py
        # checks both agree).
        text = _PROBLEM_HEAD + _dumps(title) + ',"status":' + str(int(status))
        if detail:
            text += ',"detail":' + _dumps(detail)
        response = Response((text + "}").encode(), status, None, PROBLEM)
    if headers:
        for name, value in headers.items():
            response.headers[name] = value
    return response
