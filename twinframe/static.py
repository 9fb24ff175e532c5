"""A directory of static files served under a URL prefix: ``app.static("/static", "public")``.

Each file goes out as a ``FileResponse`` (content type, ETag/Last-Modified and
304, Range and 206, HEAD) with ``Cache-Control: public, max-age=...``. A
precompressed ``name.gz`` beside ``name`` is sent instead to clients that
accept gzip. Anything outside the directory, hidden files and directories
answer 404.
"""

from __future__ import annotations

import os
from os import PathLike
from typing import TYPE_CHECKING

from .errors import NotFound
from .files import guess_content_type, safe_path
from .negotiation import accepts_encoding
from .response import OCTET, FileResponse

if TYPE_CHECKING:
    from .request import Request

__all__ = ["StaticFiles", "accepts_gzip"]


def accepts_gzip(accept_encoding: str | None) -> bool:
    """True if an ``Accept-Encoding`` value allows gzip (listed, or ``*``, with q above 0)."""
    return accepts_encoding(accept_encoding, "gzip", "x-gzip")


class StaticFiles:
    """The handler behind ``app.static``: ``handler(req, path)`` serves ``directory/path``.

    ``max_age`` (seconds) goes into ``Cache-Control: public, max-age=...``;
    None sends no Cache-Control. Raises ValueError at once if ``directory`` is
    not a directory.
    """

    def __init__(self, directory: str | PathLike[str], *, max_age: int | None = 3600) -> None:
        # PERF: the root resolved once here, not on every request.
        self.directory = os.path.realpath(directory)
        if not os.path.isdir(self.directory):
            raise ValueError(f"static directory {os.fspath(directory)!r} is not a directory")
        if max_age is not None and (isinstance(max_age, bool) or max_age < 0):
            raise ValueError(f"max_age must be a number of seconds >= 0 or None, not {max_age!r}")
        self.cache_control = None if max_age is None else f"public, max-age={int(max_age)}"

    def __repr__(self) -> str:
        return f"<StaticFiles {self.directory!r}>"

    def __call__(self, req: Request, path: str) -> FileResponse:
        """The file at ``path`` under the directory, or 404 (also for hidden files and dirs)."""
        # Hidden names (.git, .env, editor swap files) are never published by accident.
        # Dot segments ('..') are refused before routing already (400).
        if path.startswith(".") or "/." in path:
            raise NotFound("no such file")
        full = safe_path(self.directory, path)  # 404 for absolute paths, NUL, symlinks out
        headers: dict[str, str] = {}
        if self.cache_control is not None:
            headers["Cache-Control"] = self.cache_control
        compressed = self._compressed_sibling(path)
        if compressed is not None:
            # Two forms of one file: caches must keep them apart by Accept-Encoding.
            headers["Vary"] = "Accept-Encoding"
            if accepts_gzip(req._header("accept-encoding")):
                headers["Content-Encoding"] = "gzip"
                content_type = guess_content_type(full, OCTET)
                return FileResponse(compressed, content_type=content_type, headers=headers)
        return FileResponse(full, headers=headers)

    def _compressed_sibling(self, path: str) -> str | None:
        """The real path of ``path + ".gz"`` if that is a file inside the directory."""
        name = path + ".gz"
        # PERF: one stat answers the common case (no sibling) without resolving links.
        if not os.path.isfile(os.path.join(self.directory, name)):
            return None
        try:
            # The sibling must stay inside the directory too (it may be a symlink).
            return safe_path(self.directory, name)
        except NotFound:
            return None
