"""RequestID: one id per request, on the response, on ``req.request_id`` and in every log record.

::

    import logging
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(request_id)s %(name)s %(message)s"
    )
    app.add_middleware(RequestID(access_log=True))

A well-formed incoming ``X-Request-ID`` (from a proxy or the calling service) is
kept, so one id follows a request across services; otherwise a new random one is
made. While the request runs (hooks, handler, its stream, sync or async), every
log record has a ``request_id`` attribute ("-" outside requests), and
``current_request_id()`` returns it.

With ``access_log=True`` each response is logged once, at INFO, to the
``twinframe.access`` logger: ``GET /path?q=1 200 512B 1.3ms id=...``. The record
also carries ``method``, ``path``, ``status``, ``bytes`` and ``duration_ms``
attributes for structured formatters.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any, cast

from ..closing import aclose_if_closable, close_if_closable
from ..request import Request
from ..response import NO_BODY_STATUSES, Response
from ..sending import encode_chunk, is_async_stream

__all__ = ["RequestID", "access_logger", "current_request_id"]

access_logger = logging.getLogger("twinframe.access")
"""Where ``RequestID(access_log=True)`` writes one line per response (INFO)."""

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "twinframe_request_id", default=None
)
# Ids worth keeping: bounded, and harmless in a header, a log line or a URL.
_WELL_FORMED = re.compile(r"[A-Za-z0-9._~:+/=@-]{1,128}\Z")


def current_request_id() -> str | None:
    """The id of the request this code runs for, or None outside one (or without RequestID)."""
    return _current.get()


def _install_record_factory() -> None:
    """Give every log record a ``request_id`` attribute, once per process."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_twinframe_request_id", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = _current.get() or "-"
        return record

    factory._twinframe_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class RequestID:
    """Give each request an id: kept from ``header`` when well-formed, else made.

    The id goes on ``req.request_id``, on the response's ``header``, and on every
    log record while the request runs. ``access_log=True`` logs one line per
    response to ``twinframe.access``. ``trust_incoming=False`` always makes a new
    id (when clients are not trusted to choose one).
    """

    inline = True  # awaits nothing but call_next (see twinframe.chain)

    def __init__(
        self,
        header: str = "X-Request-ID",
        *,
        access_log: bool = False,
        trust_incoming: bool = True,
    ) -> None:
        self.header = header
        self._header_key = header.lower()
        self.access_log = access_log
        self.trust_incoming = trust_incoming
        _install_record_factory()

    def __repr__(self) -> str:
        return f"<RequestID header={self.header!r} access_log={self.access_log}>"

    @staticmethod
    def make_id() -> str:
        """A new id: 32 random hex digits (128 bits, as a UUID4 without its dashes)."""
        return os.urandom(16).hex()  # PERF: a third of uuid.uuid4().hex's time

    async def __call__(
        self, req: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        incoming = req._header(self._header_key) if self.trust_incoming else None
        request_id = (
            incoming if incoming is not None and _WELL_FORMED.match(incoming) else self.make_id()
        )
        req.request_id = request_id
        # Not reset afterwards: the stream, sent later, logs with it too; each
        # request runs in a context of its own, so it cannot leak to the next.
        _current.set(request_id)
        response = await call_next(req)
        response.headers[self.header] = request_id
        if self.access_log and access_logger.isEnabledFor(logging.INFO):
            return _logged(req, response, start)
        return response


def _log_access(req: Request, response: Response, start: float, size: int) -> None:
    duration = (time.perf_counter() - start) * 1000
    path = req.root_path + req.path
    if req.query_string:
        path += "?" + req.query_string
    access_logger.info(
        "%s %s %d %dB %.1fms id=%s",
        req.method,
        path,
        response.status,
        size,
        duration,
        req.request_id,
        extra={
            "method": req.method,
            "path": path,
            "status": response.status,
            "bytes": size,
            "duration_ms": round(duration, 3),
        },
    )


def _logged(req: Request, response: Response, start: float) -> Response:
    """Log the access now (a body in hand), or when the stream is done (its size then known)."""
    stream = response.body_stream
    if req.method == "HEAD" or response.status in NO_BODY_STATUSES:
        _log_access(req, response, start, 0)
    elif stream is None:
        _log_access(req, response, start, len(response.body))
    elif response.stream_length is not None:
        # A file: its size is known, and wrapping it would cost the server's zero-copy send.
        _log_access(req, response, start, response.stream_length)
    else:
        if is_async_stream(stream):
            response.body_stream = _AsyncCounted(stream, req, response, start)
        else:
            sync_stream = cast("Iterable[Any]", stream)  # TypeGuard narrows one way only
            response.body_stream = _Counted(sync_stream, req, response, start)
    return response


class _Counted:
    """A sync stream that logs the access once it ends or is closed."""

    def __init__(self, source: Iterable[Any], req: Request, response: Response, start: float):
        self._source = source
        self._chunks: Iterator[Any] | None = None
        self._log = (req, response, start)
        self._size = 0
        self._logged = False

    def __iter__(self) -> _Counted:
        return self

    def __next__(self) -> bytes:
        if self._chunks is None:
            self._chunks = iter(self._source)
        try:
            data = encode_chunk(next(self._chunks))
        except StopIteration:
            self._finish()
            raise
        self._size += len(data)
        return data

    def _finish(self) -> None:
        if not self._logged:
            self._logged = True
            req, response, start = self._log
            _log_access(req, response, start, self._size)

    def close(self) -> None:
        try:
            close_if_closable(self._source)
        finally:
            self._finish()


class _AsyncCounted:
    """An async stream that logs the access once it ends or is closed."""

    def __init__(
        self, source: AsyncIterable[Any], req: Request, response: Response, start: float
    ) -> None:
        self._source = source
        self._chunks: AsyncIterator[Any] | None = None
        self._log = (req, response, start)
        self._size = 0
        self._logged = False

    def __aiter__(self) -> _AsyncCounted:
        return self

    async def __anext__(self) -> bytes:
        if self._chunks is None:
            self._chunks = self._source.__aiter__()
        try:
            data = encode_chunk(await self._chunks.__anext__())
        except StopAsyncIteration:
            self._finish()
            raise
        self._size += len(data)
        return data

    def _finish(self) -> None:
        if not self._logged:
            self._logged = True
            req, response, start = self._log
            _log_access(req, response, start, self._size)

    async def aclose(self) -> None:
        try:
            await aclose_if_closable(self._chunks or self._source)
        finally:
            self._finish()
