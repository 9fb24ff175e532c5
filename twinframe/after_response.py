"""Work a handler schedules for after its response: what ``req.after_response`` registered.

The adapters call ``run_after_response`` once the response is over: under ASGI
after the final ``http.response.body`` message (or once the client has gone),
under WSGI when the server closes the response iterable (PEP 3333 ``close()``).
Each function runs the way the protocol runs code: sync ones in the thread pool
under ASGI and directly under WSGI, async ones awaited under ASGI and on the
worker thread's loop under WSGI.
"""

from __future__ import annotations

import inspect
import logging
from typing import TYPE_CHECKING

from .pipeline import invoke
from .routing import is_async_callable

if TYPE_CHECKING:
    from .request import Request

logger = logging.getLogger("twinframe")


async def run_after_response(req: Request) -> None:
    """Run ``req``'s after-response functions in order; log (never raise) their failures."""
    tasks = req._after_response
    if not tasks:
        return
    req._after_response = None  # once, even if an adapter reaches here twice
    for fn, args, kwargs in tasks:
        try:
            result = await invoke(req, fn, is_async_callable(fn), *args, **kwargs)
            if inspect.isawaitable(result):  # a sync lambda or partial around a coroutine
                await req._await(result)
        except Exception:
            name = getattr(fn, "__qualname__", repr(fn))
            logger.exception(
                "after_response function %s failed after %s %s", name, req.method, req.path
            )
