"""Serving mounted apps: the bridge each pairing of app and entrypoint takes.

``twinframe.mounting`` says which mount answers a path; this module answers
with it: a WSGI app through ``wsgi_bridge`` (on the worker thread under
``app.wsgi``, in the thread pool under ``app.asgi``, as ``req._call`` runs
sync code), an ASGI app through ``asgi_bridge`` (awaited under ``app.asgi``,
on the worker thread's loop under ``app.wsgi``, as ``req._await`` runs async
code). A mounted twinframe App goes through the pipeline itself
(``twinframe.pipeline``), not through here. Also: websockets handed to a
mounted app, and the mounted apps' startup and shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .asgi_bridge import Lifespan, call_asgi
from .errors import UpgradeRequired
from .mounting import Mount
from .response import Response
from .wsgi_bridge import MountedResponse, call_wsgi, response_from

if TYPE_CHECKING:
    from .request import Request
    from .types import Message
    from .websocket import WebSocket

logger = logging.getLogger("twinframe")


async def serve(mount: Mount, req: Request) -> Response:
    """Answer ``req`` with a mounted WSGI or ASGI app (raises if it misbehaves)."""
    prefix = mount.prefix
    if mount.kind == "wsgi":
        environ = await req._mounted_environ(prefix)
        return await req._call(call_wsgi, mount.app, environ)
    upgrade = req._header("upgrade")
    if upgrade and upgrade.lower() == "websocket":
        # Only reachable under app.wsgi: ASGI servers hand websockets over as such.
        raise UpgradeRequired("websockets reach the mounted app through app.asgi only")
    state = mount.lifespan.state if mount.lifespan is not None else {}
    scope = req._mounted_scope(prefix, state)
    receive = req._mounted_receive()
    chunks = req._aiter_body() if receive is None else None
    return await req._await(call_asgi(mount.app, scope, receive, chunks))


def as_sent(response: Response, headers: list[tuple[str, str]]) -> MountedResponse:
    """A mounted twinframe App's finished response, kept as its pipeline made it."""
    final = response_from(response.status, headers)
    final.body = response.body
    final.body_stream = response.body_stream
    final.stream_length = response.stream_length
    final.source = response
    return final


async def forward_websocket(mount: Mount, ws: WebSocket, connect: Message) -> None:
    """Hand websocket ``ws`` (its connect message already received) to the mounted app."""
    if mount.kind == "wsgi":
        detail = "the app mounted here is a WSGI app, which can't take websockets"
        try:
            await ws._reject(404, detail, None)
        except OSError:
            pass  # the client is gone
        return
    replayed = False
    receive, send = ws._receive, ws._send

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return connect
        return await receive()

    state = mount.lifespan.state if mount.lifespan is not None else {}
    scope = ws._mounted_websocket_scope(ws.scope, mount.prefix, state)
    # A twinframe App through its own ASGI entrypoint: native, no bridge.
    target = mount.app.asgi if mount.kind == "twinframe" else mount.app
    try:
        await target(scope, replay, send)
    except Exception:
        logger.exception("mounted ASGI app failed on websocket %s", ws.path)
        try:
            await send({"type": "websocket.close", "code": 1011})
        except Exception:
            pass  # already closed, or the client is gone


async def startup(mounts: Iterable[Mount]) -> None:
    """Start the mounted apps: twinframe Apps' startup, ASGI apps' lifespan.

    An app mounted at several prefixes starts once; its mounts share its state.
    """
    started: dict[int, Mount] = {}
    for mount in mounts:
        first = started.setdefault(id(mount.app), mount)
        if first is not mount:
            mount.lifespan = first.lifespan
        elif mount.kind == "twinframe":
            await mount.app.startup()
        elif mount.kind == "asgi":
            mount.lifespan = Lifespan(mount.app, mount.prefix or "/")
            await mount.lifespan.startup()


async def shutdown(mounts: Iterable[Mount]) -> list[BaseException]:
    """Shut the mounted apps down (in reverse order, each once); returns the failures, logged."""
    errors: list[BaseException] = []
    stopped: set[int] = set()
    for mount in reversed(list(mounts)):
        if id(mount.app) in stopped:
            continue
        stopped.add(id(mount.app))
        try:
            if mount.kind == "twinframe":
                await mount.app.shutdown()
            elif mount.lifespan is not None:
                await mount.lifespan.shutdown()
        except Exception as exc:
            logger.exception("shutdown of the app mounted at %s failed", mount.prefix or "/")
            errors.append(exc)
    return errors


__all__ = ["as_sent", "forward_websocket", "serve", "shutdown", "startup"]
