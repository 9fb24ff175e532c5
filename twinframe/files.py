"""File responses: content type, ETag/Last-Modified with 304, and single byte ranges (206)."""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterator
from email.utils import formatdate, parsedate_to_datetime
from os import PathLike
from typing import IO, TYPE_CHECKING
from urllib.parse import quote

from .errors import NotFound
from .response import CHUNK_SIZE, OCTET, HeadersInput, Response

if TYPE_CHECKING:
    from .request import Request

# Non-text types whose content is UTF-8 text: served with "; charset=utf-8".
_UTF8_TYPES = ("application/javascript", "application/json")


def safe_path(root: str | PathLike[str], relative: str | PathLike[str]) -> str:
    """Resolve ``relative`` inside ``root``; 404 if it escapes it (``..``, absolute, symlinks)."""
    relative = os.fspath(relative)
    if "\x00" in relative or os.path.isabs(relative) or relative.startswith(("/", "\\")):
        raise NotFound("no such file")
    real_root = os.path.realpath(root)
    target = os.path.realpath(os.path.join(real_root, relative))
    if target != real_root and not target.startswith(real_root.rstrip(os.sep) + os.sep):
        raise NotFound("no such file")
    return target


class _FileChunks:
    """Reads [offset, offset+length) of a file in chunks, opening it only when iterated."""

    def __init__(self, path: str, offset: int, length: int) -> None:
        self.path, self.offset, self.length = path, offset, length
        self._file: IO[bytes] | None = None

    def __iter__(self) -> Iterator[bytes]:
        self._file = file = open(self.path, "rb")  # closed in close()
        file.seek(self.offset)
        remaining = self.length
        try:
            while remaining > 0:
                chunk = file.read(min(CHUNK_SIZE, remaining))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


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
            guessed, _ = mimetypes.guess_type(filename or full)
            content_type = guessed or OCTET
            if content_type.startswith("text/") or content_type in _UTF8_TYPES:
                content_type += "; charset=utf-8"
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
        self.body_stream = _FileChunks(self.path, offset, length)
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
        span = _parse_range(range_header, self.size)
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


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """Inclusive (start, end) of one ``bytes=`` range; (-1, -1) if unsatisfiable; None to ignore."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    first, last = first.strip(), last.strip()
    if (first and not first.isdigit()) or (last and not last.isdigit()) or not (first or last):
        return None
    if not first:  # suffix range: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            return (-1, -1)
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        return None
    if start >= size:
        return (-1, -1)
    return start, end
