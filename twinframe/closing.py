"""Closing what may be closable: response bodies, streams and files of unknown kind.

PEP 3333 and the async iterator protocol both make ``close()`` / ``aclose()``
optional, so every wrapper of a stream has to ask before calling it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["aclose_if_closable", "close_if_closable"]


def close_if_closable(obj: Any) -> None:
    """Call ``obj.close()`` if it has one (a generator, a file, a WSGI result)."""
    close = getattr(obj, "close", None)
    if close is not None:
        close()


async def aclose_if_closable(obj: Any) -> None:
    """Await ``obj.aclose()`` if it has one (an async generator or stream)."""
    aclose = getattr(obj, "aclose", None)
    if aclose is not None:
        await aclose()
