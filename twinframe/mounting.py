"""Mounting other applications under a path prefix: ``app.mount("/legacy", flask_app)``.

What is mounted, and how it is called:

- a WSGI callable: called with the request's environ (``app.wsgi``) or with one
  built from the ASGI scope, in the app's thread pool (``app.asgi``);
- an ASGI 3 application: called with the request's scope and ``receive``
  (``app.asgi``) or with ones built from the environ, on the worker thread's
  event loop (``app.wsgi``);
- a twinframe App: served natively, by its own pipeline.

The prefix moves from the path into ``SCRIPT_NAME`` / ``root_path``. This
module is the registration side (what a mount is, which one answers a path);
``twinframe.bridging`` serves them through the bridges (``wsgi_bridge``,
``asgi_bridge``) and each adapter's request class (``_mounted_environ``...).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from .concurrency import is_async_callable

Interface = Literal["wsgi", "asgi"]
Kind = Literal["wsgi", "asgi", "twinframe"]

# A clean path: "/" or "/seg/seg", segments of URL-safe characters, no
# parameters, no dot segments, no trailing slash.
_CLEAN_PREFIX = re.compile(r"(/[A-Za-z0-9\-._~!$&'()*+,;=:@]+)+\Z")


@dataclass
class Mount:
    """One mounted application: where, what, and how it is called."""

    prefix: str  # "" for the root mount, else "/a/b"
    app: Any
    kind: Kind
    # The mounted ASGI app's lifespan runner once started (twinframe.asgi_bridge.Lifespan).
    lifespan: Any = field(default=None, repr=False)

    def covers(self, path: str) -> bool:
        """True when ``path`` (relative to the mounting app) is this mount's prefix or below."""
        prefix = self.prefix
        return not prefix or path == prefix or path.startswith(prefix + "/")


def check_prefix(prefix: str) -> str:
    """The stored form of a mount prefix ("/" becomes ""); ValueError if it isn't a clean path."""
    if prefix == "/":
        return ""
    if not isinstance(prefix, str) or not _CLEAN_PREFIX.match(prefix) or _has_dot_segment(prefix):
        raise ValueError(
            f"mount prefix {prefix!r} must be a clean path such as '/admin': it starts with "
            "'/', has no trailing '/', no {parameters}, no '.' or '..' segments"
        )
    return prefix


def _has_dot_segment(prefix: str) -> bool:
    return any(segment in (".", "..") for segment in prefix.split("/"))


def detect(other: Any, interface: Interface | None) -> tuple[Any, Kind]:
    """What ``other`` is (a twinframe App, an ASGI or a WSGI app); TypeError if none of them.

    A twinframe App, or its ``app.wsgi`` / ``app.asgi``, is served natively
    (unless ``interface`` forces a protocol).
    """
    if interface not in (None, "wsgi", "asgi"):
        raise ValueError(f"interface must be 'wsgi', 'asgi' or None, not {interface!r}")
    native = getattr(other, "_twinframe_app", None)
    if native is not None and interface is None:
        return native, "twinframe"
    if not callable(other):
        raise TypeError(f"cannot mount {other!r}: it is not a WSGI or ASGI application")
    if interface is not None:
        return other, interface
    if is_async_callable(other):
        return other, "asgi"
    positional = _positional_count(other)
    if positional == 2:
        return other, "wsgi"
    label = getattr(other, "__qualname__", type(other).__name__)
    if positional == 3:
        raise TypeError(
            f"cannot mount {label}: it takes three arguments like an ASGI app but is not "
            "'async def'; pass interface='asgi' if it returns an awaitable"
        )
    raise TypeError(
        f"cannot tell what {label} is: a WSGI app takes (environ, start_response), an ASGI "
        "app is 'async def app(scope, receive, send)'; pass interface='wsgi' or 'asgi'"
    )


def _positional_count(fn: Callable[..., Any]) -> int | None:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return None
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


def find(mounts: Iterable[Mount], path: str) -> Mount | None:
    """The mount answering ``path``: the longest prefix that covers it (mounts come sorted)."""
    for mount in mounts:
        if mount.covers(path):
            return mount
    return None


def sorted_mounts(mounts: Iterable[Mount]) -> list[Mount]:
    """Longest prefix first, so ``find`` returns the most specific mount."""
    return sorted(mounts, key=lambda m: len(m.prefix), reverse=True)


__all__ = ["Interface", "Kind", "Mount", "check_prefix", "detect", "find", "sorted_mounts"]
