"""What serving a file takes, below ``Response.file``: a safe path, its content type,
chunked reads of a byte span, and the parsing of a ``Range`` header.

The response class itself (``FileResponse``: ETag/Last-Modified with 304,
single byte ranges with 206) lives beside ``Response`` in ``twinframe.response``.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterator
from os import PathLike
from typing import IO

from .errors import NotFound

CHUNK_SIZE = 65536
"""Bytes per read of a body (request or file): big enough for few calls, small enough to stream."""

# Non-text types whose content is UTF-8 text: served with "; charset=utf-8".
_UTF8_TYPES = ("application/javascript", "application/json")


# Compressed files (data.csv.gz): guess_type gives the inner type and the encoding;
# served as they are, they are archives of that encoding, not that type.
_ENCODED_TYPES = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "br": "application/x-brotli",
    "compress": "application/x-compress",
}


def guess_content_type(name: str, default: str) -> str:
    """The Content-Type for a file called ``name`` (text types with ``charset=utf-8``).

    A compressed file (``.gz``, ``.bz2``...) is its archive type (``application/gzip``).
    """
    guessed, encoding = mimetypes.guess_type(name)
    if encoding is not None:
        return _ENCODED_TYPES.get(encoding, default)
    content_type = guessed or default
    if content_type.startswith("text/") or content_type in _UTF8_TYPES:
        content_type += "; charset=utf-8"
    return content_type


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


class FileChunks:
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


def _is_position(text: str) -> bool:
    # ASCII only: str.isdigit() also takes '²' (a Latin-1 header byte), which int() refuses.
    return text.isascii() and text.isdigit()


def _position(digits: str) -> int:
    """The value of ``digits``, capped at 10**19: past every file (int() refuses 4,300 digits)."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) < 20 else 10**19


def _before(a: str, b: str) -> bool:
    """``int(a) < int(b)`` for two digit strings of any length."""
    a, b = a.lstrip("0"), b.lstrip("0")
    return (len(a), a) < (len(b), b)


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """Inclusive (start, end) of one ``bytes=`` range; (-1, -1) if unsatisfiable; None to ignore."""
    unit, _, spec = header.partition("=")
    # "," (several ranges): the whole file; the digit checks below would refuse it too.
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    first, last = first.strip(), last.strip()
    if (first and not _is_position(first)) or (last and not _is_position(last)):
        return None
    if not (first or last):
        return None
    if not first:  # suffix range: the last N bytes
        length = _position(last)
        if length == 0 or size == 0:
            return (-1, -1)
        return max(0, size - length), size - 1
    if last and _before(last, first):
        return None
    start = _position(first)
    if start >= size:
        return (-1, -1)
    end = min(_position(last), size - 1) if last else size - 1
    return start, end
