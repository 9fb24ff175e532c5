"""GZip: compress responses for clients that accept it.

::

    app.add_middleware(GZip())                    # minimum_size=500, compresslevel=6

A response is compressed when the request's ``Accept-Encoding`` allows gzip, its
type is textual (``text/*``, JSON, JavaScript, XML, SVG...), it is not encoded
already, has no ``Cache-Control: no-transform``, is not a 206 range, and its body
is at least ``minimum_size`` bytes (a stream of unknown length always qualifies).
Such responses get ``Vary: Accept-Encoding`` whether compressed or not, so caches
keep the two apart.

A streamed response is compressed chunk by chunk, each flushed as it goes, so a
slow stream or server-sent events reach the client as promptly as without
compression; its Content-Length is dropped (the server sends it chunked).

``GZip(zstd=True)`` answers clients that name ``zstd`` in ``Accept-Encoding``
(current Chrome, Edge and Firefox) with Zstandard instead: the same size as
gzip or smaller, several times faster to compress. It needs Python 3.14's
``compression.zstd`` or the ``backports.zstd`` package (``twinframe[zstd]``).
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any, cast

from ..closing import aclose_if_closable, close_if_closable
from ..negotiation import accepts_encoding
from ..request import Request
from ..response import NO_BODY_STATUSES, Response
from ..sending import encode_chunk, is_async_stream
from ._vary import add_vary

__all__ = ["GZip", "accepts_encoding", "is_compressible", "load_zstd"]

_TEXTUAL = frozenset(
    {
        "application/json",
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "application/xml",
        "application/xhtml+xml",
        "application/rss+xml",
        "application/atom+xml",
        "application/ld+json",
        "application/manifest+json",
        "application/problem+json",
        "application/geo+json",
        "application/wasm",
        "application/x-ndjson",
        "application/graphql-response+json",
        "image/svg+xml",
        "image/x-icon",
        "font/ttf",
        "font/otf",
    }
)


def is_compressible(content_type: str | None) -> bool:
    """True for media types worth compressing (text, JSON, XML, JS, SVG...; not images)."""
    if not content_type:
        return False
    mimetype = content_type.partition(";")[0].strip().lower()
    return (
        mimetype.startswith("text/")
        or mimetype in _TEXTUAL
        or mimetype.endswith("+json")
        or mimetype.endswith("+xml")
    )


def load_zstd() -> Any:
    """The Zstandard module: ``compression.zstd`` (Python 3.14+), else ``backports.zstd``."""
    for name in ("compression.zstd", "backports.zstd"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError(
        "GZip(zstd=True) needs Python 3.14's compression.zstd or the backports.zstd "
        "package: pip install 'twinframe[zstd]'"
    )


class GZip:
    """Compress textual responses of ``minimum_size`` bytes or more with gzip.

    ``compresslevel`` runs from 1 (fastest) to 9 (smallest); 6, zlib's default,
    is most of the size gain for a fraction of level 9's time. ``zstd=True``
    prefers Zstandard (at ``zstd_level``, 3 by default) for clients that ask for it.
    """

    inline = True  # awaits nothing but call_next (see twinframe.chain)

    def __init__(
        self,
        minimum_size: int = 500,
        compresslevel: int = 6,
        *,
        zstd: bool = False,
        zstd_level: int = 3,
    ) -> None:
        if not 1 <= compresslevel <= 9:
            raise ValueError("compresslevel runs from 1 (fastest) to 9 (smallest)")
        if minimum_size < 0:
            raise ValueError("minimum_size must be 0 or more bytes")
        self.minimum_size = minimum_size
        self.compresslevel = compresslevel
        self.zstd_level = zstd_level
        self._zstd = load_zstd() if zstd else None  # fails now, not at the first request

    def __repr__(self) -> str:
        codings = "zstd, gzip" if self._zstd is not None else "gzip"
        return f"<GZip {codings} minimum_size={self.minimum_size}>"

    async def __call__(
        self, req: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        return self.compress(req, await call_next(req))

    def compress(self, req: Request, response: Response) -> Response:
        """``response`` compressed for ``req`` if it qualifies, else as it was."""
        status = response.status
        if status < 200 or status in NO_BODY_STATUSES or status == 206:
            return response
        stream = response.body_stream
        # PERF: the cheapest refusal first; most small answers stop here.
        size = len(response.body) if stream is None else response.stream_length
        if size is not None and size < self.minimum_size:
            return response
        headers = response._headers
        content_type = response.content_type
        if headers:
            if "Content-Encoding" in headers or "Content-Range" in headers:
                return response
            if "no-transform" in headers.get("Cache-Control", "").lower():
                return response
            content_type = headers.get("Content-Type", content_type)
        if not is_compressible(content_type):
            return response
        add_vary(response, "Accept-Encoding")
        accept = req._header("accept-encoding")
        if (
            self._zstd is not None
            and accept is not None
            and "zstd" in accept.lower()  # named: "*" alone gets gzip, the safe choice
            and accepts_encoding(accept, "zstd")
        ):
            coding = "zstd"
        elif accepts_encoding(accept, "gzip"):
            coding = "gzip"
        else:
            return response
        if stream is None:
            body = response.body
            data = self._encoder(coding).whole(body)
            if len(data) >= len(body):
                return response  # incompressible after all: send it as it is
            response.body = data
            compressed = response
        else:
            # A new plain Response: a file response would hand the server its file,
            # uncompressed (wsgi.file_wrapper), and apply Range to the wrong bytes.
            compressed = Response(b"", status, response.headers, response.content_type)
            if is_async_stream(stream):
                compressed.body_stream = _AsyncCompressedChunks(stream, self._encoder(coding))
            else:
                sync_stream = cast("Iterable[Any]", stream)  # TypeGuard narrows one way only
                compressed.body_stream = _CompressedChunks(sync_stream, self._encoder(coding))
        out = compressed.headers
        out["Content-Encoding"] = coding
        out.popall("Content-Length", None)
        out.popall("Accept-Ranges", None)  # ranges would count compressed bytes
        etag = out.get("ETag")
        if etag and not etag.startswith("W/"):
            out["ETag"] = "W/" + etag  # same content, other bytes: no longer a strong match
        return compressed

    def _encoder(self, coding: str) -> _Encoder:
        if coding == "zstd":
            return _ZstdEncoder(self._zstd, self.zstd_level)
        return _GzipEncoder(self.compresslevel)


class _Encoder:
    """One response's compressor: ``whole`` for a body, ``chunk``/``finish`` for a stream."""

    def whole(self, data: bytes) -> bytes:
        return self.chunk(data) + self.finish()

    def chunk(self, data: bytes) -> bytes:
        """``data`` compressed and flushed, so the client can decode it at once."""
        raise NotImplementedError

    def finish(self) -> bytes:
        """The end of the compressed stream."""
        raise NotImplementedError


class _GzipEncoder(_Encoder):
    def __init__(self, level: int) -> None:
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, 31)  # 31: gzip framing

    def whole(self, data: bytes) -> bytes:
        return self._compressor.compress(data) + self._compressor.flush()

    def chunk(self, data: bytes) -> bytes:
        return self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        return self._compressor.flush()


class _ZstdEncoder(_Encoder):
    def __init__(self, module: Any, level: int) -> None:
        self._module = module
        self._level = level
        self._compressor: Any = None

    def whole(self, data: bytes) -> bytes:
        return self._module.compress(data, self._level)  # type: ignore[no-any-return]

    def chunk(self, data: bytes) -> bytes:
        if self._compressor is None:
            self._compressor = self._module.ZstdCompressor(self._level)
        compressor = self._compressor
        return compressor.compress(data, compressor.FLUSH_BLOCK)  # type: ignore[no-any-return]

    def finish(self) -> bytes:
        if self._compressor is None:
            self._compressor = self._module.ZstdCompressor(self._level)
        return self._compressor.flush()  # type: ignore[no-any-return]


class _CompressedChunks:
    """A sync stream, compressed and flushed chunk by chunk; closing it closes the source."""

    def __init__(self, source: Iterable[Any], encoder: _Encoder) -> None:
        self._source = source
        self._chunks: Iterator[Any] | None = None
        self._encoder = encoder
        self._done = False

    def __iter__(self) -> _CompressedChunks:
        return self

    def __next__(self) -> bytes:
        if self._done:
            raise StopIteration
        if self._chunks is None:
            self._chunks = iter(self._source)
        for chunk in self._chunks:
            data = encode_chunk(chunk)
            if data:
                return self._encoder.chunk(data)
        self._done = True
        return self._encoder.finish()

    def close(self) -> None:
        self._done = True
        close_if_closable(self._source)


class _AsyncCompressedChunks:
    """An async stream, compressed and flushed chunk by chunk; ``aclose`` closes the source."""

    def __init__(self, source: AsyncIterable[Any], encoder: _Encoder) -> None:
        self._source = source
        self._chunks: AsyncIterator[Any] | None = None
        self._encoder = encoder
        self._done = False

    def __aiter__(self) -> _AsyncCompressedChunks:
        return self

    async def __anext__(self) -> bytes:
        if self._done:
            raise StopAsyncIteration
        if self._chunks is None:
            self._chunks = self._source.__aiter__()
        while True:
            try:
                chunk = await self._chunks.__anext__()
            except StopAsyncIteration:
                break
            data = encode_chunk(chunk)
            if data:
                return self._encoder.chunk(data)
        self._done = True
        return self._encoder.finish()

    async def aclose(self) -> None:
        self._done = True
        await aclose_if_closable(self._chunks or self._source)
