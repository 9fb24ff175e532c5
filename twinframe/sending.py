"""What both adapters do to send a response body, and to close one that is not sent.

Only ``wsgi.py``, ``asgi.py`` and the pipeline (a HEAD or 204/304 answer
drops the body) use these: handlers never need them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable
from typing import TYPE_CHECKING, TypeGuard

from .response import BodyStream, Response

if TYPE_CHECKING:
    from .connection import HTTPConnection
    from .request import Request

logger = logging.getLogger("twinframe")


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


async def close_unsent(conn: HTTPConnection, response: Response) -> None:
    """Release the stream of a response that will not be sent, the way ``conn`` runs code.

    An async stream's ``aclose()`` is awaited (on the worker thread's loop under
    WSGI); a sync one's ``close()`` runs as sync code (in a worker thread under
    ASGI, since closing a generator runs its ``finally`` blocks, which may block).
    """
    stream = response.body_stream
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await conn._await(aclose())
    elif getattr(stream, "close", None) is not None:
        await conn._call(response.close)
